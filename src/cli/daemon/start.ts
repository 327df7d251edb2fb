/**
 * Starts a repository's command server in the background after a command ran in-process because
 * there was none: only in an initialized repository that the current user owns, and only one at a
 * time (`.gitswarm/daemon.starting`, created exclusively, is removed by the server once it listens;
 * a crashed start is retried after STARTING_STALE_MS).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { STARTING_NAME } from './protocol.js';

const STARTING_STALE_MS = 10_000;
/**
 * The server's V8 flags. `--no-lazy` compiles each function when its module loads (in the warm-up,
 * before commands arrive) rather than at its first call, which otherwise falls in the first
 * commands the server runs: a third of what its first `commit`, `review submit` or `merge` costs.
 * The price, paid once per server: about 40 ms more CPU to start and 6 MB more memory.
 */
const SERVER_NODE_FLAGS = ['--no-lazy'];

/** Creates the start marker; false when another start is under way. */
function claimStart(marker: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(marker, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return false;
      try {
        if (Date.now() - statSync(marker).mtimeMs < STARTING_STALE_MS) return false;
        unlinkSync(marker);
      } catch {
        // Removed meanwhile: try again.
      }
    }
  }
  return false;
}

/** Starts the server of `gitswarmDir` (detached, output discarded) when that is allowed. */
export function startDaemon(gitswarmDir: string, binPath: string): void {
  const uid = process.getuid?.();
  try {
    statSync(join(gitswarmDir, 'config.json'));
    if (statSync(gitswarmDir).uid !== uid || statSync(dirname(gitswarmDir)).uid !== uid) return;
  } catch {
    return; // not initialized (the command failed, or was not `init`)
  }
  if (!claimStart(join(gitswarmDir, STARTING_NAME))) return;
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, binPath, 'daemon', 'run'], {
    cwd: dirname(gitswarmDir),
    detached: true,
    stdio: 'ignore',
    env: process.env,
  });
  child.on('error', () => {});
  child.unref();
}
