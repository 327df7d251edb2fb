/**
 * `gitswarm serve`: runs the HTTP server (Mode B/C) until SIGINT or SIGTERM, then shuts down
 * gracefully. Options override the environment (PORT, HOST, DATABASE_URL, REDIS_URL,
 * GITSWARM_DATA_DIR, GITSWARM_MAX_WORKTREES, GITSWARM_ALLOW_LOCAL_CLONE); the default database is an embedded SQLite file in the data directory.
 */
import { GitSwarmError } from '../errors.js';
import type { CliIO } from './io.js';
import type { Style } from './output.js';

export interface ServeOptions {
  port?: string;
  host?: string;
  db?: string;
  redis?: string;
  dataDir?: string;
  /** Mode C: live stream worktrees per repository (GITSWARM_MAX_WORKTREES). */
  maxWorktrees?: string;
  /** Mode C: clone_url and remote_url may be local paths (GITSWARM_ALLOW_LOCAL_CLONE=1). */
  allowLocalClone?: boolean;
  allowUnsandboxed?: boolean;
}

export interface ServeResult {
  url: string;
  database: string;
  redis: boolean;
  stopped: true;
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new GitSwarmError('usage', `Invalid port ${JSON.stringify(value)}.`, {
      hint: 'Use a port from 0 to 65535.',
    });
  }
  return port;
}

/** Starts the server and resolves once it has shut down (SIGINT/SIGTERM or `io.signal`). */
export async function runServe(options: ServeOptions, deps: { io: CliIO }): Promise<ServeResult> {
  const { parseMaxWorktrees, serverConfigFromEnv, startServer } = await import('../server/serve.js');
  const env = serverConfigFromEnv(deps.io.env as NodeJS.ProcessEnv);
  const port = parsePort(options.port) ?? env.port;
  const hosting = {
    ...env.app?.hosting,
    ...(options.maxWorktrees !== undefined
      ? { maxWorktreesPerRepo: parseMaxWorktrees(options.maxWorktrees, '--max-worktrees') }
      : {}),
    ...(options.allowLocalClone ? { allowLocalClone: true } : {}),
    ...(options.allowUnsandboxed ? { allowUnsandboxed: true } : {}),
  };
  const server = await startServer({
    ...env,
    app: { ...env.app, hosting },
    port,
    host: options.host ?? env.host,
    databaseUrl: options.db ?? env.databaseUrl,
    redisUrl: options.redis ?? env.redisUrl,
    dataDir: options.dataDir ?? env.dataDir,
    signal: deps.io.signal,
  });
  deps.io.stderr.write(`gitswarm server listening on ${server.url} (${server.store.capabilities.label})\n`);
  await new Promise<void>((resolve) => server.app.server.once('close', () => resolve()));
  await server.close();
  return {
    url: server.url,
    database: server.store.capabilities.label,
    redis: Boolean(options.redis ?? env.redisUrl),
    stopped: true,
  };
}

export function formatServe(result: ServeResult, style: Style): string {
  return `${style.dim('Server on')} ${result.url} ${style.dim('stopped.')}`;
}
