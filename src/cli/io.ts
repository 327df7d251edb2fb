/**
 * The command line's view of the outside world: where text goes, whether a person is watching,
 * the environment and the working directory. Only main.ts builds one from `process`; tests build
 * their own with string buffers.
 */

/** Somewhere text can be written (a stream, or a buffer in tests). */
export interface TextSink {
  write(text: string): void;
}

export interface CliIO {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Standard output is a terminal: progress and colour are allowed. */
  readonly isTTY: boolean;
  /** Colour on (a TTY, and neither NO_COLOR nor TERM=dumb). */
  readonly color: boolean;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT; long-running commands (`activity --follow`) stop when it fires. */
  readonly signal: AbortSignal;
}

/** A CliIO that records everything written, for tests. */
export interface BufferedCliIO extends CliIO {
  readonly out: string[];
  readonly err: string[];
}

export interface BufferedCliIOOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  isTTY?: boolean;
  signal?: AbortSignal;
}

/** Builds a CliIO writing into arrays (tests, and embedding the CLI in-process). */
export function createBufferedIO(options: BufferedCliIOOptions): BufferedCliIO {
  const out: string[] = [];
  const err: string[] = [];
  const isTTY = options.isTTY ?? false;
  return {
    out,
    err,
    stdout: { write: (text) => void out.push(text) },
    stderr: { write: (text) => void err.push(text) },
    isTTY,
    color: isTTY,
    cwd: options.cwd,
    env: options.env ?? {},
    signal: options.signal ?? new AbortController().signal,
  };
}

/** Whether colour suits this output: a TTY, no NO_COLOR, not TERM=dumb; FORCE_COLOR wins. */
export function wantsColor(isTTY: boolean, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return isTTY && env.TERM !== 'dumb';
}
