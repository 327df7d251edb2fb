/**
 * The stabilizer's sandbox: runs a repository's test command (`sh -c <command>`, its nature) in a
 * bubblewrap container built from an empty root (sandbox-root.ts: the system read-only, `/etc`
 * without its secrets, the toolchain on PATH, nothing of the host's /run, /tmp or homes), with no
 * network, read-only `.git`, the writable worktree, the dependency folders through a thrown-away
 * overlay, an allow-listed environment, the whole run in its own cgroup (cgroup.ts; rlimits per
 * process where there is none) and a wall-clock timeout that kills the whole process tree. Where
 * bubblewrap cannot be set up it refuses (fail closed) unless the operator chose `sandbox none`,
 * which keeps the limits and says so on the output.
 *
 * Nothing here builds a shell line: bwrap and the limit wrappers get argument vectors, and the
 * user's command reaches `sh -c` only inside the sandbox as one argument.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { GitSwarmError } from '../errors.js';
import { commandEnv } from '../util/command-env.js';
import { createRunCgroup, joinCgroupArgv, type LimitHits } from './cgroup.js';
import { type DependencyMount, overlayArgs } from './sandbox-deps.js';
import {
  coverArgs,
  privateEntries,
  SANDBOX_HOME,
  systemRootArgs,
  toolchainPrefixes,
} from './sandbox-root.js';

export type SandboxMode = 'bubblewrap' | 'none';

/** Where the command's output goes, chunk by chunk, as it is produced. */
export type OutputSink = (chunk: string) => void;

export interface SandboxRunOptions {
  /** The command, run as `sh -c <command>` inside the sandbox. */
  command: string;
  /** The one writable directory (a throw-away worktree); the command's working directory. */
  workdir: string;
  /** Paths shown read-only at their own place (the repository's `.git`, the dependency folders' originals). */
  readOnlyPaths?: readonly string[];
  /** Files mounted read-only over others after `readOnlyPaths` (a sanitized `.git/config`). */
  replacedFiles?: ReadonlyArray<{ path: string; with: string }>;
  mode: SandboxMode;
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  timeoutMs: number;
  /** Memory of the whole run (its cgroup's memory.max; RLIMIT_AS per process where there is no cgroup). */
  memoryMb: number;
  /** Processes of the whole run (pids.max); default {@link DEFAULT_MAX_PROCESSES}. */
  maxProcesses?: number;
  /** Whether the run may use the network (the setup command, when the repository allows it). */
  network?: boolean;
  /** Dependency folders shown through a thrown-away overlay (needs {@link supportsTmpOverlay}). */
  overlays?: readonly DependencyMount[];
  /** Paths no toolchain mount may show, nor contain (the repository's checkout: its store, other worktrees). */
  hiddenPaths?: readonly string[];
  /** The root's shared mounts, `sandboxRootArgs(searchPath, hiddenPaths)` computed ahead; else computed here. */
  rootArgs?: readonly string[];
  /** False to skip the cgroup and use rlimits (tests of the fallback). */
  cgroups?: boolean;
  /**
   * A run that should only take the CPU others leave idle (a bisection probe started before it is
   * known to be needed): its cgroup gets the lowest CPU share, and `cpu.idle` where the kernel has
   * it. Without a cgroup it runs as any other.
   */
  background?: boolean;
  /** Extra environment for the command (the sandbox starts from a small clean one). */
  env?: Readonly<Record<string, string>>;
  /** Receives stdout and stderr, interleaved as they arrive. */
  output?: OutputSink;
  /** The PATH searched for bwrap, prlimit and the command's tools; defaults to this process's PATH. */
  searchPath?: string;
  /** Kills the whole process tree when it aborts (a server shutting down); the result says `aborted`. */
  signal?: AbortSignal;
  /** Called with the command's process id once it has been started. */
  started?: (pid: number) => void;
}

export interface SandboxRunResult {
  /** The command's exit code; null when it was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Whether `signal` aborted the run (its process tree was killed). */
  aborted: boolean;
  durationMs: number;
  /** Whether the run was inside bubblewrap (false for `sandbox none`). */
  sandboxed: boolean;
  /** Process id of the top process, also the id of the process group that was killed. */
  pid: number;
  /** How the limits were applied, for the log. */
  limits: string;
  /** The cgroup version the run was in; null when it ran under rlimits. */
  cgroup: 1 | 2 | null;
  hits: LimitHits;
}

const CHECK_TIMEOUT_MS = 10_000;
/** Positive checks are remembered per bwrap binary: a CLI process runs many probes in a row. */
const workingBwrap = new Set<string>();

/** Finds an executable on a PATH string, as the shell would; undefined when absent. */
export function findExecutable(name: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath ?? '').split(':')) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Forgets remembered sandbox checks, so the next run probes bubblewrap again (as a fresh process would). */
export function forgetSandboxChecks(): void {
  workingBwrap.clear();
  overlayBwrap.clear();
}

/** Per bwrap binary: whether `--overlay-src`/`--tmp-overlay` (bwrap 0.9+) work here. */
const overlayBwrap = new Map<string, boolean>();

/**
 * Whether this bubblewrap can show a folder through a thrown-away overlay: it knows the option
 * (bwrap 0.9+) and a real probe mount works (the kernel may refuse overlayfs in a user namespace).
 */
export async function supportsTmpOverlay(searchPath = commandEnv().PATH): Promise<boolean> {
  const check = await checkSandbox(searchPath);
  if (!check.ok) return false;
  const known = overlayBwrap.get(check.bwrap);
  if (known !== undefined) return known;
  const help = await runPlain(check.bwrap, ['--help'], { timeoutMs: CHECK_TIMEOUT_MS, env: {} });
  let works = false;
  if (help.stdout.includes('--tmp-overlay')) {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-overlay-probe-'));
    try {
      const probe = await runPlain(
        check.bwrap,
        [
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
        ],
        { timeoutMs: CHECK_TIMEOUT_MS, env: { PATH: searchPath ?? '' } },
      );
      works = probe.exitCode === 0;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  overlayBwrap.set(check.bwrap, works);
  return works;
}

export { toolchainPrefixes };

export type SandboxCheck = { ok: true; bwrap: string } | { ok: false; reason: string; hint: string };

const BWRAP_INSTALL_HINT =
  'Install bubblewrap (apt-get install bubblewrap), or allow unsandboxed runs with: gitswarm config sandbox none';
const USERNS_HINT =
  'Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), or allow unsandboxed runs with: gitswarm config sandbox none';

/** Checks at run time that bubblewrap exists and can build a no-network container here. */
export async function checkSandbox(searchPath = commandEnv().PATH): Promise<SandboxCheck> {
  const bwrap = findExecutable('bwrap', searchPath);
  if (!bwrap) {
    return {
      ok: false,
      reason: 'bubblewrap (bwrap) is not installed or not on PATH.',
      hint: BWRAP_INSTALL_HINT,
    };
  }
  if (workingBwrap.has(bwrap)) return { ok: true, bwrap };
  const probe = await runPlain(bwrap, ['--unshare-net', '--unshare-pid', '--ro-bind', '/', '/', 'true'], {
    timeoutMs: CHECK_TIMEOUT_MS,
    env: { PATH: searchPath ?? '' },
  });
  if (probe.exitCode === 0) {
    workingBwrap.add(bwrap);
    return { ok: true, bwrap };
  }
  const why = probe.stderr.trim().split('\n')[0] || `exit ${probe.exitCode ?? probe.signal}`;
  return { ok: false, reason: `bubblewrap cannot create a sandbox here: ${why}`, hint: USERNS_HINT };
}

/** Throws `sandbox_unavailable` (with how to fix it) unless the sandbox works or the mode is `none`. */
export async function assertSandboxAvailable(
  mode: SandboxMode,
  searchPath = commandEnv().PATH,
): Promise<void> {
  if (mode === 'none') return;
  const check = await checkSandbox(searchPath);
  if (!check.ok) {
    throw new GitSwarmError('sandbox_unavailable', `No sandbox for the stabilize command: ${check.reason}`, {
      hint: check.hint,
    });
  }
}

/** Runs the command in the sandbox (or, for mode `none`, with only the limits) and waits for it. */
export async function runSandboxed(options: SandboxRunOptions): Promise<SandboxRunResult> {
  const searchPath = options.searchPath ?? commandEnv().PATH ?? '';
  const workdir = resolve(options.workdir);
  const env = sandboxEnv(searchPath, options.mode, options.env, options.network === true);
  let argv: string[];
  if (options.mode === 'bubblewrap') {
    const check = await checkSandbox(searchPath);
    if (!check.ok) {
      throw new GitSwarmError(
        'sandbox_unavailable',
        `No sandbox for the stabilize command: ${check.reason}`,
        {
          hint: check.hint,
        },
      );
    }
    argv = [check.bwrap, ...bwrapArgs(workdir, options, searchPath, env), '/bin/sh', '-c', options.command];
  } else {
    options.output?.(
      'gitswarm: warning: running the stabilize command WITHOUT a sandbox (sandbox = none): it has network access and can write anywhere this user can.\n',
    );
    argv = ['/bin/sh', '-c', options.command];
  }
  const maxProcesses = options.maxProcesses ?? DEFAULT_MAX_PROCESSES;
  const setup =
    options.cgroups === false
      ? ({ ok: false, reason: 'cgroups turned off for this run' } as const)
      : createRunCgroup({
          memoryMb: options.memoryMb,
          maxProcesses,
          cpuWeight: options.background ? BACKGROUND_CPU_WEIGHT : CPU_WEIGHT,
          cpuIdle: options.background,
        });
  let limits: string;
  if (setup.ok) {
    argv = joinCgroupArgv(setup.cgroup, argv);
    limits = setup.cgroup.description;
  } else {
    argv = withRlimits(argv, options.memoryMb, maxProcesses, searchPath);
    limits = `rlimits per process: address space ${options.memoryMb} MB, processes ${maxProcesses} per user (not enforced for root)`;
    options.output?.(
      `gitswarm: warning: no cgroup for this run (${setup.reason}); limits apply per process, not to the whole run: ${limits}.\n`,
    );
  }
  const started = process.hrtime.bigint();
  const [file, ...args] = argv as [string, ...string[]];
  try {
    const child = spawn(file, args, {
      cwd: workdir,
      // bwrap and the limit wrapper need PATH only; the command gets `env` through --setenv.
      env: options.mode === 'bubblewrap' ? { PATH: searchPath } : env,
      // A new session and process group: the timeout kills the whole group, never this process.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid ?? -1;
    options.started?.(pid);
    const { exitCode, signal, timedOut, aborted } = await waitKillingGroup(child, {
      timeoutMs: options.timeoutMs,
      output: options.output,
      abort: options.signal,
      killRest: setup.ok ? () => setup.cgroup.killAll() : undefined,
    });
    const hits = setup.ok ? setup.cgroup.hits() : { oomKills: 0, forkRefusals: 0 };
    return {
      exitCode,
      signal,
      timedOut,
      aborted,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      sandboxed: options.mode === 'bubblewrap',
      pid,
      limits,
      cgroup: setup.ok ? setup.cgroup.version : null,
      hits,
    };
  } finally {
    if (setup.ok) await setup.cgroup.destroy();
  }
}

/** The bubblewrap arguments: an empty root with only what the run needs (see sandbox-root.ts). */
function bwrapArgs(
  workdir: string,
  options: SandboxRunOptions,
  searchPath: string,
  env: Record<string, string>,
): string[] {
  const args = [
    ...(options.network ? [] : ['--unshare-net']),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--die-with-parent',
    '--new-session',
    ...(options.rootArgs ?? sandboxRootArgs(searchPath, options.hiddenPaths)),
  ];
  if (options.network) {
    // On systemd-resolved hosts /etc/resolv.conf links into /run, which the sandbox does not have.
    const resolver = realpathOrNull('/etc/resolv.conf');
    if (resolver && resolver !== '/etc/resolv.conf') args.push('--ro-bind-try', resolver, resolver);
  }
  for (const path of options.readOnlyPaths ?? []) args.push('--ro-bind', resolve(path), resolve(path));
  for (const file of options.replacedFiles ?? [])
    args.push('--ro-bind', resolve(file.with), resolve(file.path));
  args.push('--bind', workdir, workdir);
  args.push(...overlayArgs(options.overlays ?? []));
  args.push('--clearenv');
  for (const [key, value] of Object.entries(env)) args.push('--setenv', key, value);
  args.push('--chdir', workdir, '--');
  return args;
}

/**
 * The mounts every run shares: the system folders, `/etc` with its secrets covered, and the
 * toolchain on PATH outside those. Finding the secrets reads a few thousand entries (10–30 ms), so
 * a caller with other work in flight (a worktree being added) may compute this ahead.
 */
export function sandboxRootArgs(searchPath: string, hiddenPaths?: readonly string[]): string[] {
  const args = systemRootArgs();
  // The toolchain on PATH outside the system folders (Node in a clone under /tmp, nvm's in the
  // home) stays visible read-only, or the command could not find its own tools.
  // (Top-level folders such as /tmp are never a prefix anyway.)
  const prefixes = toolchainPrefixes(searchPath, {
    neverWiden: ['/var/tmp', tmpdir()],
    forbidden: hiddenPaths,
  });
  for (const prefix of prefixes) {
    args.push('--ro-bind-try', prefix, prefix);
    // A toolchain folder may hold credentials beside the tools (~/.cargo/credentials.toml, 0600).
    args.push(...coverArgs(privateEntries(prefix, { maxDepth: TOOLCHAIN_SCAN_DEPTH })));
  }
  return args;
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/** How deep a toolchain folder is searched for entries only their owner may read. */
const TOOLCHAIN_SCAN_DEPTH = 3;

/** Default `pids.max` of a run (setting `stabilize_max_processes`). */
export const DEFAULT_MAX_PROCESSES = 512;
/** A run's CPU share: the same as any other process group's, so a run cannot crowd out the host. */
const CPU_WEIGHT = 100;
/** A background run's CPU share: the least there is, so under contention the other runs go first. */
const BACKGROUND_CPU_WEIGHT = 1;

/**
 * The environment variables copied from the caller when set; everything else is left out. The
 * certificate bundles are paths (to a file the sandbox shows only when it is in a shown folder,
 * such as /etc/ssl), needed where TLS goes through a company proxy with its own CA.
 */
const PASSED_ENV = [
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TERM',
  'TZ',
  'USER',
  'LOGNAME',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'PIP_CERT',
  'GIT_SSL_CAINFO',
] as const;

/** Passed only to a run with the network (the setup command, when allowed): they may hold credentials. */
const NETWORK_ENV = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
] as const;

/** A small allow-listed environment: the command sees no API keys or tokens of the calling process. */
function sandboxEnv(
  searchPath: string,
  mode: SandboxMode,
  extra: Readonly<Record<string, string>> | undefined,
  network: boolean,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: searchPath,
    HOME: mode === 'bubblewrap' ? SANDBOX_HOME : (commandEnv().HOME ?? tmpdir()),
    TMPDIR: mode === 'bubblewrap' ? '/tmp' : tmpdir(),
    CI: 'true',
    GITSWARM_STABILIZE: '1',
  };
  for (const key of [...PASSED_ENV, ...(network ? NETWORK_ENV : [])]) {
    const value = commandEnv()[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Where no cgroup can be made: `prlimit --as=<bytes> --nproc=<n> --` where util-linux is present,
 * else a fixed `sh` line that applies `ulimit -v` and `ulimit -u` and execs its arguments
 * unchanged (the command is an argument to it, never part of its text).
 */
function withRlimits(argv: string[], memoryMb: number, maxProcesses: number, searchPath: string): string[] {
  const prlimit = findExecutable('prlimit', searchPath) ?? findExecutable('prlimit', '/usr/bin:/bin');
  const bytes = Math.floor(memoryMb * 1024 * 1024);
  if (prlimit) return [prlimit, `--as=${bytes}`, `--nproc=${maxProcesses}`, '--', ...argv];
  return [
    '/bin/sh',
    '-c',
    'ulimit -v "$1" && ulimit -u "$2" && shift 2 && exec "$@"',
    'gitswarm-limit',
    String(memoryMb * 1024),
    String(maxProcesses),
    ...argv,
  ];
}

interface WaitResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}

/** How long the pipes may stay open once the top process exited and what it left was killed. */
const STRAY_PIPE_GRACE_MS = 2000;

/**
 * Streams output until the top process exits, the timeout passes or `abort` fires, then kills its
 * whole process group and, with `killRest`, the rest of the run (stray background jobs would
 * otherwise hold the pipes open, even from another session), and waits for the pipes: at most
 * STRAY_PIPE_GRACE_MS, after which they are closed on this side (a stray nothing could kill).
 */
function waitKillingGroup(
  child: ChildProcess,
  options: {
    timeoutMs: number;
    output: OutputSink | undefined;
    abort: AbortSignal | undefined;
    killRest: (() => void) | undefined;
  },
): Promise<WaitResult> {
  const { timeoutMs, output, abort, killRest } = options;
  return new Promise((resolvePromise, reject) => {
    let timedOut = false;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      killGroup(child.pid);
    };
    if (abort?.aborted) onAbort();
    // Taken off again when the run ends, whichever way.
    else abort?.addEventListener('abort', onAbort);
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    child.stdout?.on('data', (chunk: Buffer) => output?.(decoder.stdout.decode(chunk, { stream: true })));
    child.stderr?.on('data', (chunk: Buffer) => output?.(decoder.stderr.decode(chunk, { stream: true })));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    // If this process is interrupted, the sandboxed tree goes with it.
    const onExit = () => killGroup(child.pid);
    process.once('exit', onExit);
    child.on('error', (error) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      abort?.removeEventListener('abort', onAbort);
      reject(
        new GitSwarmError('sandbox_unavailable', `Could not start the stabilize command: ${error.message}`),
      );
    });
    let pipeGrace: NodeJS.Timeout | undefined;
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      // The run is over: what it left behind does not make it time out.
      clearTimeout(timer);
      killGroup(child.pid);
      killRest?.();
      pipeGrace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, STRAY_PIPE_GRACE_MS);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(pipeGrace);
      process.removeListener('exit', onExit);
      abort?.removeEventListener('abort', onAbort);
      const final = exited ?? { code, signal };
      resolvePromise({ exitCode: final.code, signal: final.signal, timedOut, aborted });
    });
  });
}

interface PlainResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a fixed helper (the bwrap probes) and collects its output. */
function runPlain(
  file: string,
  args: string[],
  options: { timeoutMs: number; env: Record<string, string> },
): Promise<PlainResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(file, args, {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      if (stdout.length < 100_000) stdout += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => killGroup(child.pid), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: null, signal: null, stdout, stderr: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: code, signal, stdout, stderr });
    });
  });
}
