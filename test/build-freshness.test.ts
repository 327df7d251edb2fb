import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { requireFreshBuild, staleBuildFiles } from './helpers/built.js';

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function write(path: string, at: number): void {
  const full = join(root as string, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, '');
  utimesSync(full, at / 1000, at / 1000);
}

it('a stale or missing compiled file is named; a build newer than every source passes', () => {
  root = mkdtempSync(join(tmpdir(), 'gitswarm-build-'));
  const t = Date.parse('2030-01-01T00:00:00Z');
  write('src/core/a.ts', t);
  write('dist/src/core/a.js', t + 1000);
  write('src/store/b.ts', t + 2000);
  write('dist/src/store/b.js', t + 1000);
  write('src/cli/c.ts', t);
  write('src/types.d.ts', t + 5000);
  // The dashboard is bundled into dist/web, not compiled file by file: never stale here.
  write('src/web/main.ts', t + 9000);
  expect(staleBuildFiles(root).sort()).toEqual([
    'src/cli/c.ts (not built)',
    'src/store/b.ts (changed after the build)',
  ]);
  expect(() => requireFreshBuild(root)).toThrow(/dist\/ is stale: .*npm run build/);
  write('dist/src/store/b.js', t + 3000);
  write('dist/src/cli/c.js', t + 3000);
  expect(staleBuildFiles(root)).toEqual([]);
  expect(() => requireFreshBuild(root)).not.toThrow();
});
