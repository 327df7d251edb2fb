import type { Store } from './dialect.js';
import { migrateToLatest } from './migrate.js';

export interface OpenStoreOptions {
  /** PostgreSQL schema (tests isolate themselves this way). */
  schema?: string;
  /** Run migrations after connecting (default true). */
  migrate?: boolean;
  maxConnections?: number;
}

/**
 * Opens the store named by `location`: a `postgres://` (or `postgresql://`) URL opens PostgreSQL,
 * `pglite:` an in-process PostgreSQL, anything else is a SQLite file path (or `:memory:`).
 */
export async function openStore(location: string, options: OpenStoreOptions = {}): Promise<Store> {
  let store: Store;
  if (/^postgres(ql)?:\/\//.test(location)) {
    const { openPostgresStore } = await import('./postgres-dialect.js');
    store = await openPostgresStore({
      url: location,
      schema: options.schema,
      maxConnections: options.maxConnections,
    });
  } else if (location.startsWith('pglite:')) {
    const { openPgliteStore } = await import('./pglite-dialect.js');
    store = await openPgliteStore(options.schema ?? (location.slice('pglite:'.length) || 'public'));
  } else {
    const { openSqliteStore } = await import('./sqlite-dialect.js');
    store = openSqliteStore(location);
  }
  if (options.migrate !== false) {
    try {
      await migrateToLatest(store);
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}
