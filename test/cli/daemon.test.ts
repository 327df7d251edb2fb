/**
 * The command server (docs/daemon.md) with the real binary in real repositories: a command served
 * by it prints and exits exactly as in-process; many clients at once are all served correctly; and
 * whatever goes wrong with the server (a stale socket, another user's socket, another build) the
 * command runs in-process. Servers exit when idle, when their repository is deleted, and on stop.
 */
import {
  appendFileSync,
  chownSync,
  existsSync,
  lstatSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { childrenOf, commandLine } from '../helpers/processes.js';
import { BIN, commandServerRepos, createTempDir, followThenInterrupt, type TestRepo } from './helpers.js';

const NO_DAEMON = { GITSWARM_NO_DAEMON: '1' };
const DEBUG = { GITSWARM_DAEMON_DEBUG: '1' };

// These tests are of the server and Node's client (native-client.test.ts has the native one's).
const servers = commandServerRepos('node');
const newRepo = servers.create;

interface StatusJson {
  running: boolean;
  daemon?: { pid: number; served: number };
}

async function daemonStatus(repo: TestRepo): Promise<StatusJson> {
  const status = await repo.run(['daemon', 'status', '--json']);
  expect(status.code).toBe(0);
  return status.json<StatusJson>();
}

/** Waits until the repository's server answers, and returns its pid. */
async function waitForDaemon(repo: TestRepo): Promise<number> {
  for (let waited = 0; waited < 15_000; waited += 100) {
    const status = await daemonStatus(repo);
    if (status.running && status.daemon) return status.daemon.pid;
    await sleep(100);
  }
  throw new Error('no command server started');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, limitMs = 10_000): Promise<boolean> {
  for (let waited = 0; waited < limitMs; waited += 100) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return false;
}

/** A repository initialized with `init` and its arguments, and its command server running. */
async function startedRepo(
  env: Record<string, string> = {},
  initArgs: string[] = ['--model', 'solo'],
): Promise<{ repo: TestRepo; pid: number }> {
  const repo = newRepo(env);
  expect((await repo.run(['init', ...initArgs])).code).toBe(0);
  return { repo, pid: await waitForDaemon(repo) };
}

/** An initialized repository with two agents and its command server running. */
async function servedRepo(env: Record<string, string> = {}): Promise<{ repo: TestRepo; pid: number }> {
  const started = await startedRepo(env);
  for (const name of ['owner', 'coder'])
    expect((await started.repo.run(['agent', 'register', name])).code).toBe(0);
  return started;
}

describe('the command server', () => {
  it('serves commands with the same stdout, stderr and exit code as in-process', async () => {
    const { repo } = await servedRepo();
    // Four long tasks: their list is more than a pipe holds, so the client waits on its reader
    // before it exits.
    for (const title of ['one', 'two', 'three', 'four']) {
      const created = await repo.run([
        'task',
        'create',
        title,
        '--desc',
        'x'.repeat(19_000),
        '--as',
        'owner',
      ]);
      expect(created.code).toBe(0);
    }
    const before = (await daemonStatus(repo)).daemon?.served ?? 0;
    const lines: string[][] = [
      ['task', 'list', '--json'],
      ['agent', 'list'],
      ['agent', 'list', '--json'],
      ['status'],
      ['config'],
      ['agent', 'show', 'nobody'],
      ['agent', 'show', 'nobody', '--json'],
      ['workspace', 'create'],
      ['nonsense'],
      ['agent', '--help'],
      ['--version'],
    ];
    for (const args of lines) {
      const served = await repo.run(args);
      const inProcess = await repo.run(args, { env: NO_DAEMON });
      if (args[0] === 'task') expect(served.stdout.length).toBeGreaterThan(65_536);
      expect({ args, code: served.code, stdout: served.stdout, stderr: served.stderr }).toEqual({
        args,
        code: inProcess.code,
        stdout: inProcess.stdout,
        stderr: inProcess.stderr,
      });
    }
    // `--version` alone is no command: it runs in-process; the others were served.
    expect((await daemonStatus(repo)).daemon?.served).toBe(before + lines.length - 1);
  });

  it('runs 8 concurrent swarm-mode commits from 8 clients: every one lands on the buffer', async () => {
    const { repo } = await startedRepo({}, ['--mode', 'swarm']);
    const worktrees: string[] = [];
    for (let a = 0; a < 8; a++) {
      expect((await repo.run(['agent', 'register', `agent${a}`])).code).toBe(0);
      const created = await repo.run(['workspace', 'create', '--as', `agent${a}`, '--json']);
      worktrees.push(created.json<{ worktree: string }>().worktree);
    }
    const before = (await daemonStatus(repo)).daemon?.served ?? 0;
    const results = await Promise.all(
      worktrees.map((worktree, a) => {
        repo.write(`agent${a}.txt`, `agent ${a}\n`, worktree);
        return repo.run(['commit', '-m', `agent${a} work`, '--json'], { cwd: worktree, env: DEBUG });
      }),
    );
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    expect(repo.git(['rev-list', '--count', '--merges', '--first-parent', 'buffer'])).toBe('8');
    for (let a = 0; a < 8; a++) expect(repo.git(['show', `buffer:agent${a}.txt`])).toBe(`agent ${a}`);
    expect((await daemonStatus(repo)).daemon?.served).toBe(before + 8);
  });

  it('Ctrl-C in the client stops the command in the server (activity --follow ends, exit 0)', async () => {
    const { repo } = await servedRepo();
    const followed = await followThenInterrupt(repo, 'node', async () => {
      expect((await daemonStatus(repo)).daemon).toMatchObject({ running: 1 });
    });
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain('coder');
    expect((await daemonStatus(repo)).daemon).toMatchObject({ running: 0 });
  });

  it('listens on a socket only its owner may use (0600), in .gitswarm/', async () => {
    const { repo } = await servedRepo();
    const socket = lstatSync(join(repo.dir, '.gitswarm', 'daemon.sock'));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
    expect(socket.uid).toBe(process.getuid?.());
  });

  it('compiles its code as it loads (node --no-lazy), not in its first commands', async () => {
    const { pid } = await servedRepo();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1, -1);
    expect(argv).toEqual(['--no-lazy', BIN, 'daemon', 'run']);
  });

  it('has loaded, once warm, every module the agent workflow runs: its commands load none', async () => {
    // Each process started with this hook logs the modules it loads, under its pid.
    const scratch = createTempDir();
    try {
      const log = join(scratch.dir, 'loads.log');
      const hook = join(scratch.dir, 'log-loads.mjs');
      writeFileSync(
        hook,
        `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({
  load(url, context, next) {
    appendFileSync(${JSON.stringify(log)}, process.pid + ' ' + url + '\\n');
    return next(url, context);
  },
});
`,
      );
      const { repo, pid } = await startedRepo({ NODE_OPTIONS: `--import=${pathToFileURL(hook).href}` });
      const serverLoads = () =>
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((line) => line.startsWith(`${pid} `));
      // Warm once its loads stop.
      let loaded = serverLoads().length;
      for (let quiet = 0, waited = 0; quiet < 1_000 && waited < 15_000; waited += 100) {
        await sleep(100);
        const now = serverLoads().length;
        quiet = now === loaded ? quiet + 100 : 0;
        loaded = now;
      }
      expect(loaded).toBeGreaterThan(10);
      appendFileSync(log, '-- the workflow starts\n');
      const before = (await daemonStatus(repo)).daemon?.served ?? 0;
      for (const args of [
        ['init', '--model', 'solo'],
        ['agent', 'register', 'owner'],
        ['agent', 'register', 'coder'],
      ])
        expect((await repo.run(args)).code).toBe(0);
      const created = await repo.run(['workspace', 'create', '--as', 'coder', '--json']);
      expect(created.code).toBe(0);
      const { worktree, stream } = created.json<{ worktree: string; stream: { id: string } }>();
      writeFileSync(join(worktree, 'feature.txt'), 'a feature\n');
      for (const args of [
        ['commit', '-m', 'Add a feature', '--as', 'coder'],
        ['review', 'submit', stream.id, '--as', 'coder'],
        ['review', 'submit', stream.id, 'approve', '--as', 'owner'],
        ['merge', stream.id, '--as', 'coder'],
        ['status'],
      ])
        expect((await repo.run(args)).code).toBe(0);
      expect((await daemonStatus(repo)).daemon?.served).toBe(before + 9);
      const duringWorkflow =
        readFileSync(log, 'utf8').split('-- the workflow starts\n')[1]?.split('\n') ?? [];
      expect(duringWorkflow.filter((line) => line.startsWith(`${pid} `))).toEqual([]);
    } finally {
      scratch.close();
    }
  });

  it('falls back to in-process over a stale socket, and a new server replaces it', async () => {
    const { repo, pid } = await servedRepo();
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid);
    expect(existsSync(join(repo.dir, '.gitswarm', 'daemon.sock'))).toBe(true);
    const listed = await repo.run(['agent', 'list', '--json'], { env: DEBUG });
    expect(listed.code).toBe(0);
    expect(listed.stderr).toContain('gitswarm: in-process (cannot connect (ECONNREFUSED))');
    expect(listed.json<{ agents: { name: string }[] }>().agents.map((a) => a.name)).toEqual([
      'owner',
      'coder',
    ]);
    const next = await waitForDaemon(repo);
    expect(next).not.toBe(pid);
    expect((await repo.run(['agent', 'list'], { env: DEBUG })).stderr).toBe('');
  });

  it.runIf(process.getuid?.() === 0)(
    "refuses another user's socket and never starts a server in another user's repository",
    async () => {
      const { repo, pid } = await servedRepo();
      const socket = join(repo.dir, '.gitswarm', 'daemon.sock');
      chownSync(socket, 4242, 4242);
      const listed = await repo.run(['agent', 'list'], { env: DEBUG });
      expect(listed.code).toBe(0);
      expect(listed.stderr).toBe('gitswarm: in-process (socket owned by another user)\n');
      expect(listed.stdout).toContain('coder');
      chownSync(socket, 0, 0);
      expect((await repo.run(['daemon', 'stop'])).code).toBe(0);
      await waitForExit(pid);

      // The repository now belongs to someone else: commands run, no server is started.
      chownSync(join(repo.dir, '.gitswarm'), 4242, 4242);
      const env = {
        ...DEBUG,
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'safe.directory',
        GIT_CONFIG_VALUE_0: '*',
      };
      const again = await repo.run(['agent', 'list'], { env });
      expect(again.stderr).toBe('gitswarm: in-process (no server)\n');
      await sleep(1_500);
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(join(repo.dir, '.gitswarm', 'daemon.starting'))).toBe(false);
    },
  );

  it('exits after its idle time', async () => {
    const { repo, pid } = await servedRepo({ GITSWARM_DAEMON_IDLE_MS: '1500' });
    expect(await waitForExit(pid)).toBe(true);
    expect(existsSync(join(repo.dir, '.gitswarm', 'daemon.sock'))).toBe(false);
  });

  it('exits when its repository is deleted', async () => {
    const { repo, pid } = await servedRepo();
    repo.close();
    servers.forget(repo);
    expect(await waitForExit(pid, 5_000)).toBe(true);
  });

  it('gives way to a client of another build: it refuses the command and exits', async () => {
    const { repo, pid } = await servedRepo();
    const client = await import('../../src/cli/daemon/client.js');
    const outcome = await client.runViaDaemon({
      argv: ['agent', 'list'],
      build: '/elsewhere/gitswarm.mjs@1',
      cwd: repo.dir,
      env: repo.env,
    });
    expect(outcome).toEqual({
      served: false,
      reason: 'server refused: build',
      start: join(repo.dir, '.gitswarm'),
    });
    expect(await waitForExit(pid, 5_000)).toBe(true);
    // The next command runs in-process and starts a server of the installed build.
    expect((await repo.run(['agent', 'list'])).code).toBe(0);
    expect(await waitForDaemon(repo)).not.toBe(pid);
  });

  it('daemon status and stop: shown, stopped, and said when there is none', async () => {
    const { repo, pid } = await servedRepo();
    const text = await repo.run(['daemon', 'status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`running  pid ${pid}`);
    expect(text.stdout).toContain('exits    after 20 s without a command');
    const stopped = await repo.run(['daemon', 'stop', '--json']);
    expect(stopped.json()).toEqual({ stopped: true, pid });
    expect(await waitForExit(pid, 5_000)).toBe(true);
    expect(existsSync(join(repo.dir, '.gitswarm', 'daemon.sock'))).toBe(false);
    expect((await repo.run(['daemon', 'status'])).stdout).toBe('no command server running (no socket)\n');
    expect((await repo.run(['daemon', 'stop'])).stdout).toBe('no command server running (no socket)\n');
    const help = await repo.run(['daemon', '--help']);
    expect(help.stdout).toContain('status');
    expect(help.stdout).not.toMatch(/^\s+run\b/m);
  });

  it('runs git from a helper process of its own, which exits with it', async () => {
    const { repo, pid } = await servedRepo();
    expect((await repo.run(['workspace', 'create', '--as', 'coder'])).code).toBe(0);
    const helpers = childrenOf(pid).filter((child) => commandLine(child)[1] === '-e');
    expect(helpers).toHaveLength(1);
    const helper = helpers[0] as number;
    expect(commandLine(helper)[0]).toBe(commandLine(pid)[0]); // the same node
    expect((await repo.run(['daemon', 'stop'])).code).toBe(0);
    expect(await waitForExit(pid, 5_000)).toBe(true);
    expect(await waitForExit(helper, 5_000)).toBe(true);
  });

  it('under --pending-deprecation the client reaches the server through node:net, and warns of nothing', async () => {
    // The server inherits NODE_OPTIONS from the command that starts it, so it serves such clients.
    const { repo } = await servedRepo({ NODE_OPTIONS: '--pending-deprecation' });
    const before = (await daemonStatus(repo)).daemon?.served ?? 0;
    const served = await repo.run(['agent', 'list'], { env: DEBUG });
    expect(served.code).toBe(0);
    expect(served.stdout).toContain('owner');
    expect(served.stderr).toBe(''); // neither "in-process" nor a DeprecationWarning
    expect((await daemonStatus(repo)).daemon?.served).toBe(before + 1);
  });

  it('GITSWARM_NO_DAEMON=1: no server is started, every command runs in-process', async () => {
    const repo = newRepo(NO_DAEMON);
    expect((await repo.run(['init'])).code).toBe(0);
    expect((await repo.run(['agent', 'register', 'owner'])).code).toBe(0);
    await sleep(1_500);
    expect(existsSync(join(repo.dir, '.gitswarm', 'daemon.sock'))).toBe(false);
    expect((await daemonStatus(repo)).running).toBe(false);
    expect(statSync(join(repo.dir, '.gitswarm')).isDirectory()).toBe(true);
  });
});
