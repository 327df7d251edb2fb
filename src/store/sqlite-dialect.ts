import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type SqliteDatabase,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';
import type { DialectCapabilities, Store } from './dialect.js';
import { memoryLocker, sqliteFileLocker } from './repo-lock.js';
import type { Database as Schema } from './schema.js';
import { SqliteNormalizePlugin, toSqliteParameters } from './sqlite-normalize-plugin.js';

const BUSY_TIMEOUT_MS = 30_000;

export const sqliteCapabilities: DialectCapabilities = {
  label: 'sqlite',
  columnTypes: {
    uuid: 'text',
    timestamp: 'text',
    json: 'text',
    boolean: 'integer',
    decimal: 'real',
    bigint: 'integer',
  },
  defaults: {
    now: "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
    emptyObject: "'{}'",
    emptyArray: "'[]'",
    false: '0',
    true: '1',
  },
};

/** Kysely's SQLite connection, binding parameters as SQLite stores them (`toSqliteParameters`). */
function bindingSqliteValues(connection: DatabaseConnection): DatabaseConnection {
  const bound = <R>(query: CompiledQuery<R>): CompiledQuery<R> => {
    const parameters = toSqliteParameters(query.parameters);
    return parameters === query.parameters ? query : { ...query, parameters };
  };
  return {
    executeQuery: (query) => connection.executeQuery(bound(query)),
    streamQuery: (query, chunkSize) => connection.streamQuery(bound(query), chunkSize),
  };
}

/**
 * Starts every transaction as IMMEDIATE, so a transaction that reads and then writes never fails to
 * upgrade, and binds parameters as SQLite stores them.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  #connection: DatabaseConnection | undefined;

  override async acquireConnection(): Promise<DatabaseConnection> {
    // Kysely's SQLite driver has one connection: wrap it once.
    this.#connection ??= bindingSqliteValues(await super.acquireConnection());
    return this.#connection;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** How many prepared statements a store keeps (the distinct queries of a busy process fit). */
export const STATEMENT_CACHE_SIZE = 256;

/**
 * The database as Kysely's driver sees it, with its prepared statements kept by SQL text: Kysely
 * prepares every query it runs, and preparing costs more than running most of ours (a quarter of a
 * command server's time per command). A statement still being iterated is busy: that query gets a
 * fresh one.
 */
export function withStatementCache(database: Database.Database): SqliteDatabase {
  const cache = new Map<string, Database.Statement>();
  return {
    close: () => {
      cache.clear();
      database.close();
    },
    prepare(sql: string) {
      const cached = cache.get(sql);
      if (cached && !cached.busy) {
        // Most recently used last: the first entry is the one to drop.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = database.prepare(sql);
      if (!cached) {
        cache.set(sql, statement);
        if (cache.size > STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      return statement;
    },
  };
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: SqliteDatabase;
  constructor(database: Database.Database) {
    const cached = withStatementCache(database);
    super({ database: cached });
    this.#database = cached;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

/** Opens (and creates) a SQLite database file, or `:memory:`, in WAL mode with a busy timeout. */
export function openSqliteStore(filename: string, lockWaitMs?: number): Store {
  const open = (file: string) => new Database(file, { timeout: BUSY_TIMEOUT_MS });
  const database = open(filename);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({
    dialect: new ImmediateSqliteDialect(database),
    plugins: [new SqliteNormalizePlugin()],
  });
  if (filename === ':memory:') {
    return {
      db,
      capabilities: sqliteCapabilities,
      locker: memoryLocker(lockWaitMs),
      close: () => db.destroy(),
    };
  }
  const locker = sqliteFileLocker(open, filename, lockWaitMs);
  const close = async () => {
    try {
      await db.destroy();
    } finally {
      locker.close();
    }
  };
  return { db, capabilities: sqliteCapabilities, locker, close };
}
