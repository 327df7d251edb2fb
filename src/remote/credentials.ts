/**
 * The user's credentials file: API keys of agents on servers, never in a repository.
 * `$XDG_CONFIG_HOME/gitswarm/credentials.json`, else `~/.config/gitswarm/credentials.json`; the
 * folder is 0700 and the file 0600, written atomically (a temporary file in the same folder, then
 * rename), so a reader sees the old file or the new one. Writers are serialised by a lock file
 * beside it (`credentials.json.lock`, created exclusively, retried), so two commands saving keys
 * at once (two `agent register` on one machine) each read the other's key before writing: none is
 * lost. Keys are grouped by server URL and found by agent id or name (names compare without case,
 * as the server's do).
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, sep } from 'node:path';
import { GitSwarmError } from '../errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/** One agent's key on one server. */
export interface StoredKey {
  agent_id: string;
  agent_name: string;
  api_key: string;
  saved_at: string;
}

export interface CredentialsFile {
  version: 1;
  /** By normalized server URL. */
  servers: Record<string, { agents: StoredKey[] }>;
}

/** Where the credentials file is for this environment. */
export function credentialsPath(env: Env): string {
  const config = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  const base = config ?? join(env.HOME || homedir(), '.config');
  return join(base, 'gitswarm', 'credentials.json');
}

/** The file's content; an empty one when it does not exist. */
export function readCredentials(env: Env): CredentialsFile {
  const file = credentialsPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} };
    throw error;
  }
  let parsed: Partial<CredentialsFile> | null;
  try {
    parsed = JSON.parse(text) as Partial<CredentialsFile> | null;
  } catch {
    throw new GitSwarmError('invalid_input', `${file} is not valid JSON.`, {
      hint: 'Fix or delete it, then save keys again with: gitswarm agent login NAME --api-key KEY',
    });
  }
  const servers: CredentialsFile['servers'] = {};
  for (const [url, entry] of Object.entries(parsed?.servers ?? {})) {
    const agents = Array.isArray(entry?.agents) ? entry.agents : [];
    servers[url] = {
      agents: agents.filter(
        (agent): agent is StoredKey =>
          typeof agent?.agent_id === 'string' &&
          typeof agent.agent_name === 'string' &&
          typeof agent.api_key === 'string',
      ),
    };
  }
  return { version: 1, servers };
}

/** The key saved for `agentRef` (id or name) on the server, if any. */
export function findStoredKey(env: Env, serverUrl: string, agentRef: string): StoredKey | undefined {
  const agents = readCredentials(env).servers[serverUrl]?.agents ?? [];
  const lower = agentRef.toLowerCase();
  return agents.find((agent) => agent.agent_id === agentRef || agent.agent_name.toLowerCase() === lower);
}

/** Every key saved for the server. */
export function storedKeys(env: Env, serverUrl: string): StoredKey[] {
  return readCredentials(env).servers[serverUrl]?.agents ?? [];
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Throws `invalid_input` when the credentials file would be inside `dir` (a repository). */
export function assertCredentialsOutside(env: Env, dir: string): string {
  const file = credentialsPath(env);
  if (isInside(dir, file)) {
    throw new GitSwarmError(
      'invalid_input',
      `The credentials file ${file} would be inside the repository ${dir}.`,
      {
        hint: 'API keys never go into a repository: point XDG_CONFIG_HOME (or HOME) somewhere outside it.',
      },
    );
  }
  return file;
}

export interface SaveKeyOptions {
  /** Refuse to write when the credentials file would land inside this folder (a repository). */
  notInside?: string;
  now?: string;
}

/**
 * Saves (or replaces) an agent's key for a server; returns the file's path. Refuses
 * (`invalid_input`) when the file would be inside `notInside`: keys never go into a repository.
 */
export function saveStoredKey(
  env: Env,
  serverUrl: string,
  key: Omit<StoredKey, 'saved_at'>,
  options: SaveKeyOptions = {},
): string {
  const file = options.notInside ? assertCredentialsOutside(env, options.notInside) : credentialsPath(env);
  prepareFolder(file);
  withFileLock(file, () => {
    // Read under the lock: another writer's key saved a moment ago is kept.
    const credentials = readCredentials(env);
    const server = credentials.servers[serverUrl] ?? { agents: [] };
    const lower = key.agent_name.toLowerCase();
    server.agents = server.agents.filter(
      (agent) => agent.agent_id !== key.agent_id && agent.agent_name.toLowerCase() !== lower,
    );
    server.agents.push({ ...key, saved_at: options.now ?? new Date().toISOString() });
    credentials.servers[serverUrl] = server;
    writeAtomically(file, `${JSON.stringify(credentials, null, 2)}\n`);
  });
  return file;
}

/** How long a writer waits for the lock before giving up. */
const LOCK_WAIT_MS = 10_000;
/** A lock file older than this was left by a process that died while holding it: taken over. */
export const STALE_LOCK_MS = 30_000;

/** Blocks the thread for `ms` (the credentials API is synchronous; waits are a few ms). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `write` holding `<file>.lock`: created exclusively (O_EXCL, so of two processes exactly
 * one gets it), retried with a short random back-off, taken over when older than STALE_LOCK_MS,
 * and removed afterwards. Gives up with `invalid_state` after LOCK_WAIT_MS.
 */
export function withFileLock<T>(file: string, write: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (isStale(lock)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new GitSwarmError('invalid_state', `${file} is locked by another gitswarm command.`, {
          hint: `Try again; if no other gitswarm command runs, remove the lock: rm ${lock}`,
          details: { lock },
        });
      }
      sleepSync(5 + Math.random() * 20);
    }
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    return write();
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}

function isStale(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS;
  } catch {
    return false; // gone meanwhile: try again
  }
}

/** The 0700 folder of the file (created when missing). */
function prepareFolder(file: string): void {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An existing folder keeps its mode through mkdir; ours holds secrets only.
  chmodSync(dir, 0o700);
}

/** Writes the file 0600 (its folder prepared): a temporary file, then rename. */
function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
