import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';

export type TestDialect = 'sqlite' | 'postgres';

/** Every dialect the store supports; the PostgreSQL one runs on the real server when there is one. */
export const DIALECTS: readonly TestDialect[] = (process.env.DIALECTS?.split(',') as
  | TestDialect[]
  | undefined) ?? ['sqlite', 'postgres'];

/** The location string the product would use for a dialect (SQLite file, postgres URL or pglite:). */
export function postgresLocation(): string {
  return inject('postgresUrl') ?? 'pglite:';
}

export function dialectLabel(dialect: TestDialect): string {
  return dialect === 'sqlite' ? 'sqlite' : inject('postgresUrl') ? 'postgres' : 'pglite';
}

export interface TestStore extends Store {
  /** For PostgreSQL: the isolated schema; for SQLite: the database file. */
  readonly location: string;
  readonly schema?: string;
}

/**
 * Opens a fresh, migrated store of the dialect: its own SQLite file, or its own PostgreSQL database
 * on the real server (a schema on PGlite). Both are copies of a store this worker migrated once:
 * running every migration cost 80–200 ms on SQLite and 400–900 ms on PostgreSQL per store, a
 * copy a few milliseconds and 30–50 ms. The tests of migrations themselves open their stores with
 * `openStore`.
 */
export async function openTestStore(dialect: TestDialect): Promise<TestStore> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-db-'));
    const file = join(dir, 'federation.db');
    copyFileSync(await sqliteTemplate(), file);
    const store = await openStore(file, { migrate: 'if_stale' });
    return {
      ...store,
      location: file,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const location = postgresLocation();
  if (location.startsWith('pglite:')) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const store = await openStore(location, { schema, maxConnections: 4 });
    return { ...store, location, schema };
  }
  const template = await postgresTemplate(location);
  const database = `${template.runDatabase}_${randomBytes(6).toString('hex')}`;
  await template.admin.query(`create database ${database} template ${template.database}`);
  const url = new URL(location);
  url.pathname = `/${database}`;
  const store = await openStore(url.toString(), {
    schema: template.schema,
    maxConnections: 4,
    migrate: 'if_stale',
  });
  return {
    ...store,
    location: url.toString(),
    schema: template.schema,
    close: async () => {
      await store.close();
      // The pool's sessions may still be closing: a plain drop waits for them (up to 5 s), and
      // forcing it would hit them with an error. Forced only for a session a test left open.
      await template.admin
        .query(`drop database if exists ${database}`)
        .catch(() => template.admin.query(`drop database if exists ${database} with (force)`));
    },
  };
}

let sqliteTemplateFile: Promise<string> | undefined;

/** This worker's migrated SQLite file to copy (closed, so the file holds everything). */
function sqliteTemplate(): Promise<string> {
  sqliteTemplateFile ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-db-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'federation.db');
    await (await openStore(file)).close();
    return file;
  })();
  return sqliteTemplateFile;
}

interface PostgresTemplate {
  /** The run's database (global-setup.ts); test databases are named after it, which its teardown drops. */
  runDatabase: string;
  /** This worker's migrated database, which nothing stays connected to (a template must not be). */
  database: string;
  schema: string;
  /** Connected to the run's database: creates and drops the test databases. */
  admin: pg.Pool;
}

let postgresTemplateDatabase: Promise<PostgresTemplate> | undefined;

function postgresTemplate(runUrl: string): Promise<PostgresTemplate> {
  postgresTemplateDatabase ??= (async () => {
    const runDatabase = new URL(runUrl).pathname.slice(1);
    const database = `${runDatabase}_${randomBytes(6).toString('hex')}`;
    const schema = `t_${randomBytes(6).toString('hex')}`;
    // An idle pool lets the worker exit; the run's teardown drops what is left.
    const admin = new pg.Pool({ connectionString: runUrl, max: 2, allowExitOnIdle: true });
    await admin.query(`create database ${database}`);
    const url = new URL(runUrl);
    url.pathname = `/${database}`;
    await (await openStore(url.toString(), { schema, maxConnections: 1 })).close();
    return { runDatabase, database, schema, admin };
  })();
  return postgresTemplateDatabase;
}

/**
 * Why a test of the dialect cannot run when it needs a real database server (other processes open
 * the store too, or a server is started on it: PGlite lives inside this process), or null when it
 * can. Such tests are defined always and skipped with this reason (see `withSkipReason`), so they
 * stay in the count.
 */
export function postgresServerSkipReason(dialect: TestDialect): string | null {
  if (dialect === 'sqlite' || inject('postgresUrl')) return null;
  return 'needs a PostgreSQL server: TEST_DATABASE_URL is unset or unreachable';
}

/** A test or block name carrying its skip reason (the summary reporter lists these reasons). */
export function withSkipReason(name: string, reason: string | null): string {
  return reason === null ? name : `${name} [skipped: ${reason}]`;
}

/**
 * A test of the PostgreSQL dialect that needs the real server (session options, sockets to it):
 * defined for that dialect only, and skipped with the reason when the run has no server.
 */
export function itOnPostgresServer(dialect: TestDialect, name: string, test: () => Promise<void>): void {
  if (dialect !== 'postgres') return;
  const skip = postgresServerSkipReason(dialect);
  it.skipIf(skip !== null)(withSkipReason(name, skip), test);
}
