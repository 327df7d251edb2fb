/**
 * `.gitswarm/config.json`: which repository row this checkout is, and where its store lives
 * (default `.gitswarm/federation.db`; a path inside `.gitswarm/`, relative to the repository root,
 * or a postgres URL). The file sits in the checkout, so it is not trusted to name a file anywhere
 * else: a store outside `.gitswarm/` must come from the environment (GITSWARM_DB, DATABASE_URL).
 */

import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { GitSwarmError } from '../errors.js';

export const GITSWARM_DIR = '.gitswarm';
export const CONFIG_FILE = 'config.json';
export const DEFAULT_DB_FILE = 'federation.db';

/** Where a connected clone's governance lives (Mode B). */
export interface ServerConfig {
  /** The server's base URL, normalized (`http://host:port`, no trailing slash). */
  url: string;
  /** The repository on the server; absent until the first `agent register` creates it. */
  repo_id?: string;
  /** The git remote shared by the clones (default `origin`). */
  remote: string;
}

export interface GitSwarmConfig {
  repo_id: string;
  /** A SQLite path (relative to the repository root) or a postgres:// URL. */
  database?: string;
  /** Present when the clone is connected to a server (Mode B). */
  server?: ServerConfig;
}

/** A server URL made canonical: http(s) only, no credentials, query or fragment, no trailing slash. */
export function normalizeServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new GitSwarmError('invalid_input', `${JSON.stringify(text)} is not a URL.`, {
      hint: 'Give the server as http://HOST:PORT (where gitswarm serve listens).',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GitSwarmError('invalid_input', `The server URL must be http or https, not ${url.protocol}`, {
      hint: 'Give the server as http://HOST:PORT (where gitswarm serve listens).',
    });
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new GitSwarmError('invalid_input', 'The server URL carries no credentials, query or fragment.', {
      hint: 'API keys go in --api-key, GITSWARM_API_KEY or the credentials file (gitswarm agent login).',
    });
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/;

/** A git remote name that cannot be read as an option or a path trick. */
export function assertValidRemoteName(name: string): string {
  if (!REMOTE_NAME.test(name) || name.includes('..') || name.endsWith('.lock') || name.endsWith('/')) {
    throw new GitSwarmError('invalid_name', `${JSON.stringify(name)} is not a valid git remote name.`);
  }
  return name;
}

function parseServer(file: string, value: unknown): ServerConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const server = value as Partial<ServerConfig>;
  const bad = (why: string) =>
    new GitSwarmError('invalid_input', `${file}: "server" ${why}.`, {
      hint: 'Fix it, or connect again with: gitswarm init --server URL',
    });
  if (typeof server !== 'object' || typeof server.url !== 'string') throw bad('needs a "url"');
  if (server.repo_id !== undefined && (typeof server.repo_id !== 'string' || server.repo_id === '')) {
    throw bad('has a "repo_id" that is not an id');
  }
  if (server.remote !== undefined && typeof server.remote !== 'string')
    throw bad('has a "remote" that is not a name');
  return {
    url: normalizeServerUrl(server.url),
    ...(server.repo_id ? { repo_id: server.repo_id } : {}),
    remote: assertValidRemoteName(server.remote ?? 'origin'),
  };
}

/** Reads the config, or returns null when the repository is not initialized. */
export function readConfigFile(root: string): GitSwarmConfig | null {
  const file = join(root, GITSWARM_DIR, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GitSwarmError('invalid_input', `${file} is not valid JSON.`, {
      hint: 'Fix or delete the file, then run: gitswarm init',
    });
  }
  const config = parsed as Partial<GitSwarmConfig> | null;
  if (!config || typeof config.repo_id !== 'string') {
    throw new GitSwarmError('invalid_input', `${file} has no repo_id.`, {
      hint: 'Delete the file, then run: gitswarm init',
    });
  }
  const server = parseServer(file, config.server);
  return {
    repo_id: config.repo_id,
    ...(typeof config.database === 'string' ? { database: config.database } : {}),
    ...(server ? { server } : {}),
  };
}

/** Writes the config atomically (write to a temporary file, then rename). */
export function writeConfigFile(root: string, config: GitSwarmConfig): void {
  const dir = join(root, GITSWARM_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, CONFIG_FILE);
  const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`);
  renameSync(temporary, file);
}

/** Store names that are not files: a PostgreSQL URL, an in-process PGlite, an in-memory SQLite. */
function isNotAFile(named: string): boolean {
  return /^(postgres(ql)?:\/\/|pglite:)/.test(named) || named === ':memory:';
}

/** Whether `path` is `dir` or below it. */
function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** `path` with its existing ancestors' symlinks resolved (the file itself need not exist). */
function realpathOfExisting(path: string): string {
  const tail: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(realpathSync(current), ...tail);
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      tail.unshift(basename(current));
      current = parent;
    }
  }
}

/**
 * The SQLite file a config names, refused (`invalid_input`, before anything is created) unless it
 * is inside the repository's `.gitswarm/`, also once symlinks are followed.
 */
function configStoreFile(root: string, named: string): string {
  const dir = join(root, GITSWARM_DIR);
  const file = resolve(root, named);
  let symlink = false;
  try {
    symlink = lstatSync(file).isSymbolicLink();
  } catch {
    // Not there yet: opening the store will create it, inside .gitswarm/.
  }
  const realRoot = realpathOfExisting(root);
  const inside =
    !symlink &&
    isInside(dir, file) &&
    file !== dir &&
    isInside(join(realRoot, GITSWARM_DIR), realpathOfExisting(file)) &&
    isInside(realRoot, realpathOfExisting(dir));
  if (!inside) {
    throw new GitSwarmError(
      'invalid_input',
      `${join(dir, CONFIG_FILE)} names the store ${JSON.stringify(named)}, which is not inside ${dir}.`,
      {
        hint: 'A store outside .gitswarm/ must be named by the environment: GITSWARM_DB=PATH (or DATABASE_URL); or remove "database" from the config.',
        details: { database: named },
      },
    );
  }
  return file;
}

/**
 * Where the store is: GITSWARM_DB, else the config's `database`, else DATABASE_URL, else
 * `.gitswarm/federation.db`. Relative SQLite paths resolve against the repository root; a SQLite
 * file named by the config must be inside `.gitswarm/` (see the module comment).
 */
export function resolveStoreLocation(
  root: string,
  config: GitSwarmConfig | null,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (env.GITSWARM_DB) return fromEnvironment(root, env.GITSWARM_DB);
  if (config?.database) {
    return isNotAFile(config.database) ? config.database : configStoreFile(root, config.database);
  }
  if (env.DATABASE_URL) return fromEnvironment(root, env.DATABASE_URL);
  return join(root, GITSWARM_DIR, DEFAULT_DB_FILE);
}

function fromEnvironment(root: string, named: string): string {
  return isNotAFile(named) || isAbsolute(named) ? named : resolve(root, named);
}

/**
 * What `init` may record as the config's `database`: a store named by the environment that a later
 * command may trust the config to name again (not a file outside `.gitswarm/`, which the config
 * could not name; such a store is named by the environment on every command).
 */
export function recordableDatabase(root: string, named: string | undefined): string | undefined {
  if (!named) return undefined;
  if (isNotAFile(named)) return named;
  try {
    configStoreFile(root, named);
    return named;
  } catch {
    return undefined;
  }
}
