// Builds dist/ (tsc, the bundles, the native client) and stamps it. With --if-stale it builds only when dist/
// is missing or older than a source file, so `npm ci` (whose prepare builds) followed by `npm test`,
// `npm run demo` or `npm start` builds once. Exported for scripts/start.mjs, which builds in-process.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const STAMP = join(root, 'dist', '.build-stamp');
/** What the build reads: the compiled trees and the files that steer the compiler and the bundler. */
const SOURCES = [
  'src',
  'bench',
  'demo',
  'tsconfig.json',
  'tsconfig.build.json',
  'tsconfig.web.json',
  'package.json',
  'package-lock.json',
  'scripts/bundle-cli.mjs',
  'scripts/bundle-externals.mjs',
  'scripts/bundle-web.mjs',
  'scripts/build-native.mjs',
];

/** The newest modification time under `path` (0 when it does not exist). */
function newestMtime(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs; // a deleted or renamed file changes its directory's time
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Whether dist/ is missing, or older than any source. */
export function isStale() {
  let built;
  try {
    built = statSync(STAMP).mtimeMs;
  } catch {
    return true;
  }
  return SOURCES.some((source) => newestMtime(join(root, source)) > built);
}

/**
 * Runs one build step (node SCRIPT ARGS) with its output on stderr; rejects on failure. A SIGTERM or
 * SIGINT meanwhile stops the step too (a stopped `npm start` leaves no compiler running).
 */
function step(script, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ['ignore', 2, 2] });
    const stop = (signal) => {
      child.kill(signal);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      if (code === 0) resolve();
      else
        reject(
          Object.assign(new Error(`build: ${script} failed (${signal ?? code})`), { status: code ?? 1 }),
        );
    });
  });
}

/** Runs the build (tsc, the CLI bundle, the dashboard's browser bundle, the native client) and stamps dist/. */
export async function build() {
  await step(join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ['-p', 'tsconfig.build.json']);
  await step(join(root, 'scripts', 'bundle-cli.mjs'));
  await step(join(root, 'scripts', 'bundle-web.mjs'));
  await step(join(root, 'scripts', 'build-native.mjs'));
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

/** Builds unless dist/ is up to date; resolves to whether it built. */
export async function buildIfStale() {
  if (!isStale()) return false;
  process.stderr.write('build: dist/ is missing or older than the sources; building\n');
  await build();
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    if (process.argv.includes('--if-stale')) await buildIfStale();
    else await build();
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = typeof error.status === 'number' && error.status > 0 ? error.status : 1;
  }
}
