import { sql } from 'kysely';
import { DEFAULT_MIGRATION_TABLE, type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import type { Store } from './dialect.js';
import { initialMigration } from './migrations/0001-initial.js';
import { retriesAndIndexesMigration } from './migrations/0002-retries-and-indexes.js';
import { repoKarmaMigration } from './migrations/0003-repo-karma.js';
import { reviewFreshnessMigration } from './migrations/0004-review-freshness.js';
import { bufferBaselineMigration } from './migrations/0005-buffer-baseline.js';
import { abuseLimitsMigration } from './migrations/0006-abuse-limits.js';
import { webhookCircuitsMigration } from './migrations/0007-webhook-circuits.js';
import { reportedCommitsMigration } from './migrations/0008-reported-commits.js';
import { remoteOutboxMigration } from './migrations/0009-remote-outbox.js';
import { importsMigration } from './migrations/0010-imports.js';
import { serverGitMigration } from './migrations/0011-server-git.js';
import { githubMigration } from './migrations/0012-github.js';
import { githubOutboundMigration } from './migrations/0013-github-outbound.js';
import { listKeysetsMigration } from './migrations/0014-list-keysets.js';
import { streamListOrderMigration } from './migrations/0015-stream-list-order.js';

function provider(store: Store): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      return {
        '0001-initial': initialMigration(store.capabilities),
        '0002-retries-and-indexes': retriesAndIndexesMigration(store.capabilities),
        '0003-repo-karma': repoKarmaMigration(store.capabilities),
        '0004-review-freshness': reviewFreshnessMigration(store.capabilities),
        '0005-buffer-baseline': bufferBaselineMigration(store.capabilities),
        '0006-abuse-limits': abuseLimitsMigration(store.capabilities),
        '0007-webhook-circuits': webhookCircuitsMigration(store.capabilities),
        '0008-reported-commits': reportedCommitsMigration(store.capabilities),
        '0009-remote-outbox': remoteOutboxMigration(store.capabilities),
        '0010-imports': importsMigration(store.capabilities),
        '0011-server-git': serverGitMigration(store.capabilities),
        '0012-github': githubMigration(store.capabilities),
        '0013-github-outbound': githubOutboundMigration(store.capabilities),
        '0014-list-keysets': listKeysetsMigration(),
        '0015-stream-list-order': streamListOrderMigration(store.capabilities),
      };
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

/**
 * Whether the store already has the newest migration: one indexed read, so that short-lived
 * processes (every CLI command) skip the migrator when there is nothing to do. False when the
 * migration table does not exist yet.
 */
export async function isSchemaCurrent(store: Store, schema?: string): Promise<boolean> {
  const names = Object.keys(await provider(store).getMigrations()).sort();
  const latest = names[names.length - 1];
  if (latest === undefined) return true;
  const table = sql.table(schema ? `${schema}.${DEFAULT_MIGRATION_TABLE}` : DEFAULT_MIGRATION_TABLE);
  try {
    const { rows } = await sql<{ name: string }>`select name from ${table} where name = ${latest}`.execute(
      store.db,
    );
    return rows.length > 0;
  } catch {
    // Most likely no migration table yet (a new store); any other problem resurfaces in the
    // migrator, which the caller runs when this says false.
    return false;
  }
}
