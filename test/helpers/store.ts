import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
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

/** Opens a fresh, migrated store of the dialect: its own SQLite file or its own PostgreSQL schema. */
export async function openTestStore(dialect: TestDialect): Promise<TestStore> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-db-'));
    const file = join(dir, 'federation.db');
    const store = await openStore(file);
    return {
      ...store,
      location: file,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const location = postgresLocation();
  const store = await openStore(location, { schema, maxConnections: 4 });
  return { ...store, location, schema };
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
