/**
 * The environment of the command being run. A `gitswarm` process runs one command, whose
 * environment is `process.env`; the command server runs many at once, each with the environment of
 * the client that sent it. Code that passes the environment on (git's, the sandbox's) or reads a
 * setting from it asks here instead of reading `process.env`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type CommandEnv = Readonly<Record<string, string | undefined>>;

const current = new AsyncLocalStorage<CommandEnv>();

/** The running command's environment: the one given to `withCommandEnv`, else `process.env`. */
export function commandEnv(): CommandEnv {
  return current.getStore() ?? process.env;
}

/** Runs `work` (and everything it starts) with `env` as its command environment. */
export function withCommandEnv<T>(env: CommandEnv, work: () => T): T {
  return current.run(env, work);
}
