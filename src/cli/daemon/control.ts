/** `gitswarm daemon status|stop|run`: asks the repository's command server, or becomes it. */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { GitSwarmError } from '../../errors.js';
import type { CliIO } from '../io.js';
import type { Style } from '../output.js';
import { findGitswarmDir } from './client.js';
import { type Connection, connectUnix } from './connection.js';
import { type ClientFrame, type DaemonStatus, type ServerFrame, SOCKET_NAME } from './protocol.js';

export interface DaemonStatusResult {
  running: boolean;
  socket: string;
  /** Why no server answers (when `running` is false). */
  reason?: string;
  daemon?: DaemonStatus;
}

function socketOf(io: CliIO): string {
  const dir = findGitswarmDir(io.cwd);
  if (!dir) throw new GitSwarmError('not_a_git_repo', `Not inside a git repository: ${io.cwd}`);
  return join(dir, SOCKET_NAME);
}

/** Sends one request and returns the server's one answer (undefined when none answers). */
function ask(socketPath: string, request: ClientFrame): Promise<ServerFrame | string> {
  return new Promise((resolve) => {
    try {
      const stat = lstatSync(socketPath);
      if (stat.uid !== process.getuid?.()) {
        resolve('the socket belongs to another user');
        return;
      }
    } catch {
      resolve('no socket');
      return;
    }
    let connection: Connection | undefined;
    const answer = (value: ServerFrame | string) => {
      clearTimeout(timer);
      connection?.close();
      resolve(value);
    };
    const timer = setTimeout(() => answer('no answer'), 5_000);
    try {
      connection = connectUnix(socketPath, {
        onLine: (line) => answer(JSON.parse(line) as ServerFrame),
        onClose: (errorCode) => answer(errorCode ? `stale socket (${errorCode})` : 'no answer'),
      });
      connection.write(`${JSON.stringify(request)}\n`);
    } catch (error) {
      answer((error as Error).message);
    }
  });
}

export async function daemonStatus(io: CliIO): Promise<DaemonStatusResult> {
  const socket = socketOf(io);
  const answer = await ask(socket, { t: 'status' });
  if (typeof answer === 'string' || answer.t !== 'status') {
    return { running: false, socket, reason: typeof answer === 'string' ? answer : 'unexpected answer' };
  }
  return { running: true, socket, daemon: answer.status };
}

export function formatDaemonStatus(result: DaemonStatusResult, style: Style): string {
  if (!result.running || !result.daemon) return `no command server running (${result.reason})`;
  const d = result.daemon;
  return [
    `${style.green('running')}  pid ${d.pid}, since ${d.started_at}`,
    `socket   ${result.socket}`,
    `served   ${d.served} commands (${d.running} running now), ${d.stores} store(s) open`,
    `exits    after ${Math.round(d.idle_exit_ms / 1000)} s without a command`,
  ].join('\n');
}

export interface DaemonStopResult {
  stopped: boolean;
  pid?: number;
  reason?: string;
}

export async function stopDaemon(io: CliIO): Promise<DaemonStopResult> {
  const socket = socketOf(io);
  const before = await ask(socket, { t: 'status' });
  if (typeof before === 'string' || before.t !== 'status') {
    return { stopped: false, reason: typeof before === 'string' ? before : 'unexpected answer' };
  }
  await ask(socket, { t: 'stop' });
  // The server removes its socket as it stops listening.
  for (let waited = 0; waited < 5_000; waited += 20) {
    try {
      lstatSync(socket);
    } catch {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { stopped: true, pid: before.status.pid };
}

export function formatDaemonStop(result: DaemonStopResult): string {
  return result.stopped
    ? `stopped the command server (pid ${result.pid})`
    : `no command server running (${result.reason})`;
}

/** `daemon run`: serves the repository around the working directory until the server exits. */
export async function runDaemonHere(io: CliIO): Promise<void> {
  const build = (globalThis as Record<symbol, string | undefined>)[Symbol.for('gitswarm.build')];
  if (!build) throw new GitSwarmError('usage', 'daemon run is started by bin/gitswarm.js');
  const dir = findGitswarmDir(io.cwd);
  if (!dir) throw new GitSwarmError('not_a_git_repo', `Not inside a git repository: ${io.cwd}`);
  const idle = Number(io.env.GITSWARM_DAEMON_IDLE_MS);
  const { runDaemon } = await import('./server.js');
  await runDaemon({ gitswarmDir: dir, build, ...(idle > 0 ? { idleMs: idle } : {}) });
}
