/**
 * One run of the repository's stabilize command at one commit: a throw-away detached worktree
 * (never the user's checkout, never a shared branch checked out), the sandbox, the output
 * streamed to the caller's sink and appended to the run's log file.
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
import { join } from 'node:path';
import { type OutputSink, runSandboxed, type SandboxMode } from './sandbox.js';
import { withDetachedWorktree } from './worktrees.js';

/** Lines of output kept from each run for reports and filed tasks. */
export const TAIL_LINES = 40;

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
}

export interface StabilizeRunResult {
  commit: string;
  label: string;
  passed: boolean;
  /**
   * `error` when the command could not start (exit 126: not executable, 127: a program or
   * interpreter not found): that says nothing about the code, so it is never red.
   */
  outcome: 'passed' | 'failed' | 'error';
  /** What could not start, for `error`. */
  error?: string;
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

/** Runs the stabilize command at `commit` in a throw-away detached worktree inside the sandbox. */
export async function runStabilizeCommand(
  repo: { root: string; commonDir: string },
  options: StabilizeRunOptions,
): Promise<StabilizeRunResult> {
  const started = process.hrtime.bigint();
  const short = options.commit.slice(0, 12);
  options.progress?.(`stabilize: ${options.label} at ${short}: ${options.command}`);
  options.log?.write(`\n=== ${options.label} at ${options.commit} ===\n$ ${options.command}\n`);
  const tail = tailKeeper(TAIL_LINES);
  const sandboxed = await withDetachedWorktree(repo.root, options.commit, (worktree) =>
    runSandboxed({
      command: options.command,
      workdir: worktree,
      readOnlyPaths: [repo.commonDir],
      mode: options.sandbox,
      timeoutMs: options.timeoutMs,
      memoryMb: options.memoryMb,
      searchPath: options.searchPath,
      output: (chunk) => {
        tail.push(chunk);
        options.log?.write(chunk);
        options.output?.(chunk);
      },
    }),
  );
  const passed = sandboxed.exitCode === 0 && !sandboxed.timedOut;
  const startError =
    passed || sandboxed.timedOut
      ? undefined
      : describeStartFailure(sandboxed.exitCode, tail.lines(), options.command);
  const verdict = sandboxed.timedOut
    ? `timed out after ${Math.round(options.timeoutMs / 1000)} s (process tree killed)`
    : sandboxed.exitCode === null
      ? `killed by ${sandboxed.signal}`
      : `exit ${sandboxed.exitCode}`;
  const seconds = (sandboxed.durationMs / 1000).toFixed(1);
  options.log?.write(
    `=== ${options.label}: ${passed ? 'passed' : 'failed'} (${verdict}, ${seconds} s) ===\n`,
  );
  options.progress?.(
    `stabilize: ${options.label} at ${short}: ${passed ? 'passed' : 'failed'} (${verdict}, ${seconds} s)`,
  );
  if (startError) options.log?.write(`=== ${options.label}: ${startError} ===\n`);
  return {
    commit: options.commit,
    label: options.label,
    passed,
    outcome: passed ? 'passed' : startError ? 'error' : 'failed',
    ...(startError ? { error: startError } : {}),
    exitCode: sandboxed.exitCode,
    signal: sandboxed.signal,
    timedOut: sandboxed.timedOut,
    commandMs: sandboxed.durationMs,
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
