#!/usr/bin/env node
// The `gitswarm` entry point: checks the Node.js version, turns on the compile cache (faster
// start-up on every later run), then hands over to the compiled CLI in dist/.
import module from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `error: gitswarm needs Node.js >= 22 (this is ${process.version}); run: source scripts/node-env.sh\n`,
  );
  process.exit(1);
}
module.enableCompileCache?.();
await import('../dist/src/cli/main.js');
