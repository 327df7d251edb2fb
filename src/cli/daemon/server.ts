/**
 * The command server (`gitswarm daemon run`, started in the background by the first command in a
 * repository): one long-lived process per repository that runs many command lines at once, each
 * with its client's working directory, environment and output, under the same store locks as
 * separate processes (the store's lock queue within this process, the lock file across processes).
 *
 * It listens on `.gitswarm/daemon.sock` (mode 0600, only for the user owning the repository) and
 * exits when no command has run for GITSWARM_DAEMON_IDLE_MS (default 10 minutes), when `.gitswarm`
 * or its socket disappears or is replaced, when the installed build changes, or on `daemon stop`.
 */
import { chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { useGitSpawner } from '../../engine/git-spawner.js';
import { GitSwarmError } from '../../errors.js';
import { withCommandEnv } from '../../util/command-env.js';
import { type CliIO, wantsColor } from '../io.js';
import { runCli } from '../program.js';
import { createOpenStores } from './open-stores.js';
import {
  type ClientFrame,
  type DaemonStatus,
  DEFAULT_IDLE_MS,
  lineReader,
  processFingerprint,
  type ServerFrame,
  SOCKET_NAME,
  STARTING_NAME,
} from './protocol.js';
import { setStoreLender } from './store-seam.js';
import { warmUp } from './warm-up.js';

/** How often the server checks that its repository, socket and build are still there. */
const WATCH_INTERVAL_MS = 1_000;
/** A server asked to stop waits this long for running commands before it exits anyway. */
const STOP_GRACE_MS = 60_000;

export interface DaemonOptions {
  gitswarmDir: string;
  /** The build this process runs (`<entry file>@<mtime>`), compared with each client's. */
  build: string;
  idleMs?: number;
}

function frame(value: ServerFrame): string {
  return `${JSON.stringify(value)}\n`;
}

/** Refuses to serve a repository (or `.gitswarm`) that another user owns. */
function assertOwnedByMe(gitswarmDir: string): void {
  const uid = process.getuid?.();
  for (const dir of [dirname(gitswarmDir), gitswarmDir]) {
    if (statSync(dir).uid !== uid) {
      throw new GitSwarmError('forbidden', `${dir} belongs to another user: no command server for it`);
    }
  }
}

/**
 * The build stamp of an entry file: its path and modification time in whole nanoseconds, as
 * bin/gitswarm.js and the native client name the build they run.
 */
function buildStampOf(entryPath: string): string {
  return `${entryPath}@${statSync(entryPath, { bigint: true }).mtimeNs}`;
}

function currentBuild(build: string): string | undefined {
  try {
    return buildStampOf(build.slice(0, build.lastIndexOf('@')));
  } catch {
    return undefined;
  }
}

/** Answers whether a server already listens on `socketPath` (asks it for its status). */
function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(2_000, () => done(true));
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/** Listens on the socket, owner-only from its first moment; a stale socket file is replaced. */
async function listenOwnerOnly(server: Server, socketPath: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
      chmodSync(socketPath, 0o600);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      if (await probe(socketPath)) return false; // another server is running: leave it be
      try {
        unlinkSync(socketPath);
      } catch {
        // Gone already.
      }
    } finally {
      process.umask(previous);
    }
  }
  return false;
}

/** Runs the command server until it exits; resolves false when another one is already running. */
export async function runDaemon(options: DaemonOptions): Promise<boolean> {
  const { gitswarmDir, build } = options;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  assertOwnedByMe(gitswarmDir);
  const socketPath = join(gitswarmDir, SOCKET_NAME);
  const fingerprint = processFingerprint(process.env, process.umask(), process.getuid?.() ?? -1);
  const stores = createOpenStores();
  const sockets = new Set<Socket>();
  const startedAt = new Date();
  let running = 0;
  let served = 0;
  let lastActivity = Date.now();
  let stopping = false;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });

  const server = createServer((socket) => serve(socket));
  let listening: boolean;
  try {
    listening = await listenOwnerOnly(server, socketPath);
  } finally {
    // Listening or not (another server runs, sockets are refused here), the start is over.
    try {
      unlinkSync(join(gitswarmDir, STARTING_NAME));
    } catch {
      // Started by hand, or removed already.
    }
  }
  if (!listening) return false;
  const socketIdentity = lstatSync(socketPath).ino;
  setStoreLender(stores);
  // Git runs from a small helper process: a fork of this one stalls its event loop for every
  // command at once, and longer the more memory it holds (engine/git-spawner.ts).
  const releaseGitSpawner = useGitSpawner();
  void warmUp(gitswarmDir, stores);

  const status = (): DaemonStatus => ({
    pid: process.pid,
    started_at: startedAt.toISOString(),
    build,
    idle_exit_ms: idleMs,
    running,
    served,
    stores: stores.size,
  });

  function serve(socket: Socket): void {
    sockets.add(socket);
    let greeted = false;
    let controller: AbortController | undefined;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      controller?.abort(); // the client is gone (killed): its command stops
    });
    socket.on(
      'data',
      lineReader((line) => {
        let message: ClientFrame;
        try {
          message = JSON.parse(line) as ClientFrame;
        } catch {
          socket.destroy();
          return;
        }
        if (message.t === 'hello') {
          const why = stopping
            ? 'stopping'
            : message.build !== build
              ? 'build'
              : message.fingerprint !== fingerprint
                ? 'fingerprint'
                : undefined;
          socket.write(frame(why ? { t: 'refuse', why } : { t: 'ready' }));
          if (why) socket.end();
          greeted = why === undefined;
          // A client of a newer build: this server gives way to one started from that build.
          if (why === 'build') void shutdown();
        } else if (message.t === 'run' && greeted && !controller) {
          controller = new AbortController();
          void runCommand(socket, message, controller);
        } else if (message.t === 'abort') controller?.abort();
        else if (message.t === 'status') socket.end(frame({ t: 'status', status: status() }));
        else if (message.t === 'stop') {
          socket.end(frame({ t: 'stopping' }));
          void shutdown();
        }
      }),
    );
  }

  async function runCommand(
    socket: Socket,
    command: Extract<ClientFrame, { t: 'run' }>,
    controller: AbortController,
  ): Promise<void> {
    running++;
    served++;
    lastActivity = Date.now();
    const send = (t: 'out' | 'err') => (d: string) => {
      if (!socket.destroyed) socket.write(frame({ t, d }));
    };
    const io: CliIO = {
      stdout: { write: send('out') },
      stderr: { write: send('err') },
      isTTY: command.isTTY,
      color: wantsColor(command.isTTY, command.env),
      cwd: command.cwd,
      env: command.env,
      signal: controller.signal,
    };
    let code = 1;
    try {
      code = await withCommandEnv(command.env, () => runCli(command.argv, io));
    } catch (error) {
      send('err')(`error: ${(error as Error).message}\n`);
    } finally {
      running--;
      lastActivity = Date.now();
      if (!socket.destroyed) socket.end(frame({ t: 'exit', code }));
    }
  }

  /** Stops listening, lets running commands finish (at most STOP_GRACE_MS), then exits. */
  async function shutdown(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearInterval(watch);
    server.close();
    try {
      if (lstatSync(socketPath).ino === socketIdentity) unlinkSync(socketPath);
    } catch {
      // Removed with its directory.
    }
    const deadline = Date.now() + STOP_GRACE_MS;
    while (running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const socket of sockets) socket.destroy();
    setStoreLender(undefined);
    releaseGitSpawner();
    await stores.closeAll();
    finished();
  }

  /** Why the server should exit now, or undefined. */
  function reasonToExit(): string | undefined {
    try {
      statSync(join(gitswarmDir, 'config.json'));
      if (lstatSync(socketPath).ino !== socketIdentity) return 'socket replaced';
    } catch {
      return 'repository or socket removed';
    }
    if (currentBuild(build) !== build) return 'build changed';
    if (running === 0 && Date.now() - lastActivity >= idleMs) return 'idle';
    return undefined;
  }

  const watch = setInterval(
    () => {
      if (reasonToExit()) void shutdown();
    },
    Math.min(WATCH_INTERVAL_MS, idleMs),
  );
  // A command's stray error must not take the other commands (and the server) down with it.
  process.on('uncaughtException', () => {});
  process.on('unhandledRejection', () => {});
  await done;
  return true;
}
