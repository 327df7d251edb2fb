/**
 * The worker scripts of test/fixtures, bundled with the built code they import and Kysely into a
 * few files, once per test process. Started as written, each process spent 0.3–0.6 s resolving and
 * reading some 350 modules before its work; bundled, about 0.1 s. The crash tests alone start
 * some 200 such processes. The bundle is made from dist/ at first use, after the freshness check.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isExternal } from '../../scripts/bundle-externals.mjs';
import { ROOT, requireFreshBuild } from './built.js';

/** Inside node_modules, so that the packages left as imports resolve from the bundle. */
const OUT_PARENT = join(ROOT, 'node_modules', '.cache', 'gitswarm-test-fixtures');
const OUT_ROOT = join(OUT_PARENT, String(process.pid));

const bundles = new Map<string, Promise<string>>();
process.once('exit', () => rmSync(OUT_ROOT, { recursive: true, force: true }));

/** Removes the bundles of test processes that are gone (a worker that is killed leaves its own). */
function removeOrphans(): void {
  for (const pid of existsSync(OUT_PARENT) ? readdirSync(OUT_PARENT) : []) {
    try {
      process.kill(Number(pid), 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(OUT_PARENT, pid), { recursive: true, force: true });
    }
  }
}

/** The path of `test/fixtures/<fixture>` bundled (made on the first call in this process). */
export function bundledFixture(fixture: string): Promise<string> {
  let bundle = bundles.get(fixture);
  if (!bundle) {
    if (bundles.size === 0) removeOrphans();
    bundle = buildBundle(fixture);
    bundles.set(fixture, bundle);
  }
  return bundle;
}

async function buildBundle(fixture: string): Promise<string> {
  requireFreshBuild();
  const { build } = await import('rolldown');
  const outDir = join(OUT_ROOT, fixture.replace(/\.m?js$/, ''));
  mkdirSync(outDir, { recursive: true });
  await build({
    input: join(ROOT, 'test', 'fixtures', fixture),
    platform: 'node',
    // Bundled as the CLI is: our code and Kysely; other packages stay imports.
    external: isExternal,
    output: { dir: outDir, format: 'esm', entryFileNames: fixture, chunkFileNames: '[name]-[hash].mjs' },
    logLevel: 'warn',
  });
  return join(outDir, fixture);
}
