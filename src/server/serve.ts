/**
 * Starts the server: opens the store (an embedded SQLite file in the data directory, or PostgreSQL
 * when given a postgres:// URL; migrations run on open), builds the app and listens. SIGTERM and
 * SIGINT shut it down gracefully: stop accepting connections, let in-flight requests finish, close
 * WebSockets, Redis and the store. Webhook deliveries in flight are aborted and stay queued in the
 * database; they hold shutdown up for at most 2 s (docs/notifications.md).
 *
 * Configuration from the environment (see `serverConfigFromEnv`): PORT (3000), HOST (127.0.0.1),
 * DATABASE_URL, DATABASE_POOL_SIZE (20), REDIS_URL, GITSWARM_DATA_DIR (./.gitswarm-server),
 * LOG_LEVEL (info), GITSWARM_ALLOW_PRIVATE_WEBHOOKS (1: webhooks may target private addresses),
 * GITSWARM_MCP_ALLOWED_HOSTS (host names /mcp answers besides localhost; `*` any),
 * GITSWARM_MAX_WORKTREES and GITSWARM_ALLOW_LOCAL_CLONE (Mode C, docs/mode-c.md),
 * GITSWARM_ALLOW_UNSANDBOXED (1: server stabilizations may run without bubblewrap),
 * GITSWARM_PUBLIC_URL (the base of clone URLs; default: each request's host), the lease
 * settings of hosting/stabilize-config.ts (docs/mode-c-stabilize.md), and the abuse limits and
 * trust lists of security-config.ts (docs/security.md).
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { useGitSpawner } from '../engine/git-spawner.js';
import { GitSwarmError } from '../errors.js';
import { readGitHubConfig } from '../github/config.js';
import { stabilizeOptionsFromEnv } from '../hosting/stabilize-config.js';
import { openStore, type Store } from '../store/index.js';
import { type App, type BuildAppOptions, buildApp } from './app.js';
import { tuneGarbageCollection } from './gc-tuning.js';
import { DEFAULT_MCP_ALLOWED_HOSTS } from './routes/mcp.js';
import { securityOptionsFromEnv } from './security-config.js';

export const DEFAULT_PORT = 3000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = '.gitswarm-server';
export const SQLITE_FILE = 'gitswarm.db';
/** PostgreSQL pool size: each repository lock holds one connection while its transaction uses another. */
export const DEFAULT_POOL_SIZE = 20;

export interface ServerConfig {
  port?: number;
  host?: string;
  /** postgres://… for PostgreSQL; default: SQLite file `gitswarm.db` in the data directory. */
  databaseUrl?: string;
  redisUrl?: string;
  dataDir?: string;
  /** Run server stabilizations without the bubblewrap sandbox where it is missing (`--allow-unsandboxed`). */
  allowUnsandboxed?: boolean;
  /** PostgreSQL connections in the pool (default 20; env DATABASE_POOL_SIZE). */
  poolSize?: number;
  /** Pino logger options, or false for silence (default: level from LOG_LEVEL or info). */
  logger?: BuildAppOptions['logger'];
  /** Install SIGTERM/SIGINT handlers that close gracefully and exit (default true). */
  handleSignals?: boolean;
  /** Close gracefully when this aborts (embedding callers, the CLI's SIGINT). */
  signal?: AbortSignal;
  /** Anything else buildApp accepts (rate limits, notifications, CORS). */
  app?: Omit<BuildAppOptions, 'store' | 'redisUrl' | 'logger'>;
}

export interface RunningServer {
  app: App;
  store: Store;
  /** The address it listens on, e.g. http://127.0.0.1:3000. */
  url: string;
  port: number;
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>;
}

/** Reads the server's configuration from environment variables. */
export function serverConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const port = env.PORT ? Number(env.PORT) : undefined;
  return {
    port: port !== undefined && Number.isInteger(port) ? port : undefined,
    host: env.HOST || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    dataDir: env.GITSWARM_DATA_DIR || undefined,
    allowUnsandboxed: env.GITSWARM_ALLOW_UNSANDBOXED === '1',
    poolSize: env.DATABASE_POOL_SIZE ? Number(env.DATABASE_POOL_SIZE) || undefined : undefined,
    logger: { level: env.LOG_LEVEL || 'info' },
    app: {
      ...mergedHostingOptions(stabilizeOptionsFromEnv(env), hostingOptionsFromEnv(env).hosting ?? {}),
      ...securityOptionsFromEnv(env),
      ...(env.GITSWARM_PUBLIC_URL ? { publicUrl: env.GITSWARM_PUBLIC_URL } : {}),
      // The GitHub App (docs/github.md): only when one of its variables is set.
      ...(env.GITHUB_WEBHOOK_SECRET || env.GITHUB_APP_ID ? { github: readGitHubConfig(env) } : {}),
      ...(env.GITSWARM_ALLOW_PRIVATE_WEBHOOKS === '1'
        ? { notifications: { allowPrivateTargets: true } }
        : {}),
      ...(env.GITSWARM_MCP_ALLOWED_HOSTS
        ? {
            mcp: {
              allowedHosts: [
                ...DEFAULT_MCP_ALLOWED_HOSTS,
                ...env.GITSWARM_MCP_ALLOWED_HOSTS.split(',')
                  .map((h) => h.trim())
                  .filter((h) => h !== ''),
              ],
            },
          }
        : {}),
    },
  };
}

/** `{hosting}` with both sets of Mode C settings, or nothing when neither sets any. */
function mergedHostingOptions(
  ...parts: NonNullable<BuildAppOptions['hosting']>[]
): Pick<BuildAppOptions, 'hosting'> {
  const hosting = Object.assign({}, ...parts);
  return Object.keys(hosting).length > 0 ? { hosting } : {};
}

/**
 * Mode C settings from the environment: GITSWARM_MAX_WORKTREES (live stream worktrees per
 * repository), GITSWARM_MAX_GIT_PROCESSES (git transfers served at once) and
 * GITSWARM_ALLOW_LOCAL_CLONE=1 (clone_url and remote_url may be local paths).
 */
export function hostingOptionsFromEnv(env: NodeJS.ProcessEnv): Pick<BuildAppOptions, 'hosting'> {
  const hosting = {
    ...(env.GITSWARM_MAX_WORKTREES
      ? { maxWorktreesPerRepo: parseMaxWorktrees(env.GITSWARM_MAX_WORKTREES, 'GITSWARM_MAX_WORKTREES') }
      : {}),
    ...(env.GITSWARM_MAX_GIT_PROCESSES
      ? {
          maxGitProcesses: parseMaxGitProcesses(env.GITSWARM_MAX_GIT_PROCESSES, 'GITSWARM_MAX_GIT_PROCESSES'),
        }
      : {}),
    ...(env.GITSWARM_MAX_CLONE_BYTES
      ? { maxCloneBytes: parseByteCount(env.GITSWARM_MAX_CLONE_BYTES, 'GITSWARM_MAX_CLONE_BYTES') }
      : {}),
    ...(env.GITSWARM_ALLOW_LOCAL_CLONE === '1' ? { allowLocalClone: true } : {}),
  };
  return Object.keys(hosting).length > 0 ? { hosting } : {};
}

/** A cap given as text: a whole number from 1 to 100000, or `usage` saying what it bounds. */
function parseCap(value: string, source: string, what: string): number {
  const max = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(max) || max < 1 || max > 100_000) {
    throw new GitSwarmError('usage', `Invalid ${source} ${JSON.stringify(value)}.`, {
      hint: `Give the most ${what}, a whole number from 1 to 100000.`,
    });
  }
  return max;
}

export function parseMaxWorktrees(value: string, source: string): number {
  return parseCap(value, source, 'live stream worktrees per repository');
}

/** A size in bytes: a whole number, or one with a K, M or G suffix (binary: 2G = 2 GiB). */
export function parseByteCount(value: string, source: string): number {
  const match = /^(\d+)([KMG]?)$/i.exec(value.trim());
  const bytes = match
    ? Number(match[1]) * 1024 ** 'BKMG'.indexOf((match[2] || 'B').toUpperCase())
    : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new GitSwarmError('usage', `Invalid ${source} ${JSON.stringify(value)}.`, {
      hint: 'Give a size in bytes, optionally with K, M or G (e.g. 2G).',
    });
  }
  return bytes;
}

export function parseMaxGitProcesses(value: string, source: string): number {
  return parseCap(value, source, 'git clones and fetches served at once');
}

/** Where the store lives for a configuration: the database URL, or the SQLite file in the data dir. */
export function storeLocation(config: Pick<ServerConfig, 'databaseUrl' | 'dataDir'>): string {
  if (config.databaseUrl) return config.databaseUrl;
  const dataDir = resolve(config.dataDir ?? DEFAULT_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  return join(dataDir, SQLITE_FILE);
}

/** Opens the store, builds the app and listens; see the module comment. */
export async function startServer(config: ServerConfig = {}): Promise<RunningServer> {
  tuneGarbageCollection();
  // Git from a helper process: a fork of this one stalls it longer the more memory it holds.
  const releaseGitSpawner = useGitSpawner();
  let store: Store;
  try {
    store = await openStore(storeLocation(config), {
      maxConnections: config.poolSize ?? DEFAULT_POOL_SIZE,
    });
  } catch (error) {
    releaseGitSpawner();
    throw error;
  }
  let app: App;
  try {
    app = await buildApp({
      ...config.app,
      hosting: {
        dataDir: resolve(config.dataDir ?? DEFAULT_DATA_DIR),
        ...(config.allowUnsandboxed ? { allowUnsandboxed: true } : {}),
        ...config.app?.hosting,
      },
      store,
      redisUrl: config.redisUrl,
      logger: config.logger ?? { level: 'info' },
    });
    await app.listen({ port: config.port ?? DEFAULT_PORT, host: config.host ?? DEFAULT_HOST });
  } catch (error) {
    await store.close();
    releaseGitSpawner();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (config.port ?? DEFAULT_PORT);
  const host = config.host ?? DEFAULT_HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    app.log.info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (error) => {
        app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const close = () => {
    closing ??= (async () => {
      if (config.handleSignals !== false) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      try {
        await app.close();
      } finally {
        await store.close();
        releaseGitSpawner();
      }
    })();
    return closing;
  };
  if (config.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  config.signal?.addEventListener('abort', () => void close().catch(() => {}), { once: true });
  app.log.info(
    { url, database: store.capabilities.label, redis: Boolean(config.redisUrl) },
    'gitswarm server listening',
  );
  return { app, store, url, port, close };
}
