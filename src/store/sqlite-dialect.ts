import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';
import type { DialectCapabilities, Store } from './dialect.js';
import { memoryLocker, sqliteFileLocker } from './repo-lock.js';
import type { Database as Schema } from './schema.js';
import { SqliteNormalizePlugin } from './sqlite-normalize-plugin.js';

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

/** Starts every transaction as IMMEDIATE, so a transaction that reads and then writes never fails to upgrade. */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #database: Database.Database;
  constructor(database: Database.Database) {
    super({ database });
    this.#database = database;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.#database });
  }
}

/** Opens (and creates) a SQLite database file, or `:memory:`, in WAL mode with a busy timeout. */
export function openSqliteStore(filename: string): Store {
  const open = (file: string) => new Database(file, { timeout: BUSY_TIMEOUT_MS });
  const database = open(filename);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({
    dialect: new ImmediateSqliteDialect(database),
    plugins: [new SqliteNormalizePlugin()],
  });
  const locker = filename === ':memory:' ? memoryLocker() : sqliteFileLocker(open, filename);
  return { db, capabilities: sqliteCapabilities, locker, close: () => db.destroy() };
}
