/**
 * The command server's wire format, shared by the client in `bin/gitswarm.js` (kept tiny: this
 * module imports nothing) and the server. One JSON object per line over a Unix socket:
 *
 *   client → server  {"t":"hello","build":…,"fingerprint":…}   may I run a command?
 *   server → client  {"t":"ready"} | {"t":"refuse","why":…}     refused: run it in-process
 *   client → server  {"t":"run","argv":[…],"cwd":…,"env":{…},"isTTY":…}
 *   server → client  {"t":"out","d":…} | {"t":"err","d":…} …  then {"t":"exit","code":…}
 *   client → server  {"t":"abort"}                              Ctrl-C: the command's signal fires
 *
 * The command is sent only after "ready", so a client that gave up waiting (and ran the command
 * itself) can never have it run twice. `daemon status` and `daemon stop` send {"t":"status"} and
 * {"t":"stop"} instead of a hello.
 */

/** The socket's name inside the repository's `.gitswarm/` directory. */
export const SOCKET_NAME = 'daemon.sock';
/** Created (exclusively) by the process that starts a server, removed once it listens. */
export const STARTING_NAME = 'daemon.starting';
/** How long a client waits for "ready" before running the command itself. */
export const READY_TIMEOUT_MS = 500;
/** A server with no command running exits after this long without one (GITSWARM_DAEMON_IDLE_MS). */
export const DEFAULT_IDLE_MS = 10 * 60_000;

/** Why a server may refuse a command: it is another build, or runs with other process-wide settings. */
export type RefuseReason = 'build' | 'fingerprint' | 'stopping';

export type ClientFrame =
  | { t: 'hello'; build: string; fingerprint: string }
  | { t: 'run'; argv: string[]; cwd: string; env: Record<string, string>; isTTY: boolean }
  | { t: 'abort' }
  | { t: 'status' }
  | { t: 'stop' };

export interface DaemonStatus {
  pid: number;
  started_at: string;
  build: string;
  idle_exit_ms: number;
  running: number;
  served: number;
  stores: number;
}

export type ServerFrame =
  | { t: 'ready' }
  | { t: 'refuse'; why: RefuseReason }
  | { t: 'out'; d: string }
  | { t: 'err'; d: string }
  | { t: 'exit'; code: number }
  | { t: 'status'; status: DaemonStatus }
  | { t: 'stopping' };

/**
 * The settings a process takes once for all its commands: a command whose client has other values
 * runs in-process instead (a server started from another shell must not change dates, temporary
 * files or file modes).
 */
export function processFingerprint(
  env: Readonly<Record<string, string | undefined>>,
  umask: number,
  uid: number,
): string {
  const names = ['TZ', 'TMPDIR', 'LANG', 'LC_ALL', 'NODE_OPTIONS', 'GITSWARM_NO_BUNDLE'];
  return JSON.stringify([uid, umask, ...names.map((name) => env[name] ?? null)]);
}

const NEWLINE = 0x0a;

/**
 * Splits a stream of UTF-8 bytes into lines, calling `onLine` for each complete one. It splits the
 * bytes, not decoded text: a newline byte is never part of a longer UTF-8 character, so a
 * character cut between two chunks is decoded whole with its line.
 */
export function lineReader(onLine: (line: string) => void): (chunk: Uint8Array) => void {
  let pending: Buffer | undefined;
  return (chunk) => {
    const data = pending
      ? Buffer.concat([pending, chunk])
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let start = 0;
    for (let end = data.indexOf(NEWLINE); end >= 0; end = data.indexOf(NEWLINE, start)) {
      if (end > start) onLine(data.toString('utf8', start, end));
      start = end + 1;
    }
    // A copy: the chunk's memory is the reader's, not ours to keep.
    pending = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
  };
}
