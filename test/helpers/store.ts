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
