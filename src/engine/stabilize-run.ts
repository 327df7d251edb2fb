/**
 * One run of the repository's stabilize command at one commit: a throw-away detached worktree
 * (never the user's checkout, never a shared branch checked out) with the checkout's dependency
 * folders in it (sandbox-deps.ts), the optional setup command, then the command, both in the
 * sandbox; the output streamed to the caller's sink and appended to the run's log file (capped).
 * A run that cannot start its tools (setup failed, exit 126/127) is an `error`, not a failure.
 */
import {
  appendFileSync,
  closeSync,
  createWriteStream,
  mkdirSync,
  openSync,
  readFileSync,
  type WriteStream,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { commandEnv } from '../util/command-env.js';
import {
  type OutputSink,
  runSandboxed,
  type SandboxMode,
  type SandboxRunResult,
  sandboxRootArgs,
  supportsTmpOverlay,
} from './sandbox.js';
import {
  copyDependencyDirs,
  DEFAULT_DEPENDENCY_DIRS,
  type DependencyMount,
  findDependencyDirs,
} from './sandbox-deps.js';
import { sandboxGitConfigText, writeSandboxGitConfig } from './sandbox-git-config.js';
import { withDetachedWorktree } from './worktrees.js';

/** Lines of output kept from each run for reports and filed tasks. */
export const TAIL_LINES = 40;

/** Output of one run (setup and command) written to the log and the caller; the rest is cut. */
export const MAX_RUN_OUTPUT_BYTES = 8 * 1024 * 1024;

/** `20261124T153012Z`: a UTC timestamp fit for tag and file names. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** The log of one stabilization: every phase's header and output, in order. */
export interface StabilizeLog {
  readonly path: string;
  write(text: string): void;
  close(): Promise<void>;
}

/**
 * Creates `<repo>/.gitswarm/logs/stabilize-<UTC timestamp>.log` (with `-2`, `-3`, … when two runs
 * start in the same second); the file is created exclusively so concurrent runs never share one.
 * `.gitswarm/` is kept out of `git status` (a dirty-looking checkout would block promotions).
 */
export function openStabilizeLog(repo: { root: string; commonDir: string }, startedAt: Date): StabilizeLog {
  excludeFromStatus(repo.commonDir, '/.gitswarm/');
  const dir = join(repo.root, '.gitswarm', 'logs');
  mkdirSync(dir, { recursive: true });
  const stamp = compactUtc(startedAt);
  let path = '';
  for (let n = 1; ; n++) {
    path = join(dir, `stabilize-${stamp}${n === 1 ? '' : `-${n}`}.log`);
    try {
      closeSync(openSync(path, 'wx'));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw error;
    }
  }
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  return {
    path,
    write: (text) => {
      stream.write(text);
    },
    close: () => new Promise((resolve) => stream.end(() => resolve())),
  };
}

/** Lists `pattern` in the repository's `info/exclude` once. */
function excludeFromStatus(commonDir: string, pattern: string): void {
  const infoDir = join(commonDir, 'info');
  const file = join(infoDir, 'exclude');
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    mkdirSync(infoDir, { recursive: true });
  }
  if (current.split('\n').some((line) => line.trim() === pattern)) return;
  appendFileSync(file, `${current === '' || current.endsWith('\n') ? '' : '\n'}${pattern}\n`);
}

export interface StabilizeRunOptions {
  commit: string;
  command: string;
  sandbox: SandboxMode;
  timeoutMs: number;
  memoryMb: number;
  /** What this run is for, in the log and progress lines: `run`, `retry`, `bisect 2/4`. */
  label: string;
  log?: StabilizeLog;
  /** The command's own output, as it comes. */
  output?: OutputSink;
  /** One line per phase (no trailing newline). */
  progress?: (line: string) => void;
  /** PATH for bwrap and the command's tools; defaults to this process's PATH. */
  searchPath?: string;
  /** Processes of the whole run (`stabilize_max_processes`). */
  maxProcesses?: number;
  /** Folders of the checkout shown in the run (`stabilize_dependency_dirs`); default {@link DEFAULT_DEPENDENCY_DIRS}. */
  dependencyDirs?: readonly string[];
  /** Run first in the same worktree and sandbox (`stabilize_setup_command`); its failure is an error. */
  setupCommand?: string | null;
  /** Whether the setup command may use the network (`stabilize_setup_network`). */
  setupNetwork?: boolean;
  /** Bytes of output kept in the log; default {@link MAX_RUN_OUTPUT_BYTES}. */
  outputCapBytes?: number;
  /** Stops the run (its process tree killed) and rejects with the signal's reason: nothing is judged. */
  signal?: AbortSignal;
  /** What the runs of one stabilization share ({@link sharedRunSetup}); by default, this run's own. */
  shared?: SharedRunSetup;
  /** Called once the command (not the setup command) has been started: work to do beside it can begin. */
  commandStarted?: () => void;
  /** Run at the lowest CPU share: a speculative run that must not slow the one it runs beside. */
  background?: boolean;
}

/** What every run of one stabilization needs and none changes: each is worked out once. */
export interface SharedRunSetup {
  /** The sandbox root's mounts (`sandboxRootArgs`: /etc with its secrets covered, the toolchain). */
  sandboxRoot(): readonly string[];
  /** The repository's git config as a run sees it (sandbox-git-config.ts). */
  sandboxGitConfig(): Promise<string>;
}

/**
 * The set-up the runs of one stabilization share: the sandbox root is scanned at the first run,
 * while git adds its worktree, and the git config listed once. The probes of a bisection run side
 * by side in this process, so each scan or git process they skip is time taken from the other
 * runs too.
 */
export function sharedRunSetup(
  repo: { root: string; commonDir: string },
  searchPath?: string,
): SharedRunSetup {
  // The store and the agents' worktrees: no toolchain mount may show them (or contain them).
  const hidden = [join(repo.root, '.gitswarm'), join(repo.root, '.worktrees')];
  let rootArgs: readonly string[] | undefined;
  let gitConfig: Promise<string> | undefined;
  return {
    sandboxRoot: () => {
      rootArgs ??= sandboxRootArgs(searchPath ?? commandEnv().PATH ?? '', hidden);
      return rootArgs;
    },
    sandboxGitConfig: () => {
      gitConfig ??= sandboxGitConfigText(repo.commonDir).catch((error: unknown) => {
        gitConfig = undefined; // the next run asks git again
        throw error;
      });
      return gitConfig;
    },
  };
}

/**
 * `passed`: exit 0. `failed`: the tests ran and failed (or timed out, or hit a limit). `error`: the
 * run could not test anything (the setup command failed, a program was not found or could not be
 * executed): not the code's fault, so no retry, bisection or revert.
 */
export type StabilizeRunOutcome = 'passed' | 'failed' | 'error';

export interface StabilizeRunResult {
  commit: string;
  label: string;
  outcome: StabilizeRunOutcome;
  /** With `outcome: 'error'`: what is missing, in words. */
  error?: string;
  passed: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The command's own time inside the sandbox. */
  commandMs: number;
  /** The whole run: worktree set-up, sandbox, command, clean-up. */
  totalMs: number;
  /** The last lines of this run's output. */
  tail: string[];
}

/** A bounded tail of the lines written through it. */
function tailKeeper(limit: number) {
  let pending = '';
  const lines: string[] = [];
  return {
    push(chunk: string) {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length > limit) lines.splice(0, lines.length - limit);
    },
    lines(): string[] {
      const all = pending ? [...lines, pending] : [...lines];
      return all.slice(-limit);
    },
  };
}

/** Caps what a run writes to the log and the caller; the tail still sees everything. */
function cappedSink(capBytes: number, write: (chunk: string) => void): OutputSink {
  let written = 0;
  let cut = false;
  return (chunk) => {
    if (cut) return;
    const bytes = Buffer.byteLength(chunk);
    if (written + bytes <= capBytes) {
      written += bytes;
      write(chunk);
      return;
    }
    cut = true;
    const room = Math.max(0, capBytes - written);
    write(Buffer.from(chunk).subarray(0, room).toString('utf8'));
    write(
      `\n[gitswarm: output truncated: this run wrote more than ${Math.round(capBytes / 1024)} KiB; the rest is not kept]\n`,
    );
  };
}

function describeExit(run: SandboxRunResult, timeoutMs: number, memoryMb: number): string {
  if (run.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s (process tree killed)`;
  const limit =
    run.hits.oomKills > 0
      ? `; the run's memory limit of ${memoryMb} MB was reached (${run.hits.oomKills} process(es) killed)`
      : '';
  const pids =
    run.hits.forkRefusals > 0 ? `; the run's process limit refused ${run.hits.forkRefusals} fork(s)` : '';
  const exit = run.exitCode === null ? `killed by ${run.signal}` : `exit ${run.exitCode}`;
  return `${exit}${limit}${pids}`;
}

/** The last line that says what was not found or could not run, else the last line. */
function missingLine(lines: readonly string[]): string {
  const reversed = [...lines].reverse().map((line) => line.trim());
  return (
    reversed.find((line) => /not found|No such file|Permission denied|cannot execute/i.test(line)) ??
    reversed.find((line) => line !== '') ??
    ''
  );
}

function dependencySummary(
  found: readonly DependencyMount[],
  looked: readonly string[],
  how: string,
): string {
  return found.length > 0
    ? `dependency folders: ${found.map((m) => m.relPath).join(', ')} (${how})`
    : `dependency folders: none found among ${looked.length > 0 ? looked.join(', ') : '(none configured)'}`;
}

/** Runs the stabilize command at `commit` in a throw-away detached worktree inside the sandbox. */
export async function runStabilizeCommand(
  repo: { root: string; commonDir: string },
  options: StabilizeRunOptions,
): Promise<StabilizeRunResult> {
  options.signal?.throwIfAborted();
  const started = process.hrtime.bigint();
  const short = options.commit.slice(0, 12);
  const setupCommand = options.setupCommand?.trim() || null;
  const dirs = options.dependencyDirs ?? DEFAULT_DEPENDENCY_DIRS;
  options.progress?.(`stabilize: ${options.label} at ${short}: ${options.command}`);
  options.log?.write(`\n=== ${options.label} at ${options.commit} ===\n`);
  const tail = tailKeeper(TAIL_LINES);
  const sink = cappedSink(options.outputCapBytes ?? MAX_RUN_OUTPUT_BYTES, (chunk) => {
    options.log?.write(chunk);
    options.output?.(chunk);
  });
  const output: OutputSink = (chunk) => {
    tail.push(chunk);
    sink(chunk);
  };
  const deadline = Date.now() + options.timeoutMs;
  const shared = options.shared ?? sharedRunSetup(repo, options.searchPath);

  const running = withDetachedWorktree(repo.root, options.commit, async (worktree) => {
    const found = await findDependencyDirs(repo.root, worktree, dirs);
    // Beside the worktree, in its throw-away parent folder: removed with it.
    const gitConfig = writeSandboxGitConfig(await shared.sandboxGitConfig(), dirname(worktree));
    // The setup command's changes to a dependency folder must reach the command: a copy keeps
    // them, an overlay is thrown away with its sandbox.
    const overlay =
      found.length > 0 &&
      options.sandbox === 'bubblewrap' &&
      setupCommand === null &&
      (await supportsTmpOverlay(options.searchPath));
    if (found.length > 0 && !overlay) await copyDependencyDirs(found);
    const summary = dependencySummary(
      found,
      dirs,
      overlay ? 'read-only, thrown-away overlay' : 'copy-on-write copy',
    );
    options.log?.write(`${summary}\n`);
    const sandboxRun = (command: string, network: boolean, started?: () => void) =>
      runSandboxed({
        command,
        workdir: worktree,
        // Each dependency folder also stays at its own path, read-only: a virtualenv's scripts name
        // their interpreter by absolute path (`#!<checkout>/.venv/bin/python`).
        readOnlyPaths: [repo.commonDir, ...found.map((mount) => join(repo.root, mount.relPath))],
        replacedFiles: [{ path: join(repo.commonDir, 'config'), with: gitConfig }],
        rootArgs: options.sandbox === 'bubblewrap' ? shared.sandboxRoot() : undefined,
        overlays: overlay ? found : [],
        network,
        mode: options.sandbox,
        timeoutMs: Math.max(1, deadline - Date.now()),
        memoryMb: options.memoryMb,
        maxProcesses: options.maxProcesses,
        searchPath: options.searchPath,
        output,
        signal: options.signal,
        started,
        background: options.background,
      });
    let setup: SandboxRunResult | undefined;
    if (setupCommand !== null) {
      options.log?.write(`$ ${setupCommand}   (setup${options.setupNetwork ? ', with network' : ''})\n`);
      setup = await sandboxRun(setupCommand, options.setupNetwork === true);
      options.log?.write(
        `--- setup: ${describeExit(setup, options.timeoutMs, options.memoryMb)} (${setup.limits}) ---\n`,
      );
      if (setup.exitCode !== 0 || setup.timedOut) return { setup, summary };
    }
    options.log?.write(`$ ${options.command}\n`);
    return { setup, run: await sandboxRun(options.command, false, options.commandStarted), summary };
  });
  // While git checks the worktree out, git lists the config and this process scans what the
  // sandbox's root shows (at the first run of a stabilization; the others reuse both). Should
  // either fail, the run tries again and reports it.
  shared.sandboxGitConfig().catch(() => {});
  if (options.sandbox === 'bubblewrap') {
    try {
      shared.sandboxRoot();
    } catch {
      // reported by the run
    }
  }
  const ran = await running;

  if (options.signal?.aborted) {
    options.log?.write(`=== ${options.label}: interrupted (the run was stopped) ===\n`);
    options.signal.throwIfAborted();
  }
  const { setup, run, summary } = ran;
  const last = run ?? (setup as SandboxRunResult);
  const verdict = describeExit(last, options.timeoutMs, options.memoryMb);
  const startFailure =
    run && !run.timedOut ? describeStartFailure(run.exitCode, tail.lines(), options.command) : undefined;
  let outcome: StabilizeRunOutcome;
  let error: string | undefined;
  if (!run) {
    outcome = 'error';
    const line = missingLine(tail.lines());
    error = `the setup command failed (${verdict}): ${setupCommand}${line ? ` — ${line}` : ''}`;
  } else if (run.exitCode === 0 && !run.timedOut) {
    outcome = 'passed';
  } else if (startFailure) {
    outcome = 'error';
    error = `${startFailure}; ${summary} (see stabilize_dependency_dirs and stabilize_setup_command)`;
  } else {
    outcome = 'failed';
  }
  const passed = outcome === 'passed';
  const seconds = ((setup?.durationMs ?? 0) + (run?.durationMs ?? 0)) / 1000;
  options.log?.write(
    `=== ${options.label}: ${outcome} (${verdict}, ${seconds.toFixed(1)} s; ${last.limits}) ===\n`,
  );
  if (error) options.log?.write(`${error}\n`);
  options.progress?.(
    `stabilize: ${options.label} at ${short}: ${outcome} (${verdict}, ${seconds.toFixed(1)} s)`,
  );
  if (last.cgroup === null) options.progress?.(`stabilize: no cgroup for this run: ${last.limits}`);
  return {
    commit: options.commit,
    label: options.label,
    outcome,
    ...(error ? { error } : {}),
    passed,
    exitCode: last.exitCode,
    signal: last.signal,
    timedOut: last.timedOut,
    commandMs: (setup?.durationMs ?? 0) + (run?.durationMs ?? 0),
    totalMs: Number(process.hrtime.bigint() - started) / 1e6,
    tail: tail.lines(),
  };
}

/** The shells' and env's words for a program they could not find or run, with its name. */
const NOT_FOUND_PATTERNS: readonly RegExp[] = [
  // dash: `sh: 1: eslint: not found`; bash: `bash: eslint: command not found`
  /^(?:[^:\n]+: )?(?:line )?(?:\d+: )?([^:\n]+): (?:command )?not found$/m,
  // env in a shebang: `/usr/bin/env: 'python9': No such file or directory`
  /^(?:\/usr\/bin\/)?env: [‘'"]?([^’'":\n]+)[’'"]?: No such file or directory$/m,
  // a script or its interpreter: `sh: 1: ./test.sh: Permission denied`, `… bad interpreter …`
  /^(?:[^:\n]+: )?(?:\d+: )?([^:\n]+): (?:Permission denied|cannot execute[^\n]*|bad interpreter[^\n]*)$/m,
];

/**
 * A sentence for a command that could not start (exit 127: not found; 126: found but not
 * executable), naming what is missing when the shell said; undefined for any other exit.
 */
export function describeStartFailure(
  exitCode: number | null,
  tail: readonly string[],
  command: string,
): string | undefined {
  if (exitCode !== 126 && exitCode !== 127) return undefined;
  const text = tail.join('\n');
  let missing: string | undefined;
  for (const pattern of NOT_FOUND_PATTERNS) {
    missing = pattern.exec(text)?.[1]?.trim();
    if (missing) break;
  }
  const what = missing ?? command.trim().split(/\s+/)[0] ?? command;
  return exitCode === 127
    ? `the stabilize command could not start: \`${what}\` not found (exit 127)`
    : `the stabilize command could not start: \`${what}\` is not executable (exit 126)`;
}
