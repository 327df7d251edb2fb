/**
 * The process entry point (loaded by bin/gitswarm.js): the only module that touches `process`.
 * Builds the real CliIO, runs the command line, sets the exit code. When bin/gitswarm.js found no
 * command server to run the command, one is started for the next command.
 */

import type { NotServed } from './daemon/client.js';
import { wantsColor } from './io.js';
import { runCli } from './program.js';

const controller = new AbortController();
// A closed pipe (`gitswarm activity | head`) ends output quietly instead of crashing.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
process.once('SIGINT', () => controller.abort());

const isTTY = Boolean(process.stdout.isTTY);
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: { write: (text) => void process.stdout.write(text) },
  stderr: { write: (text) => void process.stderr.write(text) },
  isTTY,
  color: wantsColor(isTTY, process.env),
  cwd: process.cwd(),
  env: process.env,
  signal: controller.signal,
});

const notServed = (globalThis as Record<symbol, NotServed | undefined>)[Symbol.for('gitswarm.daemon')];
if (notServed?.start && process.argv[1]) {
  const { startDaemon } = await import('./daemon/start.js');
  startDaemon(notServed.start, process.argv[1]);
}
