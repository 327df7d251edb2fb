/**
 * Migration 0003 on a store that already holds karma: each agent's ledger rows with a repository
 * are summed into gitswarm_repo_karma; rows without a repository stay in the agent's total only.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store, toJson } from '../../src/store/index.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { initialMigration } from '../../src/store/migrations/0001-initial.js';
import { retriesAndIndexesMigration } from '../../src/store/migrations/0002-retries-and-indexes.js';
import { DIALECTS, dialectLabel, postgresLocation } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: migration 0003 (karma per repository)`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    /** A store migrated only to 0002, as a deployment before this change had it. */
    async function storeAt0002(): Promise<{ store: Store; schema?: string }> {
      let store: Store;
      let schema: string | undefined;
      if (dialect === 'sqlite') {
        const dir = mkdtempSync(join(tmpdir(), 'gitswarm-db-'));
        store = await openStore(join(dir, 'federation.db'), { migrate: false });
        cleanups.push(async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        });
      } else {
        schema = `t_${randomBytes(6).toString('hex')}`;
        store = await openStore(postgresLocation(), { schema, migrate: false, maxConnections: 2 });
        cleanups.push(() => store.close());
      }
      const migrator = new Migrator({
        db: store.db as unknown as Kysely<unknown>,
        provider: {
          getMigrations: async () => ({
            '0001-initial': initialMigration(store.capabilities),
            '0002-retries-and-indexes': retriesAndIndexesMigration(store.capabilities),
          }),
        },
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      const { error } = await migrator.migrateToLatest();
      if (error) throw error;
      return { store, schema };
    }

    it('sums the ledger per agent and repository; rows without a repository stay in the total only', async () => {
      const { store, schema } = await storeAt0002();
      const db = store.db;
      const [a, b] = [randomUUID(), randomUUID()];
      const [x, y] = [randomUUID(), randomUUID()];
      await db
        .insertInto('gitswarm_agents')
        .values([
          { id: a, name: `a-${a}`, karma: 13, metadata: toJson({}) },
          { id: b, name: `b-${b}`, karma: -10, metadata: toJson({}) },
        ])
        .execute();
      await db
        .insertInto('gitswarm_repos')
        .values([
          { id: x, name: `x-${x}`, metadata: toJson({}) },
          { id: y, name: `y-${y}`, metadata: toJson({}) },
        ])
        .execute();
      const row = (agent: string, repo: string | null, amount: number, reason: string, at: string) => ({
        id: randomUUID(),
        agent_id: agent,
        repo_id: repo,
        amount,
        reason,
        created_at: at,
      });
      await db
        .insertInto('gitswarm_review_karma_transactions')
        .values([
          row(a, x, 5, 'stream_merged:s1', '2026-01-01T00:00:00.000Z'),
          row(a, x, 100, 'bounty_paid:t1', '2026-01-02T00:00:00.000Z'),
          row(a, y, 1, 'review_approved:s2', '2026-01-03T00:00:00.000Z'),
          row(a, null, -93, 'manual', '2026-01-04T00:00:00.000Z'),
          row(b, y, 5, 'stream_merged:s3', '2026-01-05T00:00:00.000Z'),
          row(b, y, -15, 'stream_reverted:s3', '2026-01-06T00:00:00.000Z'),
        ])
        .execute();

      await migrateToLatest(store, schema);

      const karma = await db
        .selectFrom('gitswarm_repo_karma')
        .select(['agent_id', 'repo_id', 'karma', 'updated_at'])
        .orderBy('karma', 'desc')
        .execute();
      expect(karma).toEqual([
        { agent_id: a, repo_id: x, karma: 105, updated_at: '2026-01-02T00:00:00.000Z' },
        { agent_id: a, repo_id: y, karma: 1, updated_at: '2026-01-03T00:00:00.000Z' },
        { agent_id: b, repo_id: y, karma: -10, updated_at: '2026-01-06T00:00:00.000Z' },
      ]);
      // The totals are untouched: 105 + 1 − 93 and −10.
      const totals = await db
        .selectFrom('gitswarm_agents')
        .select(['id', 'karma'])
        .orderBy('karma')
        .execute();
      expect(totals).toEqual([
        { id: b, karma: -10 },
        { id: a, karma: 13 },
      ]);
    });
  });
}
