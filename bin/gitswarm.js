#!/usr/bin/env node
// The `gitswarm` entry point: checks the Node.js version, turns on the compile cache (faster
// start-up on every later run), then runs the CLI: the bundle in dist/bundle/ while it is newer
// than the compiled tree (one file instead of hundreds of modules), else dist/src.
import { statSync } from 'node:fs';
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `error: gitswarm needs Node.js >= 22 (this is ${process.version}); run: source scripts/node-env.sh\n`,
  );
  process.exit(1);
}
module.enableCompileCache?.();

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
const bundled = new URL('../dist/bundle/gitswarm.mjs', import.meta.url);
let entry = compiled;
if (!process.env.GITSWARM_NO_BUNDLE) {
  try {
    if (statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs) entry = bundled;
  } catch {
    // No bundle (or no build): the compiled tree it is.
  }
}
await import(entry.href);
