import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import type { Store } from './dialect.js';
import { initialMigration } from './migrations/0001-initial.js';

function provider(store: Store): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return { '0001-initial': initialMigration(store.capabilities) };
    },
  };
}

/**
 * Brings the store's schema up to date; safe to call from several processes at once. `schema` names
 * the PostgreSQL schema the store lives in: Kysely looks for its migration tables in every schema
 * unless told which one, and would find another store's.
 */
export async function migrateToLatest(store: Store, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db: store.db,
    provider: provider(store),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `Database migration ${failed} failed: ${error instanceof Error ? error.message : error}`,
      {
        cause: error,
      },
    );
  }
}
