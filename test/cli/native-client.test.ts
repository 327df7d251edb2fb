/**
 * The native client of the command server (src/cli/daemon/native/client.c), which `gitswarm`
 * (bin/gitswarm) runs where the build made it: a command the server takes prints and exits as it
 * does in-process and as through Node's client, on the same server (the two clients name the build
 * and the process's settings alike, or the server would refuse one of them); every other command
 * runs as Node runs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  copyFileSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { READY_TIMEOUT_MS, SOCKET_NAME } from '../../src/cli/daemon/protocol.js';
import { ROOT } from '../helpers/built.js';
import {
  BIN,
  COMMAND,
  commandServerRepos,
  createTempDir,
  followThenInterrupt,
  runBin,
  type TestRepo,
} from './helpers.js';

const NATIVE = join(ROOT, 'dist', 'native', 'gitswarm');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const NO_DAEMON = { GITSWARM_NO_DAEMON: '1' };
const DEBUG = { GITSWARM_DAEMON_DEBUG: '1' };

/** Why there is no native client to test here, or null when there is one (or must be). */
function noCompilerReason(): string | null {
  const cc = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
  return cc.status === 0 ? null : 'no C compiler here (cc): gitswarm runs its Node client';
}
const skip = noCompilerReason();
if (skip) console.log(`[native client tests] skipped: ${skip}`);

/** Why a command cannot be run here without /proc (bubblewrap mounts an empty one), or null. */
function noProclessSandboxReason(): string | null {
  if (skip) return skip;
  const probe = spawnSync('bwrap', ['--bind', '/', '/', '--dev', '/dev', '--tmpfs', '/proc', 'true']);
  return probe.status === 0 ? null : 'bubblewrap (bwrap) cannot run here';
}
const noProclessSandbox = noProclessSandboxReason();
if (noProclessSandbox && !skip) console.log(`[native client without /proc] skipped: ${noProclessSandbox}`);

const servers = commandServerRepos('command');

interface DaemonState {
  pid: number;
  served: number;
  running: number;
}

async function daemonState(repo: TestRepo): Promise<DaemonState | undefined> {
  const status = await repo.run(['daemon', 'status', '--json']);
  expect(status.code).toBe(0);
  return status.json<{ daemon?: DaemonState }>().daemon;
}

/** Waits for the command server the repository's first command starts. */
async function commandServerStarted(repo: TestRepo): Promise<void> {
  for (let waited = 0; !(await daemonState(repo)); waited += 100) {
    if (waited > 15_000) throw new Error('no command server started');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An initialized repository with two agents, and its command server running. */
async function servedRepo(): Promise<TestRepo> {
  const repo = servers.create();
  expect((await repo.run(['init', '--model', 'solo'])).code).toBe(0);
  await commandServerStarted(repo);
  for (const name of ['owner', 'coder']) expect((await repo.run(['agent', 'register', name])).code).toBe(0);
  return repo;
}

/** Output and exit code, for comparing two ways of running one command line. */
const outcome = (run: { code: number; stdout: string; stderr: string }) => ({
  code: run.code,
  stdout: run.stdout,
  stderr: run.stderr,
});

describe.skipIf(skip !== null)('the native client', () => {
  it('is built with dist/, and bin/gitswarm runs it', () => {
    accessSync(NATIVE, constants.X_OK);
    const debug = spawnSync(COMMAND, ['--version'], { env: { ...process.env, ...DEBUG }, encoding: 'utf8' });
    // `--version` is no command, so the native client hands it to Node: it says so.
    expect(debug.stderr).toContain('gitswarm: native client: no command');
    expect(debug.status).toBe(0);
  });

  it('serves commands with the same output and exit code as in-process and as Node’s client, on one server', async () => {
    const repo = await servedRepo();
    // Text beyond ASCII and control characters round-trip through the protocol's JSON; a list
    // longer than a pipe holds makes the client wait on its reader.
    const title = 'naïve ✓ 🚀 "quoted" back\\slash';
    for (let i = 0; i < 4; i++) {
      const created = await repo.run([
        'task',
        'create',
        `${title} ${i}`,
        '--desc',
        `tab\there\n${'x'.repeat(19_000)}`,
        '--as',
        'owner',
      ]);
      expect(created.code).toBe(0);
    }
    const before = await daemonState(repo);
    const lines: string[][] = [
      ['task', 'list', '--json'],
      ['task', 'list'],
      ['agent', 'list'],
      ['status'],
      ['agent', 'show', 'nobody'],
      ['agent', 'show', 'nobody', '--json'],
      ['workspace', 'create'],
      ['nonsense'],
      ['agent', '--help'],
    ];
    for (const args of lines) {
      const native = await repo.run(args);
      const viaNode = await runBin(args, repo.dir, repo.env, 'node');
      const inProcess = await repo.run(args, { env: NO_DAEMON });
      if (args[0] === 'task' && args[2] === '--json') expect(native.stdout.length).toBeGreaterThan(65_536);
      expect({ args, ...outcome(native) }).toEqual({ args, ...outcome(inProcess) });
      expect({ args, ...outcome(viaNode) }).toEqual({ args, ...outcome(inProcess) });
    }
    // Served by the native client itself: it hands nothing to Node (which would say why, and then
    // have the command served too).
    const listed = await repo.run(['task', 'list', '--json'], { env: DEBUG });
    expect(listed.stderr).toBe('');
    expect(JSON.parse(listed.stdout).tasks[0].title).toContain(title);
    // Both clients' commands went to the same server: it never refused either as another build.
    const after = await daemonState(repo);
    expect(after?.pid).toBe(before?.pid);
    expect(after?.served).toBe((before?.served ?? 0) + 2 * lines.length + 1);
  });

  it('hands every command the server does not take to Node, which runs it in-process', async () => {
    const repo = await servedRepo();
    const served = async () => (await daemonState(repo))?.served ?? 0;
    const cases: Array<{ args: string[]; env?: Record<string, string>; cwd?: string; why: string }> = [
      { args: ['agent', 'list'], env: NO_DAEMON, why: 'GITSWARM_NO_DAEMON' },
      { args: ['agent', 'list'], env: { GITSWARM_FAILPOINTS: 'none' }, why: 'failpoints' },
      { args: ['agent', 'list'], env: { GIT_DIR: join(repo.dir, '.git') }, why: 'git location set' },
      { args: ['--as', 'owner'], why: 'no command' },
      { args: ['daemon', 'status'], why: 'runs in-process' },
      // Process-wide settings of its own: the server refuses it (Node's client then says why).
      { args: ['agent', 'list'], env: { TZ: 'Asia/Tokyo' }, why: 'server refused' },
    ];
    for (const { args, env = {}, why } of cases) {
      const count = await served();
      const native = await repo.run(args, { env: { ...env, ...DEBUG } });
      expect(native.stderr, why).toContain(`gitswarm: native client: ${why}\n`);
      const viaNode = await runBin(args, repo.dir, { ...repo.env, ...env }, 'node');
      expect(outcome({ ...native, stderr: native.stderr.replace(/^gitswarm: .*\n/gm, '') })).toEqual(
        outcome(viaNode),
      );
      // Not served (`daemon status` itself is not either).
      expect(await served(), why).toBe(count);
    }
    // Outside any repository: no socket to look for.
    const elsewhere = createTempDir();
    try {
      const native = await runBin(['agent', 'list'], elsewhere.dir, { ...repo.env, ...DEBUG });
      expect(native.stderr).toContain('gitswarm: native client: not in a git repository\n');
      expect(native.code).toBe(3);
    } finally {
      elsewhere.close();
    }
  });

  it.skipIf(process.getuid?.() !== 0)(
    'refuses a socket another user owns (run as root: it can hand the socket over)',
    async () => {
      const repo = await servedRepo();
      const before = await daemonState(repo);
      chownSync(join(repo.dir, '.gitswarm', 'daemon.sock'), 4242, 4242);
      const listed = await repo.run(['agent', 'list'], { env: DEBUG });
      expect(listed.code).toBe(0);
      expect(listed.stderr).toContain('gitswarm: native client: socket owned by another user\n');
      expect(listed.stdout).toContain('coder');
      chownSync(join(repo.dir, '.gitswarm', 'daemon.sock'), 0, 0);
      expect((await daemonState(repo))?.served).toBe(before?.served);
    },
  );

  it('serves a command run in a stream’s worktree (a linked worktree of the repository)', async () => {
    const repo = await servedRepo();
    const created = await repo.run(['workspace', 'create', '--as', 'coder', '--json']);
    const worktree = created.json<{ worktree: string }>().worktree;
    const before = (await daemonState(repo))?.served ?? 0;
    const status = await repo.run(['status'], { cwd: worktree, env: DEBUG });
    expect(status.code).toBe(0);
    expect(status.stderr).toBe('');
    expect((await daemonState(repo))?.served).toBe(before + 1);
  });

  it.skipIf(noProclessSandbox !== null)(
    'finds its installation however it is started, with /proc and without',
    async () => {
      const repo = await servedRepo();
      // A link to the program from elsewhere: its path does not name the installation.
      const elsewhere = createTempDir();
      try {
        const link = join(elsewhere.dir, 'gitswarm-native');
        symlinkSync(NATIVE, link);
        // The same file system with an empty /proc over the real one: /proc/self/exe names nothing.
        const withoutProc = ['--bind', '/', '/', '--dev', '/dev', '--tmpfs', '/proc'];
        expect(spawnSync('bwrap', [...withoutProc, 'readlink', '/proc/self/exe']).status).not.toBe(0);
        const inProcess = outcome(await repo.run(['agent', 'list'], { env: NO_DAEMON }));
        expect(inProcess.stdout).toContain('coder');
        const ways = [
          { how: 'bin/gitswarm', argv: [COMMAND] },
          { how: 'bin/gitswarm, no /proc', argv: ['bwrap', ...withoutProc, COMMAND] },
          { how: 'a link', argv: [link] },
          { how: 'a link, no /proc', argv: ['bwrap', ...withoutProc, link] },
          { how: 'its name, on PATH', argv: ['gitswarm-native'] },
        ];
        const onPath = { PATH: `${elsewhere.dir}:${repo.env.PATH ?? process.env.PATH}` };
        const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
          const [file = '', ...args] = argv;
          return spawnSync(file, [...args, 'agent', 'list'], {
            cwd: repo.dir,
            env: { ...repo.env, ...DEBUG, ...env },
            encoding: 'utf8',
          });
        };
        for (const { how, argv } of ways) {
          const before = (await daemonState(repo))?.served ?? 0;
          const native = run(argv, onPath);
          // Served, by the native client itself (it hands nothing to Node, which would say why).
          expect({ how, code: native.status, stdout: native.stdout, stderr: native.stderr }).toEqual({
            how,
            ...inProcess,
          });
          expect((await daemonState(repo))?.served, how).toBe(before + 1);
        }
        // Its name alone and no /proc: nothing names the installation. It says so.
        const lost = run(['bwrap', ...withoutProc, 'gitswarm-native'], onPath);
        expect({ code: lost.status, stdout: lost.stdout, stderr: lost.stderr }).toEqual({
          code: 127,
          stdout: '',
          stderr: 'error: gitswarm: cannot find its installation; run it as bin/gitswarm\n',
        });
      } finally {
        elsewhere.close();
      }
    },
  );

  it('names its build as Node’s client does when dist/ is a link into another tree', async () => {
    // An installation whose dist/ (and packages) are links into this checkout: Node's client names
    // the build by the installation's own path, dist/ not followed.
    const install = createTempDir();
    try {
      mkdirSync(join(install.dir, 'bin'));
      for (const file of ['gitswarm', 'gitswarm.js', 'package.json']) {
        copyFileSync(join(ROOT, 'bin', file), join(install.dir, 'bin', file));
      }
      copyFileSync(join(ROOT, 'package.json'), join(install.dir, 'package.json'));
      for (const linked of ['dist', 'node_modules'])
        symlinkSync(join(ROOT, linked), join(install.dir, linked));
      const repo = servers.create();
      const run = (args: string[], client: 'command' | 'node') => {
        const [file, argv] =
          client === 'node'
            ? [process.execPath, [join(install.dir, 'bin', 'gitswarm.js'), ...args]]
            : [join(install.dir, 'bin', 'gitswarm'), args];
        return spawnSync(file, argv, { cwd: repo.dir, env: { ...repo.env, ...DEBUG }, encoding: 'utf8' });
      };
      expect(run(['init', '--model', 'solo'], 'node').status).toBe(0);
      await commandServerStarted(repo);
      const before = await daemonState(repo);
      // Both clients' commands are served, by the server Node's client started: neither is refused.
      for (const client of ['node', 'command', 'node'] as const) {
        const listed = run(['agent', 'list', '--json'], client);
        expect({ client, code: listed.status, stderr: listed.stderr }).toEqual({
          client,
          code: 0,
          stderr: '',
        });
      }
      const after = await daemonState(repo);
      expect(after?.pid).toBe(before?.pid);
      expect(after?.served).toBe((before?.served ?? 0) + 3);
    } finally {
      install.close();
    }
  });

  it('ends quietly when its reader leaves early, and stops the command on Ctrl-C', async () => {
    const repo = await servedRepo();
    for (let i = 0; i < 4; i++) {
      await repo.run(['task', 'create', `task ${i}`, '--desc', 'x'.repeat(30_000), '--as', 'owner']);
    }
    // `gitswarm task list --json | head -c 100`: the pipe closes under the client's writes.
    const early = spawn(COMMAND, ['task', 'list', '--json'], { cwd: repo.dir, env: repo.env });
    let stderr = '';
    early.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    early.stdout.once('data', () => early.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => early.on('close', (c) => resolve(c)));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });

    const followed = await followThenInterrupt(repo, 'command', async () => {
      expect(await daemonState(repo)).toMatchObject({ running: 1 });
    });
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain('coder');
    expect(await daemonState(repo)).toMatchObject({ running: 0 });
  });
});

describe('bin/gitswarm', () => {
  it('has the native client declare the protocol’s constants as protocol.ts does', () => {
    const source = readFileSync(join(ROOT, 'src', 'cli', 'daemon', 'native', 'client.c'), 'utf8');
    expect(Number(/^#define READY_TIMEOUT_MS (\d+)$/m.exec(source)?.[1])).toBe(READY_TIMEOUT_MS);
    expect(/^#define SOCKET_NAME "([^"]+)"$/m.exec(source)?.[1]).toBe(SOCKET_NAME);
  });

  it.skipIf(skip !== null)('follows the link npm makes to it, and runs the native client', () => {
    const linked = createTempDir();
    try {
      symlinkSync(COMMAND, join(linked.dir, 'gitswarm'));
      const run = spawnSync(join(linked.dir, 'gitswarm'), ['--version'], {
        env: { ...process.env, ...DEBUG },
        encoding: 'utf8',
      });
      expect(run.stderr).toContain('gitswarm: native client: no command');
      expect({ status: run.status, version: run.stdout.trim() }).toEqual({ status: 0, version: VERSION });
    } finally {
      linked.close();
    }
  });

  it('runs Node’s entry point where there is no native client', () => {
    // bin/ of an installation whose build made no native client.
    const install = createTempDir();
    try {
      mkdirSync(join(install.dir, 'bin'));
      copyFileSync(COMMAND, join(install.dir, 'bin', 'gitswarm'));
      symlinkSync(BIN, join(install.dir, 'bin', 'gitswarm.js'));
      const run = spawnSync(join(install.dir, 'bin', 'gitswarm'), ['--version'], {
        env: { ...process.env, ...DEBUG },
        encoding: 'utf8',
      });
      expect(run.stderr).not.toContain('native client');
      expect(run.stderr).toContain('gitswarm: in-process (no command)');
      expect({ status: run.status, version: run.stdout.trim() }).toEqual({ status: 0, version: VERSION });
    } finally {
      install.close();
    }
  });
});
