/**
 * The stabilizer's sandbox: runs a repository's test command (`sh -c <command>`, its nature) in a
 * bubblewrap container with no network, a read-only system and `.git`, a writable worktree, an
 * empty tmpfs home and /tmp, a virtual-memory limit and a wall-clock timeout that kills the whole
 * process tree. Where bubblewrap cannot be set up it refuses (fail closed) unless the operator
 * chose `sandbox none`, which keeps the limits and says so on the output.
 *
 * Nothing here builds a shell line: bwrap and the limit wrapper get argument vectors, and the
 * user's command reaches `sh -c` only inside the sandbox as one argument.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { GitSwarmError } from '../errors.js';

export type SandboxMode = 'bubblewrap' | 'none';

/** Where the command's output goes, chunk by chunk, as it is produced. */
export type OutputSink = (chunk: string) => void;

export interface SandboxRunOptions {
  /** The command, run as `sh -c <command>` inside the sandbox. */
  command: string;
  /** The one writable directory (a throw-away worktree); the command's working directory. */
  workdir: string;
  /** Directories that must stay visible read-only even under the tmpfs mounts (the repository's `.git`). */
  readOnlyPaths?: readonly string[];
  mode: SandboxMode;
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  timeoutMs: number;
  /** Address-space limit (RLIMIT_AS) of the command and its children. */
  memoryMb: number;
  /** Extra environment for the command (the sandbox starts from a small clean one). */
  env?: Readonly<Record<string, string>>;
  /** Receives stdout and stderr, interleaved as they arrive. */
  output?: OutputSink;
  /** The PATH searched for bwrap, prlimit and the command's tools; defaults to this process's PATH. */
  searchPath?: string;
}

export interface SandboxRunResult {
  /** The command's exit code; null when it was killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /** Whether the run was inside bubblewrap (false for `sandbox none`). */
  sandboxed: boolean;
  /** Process id of the top process, also the id of the process group that was killed. */
  pid: number;
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
}

export type SandboxCheck = { ok: true; bwrap: string } | { ok: false; reason: string; hint: string };

const BWRAP_INSTALL_HINT =
  'Install bubblewrap (apt-get install bubblewrap), or allow unsandboxed runs with: gitswarm config sandbox none';
const USERNS_HINT =
  'Enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0), or allow unsandboxed runs with: gitswarm config sandbox none';

/** Checks at run time that bubblewrap exists and can build a no-network container here. */
export async function checkSandbox(searchPath = process.env.PATH): Promise<SandboxCheck> {
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
  searchPath = process.env.PATH,
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
  const searchPath = options.searchPath ?? process.env.PATH ?? '';
  const workdir = resolve(options.workdir);
  const env = sandboxEnv(searchPath, options.mode, options.env);
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
    argv = [
      check.bwrap,
      ...bwrapArgs(workdir, options.readOnlyPaths ?? [], searchPath),
      '/bin/sh',
      '-c',
      options.command,
    ];
  } else {
    options.output?.(
      'gitswarm: warning: running the stabilize command WITHOUT a sandbox (sandbox = none): it has network access and can write anywhere this user can.\n',
    );
    argv = ['/bin/sh', '-c', options.command];
  }
  argv = withMemoryLimit(argv, options.memoryMb, searchPath);
  const started = process.hrtime.bigint();
  const [file, ...args] = argv as [string, ...string[]];
  const child = spawn(file, args, {
    cwd: workdir,
    env,
    // A new session and process group: the timeout kills the whole group, never this process.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? -1;
  const { exitCode, signal, timedOut } = await waitKillingGroup(child, options.timeoutMs, options.output);
  return {
    exitCode,
    signal,
    timedOut,
    durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    sandboxed: options.mode === 'bubblewrap',
    pid,
  };
}

/** The bubblewrap arguments: order matters, later mounts cover earlier ones. */
function bwrapArgs(workdir: string, readOnlyPaths: readonly string[], searchPath: string): string[] {
  const args = [
    '--unshare-net',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/var/tmp',
  ];
  const home = process.env.HOME;
  const hidden = ['/tmp', '/var/tmp'];
  // The real home is hidden behind an empty tmpfs too.
  if (home && isAbsolute(home) && resolve(home) !== '/') {
    args.push('--tmpfs', resolve(home));
    hidden.push(resolve(home));
  }
  // A toolchain on PATH under a hidden directory (Node installed into a clone in /tmp, nvm in the
  // home) stays visible, read-only, or the command could not find its own tools.
  for (const prefix of toolchainPrefixes(searchPath, hidden)) args.push('--ro-bind-try', prefix, prefix);
  args.push('--dir', SANDBOX_HOME);
  for (const path of readOnlyPaths) args.push('--ro-bind', resolve(path), resolve(path));
  args.push('--bind', workdir, workdir, '--chdir', workdir, '--');
  return args;
}

const SANDBOX_HOME = '/tmp/home';

/**
 * The PATH entries strictly inside one of the hidden directories, each widened from `…/bin` to its
 * installation prefix (where `bin/npm` finds `lib/`), never to a hidden directory itself.
 */
export function toolchainPrefixes(searchPath: string, hiddenDirs: readonly string[]): string[] {
  const strictlyUnder = (path: string, dir: string) => {
    const rel = relative(dir, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  const prefixes = new Set<string>();
  for (const entry of searchPath.split(':')) {
    if (!isAbsolute(entry)) continue;
    const path = resolve(entry);
    const hiddenDir = hiddenDirs.find((dir) => strictlyUnder(path, dir));
    if (!hiddenDir) continue;
    const parent = dirname(path);
    prefixes.add(basename(path) === 'bin' && strictlyUnder(parent, hiddenDir) ? parent : path);
  }
  return [...prefixes];
}

/** A small clean environment: the command sees no API keys or tokens of the calling process. */
function sandboxEnv(
  searchPath: string,
  mode: SandboxMode,
  extra: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: searchPath,
    HOME: mode === 'bubblewrap' ? SANDBOX_HOME : (process.env.HOME ?? tmpdir()),
    TMPDIR: mode === 'bubblewrap' ? '/tmp' : tmpdir(),
    CI: 'true',
    GITSWARM_STABILIZE: '1',
  };
  for (const key of ['LANG', 'LC_ALL', 'TERM', 'TZ', 'USER', 'LOGNAME']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Prefixes the argument vector with a memory limit: `prlimit --as=<bytes> --` where util-linux is
 * present, else a fixed `sh` line that applies `ulimit -v` and execs its arguments unchanged
 * (the command is an argument to it, never part of its text).
 */
function withMemoryLimit(argv: string[], memoryMb: number, searchPath: string): string[] {
  if (!(memoryMb > 0)) return argv;
  const prlimit = findExecutable('prlimit', searchPath) ?? findExecutable('prlimit', '/usr/bin:/bin');
  if (prlimit) return [prlimit, `--as=${Math.floor(memoryMb * 1024 * 1024)}`, '--', ...argv];
  return [
    '/bin/sh',
    '-c',
    'ulimit -v "$1" && shift && exec "$@"',
    'gitswarm-limit',
    String(memoryMb * 1024),
    ...argv,
  ];
}

interface WaitResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}

/**
 * Streams output until the top process exits or the timeout passes, then kills its whole process
 * group (stray background jobs would otherwise hold the pipes open) and waits for the pipes.
 */
function waitKillingGroup(
  child: ChildProcess,
  timeoutMs: number,
  output: OutputSink | undefined,
): Promise<WaitResult> {
  return new Promise((resolvePromise, reject) => {
    let timedOut = false;
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
      reject(
        new GitSwarmError('sandbox_unavailable', `Could not start the stabilize command: ${error.message}`),
      );
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      killGroup(child.pid);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      const final = exited ?? { code, signal };
      resolvePromise({ exitCode: final.code, signal: final.signal, timedOut });
    });
  });
}

interface PlainResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs a fixed helper (the bwrap probe) and collects its stderr. */
function runPlain(
  file: string,
  args: string[],
  options: { timeoutMs: number; env: Record<string, string> },
): Promise<PlainResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(file, args, {
      env: options.env,
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => killGroup(child.pid), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: null, signal: null, stderr: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: code, signal, stderr });
    });
  });
}
