/** The version in package.json, read once (from dist/src/… after a build, or src/… under vitest). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  cached = '0.0.0';
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      cached = (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string })
        .version;
      break;
    } catch {
      // Not at this depth; try the next.
    }
  }
  return cached;
}
