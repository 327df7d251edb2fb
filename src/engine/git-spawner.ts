/**
 * Runs git from a small helper process instead of from this one. Starting a process forks its
 * parent, and a fork costs more the more memory the parent has mapped: here 1.2 ms for a 54 MB
 * Node process, 10 ms at 240 MB, 12 ms at 460 MB, all of it time in which the parent's event loop
 * stands still. The HTTP server grows to hundreds of megabytes under load and runs git for every
 * Mode C commit and merge, so it runs git from a helper (serve.ts): a bare Node process that stays
 * small, spoken to over IPC (a run in; output chunks and the exit code out).
 *
 * If the helper dies, the runs it had fail as if their git had been killed, and the next run
 * starts a new helper. It exits when its parent does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';

/** One git run in the helper, with the events of a child process that `gitRaw` listens to. */
export interface SpawnedRun {
  readonly stdout: EventEmitter;
  readonly stderr: EventEmitter;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'close', listener: (code: number | null) => void): this;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  input: string;
  signal?: AbortSignal;
}

type ToHelper =
  | {
      t: 'run';
      id: number;
      file: string;
      args: readonly string[];
      cwd: string;
      env: NodeJS.ProcessEnv;
      input: string;
    }
  | { t: 'kill'; id: number };

type FromHelper =
  | { t: 'out' | 'err'; id: number; d: Uint8Array }
  | { t: 'error'; id: number; message: string }
  | { t: 'close'; id: number; code: number | null };

/**
 * The helper's program, run as `node -e` (CommonJS): there is no file of it to find, whether the
 * caller runs from dist/src or from a bundle.
 */
function helperMain(load: NodeJS.Require): void {
  const childProcess = load('node:child_process') as typeof import('node:child_process');
  const children = new Map<number, ChildProcess>();
  const send = (message: FromHelper) => process.send?.(message);
  process.on('disconnect', () => process.exit(0)); // the parent is gone
  process.on('message', (message: ToHelper) => {
    if (message.t === 'kill') {
      children.get(message.id)?.kill('SIGKILL');
      return;
    }
    const { id } = message;
    const child = childProcess.spawn(message.file, message.args, {
      cwd: message.cwd,
      env: message.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.set(id, child);
    child.stdout?.on('data', (d: Buffer) => send({ t: 'out', id, d }));
    child.stderr?.on('data', (d: Buffer) => send({ t: 'err', id, d }));
    child.on('error', (error) => send({ t: 'error', id, message: error.message }));
    child.on('close', (code) => {
      children.delete(id);
      send({ t: 'close', id, code });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(message.input);
  });
}

class Run extends EventEmitter implements SpawnedRun {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
}

/** A helper process that runs programs for this one; see the module comment. */
export class GitSpawner {
  #helper: ChildProcess | undefined;
  readonly #runs = new Map<number, Run>();
  #nextId = 1;

  /** Runs `file` with `args` in the helper. */
  run(file: string, args: readonly string[], options: RunOptions): SpawnedRun {
    const run = new Run();
    const id = this.#nextId++;
    const helper = this.#liveHelper();
    this.#runs.set(id, run);
    this.#keepAlive(helper);
    const { signal } = options;
    if (signal) {
      const abort = () => {
        helper.send({ t: 'kill', id } satisfies ToHelper);
        run.emit('error', Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }));
      };
      if (signal.aborted) queueMicrotask(abort);
      else signal.addEventListener('abort', abort, { once: true });
      run.once('close', () => signal.removeEventListener('abort', abort));
    }
    helper.send({
      t: 'run',
      id,
      file,
      args,
      cwd: options.cwd,
      env: options.env,
      input: options.input,
    } satisfies ToHelper);
    return run;
  }

  /** The helper's process id, while one runs. */
  get pid(): number | undefined {
    return this.#helper?.pid;
  }

  /** Stops the helper (its runs fail); a later run starts another. */
  close(): void {
    this.#helper?.kill('SIGKILL');
  }

  #liveHelper(): ChildProcess {
    if (this.#helper?.connected) return this.#helper;
    const helper = spawn(process.execPath, ['-e', `(${helperMain.toString()})(require)`], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
      env: {},
    });
    helper.on('message', (message: FromHelper) => {
      const run = this.#runs.get(message.id);
      if (!run) return;
      if (message.t === 'out' || message.t === 'err') {
        const chunk = Buffer.from(message.d.buffer, message.d.byteOffset, message.d.byteLength);
        (message.t === 'out' ? run.stdout : run.stderr).emit('data', chunk);
      } else if (message.t === 'error') run.emit('error', new Error(message.message));
      else if (message.t === 'close') {
        this.#runs.delete(message.id);
        this.#keepAlive(helper);
        run.emit('close', message.code);
      }
    });
    helper.on('error', () => {}); // seen as its exit
    helper.on('exit', () => {
      if (this.#helper === helper) this.#helper = undefined;
      for (const [id, run] of this.#runs) {
        this.#runs.delete(id);
        run.emit('error', new Error('the helper process that runs git exited'));
        run.emit('close', null);
      }
    });
    // The helper never keeps this process alive; its channel does while runs are under way.
    helper.unref();
    this.#helper = helper;
    return helper;
  }

  /** Refs the helper's channel while runs are under way (the process waits for them), else unrefs it. */
  #keepAlive(helper: ChildProcess): void {
    const channel = helper.channel as { ref?(): void; unref?(): void } | null | undefined;
    if (this.#runs.size > 0) channel?.ref?.();
    else channel?.unref?.();
  }
}

let shared: { spawner: GitSpawner; users: number } | undefined;

/** The helper git runs from, while someone uses one (else undefined: git runs from this process). */
export function gitSpawner(): GitSpawner | undefined {
  return shared?.spawner;
}

/** Runs this process's git from a helper until the returned release is called (counted: nested uses share one). */
export function useGitSpawner(): () => void {
  shared ??= { spawner: new GitSpawner(), users: 0 };
  const current = shared;
  current.users++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    current.users--;
    if (current.users === 0 && shared === current) {
      shared = undefined;
      current.spawner.close();
    }
  };
}
