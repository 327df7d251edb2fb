/**
 * Whether a command runs connected (Mode B) and to what: the server URL (`--server` >
 * GITSWARM_SERVER > `.gitswarm/config.json`), the server's repository id (the config's), the git
 * remote the clones share (default `origin`) and the API key (`--api-key` > GITSWARM_API_KEY > the
 * credentials file's key for the acting agent on that server).
 */
import type { GitSwarmConfig, ServerConfig } from '../cli/config-file.js';
import { normalizeServerUrl } from '../cli/config-file.js';
import { GitSwarmError } from '../errors.js';
import { GitSwarmClient } from './client.js';
import { findStoredKey } from './credentials.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The global flags that pick the server and the key for one command. */
export interface ConnectionFlags {
  server?: string;
  apiKey?: string;
}

export interface Connection {
  /** The server's normalized base URL. */
  url: string;
  /** The server's repository; undefined until the first `agent register` creates it (or not connected in the config). */
  repoId: string | undefined;
  /** The git remote the clones share. */
  remote: string;
  apiKey: string | undefined;
  /** Where the key came from. */
  keySource: 'flag' | 'env' | 'credentials' | undefined;
  /** The agent the key was looked up for (name or id), for hints. */
  agentRef: string | undefined;
  /** The clone's config names a server (else only `--server` / GITSWARM_SERVER did). */
  configured: boolean;
}

export interface ResolveConnectionInput {
  flags: ConnectionFlags;
  env: Env;
  config: Pick<GitSwarmConfig, 'server'> | null;
  /** The acting agent (`--as`, GITSWARM_AGENT or the worktree owner), whose saved key is used. */
  agentRef?: string;
}

/** The server URL a command uses, or undefined in Mode A. */
export function resolveServerUrl(
  flags: ConnectionFlags,
  env: Env,
  server: ServerConfig | undefined,
): string | undefined {
  const named = flags.server || env.GITSWARM_SERVER || undefined;
  if (named) return normalizeServerUrl(named);
  return server?.url;
}

/** The connection of a command, or undefined when it runs in Mode A (no server anywhere). */
export function resolveConnection(input: ResolveConnectionInput): Connection | undefined {
  const { flags, env, config, agentRef } = input;
  const server = config?.server;
  const url = resolveServerUrl(flags, env, server);
  if (!url) return undefined;
  let apiKey: string | undefined;
  let keySource: Connection['keySource'];
  if (flags.apiKey) {
    apiKey = flags.apiKey;
    keySource = 'flag';
  } else if (env.GITSWARM_API_KEY) {
    apiKey = env.GITSWARM_API_KEY;
    keySource = 'env';
  } else if (agentRef) {
    // The configured URL too: `--server` may name the same server at another address.
    const stored =
      findStoredKey(env, url, agentRef) ?? (server ? findStoredKey(env, server.url, agentRef) : undefined);
    if (stored) {
      apiKey = stored.api_key;
      keySource = 'credentials';
    }
  }
  return {
    url,
    repoId: server?.repo_id,
    remote: server?.remote ?? 'origin',
    apiKey,
    keySource,
    agentRef,
    configured: server !== undefined,
  };
}

/** Numbers from the environment for the client (tests shorten them; people rarely need to). */
function envNumber(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new GitSwarmError('invalid_input', `${name} must be a whole number, not ${JSON.stringify(text)}.`);
  }
  return value;
}

export interface NewClientOptions {
  env: Env;
  signal?: AbortSignal;
  apiKey?: string;
  agentName?: string;
}

/** A client of the server at `url` (GITSWARM_HTTP_TIMEOUT_MS and GITSWARM_HTTP_RETRIES tune it). */
export function newClient(url: string, options: NewClientOptions): GitSwarmClient {
  return new GitSwarmClient({
    url,
    apiKey: options.apiKey,
    agentName: options.agentName,
    timeoutMs: envNumber(options.env, 'GITSWARM_HTTP_TIMEOUT_MS'),
    retries: envNumber(options.env, 'GITSWARM_HTTP_RETRIES'),
    signal: options.signal,
  });
}

/** The HTTP client of a connection, with its key. */
export function clientFor(
  connection: Connection,
  options: { env: Env; signal?: AbortSignal },
): GitSwarmClient {
  return newClient(connection.url, { ...options, apiKey: connection.apiKey, agentName: connection.agentRef });
}

/** The server repository id, or `not_initialized` with the next step when there is none yet. */
export function requireServerRepoId(connection: Pick<Connection, 'repoId' | 'url' | 'configured'>): string {
  if (connection.repoId) return connection.repoId;
  throw new GitSwarmError(
    'not_initialized',
    connection.configured
      ? `This clone is connected to ${connection.url}, but no repository exists there yet.`
      : `This clone is not connected to ${connection.url}.`,
    {
      hint: connection.configured
        ? 'Register the first agent (it becomes the owner): gitswarm agent register NAME'
        : 'Connect it with: gitswarm init --server URL [--repo REPO] (or migrate a Mode A repository with: gitswarm sync --server URL)',
    },
  );
}
