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

/** Brings the store's schema up to date; safe to call from several processes at once. */
export async function migrateToLatest(store: Store): Promise<void> {
  const migrator = new Migrator({ db: store.db, provider: provider(store) });
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
