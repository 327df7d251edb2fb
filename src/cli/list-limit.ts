/** `--limit N` of the list commands. */
import { GitSwarmError } from '../errors.js';

/** `--limit`: a whole number from 1 to `max` (`fallback` when not given), or `usage`. */
export function parseListLimit(value: string | number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const limit = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new GitSwarmError(
      'usage',
      `--limit must be a whole number from 1 to ${max}, not ${String(value)}.`,
    );
  }
  return limit;
}
