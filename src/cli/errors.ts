/**
 * The one place a failure becomes an exit code and a message: GitSwarmError → its catalogue exit
 * code, `error: …` and `hint: …` on stderr (or `{"error": {...}}` on stdout with `--json`);
 * anything else is a bug: exit 1 with its message (and stack when GITSWARM_DEBUG is set).
 */
import { GitSwarmError } from '../errors.js';
import type { CliIO } from './io.js';
import { safeText } from './output.js';

/** 0 success; 1 refused or failed; 2 usage; 3 not initialized / not found; 4 server unreachable. */
export type CliExitCode = 0 | 1 | 2 | 3 | 4;

/** Prints the error as the user should see it and returns the exit code. */
export function reportError(io: CliIO, json: boolean, error: unknown): CliExitCode {
  if (error instanceof GitSwarmError) {
    if (json) io.stdout.write(`${JSON.stringify(error.toJSON(), null, 2)}\n`);
    else {
      io.stderr.write(`error: ${safeText(error.message)}\n`);
      // Conflicting paths are listed one per line unless the message already names them all.
      const paths = error.details?.paths;
      if (Array.isArray(paths) && !paths.every((path) => error.message.includes(String(path)))) {
        for (const path of paths) io.stderr.write(`  ${safeText(String(path))}\n`);
      }
      if (error.hint) io.stderr.write(`hint: ${safeText(error.hint)}\n`);
    }
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'internal_error', message } }, null, 2)}\n`);
  else io.stderr.write(`error: ${safeText(message)}\n`);
  if (io.env.GITSWARM_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  return 1;
}

/** A usage error raised by our own flag checks (exit 2, usage printed). */
export function usageError(message: string, hint?: string): GitSwarmError {
  return new GitSwarmError('usage', message, hint ? { hint } : {});
}
