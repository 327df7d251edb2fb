/**
 * The Mode B read cache (`gitswarm_remote_cache`, migration 0009): every read a connected command
 * makes is remembered under the server URL and path, so that while the server does not answer the
 * command still shows something, marked stale (a notice on stderr, `"stale": true` in --json). The
 * cache never decides anything: it only repeats what the server last said.
 */
import { isGitSwarmError } from '../errors.js';
import type { Executor } from '../store/index.js';
import { toJson } from '../store/index.js';

/** The cache key of a read: the server URL (no trailing slash) and the path with its query. */
export function cacheKey(serverUrl: string, path: string): string {
  return `${serverUrl.replace(/\/+$/, '')}${path.startsWith('/') ? '' : '/'}${path}`;
}

export interface CachedRead<T = unknown> {
  value: T;
  /** True when the server did not answer and this is the last answer it gave. */
  stale: boolean;
  /** When the server gave this answer. */
  fetched_at: string;
}

/** JSON with object keys sorted: PostgreSQL's jsonb gives keys back in its own order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Stores the server's answer to a read; true when it differs from what was cached. */
export async function storeCached(
  db: Executor,
  key: string,
  value: unknown,
  fetchedAt?: string,
): Promise<boolean> {
  const payload = toJson(value);
  const at = fetchedAt ?? new Date().toISOString();
  const before = await getCached(db, key);
  if (before) {
    await db
      .updateTable('gitswarm_remote_cache')
      .set({ payload, fetched_at: at })
      .where('key', '=', key)
      .execute();
    return canonicalJson(before.value) !== canonicalJson(value);
  }
  await db
    .insertInto('gitswarm_remote_cache')
    .values({ key, payload, fetched_at: at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ payload, fetched_at: at }))
    .execute();
  return true;
}

/** The cached answer for a key (stale: true), or undefined. */
export async function getCached<T = unknown>(db: Executor, key: string): Promise<CachedRead<T> | undefined> {
  const row = await db
    .selectFrom('gitswarm_remote_cache')
    .select(['payload', 'fetched_at'])
    .where('key', '=', key)
    .executeTakeFirst();
  return row ? { value: row.payload as T, stale: true, fetched_at: row.fetched_at } : undefined;
}

/** The cached paths of one server, for `sync` to read again. */
export async function cachedPaths(db: Executor, serverUrl: string): Promise<string[]> {
  const prefix = cacheKey(serverUrl, '/');
  const rows = await db
    .selectFrom('gitswarm_remote_cache')
    .select('key')
    .where('key', 'like', `${prefix}%`)
    .orderBy('key')
    .execute();
  // `_` and `%` in the URL match more than themselves in LIKE: check the prefix exactly here.
  return rows.filter((r) => r.key.startsWith(prefix)).map((r) => r.key.slice(prefix.length - 1));
}

/**
 * Reads through the cache: asks the server (`fetch`), remembers the answer and returns it fresh;
 * when the server does not answer (`server_unreachable`), returns the cached answer marked stale
 * and calls `onStale` (the CLI prints the notice). With nothing cached the unreachable error is
 * rethrown. Refusals (404, 403…) are not cached and pass through.
 */
export async function readThrough<T>(
  db: Executor,
  key: string,
  fetch: () => Promise<T>,
  onStale?: (cached: CachedRead<T>) => void,
): Promise<CachedRead<T>> {
  try {
    const value = await fetch();
    const fetchedAt = new Date().toISOString();
    await storeCached(db, key, value, fetchedAt);
    return { value, stale: false, fetched_at: fetchedAt };
  } catch (error) {
    if (!isGitSwarmError(error, 'server_unreachable')) throw error;
    const cached = await getCached<T>(db, key);
    if (!cached) throw error;
    onStale?.(cached);
    return cached;
  }
}

/** The notice a command prints on stderr when it shows cached data. */
export function staleNotice(fetchedAt: string, serverUrl: string): string {
  return `notice: ${serverUrl} did not answer; showing what it said at ${fetchedAt} (stale).`;
}
