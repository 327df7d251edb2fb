import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type { Store } from './dialect.js';
import { postgresCapabilities, postgresTypeParsers, quoteIdentifier } from './postgres-dialect.js';
import { memoryLocker } from './repo-lock.js';
import type { Database } from './schema.js';

let shared: Promise<PGlite> | undefined;

/** One in-process PostgreSQL per process, started on first use. */
async function sharedPglite(): Promise<PGlite> {
  shared ??= import('@electric-sql/pglite').then(({ PGlite }) =>
    PGlite.create({ parsers: postgresTypeParsers }),
  );
  return shared;
}

/**
 * A pg-style pool over PGlite's single connection: one checkout at a time, each pointed at the
 * store's own schema, so several stores can share the process's PGlite.
 */
function pglitePool(pglite: PGlite, schema: string): PostgresPool {
  let queue: Promise<void> = Promise.resolve();
  return {
    async connect(): Promise<PostgresPoolClient> {
      let release!: () => void;
      const previous = queue;
      queue = new Promise<void>((resolve) => {
        release = resolve;
      });
      await previous;
      await pglite.exec(`set search_path to ${quoteIdentifier(schema)}`);
      const client = {
        async query(sqlText: string, parameters: readonly unknown[]) {
          const result = await pglite.query(sqlText, parameters as unknown[]);
          const command = sqlText.trimStart().split(/\s/, 1)[0]?.toUpperCase();
          return { command, rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
        },
        release,
      };
      return client as unknown as PostgresPoolClient;
    },
    async end() {},
    options: {},
  };
}

/** Opens a store in its own schema of the process's in-process PostgreSQL (PGlite). */
export async function openPgliteStore(schema: string, lockWaitMs?: number): Promise<Store> {
  const pglite = await sharedPglite();
  await pglite.exec(`create schema if not exists ${quoteIdentifier(schema)}`);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pglitePool(pglite, schema) }) });
  return {
    db,
    capabilities: postgresCapabilities('pglite'),
    locker: memoryLocker(lockWaitMs),
    close: () => db.destroy(),
  };
}
