/**
 * Mode B test world: a real GitSwarm server (the Fastify app listening on a free loopback port, on
 * a fresh store of a dialect), a bare git repository standing in for the shared remote, and clones
 * of it ("machines"), each with its own credentials folder (XDG_CONFIG_HOME). Commands run through
 * the real CLI in-process (`runCli`), or the built binary with `bin: true`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type App, type BuildAppOptions, buildApp } from '../../src/server/app.js';
import { type CliRun, cleanEnv, runBin } from '../cli/helpers.js';
import { runInProcess } from '../cli/in-process.js';
import { openTestStore, type TestDialect, type TestStore } from '../helpers/store.js';

/** A listening server that can be stopped and started again on the same port and store. */
export class TestServer {
  readonly store: TestStore;
  readonly options: Partial<BuildAppOptions>;
  app: App | undefined;
  port = 0;

  constructor(store: TestStore, options: Partial<BuildAppOptions>) {
    this.store = store;
    this.options = options;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts listening (on the same port as before, after a `stop`). */
  async start(): Promise<void> {
    const app = await buildApp({
      rateLimit: false,
      notifications: false,
      ...this.options,
      store: this.store,
    });
    await app.listen({ port: this.port, host: '127.0.0.1' });
    this.port = (app.server.address() as { port: number }).port;
    this.app = app;
  }

  /** Stops listening; the store (the server's state) stays. */
  async stop(): Promise<void> {
    await this.app?.close();
    this.app = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.store.close();
  }
}

/** Starts a server on a fresh store of the dialect. */
export async function startTestServer(
  dialect: TestDialect,
  options: Partial<BuildAppOptions> = {},
): Promise<TestServer> {
  const server = new TestServer(await openTestStore(dialect), options);
  await server.start();
  return server;
}

/** One clone of the shared remote, on its own "machine" (its own credentials folder). */
export class TestClone {
  readonly dir: string;
  readonly configHome: string;
  readonly env: NodeJS.ProcessEnv;
  readonly #bin: boolean;

  constructor(dir: string, configHome: string, env: NodeJS.ProcessEnv, bin: boolean) {
    this.dir = dir;
    this.configHome = configHome;
    this.env = env;
    this.#bin = bin;
  }

  /** The credentials file of this machine. */
  get credentialsFile(): string {
    return join(this.configHome, 'gitswarm', 'credentials.json');
  }

  /** Runs `gitswarm ARGS` in the clone (or `cwd`). */
  run(
    args: readonly string[],
    options: { cwd?: string; env?: Record<string, string> } = {},
  ): Promise<CliRun> {
    const cwd = options.cwd ?? this.dir;
    const env = { ...this.env, ...options.env };
    return this.#bin ? runBin(args, cwd, env) : runInProcess(args, { cwd, env });
  }

  git(args: readonly string[], cwd = this.dir): string {
    return execFileSync('git', args, { cwd, env: this.env, encoding: 'utf8' }).trim();
  }

  write(path: string, content: string, base = this.dir): void {
    const file = join(base, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

export interface WorldOptions {
  /** Spawn the built binary instead of running in-process. */
  bin?: boolean;
}

/** A bare shared remote with one commit on main, and the clones made of it. */
export class ModeBWorld {
  readonly root: string;
  readonly bare: string;
  readonly clones: TestClone[] = [];
  readonly #bin: boolean;

  constructor(options: WorldOptions = {}) {
    this.#bin = options.bin === true;
    this.root = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-modeb-')));
    this.bare = join(this.root, 'remote.git');
    const env = cleanEnv();
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', this.bare], { env });
    const seed = join(this.root, 'seed');
    execFileSync('git', ['init', '-q', '-b', 'main', seed], { env });
    writeFileSync(join(seed, 'README.md'), '# shared repository\n');
    execFileSync('git', ['add', '-A'], { cwd: seed, env });
    execFileSync('git', ['commit', '-q', '-m', 'initial'], { cwd: seed, env });
    execFileSync('git', ['push', '-q', this.bare, 'main'], { cwd: seed, env });
    rmSync(seed, { recursive: true, force: true });
  }

  /** A new clone of the remote (`origin`) on a new machine. */
  clone(name = `machine-${this.clones.length + 1}`, extraEnv: Record<string, string> = {}): TestClone {
    const dir = join(this.root, name);
    const configHome = join(this.root, `${name}-config`);
    mkdirSync(configHome, { recursive: true });
    const env = cleanEnv({ XDG_CONFIG_HOME: configHome, GITSWARM_HTTP_RETRIES: '1', ...extraEnv });
    execFileSync('git', ['clone', '-q', this.bare, dir], { env });
    const clone = new TestClone(dir, configHome, env, this.#bin);
    this.clones.push(clone);
    return clone;
  }

  close(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
