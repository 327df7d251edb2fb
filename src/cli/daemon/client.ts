/**
 * The client side of the command server, loaded by `bin/gitswarm.js` before anything else: it
 * finds the repository's socket, asks the server to run the command line and relays its output and
 * exit code. It loads nothing but Node's own modules. Whenever the server cannot take the command
 * (none running, a stale or foreign socket, another build, no answer within READY_TIMEOUT_MS) it
 * says so and the command runs in-process, exactly as without a server.
 */
import { lstatSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commandNoun } from '../argv.js';
import { type Connection, connectUnix, isTerminal, type Transport } from './connection.js';
import {
  type ClientFrame,
  processFingerprint,
  READY_TIMEOUT_MS,
  type ServerFrame,
  SOCKET_NAME,
} from './protocol.js';

/** Why the command was not sent to a server; `start` when starting one for next time makes sense. */
export interface NotServed {
  served: false;
  reason: string;
  /** The repository's `.gitswarm` directory, when a server may be started there. */
  start?: string;
}

/**
 * `flushed`: every byte of output was written before the outcome resolved, so the process may exit
 * at once (skipping Node's teardown of a heap it no longer needs).
 */
export type ClientOutcome = { served: true; exitCode: number; flushed: boolean } | NotServed;

/** Commands that never go to the server: they serve (HTTP, MCP on stdio) or manage it. */
const IN_PROCESS_COMMANDS = new Set(['serve', 'mcp', 'daemon']);
/** Git settings that point git at another repository than the one around the working directory. */
const GIT_LOCATION_ENV = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_COMMON_DIR', 'GIT_CEILING_DIRECTORIES'];

/** Whether the command server is turned off for this command (and why), else undefined. */
export function inProcessReason(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (env.GITSWARM_NO_DAEMON && env.GITSWARM_NO_DAEMON !== '0') return 'GITSWARM_NO_DAEMON';
  if (env.GITSWARM_FAILPOINTS) return 'failpoints';
  if (GIT_LOCATION_ENV.some((name) => env[name] !== undefined)) return 'git location set';
  const noun = commandNoun(argv);
  if (noun === undefined) return 'no command';
  if (IN_PROCESS_COMMANDS.has(noun)) return `${noun} runs in-process`;
  return undefined;
}

/**
 * The main repository's `.gitswarm` directory around `cwd`, found on disk as git would (a linked
 * worktree's `.git` file names the main repository); undefined when there is no plain repository.
 */
export function findGitswarmDir(cwd: string): string | undefined {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    let isDir: boolean | undefined;
    try {
      isDir = lstatSync(dotGit).isDirectory();
    } catch {
      isDir = undefined;
    }
    if (isDir === true) return join(dir, '.gitswarm');
    if (isDir === false) {
      const match = /^gitdir: (.*)\/\.git\/worktrees\/[^/]+\s*$/.exec(readFileSync(dotGit, 'utf8'));
      return match ? join(match[1] as string, '.gitswarm') : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export interface ClientOptions {
  argv: readonly string[];
  /** The installed build the client runs (the server must be the same). */
  build: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How to reach the socket (connection.ts); the cheapest there is unless a test says otherwise. */
  transport?: Transport;
}

/** Runs the command line on the repository's command server, or says why not. */
export async function runViaDaemon(options: ClientOptions): Promise<ClientOutcome> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const off = inProcessReason(options.argv, env);
  if (off) return { served: false, reason: off };
  const gitswarmDir = findGitswarmDirSafely(cwd);
  if (!gitswarmDir) return { served: false, reason: 'not in a git repository' };
  const socketPath = join(gitswarmDir, SOCKET_NAME);
  // A Unix socket path is limited to 107 bytes; a deeper repository runs in-process.
  if (Buffer.byteLength(socketPath) > 107) return { served: false, reason: 'socket path too long' };
  let owner: number;
  try {
    const stat = lstatSync(socketPath);
    if (!stat.isSocket()) return { served: false, reason: 'not a socket' };
    owner = stat.uid;
  } catch {
    return { served: false, reason: 'no server', start: gitswarmDir };
  }
  const uid = process.getuid?.() ?? -1;
  if (owner !== uid) return { served: false, reason: 'socket owned by another user' };
  const fingerprint = processFingerprint(env, process.umask(), uid);
  return converse(socketPath, gitswarmDir, options.transport, {
    hello: { t: 'hello', build: options.build, fingerprint },
    run: {
      t: 'run',
      argv: [...options.argv],
      cwd,
      env: definedEnv(env),
      isTTY: isTerminal(1),
    },
  });
}

function findGitswarmDirSafely(cwd: string): string | undefined {
  try {
    return findGitswarmDir(cwd);
  } catch {
    return undefined;
  }
}

function definedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

function send(connection: Connection, frame: ClientFrame): void {
  connection.write(`${JSON.stringify(frame)}\n`);
}

/**
 * Writes the command's output straight to the file descriptor: creating `process.stdout` for a pipe
 * would load Node's stream machinery, a measurable share of a served command's time. A descriptor
 * left non-blocking by someone else (EAGAIN) gets the rest through the stream, which waits; false
 * then, as that write may still be under way.
 */
function relay(fd: 1 | 2, text: string): boolean {
  let data = Buffer.from(text);
  try {
    while (data.length > 0) data = data.subarray(writeSync(fd, data));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return true; // `gitswarm activity | head`: the reader left; end quietly
    if (code !== 'EAGAIN') throw error;
    (fd === 1 ? process.stdout : process.stderr).write(data);
    return false;
  }
  return true;
}

/** hello → ready → run → relay until exit; anything before "ready" falls back to in-process. */
function converse(
  socketPath: string,
  gitswarmDir: string,
  transport: Transport | undefined,
  frames: { hello: ClientFrame; run: ClientFrame },
): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    let phase: 'hello' | 'running' | 'done' = 'hello';
    const notServed = (reason: string, start?: string) => {
      if (phase !== 'hello') return;
      phase = 'done';
      clearTimeout(timer);
      connection?.close();
      resolve({ served: false, reason, ...(start ? { start } : {}) });
    };
    const timer = setTimeout(() => notServed('no answer in time'), READY_TIMEOUT_MS);
    // Ctrl-C aborts the command in the server (it ends as it would in-process); a second one
    // leaves at once, as a process that does not stop would be left.
    let interrupted = false;
    let flushed = true;
    const write = (fd: 1 | 2, text: string) => {
      if (!relay(fd, text)) flushed = false;
    };
    const onSigint = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      if (connection) send(connection, { t: 'abort' });
    };
    // The server ends the connection after "exit"; the client then has nothing left to close.
    const finish = (exitCode: number) => {
      phase = 'done';
      process.off('SIGINT', onSigint);
      resolve({ served: true, exitCode, flushed });
    };
    const onLine = (line: string) => {
      const frame = JSON.parse(line) as ServerFrame;
      if (phase === 'hello') {
        if (frame.t === 'ready' && connection) {
          clearTimeout(timer);
          phase = 'running';
          process.on('SIGINT', onSigint);
          send(connection, frames.run);
        } else if (frame.t === 'refuse') {
          // Another build: that server is on its way out, and a new one may start.
          notServed(`server refused: ${frame.why}`, frame.why === 'build' ? gitswarmDir : undefined);
        }
        return;
      }
      if (phase !== 'running') return;
      if (frame.t === 'out') write(1, frame.d);
      else if (frame.t === 'err') write(2, frame.d);
      else if (frame.t === 'exit') finish(frame.code);
    };
    const onClose = (errorCode?: string) => {
      if (phase === 'hello') {
        const stale = errorCode === 'ECONNREFUSED' || errorCode === 'ENOENT';
        if (errorCode) notServed(`cannot connect (${errorCode})`, stale ? gitswarmDir : undefined);
        else notServed('closed before answering');
      } else if (phase === 'running') {
        write(
          2,
          'error: the command server stopped while running this command (GITSWARM_NO_DAEMON=1 runs commands in-process)\n',
        );
        finish(1);
      }
    };
    let connection: Connection | undefined;
    try {
      connection = connectUnix(socketPath, { onLine, onClose }, transport);
    } catch (error) {
      notServed(`cannot connect (${(error as Error).message})`);
      return;
    }
    send(connection, frames.hello); // sent once connected
  });
}
