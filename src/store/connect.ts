import { sql } from 'kysely';
import type { Store } from './dialect.js';
import { isSchemaCurrent, migrateToLatest } from './migrate.js';

export interface OpenStoreOptions {
  /** PostgreSQL schema (tests isolate themselves this way). */
  schema?: string;
  /**
   * Run migrations after connecting (default true); `'if_stale'` first checks with one read whether
   * the newest migration has run (short-lived processes such as CLI commands).
   */
  migrate?: boolean | 'if_stale';
  maxConnections?: number;
  /** How long a repository lock is waited for before `lock_timeout` (default DEFAULT_LOCK_WAIT_MS). */
  lockWaitMs?: number;
}

/**
 * Opens the store named by `location`: a `postgres://` (or `postgresql://`) URL opens PostgreSQL,
 * `pglite:` an in-process PostgreSQL, anything else is a SQLite file path (or `:memory:`).
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<Store> {
  let store: Store;
  let schema: string | undefined;
  if (/^postgres(ql)?:\/\//.test(location)) {
    const { openPostgresStore } = await import('./postgres-dialect.js');
    store = await openPostgresStore({
      url: location,
      schema: options.schema,
      maxConnections: options.maxConnections,
      lockWaitMs: options.lockWaitMs,
    });
    // Kysely finds its migration tables in any schema unless told which one; name ours.
    schema = options.schema ?? (await currentSchema(store));
  } else if (location.startsWith('pglite:')) {
    const { openPgliteStore } = await import('./pglite-dialect.js');
    schema = options.schema ?? (location.slice('pglite:'.length) || 'public');
    store = await openPgliteStore(schema, options.lockWaitMs);
  } else {
    const { openSqliteStore } = await import('./sqlite-dialect.js');
    store = openSqliteStore(location, options.lockWaitMs);
  }
  if (options.migrate !== false) {
    try {
      if (options.migrate !== 'if_stale' || !(await isSchemaCurrent(store, schema))) {
        await migrateToLatest(store, schema);
      }
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

async function currentSchema(store: Store): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(store.db);
  return rows[0]?.schema ?? 'public';
}
