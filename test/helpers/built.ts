/**
 * Tests that run the built code (the `gitswarm` binary, worker processes) must never test a stale
 * build: every source file needs its compiled file in dist/, written after the source last changed.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const REBUILD = 'Run `npm run build` (npm test does) first';

/**
 * The dashboard (src/web) is bundled whole into dist/web for browsers, not compiled file by file,
 * and no built process runs it; its own test bundles it afresh.
 */
const BUNDLED_ELSEWHERE = join('src', 'web');

/** The sources under `dir` compiled file by file into dist/ (relative to `root`). */
function sourcesUnder(root: string, dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== BUNDLED_ELSEWHERE) files.push(...sourcesUnder(root, path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/**
 * The sources whose compiled file in `dist` is missing or older than the source (relative paths),
 * under `root` (a checkout: src/ and dist/src/).
 */
export function staleBuildFiles(root: string = ROOT): string[] {
  const stale: string[] = [];
  for (const path of sourcesUnder(root, 'src')) {
    const source = join(root, path);
    const built = join(root, 'dist', path.replace(/\.ts$/, '.js'));
    let builtAt: number;
    try {
      builtAt = statSync(built).mtimeMs;
    } catch {
      stale.push(`${path} (not built)`);
      continue;
    }
    if (builtAt < statSync(source).mtimeMs) stale.push(`${path} (changed after the build)`);
  }
  return stale;
}

/** Throws, naming the files, unless dist/ is a build of the current src/. */
export function requireFreshBuild(root: string = ROOT): void {
  const stale = staleBuildFiles(root);
  if (stale.length === 0) return;
  const shown = stale.slice(0, 5).join(', ') + (stale.length > 5 ? `, and ${stale.length - 5} more` : '');
  throw new Error(`This test runs the built code, and dist/ is stale: ${shown}. ${REBUILD}.`);
}
