/** Small formatting helpers shared by the pages. */
import type { Repo } from './types.js';

/** A short, human age ("42s", "5m", "3h", "2d") of an ISO time, as of `now`. */
export function age(iso: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

/** The first 8 hex digits of a commit id, or an em dash. */
export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 8) : '—';
}

/** A percentage with no decimals. */
export function percent(ratio: number): string {
  return `${Math.round(ratio * 100)}%`;
}

/** The repository's mode in the spec's words: B (agents push from their clones) or C (the server holds git). */
export function repoMode(repo: Pick<Repo, 'server_git'>): string {
  return repo.server_git ? 'Mode C' : 'Mode B';
}

/** `count` and the noun, plural unless one. */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

/**
 * An ISO time as "2026-12-02 17:04:05 UTC" (for titles). Not toLocaleString: its first call loads
 * the locale's data, tens of milliseconds on a page's first render.
 */
export function exactTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}
