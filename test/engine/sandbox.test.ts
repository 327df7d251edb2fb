import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertSandboxAvailable,
  checkSandbox,
  runSandboxed,
  type SandboxRunOptions,
  toolchainPrefixes,
} from '../../src/engine/sandbox.js';
import { isGitSwarmError } from '../../src/errors.js';
import { processesWith } from '../helpers/processes.js';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'sandbox-test',
  GIT_AUTHOR_EMAIL: 'sandbox@example.invalid',
  GIT_COMMITTER_NAME: 'sandbox-test',
  GIT_COMMITTER_EMAIL: 'sandbox@example.invalid',
};

function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY }, encoding: 'utf8' }).trim();
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Killed processes linger as zombies until their new parent reaps them: wait for that, boundedly. */
async function settle(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('sandbox', () => {
  let root: string;
  let repo: string;
  let commonDir: string;
  let worktree: string;
  let server: Server;
  let port: number;
  let connections = 0;
  const output: string[] = [];

  function run(options: Partial<SandboxRunOptions> & { command: string }) {
    output.length = 0;
    return runSandboxed({
      workdir: worktree,
      readOnlyPaths: [commonDir],
      mode: 'bubblewrap',
      timeoutMs: 20_000,
      memoryMb: 2048,
      output: (chunk) => output.push(chunk),
      ...options,
    });
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'gitswarm-sandbox-'));
    repo = join(root, 'repo');
    mkdirSync(repo);
    sh(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'a.txt'), 'a\n');
    sh(repo, 'add', '-A');
    sh(repo, 'commit', '-q', '-m', 'initial');
    commonDir = join(repo, '.git');
    worktree = join(root, 'wt');
    sh(repo, 'worktree', 'add', '-q', '--detach', worktree, 'HEAD');
    server = createServer((socket) => {
      connections += 1;
      socket.on('error', () => {});
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    await assertSandboxAvailable('bubblewrap');
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  it('runs the command in the worktree, streams its output and returns its exit code', async () => {
    const ok = await run({ command: 'echo "in $(pwd)"; echo built > out.txt; echo err >&2' });
    expect(ok).toMatchObject({ exitCode: 0, timedOut: false, sandboxed: true });
    expect(output.join('')).toContain(`in ${worktree}`);
    expect(output.join('')).toContain('err');
    expect(readFileSync(join(worktree, 'out.txt'), 'utf8')).toBe('built\n');

    const failed = await run({ command: 'exit 7' });
    expect(failed.exitCode).toBe(7);
  });

  it('cannot reach the network, though the same command can without the sandbox', async () => {
    const probe = `${process.execPath} -e "require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0) }).on('error', (e) => { console.log('NETERR ' + e.code); process.exit(3) })"`;
    const before = connections;
    const sandboxed = await run({ command: probe });
    expect(output.join('')).toContain('NETERR');
    expect(sandboxed.exitCode).toBe(3);
    expect(connections).toBe(before);

    const open = await run({ command: probe, mode: 'none' });
    expect(output.join('')).toContain('CONNECTED');
    expect(output.join('')).toContain('WITHOUT a sandbox');
    expect(open.exitCode).toBe(0);
    expect(connections).toBe(before + 1);
  });

  it('cannot write to .git, the system or outside its worktree; /tmp and home are empty and thrown away', async () => {
    const marker = `escape-${randomBytes(4).toString('hex')}`;
    const headBefore = readFileSync(join(commonDir, 'HEAD'), 'utf8');
    const result = await run({
      command: [
        `echo evil > ${commonDir}/HEAD || echo GIT_RO`,
        `touch ${commonDir}/hooks/${marker} || echo HOOKS_RO`,
        `touch /etc/${marker} || echo ETC_RO`,
        `touch ${repo}/${marker}`,
        `touch ${root}/${marker}`,
        `touch /tmp/${marker}`,
        `touch "$HOME/${marker}"`,
        'ls -A /tmp/home | wc -l',
        'echo done',
      ].join('\n'),
    });
    const text = output.join('');
    expect(result.exitCode).toBe(0);
    expect(text).toContain('GIT_RO');
    expect(text).toContain('HOOKS_RO');
    expect(text).toContain('ETC_RO');
    expect(readFileSync(join(commonDir, 'HEAD'), 'utf8')).toBe(headBefore);
    for (const path of [
      join(commonDir, 'hooks', marker),
      `/etc/${marker}`,
      join(repo, marker),
      join(root, marker),
      join(tmpdir(), marker),
      join(process.env.HOME ?? '/root', marker),
    ]) {
      expect(existsSync(path), path).toBe(false);
    }
  });

  it('keeps a toolchain on PATH under /tmp visible, read-only, and nothing beside it', async () => {
    const prefix = join(root, 'toolchain');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    mkdirSync(join(prefix, 'lib'));
    writeFileSync(join(prefix, 'lib', 'data'), 'LIB-VISIBLE\n');
    writeFileSync(join(prefix, 'bin', 'gs-tool'), `#!/bin/sh\ncat "${prefix}/lib/data"\n`, { mode: 0o755 });
    writeFileSync(join(root, 'beside.txt'), 'BESIDE\n');
    // Credentials beside the tools, readable by their owner only (as ~/.cargo/credentials.toml).
    writeFileSync(join(prefix, 'credentials.toml'), 'TOKEN-SECRET\n', { mode: 0o600 });
    mkdirSync(join(prefix, 'lib', 'private'), { mode: 0o700 });
    writeFileSync(join(prefix, 'lib', 'private', 'key'), 'KEY-SECRET\n');
    const result = await run({
      command: [
        `echo "credentials=$(cat "${prefix}/credentials.toml" 2>/dev/null | wc -c)"`,
        `cat "${prefix}/lib/private/key" 2>/dev/null || echo KEY_HIDDEN`,
        'gs-tool',
        `cat "${root}/beside.txt" 2>/dev/null || echo BESIDE_HIDDEN`,
        `touch "${prefix}/bin/x" 2>/dev/null || echo TOOLS_RO`,
      ].join('\n'),
      searchPath: `${join(prefix, 'bin')}:${process.env.PATH}`,
    });
    const text = output.join('');
    expect(result.exitCode).toBe(0);
    expect(text).toContain('LIB-VISIBLE');
    expect(text).toContain('BESIDE_HIDDEN');
    expect(text).not.toContain('BESIDE\n');
    expect(text).toContain('TOOLS_RO');
    expect(text).toContain('credentials=0');
    expect(text).toContain('KEY_HIDDEN');
    expect(text).not.toContain('SECRET');
    expect(existsSync(join(prefix, 'bin', 'x'))).toBe(false);
  });

  it('widens a PATH entry to its prefix, never to a top-level folder, a home or the repository', () => {
    expect(
      toolchainPrefixes(
        '/usr/bin:/bin:/usr/local/bin:/tmp/ci/.tools/node/bin:/tmp/bin:/root/.cargo/bin:/home/maya/bin:/tmp:/opt/node/bin:relative/bin:/srv/repo/.tools/bin:/srv/bin',
        { neverWiden: ['/tmp'], forbidden: ['/srv/repo'] },
      ),
    ).toEqual(['/tmp/ci/.tools/node', '/tmp/bin', '/root/.cargo', '/home/maya/bin', '/opt/node', '/srv/bin']);
  });

  it('without a cgroup, falls back to rlimits per process with the same numbers and says so', async () => {
    process.env.GITSWARM_TEST_SECRET = 'hunter2';
    try {
      await run({
        command: 'echo "secret=[$GITSWARM_TEST_SECRET] stabilize=$GITSWARM_STABILIZE"; ulimit -v',
        memoryMb: 300,
        cgroups: false,
      });
    } finally {
      delete process.env.GITSWARM_TEST_SECRET;
    }
    const text = output.join('');
    expect(text).toContain('secret=[] stabilize=1');
    expect(text).toContain(String(300 * 1024));
    expect(text).toMatch(
      /no cgroup for this run \(cgroups turned off for this run\); limits apply per process/,
    );
  });

  it('kills the whole process tree at the timeout', async () => {
    const token = `30.${randomBytes(3).readUIntBE(0, 3)}`;
    const result = await run({ command: `sleep ${token} & sleep ${token}; echo never`, timeoutMs: 1500 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.signal).toBe('SIGKILL');
    expect(output.join('')).not.toContain('never');
    // bwrap's pid namespace dies with its init: nothing of the tree is left anywhere.
    await settle(() => !groupAlive(result.pid) && processesWith(`sleep ${token}`).length === 0);
    expect(groupAlive(result.pid)).toBe(false);
    expect(processesWith(`sleep ${token}`)).toEqual([]);
  });

  it('kills the process group at the timeout without a sandbox too', async () => {
    const token = `30.${randomBytes(3).readUIntBE(0, 3)}`;
    const result = await run({ command: `sleep ${token} & sleep ${token}`, timeoutMs: 1000, mode: 'none' });
    expect(result).toMatchObject({ timedOut: true, sandboxed: false, exitCode: null });
    await settle(() => !groupAlive(result.pid) && processesWith(`sleep ${token}`).length === 0);
    expect(groupAlive(result.pid)).toBe(false);
    expect(processesWith(`sleep ${token}`)).toEqual([]);
  });

  it('does not wait for background jobs a finished command left behind', async () => {
    const token = `30.${randomBytes(3).readUIntBE(0, 3)}`;
    const result = await run({ command: `sleep ${token} & echo started`, mode: 'none' });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    await settle(() => processesWith(`sleep ${token}`).length === 0);
    expect(processesWith(`sleep ${token}`)).toEqual([]);
  });

  it('leaves no timer behind once a run ended: the process that ran it can exit at once', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    expect(await run({ command: 'echo quick', mode: 'none', cgroups: false })).toMatchObject({ exitCode: 0 });
    // At most as many: a timer of another test's may have ended meanwhile.
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('ends a finished run whose output a job in another session holds open, without a cgroup to kill it', async () => {
    // Nothing can find that job (no PID namespace, no cgroup, not in the process group): the pipes
    // are let go a moment after the command exits, and the run is not counted as timed out.
    const token = `30.${randomBytes(3).readUIntBE(0, 3)}`;
    try {
      const result = await run({
        // The pause lets the job leave the process group before the command exits.
        command: `setsid sleep ${token} & sleep 0.3; echo started`,
        mode: 'none',
        cgroups: false,
        // Shorter than the wait for the pipes: a finished run never times out.
        timeoutMs: 1000,
      });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false });
      expect(result.durationMs).toBeLessThan(6000);
      expect(output.join('')).toContain('started');
      expect(processesWith(`sleep ${token}`)).toHaveLength(1);
    } finally {
      for (const pid of processesWith(`sleep ${token}`)) process.kill(pid, 'SIGKILL');
    }
  });

  it('refuses with sandbox_unavailable and how to fix it when bubblewrap is missing, unless the mode is none', async () => {
    const noBwrap = '/nonexistent-gitswarm-bin';
    expect(await checkSandbox(noBwrap)).toMatchObject({ ok: false });
    let caught: unknown;
    try {
      await run({ command: 'echo should-not-run', searchPath: noBwrap });
    } catch (error) {
      caught = error;
    }
    expect(isGitSwarmError(caught, 'sandbox_unavailable')).toBe(true);
    const error = caught as { message: string; hint: string };
    expect(error.message).toMatch(/bubblewrap/);
    expect(error.hint).toContain('apt-get install bubblewrap');
    expect(error.hint).toContain('gitswarm config sandbox none');
    expect(output.join('')).not.toContain('should-not-run');
    await expect(assertSandboxAvailable('bubblewrap', noBwrap)).rejects.toMatchObject({
      code: 'sandbox_unavailable',
    });
    await expect(assertSandboxAvailable('none', noBwrap)).resolves.toBeUndefined();

    const unsandboxed = await run({
      command: 'echo ran',
      searchPath: `${noBwrap}:/usr/bin:/bin`,
      mode: 'none',
    });
    expect(unsandboxed).toMatchObject({ exitCode: 0, sandboxed: false });
    expect(output.join('')).toContain('ran');
  });
});
