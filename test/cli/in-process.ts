/**
 * Runs the CLI in the test process (`runCli` with buffered IO): the same code path as the binary
 * without the process start, for the many cheap checks; the e2e files spawn the real binary.
 */
import { randomBytes } from 'node:crypto';
import { createBufferedIO } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { postgresLocation, type TestDialect } from '../helpers/store.js';
import type { CliRun } from './helpers.js';

export interface InProcessOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  isTTY?: boolean;
  signal?: AbortSignal;
}

/** Runs one command line in-process and returns what the user would see. */
export async function runInProcess(args: readonly string[], options: InProcessOptions): Promise<CliRun> {
  const io = createBufferedIO(options);
  const code = await runCli(args, io);
  const stdout = io.out.join('');
  return {
    code,
    stdout,
    stderr: io.err.join(''),
    json<T>() {
      return JSON.parse(stdout) as T;
    },
  };
}

/**
 * The GITSWARM_DB of an isolated store of the dialect: nothing (the default SQLite file in
 * `.gitswarm/`) or a fresh PostgreSQL schema (on PGlite, or the real server when there is one).
 */
export async function storeEnv(dialect: TestDialect): Promise<Record<string, string>> {
  if (dialect === 'sqlite') return {};
  const schema = `cli_${randomBytes(6).toString('hex')}`;
  const location = postgresLocation();
  if (location.startsWith('pglite:')) return { GITSWARM_DB: `pglite:${schema}` };
  const url = new URL(location);
  url.searchParams.set('schema', schema);
  return { GITSWARM_DB: url.toString() };
}
