/**
 * End-to-end helpers: real temporary git repositories and the real `gitswarm` command
 * (bin/gitswarm, as npm installs it: the native client where the build made one, else Node with
 * bin/gitswarm.js; both load dist/: run `npm run build` first).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { requireFreshBuild } from '../helpers/built.js';
import { runInProcess } from './in-process.js';

/** The Node entry point, run as `node BIN`: the Node client of the command server, or in-process. */
export const BIN = fileURLToPath(new URL('../../bin/gitswarm.js', import.meta.url));
/** The `gitswarm` command itself (package.json's bin). */
export const COMMAND = fileURLToPath(new URL('../../bin/gitswarm', import.meta.url));

export const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'GitSwarm Test',
  GIT_AUTHOR_EMAIL: 'test@gitswarm.invalid',
  GIT_COMMITTER_NAME: 'GitSwarm Test',
  GIT_COMMITTER_EMAIL: 'test@gitswarm.invalid',
};

/** The environment of every spawned command: no inherited GitSwarm settings, no colour. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (
      key.startsWith('GITSWARM_') ||
      key === 'DATABASE_URL' ||
      key === 'FORCE_COLOR' ||
      key.startsWith('GIT_')
    ) {
      continue;
    }
    env[key] = value;
  }
  return { ...env, ...GIT_IDENTITY, NO_COLOR: '1', ...daemonEnv(), ...extra };
}

/**
 * The command server's settings pass through to the binary: GITSWARM_NO_DAEMON=1 runs the suite
 * in-process; otherwise servers exit after GITSWARM_DAEMON_IDLE_MS (5 s here, so they never pile up).
 */
function daemonEnv(): Record<string, string> {
  const env: Record<string, string> = {
    GITSWARM_DAEMON_IDLE_MS: process.env.GITSWARM_DAEMON_IDLE_MS ?? '5000',
  };
  if (process.env.GITSWARM_NO_DAEMON) env.GITSWARM_NO_DAEMON = process.env.GITSWARM_NO_DAEMON;
  return env;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document it must be. */
  json<T = Record<string, unknown>>(): T;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
}

let buildChecked = false;
/** The binary runs dist/: checked fresh once per test file (a stale build fails with the files named). */
function requireFreshBuildOnce(): void {
  if (buildChecked) return;
  requireFreshBuild();
  buildChecked = true;
}

/** The program and arguments that run `gitswarm ARGS` through `client`. */
function clientCommand(client: 'command' | 'node', args: readonly string[]): [string, string[]] {
  return client === 'node' ? [process.execPath, [BIN, ...args]] : [COMMAND, [...args]];
}

/**
 * Runs `gitswarm activity --follow` through `client` until it has printed, runs `whileRunning`,
 * then interrupts it as Ctrl-C does; its exit code and what it printed.
 */
export async function followThenInterrupt(
  repo: TestRepo,
  client: 'command' | 'node',
  whileRunning: () => Promise<void>,
): Promise<{ code: number | null; stdout: string }> {
  const [file, argv] = clientCommand(client, ['activity', '--follow']);
  const child = spawn(file, argv, { cwd: repo.dir, env: repo.env });
  let stdout = '';
  const firstOutput = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await firstOutput;
  await whileRunning();
  child.kill('SIGINT');
  return { code: await exited, stdout };
}

/**
 * Runs the real command and collects its exit code and output (never throws on a non-zero exit):
 * `gitswarm`, or with `client: 'node'` Node's entry point (`node bin/gitswarm.js`).
 */
export function runBin(
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  client: 'command' | 'node' = 'command',
): Promise<CliRun> {
  requireFreshBuildOnce();
  const [file, argv] = clientCommand(client, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd, env, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      if (code === null) {
        reject(error);
        return;
      }
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          return JSON.parse(stdout) as T;
        },
      });
    });
  });
}

/** A temporary git repository with one commit on main, and a way to run gitswarm in it. */
export class TestRepo {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** How `run` runs a command: the `gitswarm` command, Node's entry point, or runCli in this process. */
  readonly runner: 'command' | 'node' | 'in-process';
  readonly #cleanup: () => void;

  constructor(dir: string, env: NodeJS.ProcessEnv, runner: TestRepo['runner'], cleanup: () => void) {
    this.dir = dir;
    this.env = env;
    this.runner = runner;
    this.#cleanup = cleanup;
  }

  /** `run` calls runCli in this process instead of spawning the binary. */
  get inProcess(): boolean {
    return this.runner === 'in-process';
  }

  /** Runs `gitswarm ARGS` in the repository (or `options.cwd`): the binary, or in-process. */
  run(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
    const cwd = options.cwd ?? this.dir;
    const env = { ...this.env, ...options.env };
    return this.runner === 'in-process'
      ? runInProcess(args, { cwd, env })
      : runBin(args, cwd, env, this.runner);
  }

  /** Runs `gitswarm ARGS` in-process (runCli with buffered IO): same code, no process start. */
  runHere(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
    return runInProcess(args, { cwd: options.cwd ?? this.dir, env: { ...this.env, ...options.env } });
  }

  /** Runs git in the repository and returns its trimmed output. */
  git(args: readonly string[], cwd = this.dir): string {
    return execFileSync('git', args, { cwd, env: this.env, encoding: 'utf8' }).trim();
  }

  /** Writes a file (relative to `base`, default the repository root). */
  write(path: string, content: string, base = this.dir): void {
    const file = join(base, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }

  /** Every ref with its object, the worktrees: what a refused command must leave as it was. */
  gitState(): string {
    return `${this.git(['for-each-ref', '--format=%(refname) %(objectname)'])}\n${this.git(['worktree', 'list', '--porcelain'])}`;
  }

  close(): void {
    this.#cleanup();
  }
}

export interface CreateRepoOptions {
  /** Extra environment of every command (GITSWARM_DB from `storeEnv`, say). */
  env?: Record<string, string>;
  /** Make the first commit (default true). */
  commit?: boolean;
  /** Run commands in-process (runCli) instead of spawning the binary. */
  inProcess?: boolean;
  /** Run `node bin/gitswarm.js` (Node's client of the command server) instead of `gitswarm`. */
  nodeClient?: boolean;
}

/** Creates a temporary repository with `README.md` committed on main. */
export function createTestRepo(options: CreateRepoOptions = {}): TestRepo {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-cli-')));
  const env = cleanEnv(options.env);
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir, env });
  if (options.commit !== false) {
    writeFileSync(join(dir, 'README.md'), '# test repository\n');
    execFileSync('git', ['add', '-A'], { cwd: dir, env });
    execFileSync('git', ['commit', '-q', '-m', 'initial'], { cwd: dir, env });
  }
  const runner = options.inProcess ? 'in-process' : options.nodeClient ? 'node' : 'command';
  return new TestRepo(dir, env, runner, () => rmSync(dir, { recursive: true, force: true }));
}

/** A fresh empty directory outside any git repository. */
export function createTempDir(): { dir: string; close: () => void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-nogit-')));
  return { dir, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Repositories with the command server on, even in the suite's in-process pass
 * (GITSWARM_NO_DAEMON=1), run through `client`; after each test their servers are stopped and
 * they are removed. `forget` drops one the test removed itself.
 */
export function commandServerRepos(client: 'command' | 'node') {
  let repos: TestRepo[] = [];
  afterEach(async () => {
    for (const repo of repos) {
      await repo.run(['daemon', 'stop']);
      repo.close();
    }
    repos = [];
  });
  return {
    create(env: Record<string, string> = {}): TestRepo {
      const repo = createTestRepo({
        env: { GITSWARM_NO_DAEMON: '0', GITSWARM_DAEMON_IDLE_MS: '20000', ...env },
        nodeClient: client === 'node',
      });
      repos.push(repo);
      return repo;
    },
    forget(repo: TestRepo): void {
      repos = repos.filter((r) => r !== repo);
    },
  };
}
