/**
 * The sandbox's argument building, pinned down (found by mutation testing): the exact vectors
 * handed to bubblewrap and to prlimit (flags, mounts, environment, working directory, the command
 * as one argument), the probes and what is remembered of them, the refusals, and the file-system
 * views (secrets covered in `/etc` and toolchain folders, PATH entries widened to a prefix, the
 * dependency folders and the sanitized git config).
 *
 * Real runs under bubblewrap are in test/engine/sandbox*.test.ts. Here bwrap and prlimit are
 * stand-ins on the run's search path (`searchPath`) that write down the arguments they were given
 * and run what follows `--` as it is: a real process tree, so the working directory and the
 * environment the command receives are observed too. Each stand-in is a fixed shell script.
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRunCgroup } from '../../src/engine/cgroup.js';
import {
  assertSandboxAvailable,
  checkSandbox,
  findExecutable,
  forgetSandboxChecks,
  runSandboxed,
  type SandboxRunOptions,
  supportsTmpOverlay,
} from '../../src/engine/sandbox.js';
import {
  assertDependencyDir,
  copyDependencyDirs,
  findDependencyDirs,
  overlayArgs,
} from '../../src/engine/sandbox-deps.js';
import {
  REMEMBERED_CONFIGS,
  sandboxGitConfigText,
  writeSandboxGitConfig,
} from '../../src/engine/sandbox-git-config.js';
import {
  coverArgs,
  privateEntries,
  SANDBOX_HOME,
  systemRootArgs,
  toolchainPrefixes,
} from '../../src/engine/sandbox-root.js';
import { sharedRunSetup } from '../../src/engine/stabilize-run.js';
import { GitSwarmError } from '../../src/errors.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';

const cgroupsWork = (() => {
  const probe = createRunCgroup({ memoryMb: 64, maxProcesses: 8, cpuWeight: 100 });
  if (probe.ok) void probe.cgroup.destroy();
  return probe.ok;
})();

let root: string;
beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-mut-sandbox-')));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

let counter = 0;
function freshDir(name: string): string {
  counter += 1;
  const dir = join(root, `${name}-${counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function writeScript(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/**
 * A toolchain prefix `<dir>` with `bin/bwrap` (and `bin/prlimit` when asked) that records every
 * call's arguments (NUL-separated, one file per call under `<dir>/calls`) and its environment,
 * then runs what follows `--` (the probe has no `--`: it exits with `probeExit`).
 */
function standIns(
  options: { probeExit?: number; probeStderr?: string; help?: string; prlimit?: boolean } = {},
) {
  const dir = freshDir('tools');
  const bin = join(dir, 'bin');
  const calls = join(dir, 'calls');
  mkdirSync(bin);
  mkdirSync(calls);
  const recorder = (tool: string) => `
n=$(/bin/ls "${calls}" | /usr/bin/wc -l)
f="${calls}/$(printf '%04d' "$n")-${tool}"
printf '%s\\0' "$@" > "$f.args"
/usr/bin/env > "$f.env"
`;
  const runAfterDashes = `
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; exec "$@"; fi
  shift
done
`;
  writeScript(
    join(bin, 'bwrap'),
    `${recorder('bwrap')}
if [ "$1" = "--help" ]; then printf '%s\\n' '${options.help ?? 'usage: bwrap [OPTIONS...] [--] COMMAND'}'; exit 0; fi
case " $* " in *" -- "*) ;; *)
  # The overlay probe (it starts with --ro-bind) touches its last argument, as the real one does.
  for last; do :; done
  if [ "$1" = "--ro-bind" ]; then : > "$last"; fi
  ${options.probeStderr ? `printf '%b' '${options.probeStderr}' >&2` : ''}
  ${options.probeExit === -9 ? 'kill -9 $$' : `exit ${options.probeExit ?? 0}`}
esac
${runAfterDashes}`,
  );
  if (options.prlimit) writeScript(join(bin, 'prlimit'), `${recorder('prlimit')}${runAfterDashes}`);
  const read = () =>
    readdirSync(calls)
      .filter((name) => name.endsWith('.args'))
      .sort()
      .map((name) => {
        const raw = readFileSync(join(calls, name), 'utf8');
        const env = readFileSync(join(calls, name.replace(/\.args$/, '.env')), 'utf8');
        return {
          tool: name.replace(/^\d+-/, '').replace(/\.args$/, ''),
          args: raw === '' ? [] : raw.slice(0, -1).split('\0'),
          env: Object.fromEntries(
            env
              .trim()
              .split('\n')
              .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
          ) as Record<string, string>,
        };
      });
  return { dir, bin, searchPath: `${bin}:/usr/bin:/bin`, calls: read };
}

/** What `args` holds after `flag`, each time it appears. */
function valuesOf(args: readonly string[], flag: string, arity: number): string[][] {
  const found: string[][] = [];
  args.forEach((arg, i) => {
    if (arg === flag) found.push(args.slice(i + 1, i + 1 + arity));
  });
  return found;
}

const SAVED_ENV = [
  'TMPDIR',
  'HTTP_PROXY',
  'https_proxy',
  'LANG',
  'TZ',
  'GITSWARM_TEST_SECRET',
  'HOME',
] as const;
let savedEnv: Record<string, string | undefined>;
beforeEach(() => {
  savedEnv = Object.fromEntries(SAVED_ENV.map((key) => [key, process.env[key]]));
  forgetSandboxChecks();
});
afterEach(() => {
  for (const key of SAVED_ENV) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
  forgetSandboxChecks();
});

async function refusal(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GitSwarmError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Prints where it runs and what it sees of the environment. */
const ECHO_COMMAND = 'echo "cwd=$(pwd)"; echo "home=[$HOME] ci=[$CI] path=$PATH"';

describe('the bubblewrap argument vector', () => {
  function baseOptions(tools: ReturnType<typeof standIns>, workdir: string): SandboxRunOptions {
    return {
      command: ECHO_COMMAND,
      workdir,
      mode: 'bubblewrap',
      timeoutMs: 20_000,
      memoryMb: 256,
      cgroups: false,
      searchPath: tools.searchPath,
    };
  }

  it('builds the flags, mounts, environment and command in order, and runs in the worktree', async () => {
    const tools = standIns({ prlimit: true });
    const work = freshDir('work');
    const ro = freshDir('ro');
    const replacement = join(freshDir('replacement'), 'config');
    writeFileSync(replacement, '');
    process.env.LANG = 'C.UTF-8';
    // The host's temporary folder is not the sandbox's.
    process.env.TMPDIR = root;
    process.env.TZ = 'Europe/Paris';
    process.env.HTTP_PROXY = 'http://proxy.invalid:3128';
    process.env.GITSWARM_TEST_SECRET = 'hunter2';
    const output: string[] = [];
    const result = await runSandboxed({
      ...baseOptions(tools, `${work}/sub/..`),
      readOnlyPaths: [`${ro}/./`],
      replacedFiles: [{ path: `${ro}/x/../config`, with: replacement }],
      overlays: [
        { source: '/src/node_modules', target: join(work, 'node_modules'), relPath: 'node_modules' },
      ],
      env: { EXTRA: 'yes', CI: 'overridden' },
      output: (chunk) => output.push(chunk),
    });
    expect(result).toMatchObject({
      exitCode: 0,
      signal: null,
      timedOut: false,
      sandboxed: true,
      cgroup: null,
      hits: { oomKills: 0, forkRefusals: 0 },
    });
    expect(result.pid).toBeGreaterThan(0);
    expect(result.durationMs).toBeGreaterThan(0);
    expect(result.durationMs).toBeLessThan(20_000);

    const calls = tools.calls();
    // The probe first, then the run: prlimit wrapping bwrap.
    expect(calls.map((c) => c.tool)).toEqual(['bwrap', 'prlimit', 'bwrap']);
    expect(calls[0]?.args).toEqual(['--unshare-net', '--unshare-pid', '--ro-bind', '/', '/', 'true']);
    const args = calls[2]?.args ?? [];
    const front = [
      '--unshare-net',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--die-with-parent',
      '--new-session',
    ];
    expect(args.slice(0, front.length)).toEqual(front);
    const system = systemRootArgs();
    expect(args.slice(front.length, front.length + system.length)).toEqual(system);
    let rest = args.slice(front.length + system.length);
    // The stand-ins' prefix is a toolchain folder outside the system's: shown read-only.
    expect(rest.slice(0, 3)).toEqual(['--ro-bind-try', tools.dir, tools.dir]);
    rest = rest.slice(3);
    // The host's resolver is not a link here (or the run has no network): no extra mount.
    expect(rest.slice(0, 9)).toEqual([
      '--ro-bind',
      ro,
      ro,
      '--ro-bind',
      replacement,
      join(ro, 'config'),
      '--bind',
      work,
      work,
    ]);
    rest = rest.slice(9);
    expect(rest.slice(0, 4)).toEqual([
      '--overlay-src',
      '/src/node_modules',
      '--tmp-overlay',
      join(work, 'node_modules'),
    ]);
    rest = rest.slice(4);
    expect(rest[0]).toBe('--clearenv');
    const setenv = valuesOf(rest, '--setenv', 2);
    expect(Object.fromEntries(setenv)).toEqual({
      PATH: tools.searchPath,
      HOME: SANDBOX_HOME,
      TMPDIR: '/tmp',
      CI: 'overridden',
      GITSWARM_STABILIZE: '1',
      LANG: 'C.UTF-8',
      TZ: 'Europe/Paris',
      EXTRA: 'yes',
      ...(process.env.USER ? { USER: process.env.USER } : {}),
      ...(process.env.LOGNAME ? { LOGNAME: process.env.LOGNAME } : {}),
      ...Object.fromEntries(
        ['LC_ALL', 'LC_CTYPE', 'TERM', 'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR']
          .filter((key) => process.env[key] !== undefined)
          .map((key) => [key, process.env[key] as string]),
      ),
      ...Object.fromEntries(
        ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'PIP_CERT', 'GIT_SSL_CAINFO']
          .filter((key) => process.env[key] !== undefined)
          .map((key) => [key, process.env[key] as string]),
      ),
    });
    expect(rest.slice(1 + setenv.length * 3)).toEqual(['--chdir', work, '--', '/bin/sh', '-c', ECHO_COMMAND]);
    // bwrap itself gets PATH only: the command's environment goes through --setenv.
    expect(calls[2]?.env.PATH).toBe(tools.searchPath);
    expect(
      Object.keys(calls[2]?.env ?? {}).filter((key) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(key)),
    ).toEqual(['PATH']);
    expect(calls[2]?.env.PWD).toBe(work);
    const text = output.join('');
    expect(text).toContain(`cwd=${work}\n`);
    expect(text).toContain(`home=[] ci=[] path=${tools.searchPath}\n`);
  });

  it('gives the network (no --unshare-net) and the proxy variables only to a run that asks for it', async () => {
    const tools = standIns({ prlimit: true });
    const work = freshDir('work');
    process.env.HTTP_PROXY = 'http://proxy.invalid:3128';
    process.env.https_proxy = 'http://proxy.invalid:3129';
    // A toolchain under /var/tmp is shown, never widened to it; a hidden one is not shown.
    const searchPath = `${tools.searchPath}:/var/tmp/bin:/opt/hidden-tool/bin`;
    await runSandboxed({ ...baseOptions(tools, work), searchPath, network: true });
    await runSandboxed({
      ...baseOptions(tools, work),
      searchPath,
      network: false,
      hiddenPaths: ['/opt/hidden-tool'],
    });
    const runs = tools.calls().filter((call) => call.tool === 'bwrap' && call.args.includes('--'));
    expect(runs).toHaveLength(2);
    const [open, closed] = runs.map((run) => run.args) as [string[], string[]];
    expect(open[0]).toBe('--unshare-pid');
    expect(open).not.toContain('--unshare-net');
    expect(closed[0]).toBe('--unshare-net');
    const env = (args: string[]) => Object.fromEntries(valuesOf(args, '--setenv', 2));
    expect(env(open)).toMatchObject({
      HTTP_PROXY: 'http://proxy.invalid:3128',
      https_proxy: 'http://proxy.invalid:3129',
    });
    expect(env(closed)).not.toHaveProperty('HTTP_PROXY');
    expect(env(closed)).not.toHaveProperty('https_proxy');
    expect(valuesOf(open, '--ro-bind-try', 2)).toEqual([
      [tools.dir, tools.dir],
      ['/var/tmp/bin', '/var/tmp/bin'],
      ['/opt/hidden-tool', '/opt/hidden-tool'],
    ]);
    expect(valuesOf(closed, '--ro-bind-try', 2)).toEqual([
      [tools.dir, tools.dir],
      ['/var/tmp/bin', '/var/tmp/bin'],
    ]);
  });

  it('covers what only its owner may read in a toolchain folder, three levels down', async () => {
    const tools = standIns({ prlimit: true });
    const work = freshDir('work');
    mkdirSync(join(tools.dir, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(tools.dir, 'credentials.toml'), 'token');
    chmodSync(join(tools.dir, 'credentials.toml'), 0o600);
    writeFileSync(join(tools.dir, 'a', 'b', 'deep.key'), 'k');
    chmodSync(join(tools.dir, 'a', 'b', 'deep.key'), 0o600);
    writeFileSync(join(tools.dir, 'a', 'b', 'c', 'deeper.key'), 'k');
    chmodSync(join(tools.dir, 'a', 'b', 'c', 'deeper.key'), 0o600);
    mkdirSync(join(tools.dir, 'private'), { mode: 0o700 });
    await runSandboxed(baseOptions(tools, work));
    const args = tools.calls().find((call) => call.tool === 'bwrap' && call.args.includes('--'))?.args ?? [];
    const at = args.indexOf('--ro-bind-try');
    const covered = args.slice(at + 3, args.indexOf('--bind'));
    expect(args.slice(at, at + 3)).toEqual(['--ro-bind-try', tools.dir, tools.dir]);
    // calls/ is written by the stand-ins themselves (world-readable); private/ and the keys are not.
    expect(
      chunks(covered)
        .map((c) => c.join(' '))
        .sort(),
    ).toEqual(
      [
        ['--ro-bind', '/dev/null', join(tools.dir, 'credentials.toml')],
        ['--ro-bind', '/dev/null', join(tools.dir, 'a', 'b', 'deep.key')],
        ['--tmpfs', join(tools.dir, 'private'), '--remount-ro', join(tools.dir, 'private')],
      ]
        .map((c) => c.join(' '))
        .sort(),
    );
    expect(covered).not.toContain(join(tools.dir, 'a', 'b', 'c', 'deeper.key'));
  });

  it.skipIf(!cgroupsWork)('joins a cgroup of its own, reports it, and removes it after the run', async () => {
    const tools = standIns({ prlimit: true });
    const work = freshDir('work');
    const result = await runSandboxed({ ...baseOptions(tools, work), cgroups: true, maxProcesses: 9 });
    expect(result.exitCode).toBe(0);
    expect(result.cgroup === 1 || result.cgroup === 2).toBe(true);
    expect(result.hits).toEqual({ oomKills: 0, forkRefusals: 0 });
    expect(result.limits).toContain('pids.max 9');
    const group = /^cgroup v\d (\S+):/.exec(result.limits)?.[1] ?? '';
    expect(group).toMatch(/\/gitswarm\/run-/);
    expect(existsSync(group)).toBe(false);
    // No prlimit: the group holds the limits. bwrap is started by the group's join line.
    expect(tools.calls().map((call) => call.tool)).toEqual(['bwrap', 'bwrap']);
  });

  it.skipIf(!cgroupsWork)('gives a background run the least CPU share, any other the usual one', async () => {
    const tools = standIns({ prlimit: true });
    const share = async (background?: boolean) =>
      /(?:cpu\.weight|cpu\.shares for weight) (\d+(?:, cpu\.idle)?)$/.exec(
        (await runSandboxed({ ...baseOptions(tools, freshDir('work')), cgroups: true, background })).limits,
      )?.[1];
    // Whether this kernel has cpu.idle: a group asked for it says so.
    const probe = createRunCgroup({ memoryMb: 64, maxProcesses: 8, cpuWeight: 1, cpuIdle: true });
    const idle = probe.ok && probe.cgroup.description.endsWith(', cpu.idle');
    if (probe.ok) await probe.cgroup.destroy();
    expect(await share(true)).toBe(idle ? '1, cpu.idle' : '1');
    expect(await share(false)).toBe('100');
    expect(await share()).toBe('100');
  });

  it('uses prlimit with the address space in bytes and the process count, and says so', async () => {
    const tools = standIns({ prlimit: true });
    const work = freshDir('work');
    const output: string[] = [];
    const result = await runSandboxed({
      ...baseOptions(tools, work),
      memoryMb: 100.3,
      output: (chunk) => output.push(chunk),
    });
    const prlimit = tools.calls().find((call) => call.tool === 'prlimit');
    expect(prlimit?.args.slice(0, 4)).toEqual([
      `--as=${Math.floor(100.3 * 1024 * 1024)}`,
      '--nproc=512',
      '--',
      join(tools.bin, 'bwrap'),
    ]);
    expect(result.limits).toBe(
      'rlimits per process: address space 100.3 MB, processes 512 per user (not enforced for root)',
    );
    expect(output.join('')).toContain(
      `gitswarm: warning: no cgroup for this run (cgroups turned off for this run); limits apply per process, not to the whole run: ${result.limits}.\n`,
    );

    const limited = await runSandboxed({ ...baseOptions(tools, work), memoryMb: 64, maxProcesses: 7 });
    expect(
      tools
        .calls()
        .filter((call) => call.tool === 'prlimit')[1]
        ?.args.slice(0, 3),
    ).toEqual([`--as=${64 * 1024 * 1024}`, '--nproc=7', '--']);
    expect(limited.limits).toContain('processes 7 per user');
  });
});

function chunks(args: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < args.length; ) {
    const n = args[i] === '--tmpfs' ? 4 : 3;
    out.push(args.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('without a sandbox', () => {
  it('warns, runs sh -c directly in the worktree with the small environment, the host HOME and TMPDIR', async () => {
    const work = freshDir('work');
    process.env.GITSWARM_TEST_SECRET = 'hunter2';
    process.env.HOME = '/root-of-test';
    process.env.TMPDIR = root;
    const output: string[] = [];
    const result = await runSandboxed({
      command:
        'echo "cwd=$(pwd) home=$HOME tmp=$TMPDIR ci=$CI st=$GITSWARM_STABILIZE x=$EXTRA s=[$GITSWARM_TEST_SECRET]"',
      workdir: work,
      mode: 'none',
      timeoutMs: 20_000,
      memoryMb: 256,
      cgroups: false,
      env: { EXTRA: 'given' },
      output: (chunk) => output.push(chunk),
    });
    expect(result).toMatchObject({ exitCode: 0, sandboxed: false, timedOut: false });
    const text = output.join('');
    expect(
      text.startsWith(
        'gitswarm: warning: running the stabilize command WITHOUT a sandbox (sandbox = none): it has network access and can write anywhere this user can.\n',
      ),
    ).toBe(true);
    expect(text).toContain(`cwd=${work} home=/root-of-test tmp=${root} ci=true st=1 x=given s=[]\n`);
  });

  it("tells the caller the command's process id once it has started, before it ends", async () => {
    const work = freshDir('work');
    const seen: string[] = [];
    const result = await runSandboxed({
      command: 'echo the-command-ran',
      workdir: work,
      mode: 'none',
      timeoutMs: 20_000,
      memoryMb: 256,
      cgroups: false,
      started: (pid) => seen.push(`started ${pid}`),
      output: (chunk) => {
        if (chunk.includes('the-command-ran')) seen.push('output');
      },
    });
    expect(result.exitCode).toBe(0);
    expect(result.pid).toBeGreaterThan(0);
    expect(seen).toEqual([`started ${result.pid}`, 'output']);
  });

  it('without a search path and with no PATH in the environment, the run gets an empty PATH', async () => {
    const work = freshDir('work');
    const output: string[] = [];
    const { PATH: _path, ...withoutPath } = process.env;
    const result = await withCommandEnv(withoutPath, () =>
      runSandboxed({
        command: 'echo "path=[$PATH]"',
        workdir: work,
        mode: 'none',
        timeoutMs: 20_000,
        memoryMb: 256,
        cgroups: false,
        output: (chunk) => output.push(chunk),
      }),
    );
    expect(result).toMatchObject({ exitCode: 0, sandboxed: false });
    expect(output.join('')).toContain('path=[]\n');
  });

  it('gives the command no input and leaves no exit listener behind', async () => {
    const work = freshDir('work');
    const output: string[] = [];
    const listeners = process.listenerCount('exit');
    const result = await runSandboxed({
      command: 'if read line; then echo "got=$line"; else echo "eof"; fi',
      workdir: work,
      mode: 'none',
      timeoutMs: 10_000,
      memoryMb: 256,
      cgroups: false,
      output: (chunk) => output.push(chunk),
    });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(output.join('')).toContain('eof\n');
    expect(process.listenerCount('exit')).toBe(listeners);
  });

  it('an abort kills the whole process tree at once and says so; a run it never fires is not aborted', async () => {
    const work = freshDir('work');
    const options = {
      workdir: work,
      mode: 'none' as const,
      timeoutMs: 60_000,
      memoryMb: 256,
      cgroups: false,
    };
    const controller = new AbortController();
    const output: string[] = [];
    const started = Date.now();
    const run = runSandboxed({
      ...options,
      command: 'sleep 30 & echo started; sleep 30',
      signal: controller.signal,
      output: (chunk) => {
        output.push(chunk);
        if (chunk.includes('started')) controller.abort();
      },
    });
    const result = await run;
    expect(result).toMatchObject({ aborted: true, timedOut: false, exitCode: null });
    expect(Date.now() - started).toBeLessThan(20_000);

    const early = new AbortController();
    early.abort();
    const before = Date.now();
    expect(await runSandboxed({ ...options, command: 'sleep 30', signal: early.signal })).toMatchObject({
      aborted: true,
      timedOut: false,
    });
    expect(Date.now() - before).toBeLessThan(20_000);

    // A run that ends by itself: not aborted, and its listener is taken off the signal.
    const calls: string[] = [];
    const watched = {
      aborted: false,
      addEventListener: (type: string) => calls.push(`add ${type}`),
      removeEventListener: (type: string) => calls.push(`remove ${type}`),
    } as unknown as AbortSignal;
    expect(await runSandboxed({ ...options, command: 'true', signal: watched })).toMatchObject({
      aborted: false,
      exitCode: 0,
    });
    expect(calls).toEqual(['add abort', 'remove abort']);
    expect((await runSandboxed({ ...options, command: 'true' })).aborted).toBe(false);
  });

  it('decodes output split inside a UTF-8 character', async () => {
    const work = freshDir('work');
    const output: string[] = [];
    await runSandboxed({
      command:
        "printf '\\303'; sleep 0.3; printf '\\251\\n'; printf '\\342\\202' >&2; sleep 0.3; printf '\\254\\n' >&2",
      workdir: work,
      mode: 'none',
      timeoutMs: 20_000,
      memoryMb: 256,
      cgroups: false,
      output: (chunk) => output.push(chunk),
    });
    const text = output.join('');
    expect(text).toContain('é\n');
    expect(text).toContain('€\n');
    expect(text).not.toContain('\uFFFD');
  });

  it('refuses with sandbox_unavailable when the command cannot be started', async () => {
    const missing = join(root, 'no-such-worktree');
    const listeners = process.listenerCount('exit');
    const calls: string[] = [];
    const watched = {
      aborted: false,
      addEventListener: (type: string) => calls.push(`add ${type}`),
      removeEventListener: (type: string) => calls.push(`remove ${type}`),
    } as unknown as AbortSignal;
    const error = await refusal(
      runSandboxed({
        command: 'true',
        workdir: missing,
        mode: 'none',
        timeoutMs: 5_000,
        memoryMb: 64,
        cgroups: false,
        signal: watched,
      }),
    );
    expect(error.code).toBe('sandbox_unavailable');
    expect(error.message).toMatch(/^Could not start the stabilize command: .*ENOENT/);
    expect(process.listenerCount('exit')).toBe(listeners);
    // Its abort listener is taken off the signal, too.
    expect(calls).toEqual(['add abort', 'remove abort']);
  });
});

describe('the bubblewrap probes', () => {
  it('probes once per binary and remembers success; forgetting probes again', async () => {
    const tools = standIns();
    expect(await checkSandbox(tools.searchPath)).toEqual({ ok: true, bwrap: join(tools.bin, 'bwrap') });
    expect(await checkSandbox(tools.searchPath)).toEqual({ ok: true, bwrap: join(tools.bin, 'bwrap') });
    expect(tools.calls()).toHaveLength(1);
    // The probe runs with PATH only.
    const probe = tools.calls()[0];
    expect(probe?.env.PATH).toBe(tools.searchPath);
    expect(
      Object.keys(probe?.env ?? {}).filter((key) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(key)),
    ).toEqual(['PATH']);
    forgetSandboxChecks();
    await checkSandbox(tools.searchPath);
    expect(tools.calls()).toHaveLength(2);
    await expect(assertSandboxAvailable('bubblewrap', tools.searchPath)).resolves.toBeUndefined();
  });

  it('a failing probe says why (the first line of its error, else its exit) and is not remembered', async () => {
    const failing = standIns({
      probeExit: 1,
      probeStderr: '\\nbwrap: No permissions to create new namespace\\nsecond line',
    });
    const check = await checkSandbox(failing.searchPath);
    expect(check).toEqual({
      ok: false,
      reason: 'bubblewrap cannot create a sandbox here: bwrap: No permissions to create new namespace',
      hint: 'Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), or allow unsandboxed runs with: gitswarm config sandbox none',
    });
    await checkSandbox(failing.searchPath);
    expect(failing.calls()).toHaveLength(2);
    const error = await refusal(assertSandboxAvailable('bubblewrap', failing.searchPath));
    expect(error.code).toBe('sandbox_unavailable');
    expect(error.message).toBe(
      'No sandbox for the stabilize command: bubblewrap cannot create a sandbox here: bwrap: No permissions to create new namespace',
    );
    expect(error.hint).toContain('kernel.unprivileged_userns_clone=1');
    const runError = await refusal(
      runSandboxed({
        command: 'true',
        workdir: freshDir('work'),
        mode: 'bubblewrap',
        timeoutMs: 5_000,
        memoryMb: 64,
        cgroups: false,
        searchPath: failing.searchPath,
      }),
    );
    expect(runError).toMatchObject({ code: 'sandbox_unavailable', message: error.message, hint: error.hint });
    expect(failing.calls().filter((call) => call.args.includes('--'))).toEqual([]);

    const silent = standIns({ probeExit: 3 });
    expect(await checkSandbox(silent.searchPath)).toMatchObject({
      ok: false,
      reason: 'bubblewrap cannot create a sandbox here: exit 3',
    });
    const killed = standIns({ probeExit: -9 });
    expect(await checkSandbox(killed.searchPath)).toMatchObject({
      ok: false,
      reason: 'bubblewrap cannot create a sandbox here: exit SIGKILL',
    });
  });

  it('a bwrap that cannot be executed fails the probe with the reason', async () => {
    const tools = standIns();
    // A folder passes the executable check (its x bit) but cannot be started.
    rmSync(join(tools.bin, 'bwrap'));
    mkdirSync(join(tools.bin, 'bwrap'));
    const check = await checkSandbox(tools.searchPath);
    expect(check).toMatchObject({ ok: false });
    expect((check as { reason: string }).reason).toMatch(
      /^bubblewrap cannot create a sandbox here: spawn .*bwrap (ENOEXEC|EACCES)/,
    );
  });

  it('a missing bwrap is named with how to install it', async () => {
    expect(await checkSandbox(freshDir('empty'))).toEqual({
      ok: false,
      reason: 'bubblewrap (bwrap) is not installed or not on PATH.',
      hint: 'Install bubblewrap (apt-get install bubblewrap), or allow unsandboxed runs with: gitswarm config sandbox none',
    });
    expect(await supportsTmpOverlay(freshDir('empty'))).toBe(false);
  });

  it('supports the overlay only when bwrap knows --tmp-overlay and a probe mount works; remembered per binary', async () => {
    const old = standIns({ help: 'usage: bwrap --bind SRC DEST' });
    expect(await supportsTmpOverlay(old.searchPath)).toBe(false);
    expect(old.calls().map((call) => call.args[0])).toEqual(['--unshare-net', '--help']);

    const modern = standIns({ help: '--overlay-src SRC --tmp-overlay DEST' });
    expect(await supportsTmpOverlay(modern.searchPath)).toBe(true);
    expect(await supportsTmpOverlay(modern.searchPath)).toBe(true);
    const calls = modern.calls();
    expect(calls.map((call) => call.args[0])).toEqual(['--unshare-net', '--help', '--ro-bind']);
    const probe = calls[2]?.args ?? [];
    const dir = probe[4] as string;
    expect(probe).toEqual([
      '--ro-bind',
      '/',
      '/',
      '--overlay-src',
      dir,
      '--tmp-overlay',
      dir,
      '/bin/sh',
      '-c',
      'touch "$1"',
      'probe',
      join(dir, 'x'),
    ]);
    expect(dir.startsWith(join(tmpdir(), 'gitswarm-overlay-probe-'))).toBe(true);
    expect(existsSync(dir)).toBe(false);
    expect(calls[2]?.env.PATH).toBe(modern.searchPath);
    // Forgetting the checks probes again: this bwrap no longer knows the option.
    writeScript(join(modern.bin, 'bwrap'), `case "$1" in --help) echo 'usage'; exit 0;; *) exit 0;; esac`);
    expect(await supportsTmpOverlay(modern.searchPath)).toBe(true);
    forgetSandboxChecks();
    expect(await supportsTmpOverlay(modern.searchPath)).toBe(false);

    const broken = standIns();
    // Knows the option, passes the sandbox probe, but the overlay mount fails.
    writeScript(
      join(broken.bin, 'bwrap'),
      `case "$1" in --help) echo '--tmp-overlay DEST'; exit 0;; --unshare-net) exit 0;; *) exit 1;; esac`,
    );
    expect(await supportsTmpOverlay(broken.searchPath)).toBe(false);
  });

  it('finds an executable only in absolute PATH entries, and only when it may be executed', () => {
    const plain = freshDir('plain');
    writeFileSync(join(plain, 'tool'), '');
    chmodSync(join(plain, 'tool'), 0o644);
    const real = freshDir('real');
    writeScript(join(real, 'tool'), 'exit 0');
    expect(findExecutable('tool', `:${plain}:${real}`)).toBe(join(real, 'tool'));
    expect(findExecutable('tool', plain)).toBeUndefined();
    expect(findExecutable('tool', undefined)).toBeUndefined();
    // A relative entry is not searched, though it names a folder with the tool from here.
    const relativeEntry = relative(process.cwd(), real);
    expect(existsSync(join(relativeEntry, 'tool'))).toBe(true);
    expect(findExecutable('tool', relativeEntry)).toBeUndefined();
  });
});

describe("the sandbox's file system", () => {
  it('shows the system folders (links as links), /etc with its secrets covered, fresh /tmp, home, /dev, /proc', () => {
    const args = systemRootArgs();
    const expected: string[] = [];
    for (const dir of ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
      if (!existsSync(dir) && !isLink(dir)) continue;
      if (isLink(dir)) expected.push('--symlink', readlinkSync(dir), dir);
      else expected.push('--ro-bind', dir, dir);
    }
    expect(args.slice(0, expected.length)).toEqual(expected);
    expect(args.slice(expected.length, expected.length + 3)).toEqual(['--ro-bind', '/etc', '/etc']);
    const tail = [
      '--dev',
      '/dev',
      '--proc',
      '/proc',
      '--tmpfs',
      '/tmp',
      '--tmpfs',
      '/var/tmp',
      '--dir',
      '/tmp/home',
    ];
    expect(args.slice(-tail.length)).toEqual(tail);
    const covers = args.slice(expected.length + 3, -tail.length);
    if (existsSync('/etc/shadow')) expect(covers.join(' ')).toContain('--ro-bind /dev/null /etc/shadow');
    // Every cover is of something in /etc.
    for (const part of chunks(covers)) expect(part.at(-1)?.startsWith('/etc/')).toBe(true);
  });

  it('lists entries not readable by all, and named ones whatever their mode, without visiting covered folders', () => {
    const dir = freshDir('etc');
    mkdirSync(join(dir, 'ssh'));
    writeFileSync(join(dir, 'ssh', 'ssh_host_rsa_key.pub'), 'pub');
    writeFileSync(join(dir, 'ssh', 'ssh_config'), 'conf');
    writeFileSync(join(dir, 'shadow'), 'x');
    chmodSync(join(dir, 'shadow'), 0o644);
    writeFileSync(join(dir, 'shadowy'), 'x');
    writeFileSync(join(dir, 'group-only'), 'x');
    chmodSync(join(dir, 'group-only'), 0o640);
    mkdirSync(join(dir, 'listable-not-enterable'), { mode: 0o755 });
    chmodSync(join(dir, 'listable-not-enterable'), 0o754);
    mkdirSync(join(dir, 'closed'), { mode: 0o700 });
    writeFileSync(join(dir, 'closed', 'inside'), 'x');
    chmodSync(join(dir, 'closed', 'inside'), 0o600);
    symlinkSync('/etc/shadow', join(dir, 'link-to-secret'));
    mkdirSync(join(dir, 'd1', 'd2'), { recursive: true });
    writeFileSync(join(dir, 'd1', 'd2', 'deep'), 'x');
    chmodSync(join(dir, 'd1', 'd2', 'deep'), 0o600);
    writeFileSync(join(dir, 'd1', 'mid'), 'x');
    chmodSync(join(dir, 'd1', 'mid'), 0o604);

    const found = privateEntries(dir, { maxDepth: 2, named: ['shadow', 'ssh/ssh_host_*'] });
    const byPath = Object.fromEntries(
      found.map((entry) => [entry.path.slice(dir.length + 1), entry.isDirectory]),
    );
    expect(byPath).toEqual({
      shadow: false,
      'ssh/ssh_host_rsa_key.pub': false,
      'group-only': false,
      'listable-not-enterable': true,
      closed: true,
    });
    // One level deeper reaches d1/d2/deep.
    const deeper = privateEntries(dir, { maxDepth: 3 }).map((entry) => entry.path.slice(dir.length + 1));
    expect(deeper).toContain('d1/d2/deep');
    expect(deeper).not.toContain('shadow');
    expect(privateEntries(join(dir, 'missing'), { maxDepth: 3 })).toEqual([]);
  });

  it('covers a folder with a read-only tmpfs and a file with /dev/null', () => {
    expect(
      coverArgs([
        { path: '/p/dir', isDirectory: true },
        { path: '/p/file', isDirectory: false },
      ]),
    ).toEqual(['--tmpfs', '/p/dir', '--remount-ro', '/p/dir', '--ro-bind', '/dev/null', '/p/file']);
  });

  it('widens PATH entries around the caller home, system folders and forbidden paths', () => {
    process.env.HOME = '/srv/me';
    expect(
      toolchainPrefixes(
        '/srv/me/bin:/srv/me:/usrx/bin:/usr/local/bin:/lib/x:/opt/a/bin:/opt/a/sub/bin:/opt/b/tools:/home/maya/bin:/opt/c/tools',
        {
          forbidden: ['/opt/b'],
        },
      ),
    ).toEqual(['/srv/me/bin', '/usrx/bin', '/opt/a', '/opt/a/sub', '/home/maya/bin', '/opt/c/tools']);
    process.env.HOME = 'relative-home';
    expect(toolchainPrefixes('/srv/me/bin')).toEqual(['/srv/me']);
    expect(toolchainPrefixes('/opt/x/bin', { forbidden: ['/opt/x/bin/inner'] })).toEqual([]);
    expect(toolchainPrefixes('/opt/x/bin/', { neverWiden: ['/opt/x/'] })).toEqual(['/opt/x/bin']);
    expect(toolchainPrefixes('/var/tmp', { neverWiden: ['/var/tmp'] })).toEqual([]);
  });
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

describe('dependency folders and the git config shown to a run', () => {
  it('accepts a relative folder, normalized; refuses what could leave the checkout or reach its store', () => {
    expect(assertDependencyDir(' node_modules/ ')).toBe('node_modules');
    expect(assertDependencyDir('tools/deps//')).toBe('tools/deps');
    expect(() => assertDependencyDir('tools//deps')).toThrow('is not a folder path');
    expect(assertDependencyDir('a'.repeat(200))).toBe('a'.repeat(200));
    for (const bad of [
      '',
      '   ',
      '/abs',
      'a'.repeat(201),
      'a\0b',
      'a\nb',
      'a\rb',
      'a\\b',
      '..',
      'x/../y',
      '.',
      '.git',
      'sub/.gitswarm',
      '.worktrees/x',
    ]) {
      expect(() => assertDependencyDir(bad), JSON.stringify(bad)).toThrow(
        `${JSON.stringify(bad)} is not a folder path relative to the checkout (no "..", ".git", ".gitswarm" or ".worktrees")`,
      );
    }
  });

  it('shows each folder through an overlay at its target', () => {
    expect(
      overlayArgs([
        { source: '/c/node_modules', target: '/w/node_modules', relPath: 'node_modules' },
        { source: '/c/.venv', target: '/w/.venv', relPath: '.venv' },
      ]),
    ).toEqual([
      '--overlay-src',
      '/c/node_modules',
      '--tmp-overlay',
      '/w/node_modules',
      '--overlay-src',
      '/c/.venv',
      '--tmp-overlay',
      '/w/.venv',
    ]);
    expect(overlayArgs([])).toEqual([]);
  });

  it('finds only ignored folders that the worktree lacks, and copies them; a failed copy says which', async () => {
    const checkout = freshDir('checkout');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: checkout, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    writeFileSync(join(checkout, '.gitignore'), 'node_modules\nvendor\n');
    mkdirSync(join(checkout, 'node_modules', 'pkg'), { recursive: true });
    writeFileSync(join(checkout, 'node_modules', 'pkg', 'index.js'), 'x');
    mkdirSync(join(checkout, '.venv'));
    writeFileSync(join(checkout, 'vendor'), 'a file, not a folder');
    const worktree = freshDir('worktree');
    const found = await findDependencyDirs(checkout, worktree, ['node_modules', '.venv', 'vendor', 'target']);
    expect(found).toEqual([
      {
        source: join(checkout, 'node_modules'),
        target: join(worktree, 'node_modules'),
        relPath: 'node_modules',
      },
    ]);
    mkdirSync(join(worktree, 'node_modules'));
    expect(await findDependencyDirs(checkout, worktree, ['node_modules'])).toEqual([]);
    rmSync(join(worktree, 'node_modules'), { recursive: true });
    const target = join(worktree, 'deep', 'node_modules');
    await copyDependencyDirs([{ ...(found[0] as (typeof found)[number]), target }]);
    expect(readFileSync(join(target, 'pkg', 'index.js'), 'utf8')).toBe('x');

    const error = await refusal(
      copyDependencyDirs([
        { source: join(checkout, 'gone'), target: join(worktree, 'gone'), relPath: 'gone-folder' },
      ]),
    );
    expect(error.code).toBe('sandbox_unavailable');
    expect(error.message).toMatch(
      /^Could not copy the dependency folder gone-folder into the test worktree: cp: .*gone.*No such file or directory$/,
    );
  });

  it('keeps only the settings git needs to read the repository', async () => {
    const repo = freshDir('repo');
    const common = join(repo, '.git');
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
    const set = (key: string, value: string) =>
      execFileSync('git', ['config', '--file', join(common, 'config'), '--add', key, value]);
    set('remote.origin.url', 'https://ci:TOKEN@example.invalid/r.git');
    set('http.extraheader', 'AUTHORIZATION: basic c2VjcmV0');
    set('core.sshcommand', 'ssh -i /secret');
    set('core.autocrlf', 'input');
    set('extensions.worktreeconfig', 'true');
    set('user.name', 'multi\nline');
    // Values git's reader would misread unquoted or unescaped; a key with no value (true).
    set('extensions.hostile', ' a"b\\c\nd\te\b;#x\r\n] [core] bare = true ');
    set('core.eol', '');
    appendFileSync(join(common, 'config'), '[extensions]\n\tnovalue\n');
    const out = freshDir('out');
    const path = writeSandboxGitConfig(await sandboxGitConfigText(common), out);
    expect(path).toBe(join(out, 'sandbox-git-config'));
    // git reads back every kept setting exactly as the real config has it, in the same order,
    // and nothing else: no remote, header, ssh or user setting.
    const listNull = (file: string) =>
      execFileSync('git', ['config', '--file', file, '--null', '--list'], { encoding: 'utf8' })
        .split('\0')
        .filter((entry) => entry !== '');
    const kept = listNull(path);
    expect(kept).toEqual(
      listNull(join(common, 'config')).filter(
        (entry) => /^(core|extensions)\./.test(entry) && !entry.startsWith('core.sshcommand'),
      ),
    );
    expect(kept).toEqual([
      'core.repositoryformatversion\n0',
      'core.filemode\ntrue',
      'core.bare\nfalse',
      'core.logallrefupdates\ntrue',
      'core.autocrlf\ninput',
      'core.eol\n',
      'extensions.worktreeconfig\ntrue',
      'extensions.hostile\n a"b\\c\nd\te\b;#x\r\n] [core] bare = true ',
      'extensions.novalue',
    ]);
    // A config with nothing in it: an empty file.
    const bare = freshDir('empty-config');
    writeFileSync(join(bare, 'config'), '');
    const empty = writeSandboxGitConfig(await sandboxGitConfigText(bare), freshDir('out'));
    expect(readFileSync(empty, 'utf8')).toBe('');
  });

  it("lists the config once for a stabilization's runs, and again after a failed listing", async () => {
    const repo = freshDir('shared-repo');
    const common = join(repo, 'common');
    mkdirSync(common);
    const shared = sharedRunSetup({ root: repo, commonDir: common });
    // No config file yet: git cannot list it, and the failure is not kept.
    await expect(shared.sandboxGitConfig()).rejects.toThrow();
    writeFileSync(join(common, 'config'), '[core]\n\tbare = false\n\tsshCommand = ssh -i /secret\n');
    const first = shared.sandboxGitConfig();
    expect(shared.sandboxGitConfig()).toBe(first);
    expect(await first).toBe('[core]\n\tbare = "false"\n');
    // Listed once: a later change to the file is not read by this stabilization's runs.
    writeFileSync(join(common, 'config'), '[core]\n\tbare = true\n');
    expect(await shared.sandboxGitConfig()).toBe('[core]\n\tbare = "false"\n');
    expect(await sharedRunSetup({ root: repo, commonDir: common }).sandboxGitConfig()).toBe(
      '[core]\n\tbare = "true"\n',
    );
  });

  it('lists a config file again only when its content changed', async () => {
    const common = freshDir('remembered');
    const file = join(common, 'config');
    writeFileSync(file, '[core]\n\tbare = false\n');
    const calls = recordGitCalls();
    const text = () => withCommandEnv(calls.env, () => sandboxGitConfigText(common));
    expect(await text()).toBe('[core]\n\tbare = "false"\n');
    expect(await text()).toBe('[core]\n\tbare = "false"\n');
    expect(calls.commands()).toEqual(['config']);
    // The same size and times do not matter: the content does.
    writeFileSync(file, '[core]\n\tbare = truer\n');
    writeFileSync(file, '[core]\n\tbare = true\n\n');
    expect(await text()).toBe('[core]\n\tbare = "true"\n');
    expect(calls.commands()).toEqual(['config', 'config']);
    // A file git could not list is never taken for a known one.
    rmSync(file);
    await expect(text()).rejects.toThrow();
    expect(calls.commands()).toHaveLength(3);
  });

  it('does not keep the listing of a config file that changed while git read it', async () => {
    const common = freshDir('changing');
    const file = join(common, 'config');
    writeFileSync(file, '[core]\n\tbare = false\n');
    // A git that rewrites the config (as `git config` run by someone else would) just before it lists it, once.
    const bin = freshDir('rewriting-git');
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\nif [ ! -e '${bin}/done' ]; then : > '${bin}/done'; printf '[core]\\n\\tautocrlf = input\\n' > '${file}'; fi\nexec /usr/bin/git "$@"\n`,
      { mode: 0o755 },
    );
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
    expect(await withCommandEnv(env, () => sandboxGitConfigText(common))).toBe(
      '[core]\n\tautocrlf = "input"\n',
    );
    // Back to the content read before git ran: what git listed then was not of this content.
    writeFileSync(file, '[core]\n\tbare = false\n');
    expect(await withCommandEnv(env, () => sandboxGitConfigText(common))).toBe('[core]\n\tbare = "false"\n');
  });

  it(`remembers at most ${REMEMBERED_CONFIGS} config files, the oldest making room`, async () => {
    const commons = Array.from({ length: REMEMBERED_CONFIGS + 1 }, () => {
      const common = freshDir('many');
      writeFileSync(join(common, 'config'), '[core]\n\tbare = false\n');
      return common;
    });
    const calls = recordGitCalls();
    const list = (common: string) => withCommandEnv(calls.env, () => sandboxGitConfigText(common));
    for (const common of commons.slice(0, REMEMBERED_CONFIGS)) await list(common);
    expect(calls.commands()).toHaveLength(REMEMBERED_CONFIGS);
    // A remembered file listed again after a change takes no room from the others.
    writeFileSync(join(commons[1] as string, 'config'), '[core]\n\tbare = true\n');
    expect(await list(commons[1] as string)).toBe('[core]\n\tbare = "true"\n');
    await list(commons[0] as string);
    expect(calls.commands()).toHaveLength(REMEMBERED_CONFIGS + 1);
    // One file more: the oldest is listed again, the newest is still known.
    await list(commons[REMEMBERED_CONFIGS] as string);
    await list(commons[REMEMBERED_CONFIGS - 1] as string);
    expect(calls.commands()).toHaveLength(REMEMBERED_CONFIGS + 2);
    await list(commons[0] as string);
    expect(calls.commands()).toHaveLength(REMEMBERED_CONFIGS + 3);
  });
});
