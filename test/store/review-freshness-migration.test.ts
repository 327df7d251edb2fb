/**
 * Upgrading a store with reviews to migration 0004 (both dialects): existing reviews keep their
 * verdicts with no head and no fingerprint, repositories get `stale_reviews = dismiss`, and such a
 * review is judged by time: fresh until the stream records a commit after it (docs/reviews.md).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely/migration';
import { describe, expect, it } from 'vitest';
import { getRepo } from '../../src/core/repos/repos.js';
import { evaluateConsensus } from '../../src/core/streams/consensus.js';
import { getStreamById } from '../../src/core/streams/streams.js';
import { openStore, type Store, toJson } from '../../src/store/index.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { initialMigration } from '../../src/store/migrations/0001-initial.js';
import { retriesAndIndexesMigration } from '../../src/store/migrations/0002-retries-and-indexes.js';
import { DIALECTS, dialectLabel, postgresLocation } from '../helpers/store.js';
import { testDeps } from '../helpers/streams-fixture.js';

/** A store at the schema before 0004, and how to close it. */
async function openOldStore(
  dialect: string,
): Promise<{ store: Store; schema?: string; close: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-db-'));
    const store = await openStore(join(dir, 'federation.db'), { migrate: false });
    return {
      store,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const store = await openStore(postgresLocation(), { schema, migrate: false, maxConnections: 2 });
  return { store, schema, close: () => store.close() };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: migration 0004 on a store with reviews`, () => {
    it('keeps older reviews (no head), defaults stale_reviews to dismiss, and judges them by time', async () => {
      const { store, schema, close } = await openOldStore(dialect);
      try {
        const old = new Migrator({
          db: store.db,
          provider: {
            getMigrations: async () => ({
              '0001-initial': initialMigration(store.capabilities),
              '0002-retries-and-indexes': retriesAndIndexesMigration(store.capabilities),
            }),
          },
          ...(schema ? { migrationTableSchema: schema } : {}),
        });
        const { error } = await old.migrateToLatest();
        expect(error).toBeUndefined();

        const [author, reviewer, repoId] = [randomUUID(), randomUUID(), randomUUID()];
        const db = store.db;
        for (const id of [author, reviewer]) {
          await db
            .insertInto('gitswarm_agents')
            .values({ id, name: `a-${id}`, metadata: toJson({}) })
            .execute();
        }
        await db
          .insertInto('gitswarm_repos')
          .values({ id: repoId, name: `r-${repoId}`, merge_mode: 'review', metadata: toJson({}) })
          .execute();
        await db
          .insertInto('gitswarm_maintainers')
          .values({ id: randomUUID(), repo_id: repoId, agent_id: reviewer })
          .execute();
        const streamId = randomBytes(6).toString('hex');
        await db
          .insertInto('gitswarm_streams')
          .values({
            id: streamId,
            repo_id: repoId,
            agent_id: author,
            name: 'old',
            branch: `stream/${streamId}`,
            base_branch: 'buffer',
            metadata: toJson({}),
          })
          .execute();
        await db
          .insertInto('gitswarm_stream_commits')
          .values({
            id: randomUUID(),
            stream_id: streamId,
            agent_id: author,
            commit_hash: 'a'.repeat(40),
            created_at: '2026-01-01T10:00:00.000Z',
          })
          .execute();
        await db
          .insertInto('gitswarm_stream_reviews')
          .values({
            id: randomUUID(),
            stream_id: streamId,
            reviewer_id: reviewer,
            verdict: 'approve',
            reviewed_at: '2026-01-01T11:00:00.000Z',
          })
          .execute();

        await migrateToLatest(store, schema);

        const repo = await getRepo(db, repoId);
        expect(repo.stale_reviews).toBe('dismiss');
        const review = await db.selectFrom('gitswarm_stream_reviews').selectAll().executeTakeFirstOrThrow();
        expect(review).toMatchObject({ verdict: 'approve', head_commit: null, diff_fingerprint: null });
        const deps = testDeps(store);
        const stream = await getStreamById(db, streamId);
        expect(await evaluateConsensus(deps, db, repo, stream)).toMatchObject({
          reached: true,
          approvals: 1,
          stale_approvals: 0,
          head_commit: 'a'.repeat(40),
        });

        await db
          .insertInto('gitswarm_stream_commits')
          .values({
            id: randomUUID(),
            stream_id: streamId,
            agent_id: author,
            commit_hash: 'b'.repeat(40),
            created_at: '2026-01-01T12:00:00.000Z',
          })
          .execute();
        expect(await evaluateConsensus(deps, db, repo, stream)).toMatchObject({
          reached: false,
          approvals: 0,
          stale_approvals: 1,
        });
      } finally {
        await close();
      }
    });
  });
}
