/**
 * `npm test`, `npm run demo`, `bench` and `start` build only when dist/ is stale: after a build (the
 * one `npm ci`'s prepare runs), `scripts/build.mjs --if-stale` leaves dist/ alone.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = `${root}dist/.build-stamp`;

function buildIfStale(): string {
  return execFileSync(process.execPath, ['scripts/build.mjs', '--if-stale'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('build once', () => {
  it('does not build again when dist/ is newer than every source', () => {
    buildIfStale(); // builds only if an edit made it stale
    const built = statSync(stamp).mtimeMs;
    buildIfStale();
    expect(statSync(stamp).mtimeMs).toBe(built);
  }, 180_000);

  it('is what the scripts run', () => {
    const scripts = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).scripts as Record<string, string>;
    expect(scripts.prepare).toBe('npm run build');
    expect(scripts.build).toBe('node scripts/build.mjs');
    for (const name of ['test', 'demo', 'bench', 'bench:server']) {
      expect(scripts[name]).toMatch(/^node scripts\/build\.mjs --if-stale && /);
    }
    expect(scripts.start).toBe('exec node scripts/start.mjs');
  });
});
