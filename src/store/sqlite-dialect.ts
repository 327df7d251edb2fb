import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import type { DialectCapabilities, Store } from './dialect.js';
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
  async lockRepo(trx, repoId) {
    // A write as the first statement takes SQLite's RESERVED lock at once, waiting under the
    // busy timeout; a read first would risk SQLITE_BUSY on the later upgrade.
    await sql`insert into gitswarm_repo_locks (repo_id, counter) values (${repoId}, 1)
      on conflict (repo_id) do update set counter = gitswarm_repo_locks.counter + 1`.execute(trx);
  },
};

/** Opens (and creates) a SQLite database file, or `:memory:`, in WAL mode with a busy timeout. */
export function openSqliteStore(filename: string): Store {
  const database = new Database(filename, { timeout: BUSY_TIMEOUT_MS });
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Schema>({
    dialect: new SqliteDialect({ database }),
    plugins: [new SqliteNormalizePlugin()],
  });
  return { db, capabilities: sqliteCapabilities, close: () => db.destroy() };
}
