/**
 * The glue between commander and a command's `run…` function. A noun's definition file
 * (`src/cli/commands/<noun>.ts`) declares verbs and flags, and its actions are `repoAction(...)`
 * (needs an initialized repository) or `plainAction(...)` (does not, e.g. `init`). The action
 * lazily imports the noun's module, calls `run…` and returns `output(data, formatter)`; this
 * file opens and closes the context, prints the result and records the exit code.
 */
import type { Command } from 'commander';
import type { CommandDeps } from './context.js';
import type { CliExitCode } from './errors.js';
import type { CliIO } from './io.js';
import { type CommandOutput, printOutput } from './output.js';

/** Per-invocation state shared by the program and its actions. */
export interface CliSession {
  readonly io: CliIO;
  /** `--json` anywhere on the command line (known before parsing, for usage errors). */
  json: boolean;
  exitCode: CliExitCode;
}

/** The options every command accepts (declared once on the program). */
export interface GlobalOptions {
  json?: boolean;
  as?: string;
  /** `--server URL`: this command talks to that server (Mode B). */
  server?: string;
  /** `--api-key KEY`: the key this command sends. */
  apiKey?: string;
}

export interface RepoActionOptions {
  /**
   * The handler works on a clone connected to a server (it reads `deps.remote`). Without it a
   * connected clone refuses the command rather than acting on the local store behind the server's back.
   */
  remote?: boolean;
}

/** Commander's action arguments: positionals, then the options object, then the command. */
type ActionArgs = unknown[];

function splitActionArgs<O>(args: ActionArgs): { positionals: string[]; opts: O & GlobalOptions } {
  const command = args[args.length - 1] as Command;
  const positionals = args.slice(0, -2) as string[];
  return { positionals, opts: command.optsWithGlobals() as O & GlobalOptions };
}

/**
 * An action that runs inside the initialized repository: opens the context (exit 3 when not
 * initialized), runs housekeeping, calls `handler`, prints its output and closes the store.
 * A handler that streams its own output (`activity --follow`) returns undefined.
 */
export function repoAction<O = Record<string, never>>(
  session: CliSession,
  handler: (deps: CommandDeps, args: string[], opts: O & GlobalOptions) => Promise<CommandOutput | undefined>,
  options: RepoActionOptions = {},
): (...args: ActionArgs) => Promise<void> {
  return async (...args) => {
    const { positionals, opts } = splitActionArgs<O>(args);
    session.json = Boolean(opts.json) || session.json;
    const { openRepoContext } = await import('./context.js');
    const context = await openRepoContext({
      io: session.io,
      as: opts.as,
      server: opts.server,
      apiKey: opts.apiKey,
    });
    try {
      if (context.remote && !options.remote) {
        const { notConnectedYet } = await import('./remote-seam.js');
        throw notConnectedYet(args[args.length - 1] as Command, context.remote.connection.url);
      }
      const { runHousekeeping } = await import('./housekeeping.js');
      await runHousekeeping(context);
      const result = await handler(context, positionals, opts);
      if (result) {
        printOutput(session.io, session.json, result);
        session.exitCode = result.exitCode ?? 0;
      }
    } finally {
      await context.close();
    }
  };
}

/** An action that needs no initialized repository (`init`, `serve`): gets only `io`. */
export function plainAction<O = Record<string, never>>(
  session: CliSession,
  handler: (io: CliIO, args: string[], opts: O & GlobalOptions) => Promise<CommandOutput | undefined>,
): (...args: ActionArgs) => Promise<void> {
  return async (...args) => {
    const { positionals, opts } = splitActionArgs<O>(args);
    session.json = Boolean(opts.json) || session.json;
    const result = await handler(session.io, positionals, opts);
    if (result) {
      printOutput(session.io, session.json, result);
      session.exitCode = result.exitCode ?? 0;
    }
  };
}
