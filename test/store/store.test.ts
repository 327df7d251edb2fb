import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockedTransaction, openStore, type Store, toJson, withRepoLock } from '../../src/store/index.js';
import { BOOLEAN_COLUMNS, JSON_COLUMNS } from '../../src/store/normalized-columns.js';
import { type HoldLock, lockOrder, sqliteWaiterWindow } from '../helpers/lock-order.js';
import {
  DIALECTS,
  dialectLabel,
  itOnPostgresServer,
  openTestStore,
  postgresServerSkipReason,
  type TestStore,
  withSkipReason,
} from '../helpers/store.js';

const SECTION_9_TABLES = [
  'gitswarm_agents',
  'gitswarm_repos',
  'gitswarm_repo_access',
  'gitswarm_maintainers',
  'gitswarm_branch_rules',
  'gitswarm_streams',
  'gitswarm_stream_commits',
  'gitswarm_stream_reviews',
  'gitswarm_merges',
  'gitswarm_stabilizations',
  'gitswarm_promotions',
  'gitswarm_tasks',
  'gitswarm_task_claims',
  'gitswarm_repo_budgets',
  'gitswarm_budget_transactions',
  'gitswarm_repo_councils',
  'gitswarm_council_members',
  'gitswarm_council_proposals',
  'gitswarm_council_votes',
  'gitswarm_council_elections',
  'gitswarm_election_candidates',
  'gitswarm_election_votes',
  'gitswarm_activity_log',
  'gitswarm_stage_history',
  'gitswarm_orgs',
  'gitswarm_github_user_mappings',
  'gitswarm_reviewer_stats',
  'gitswarm_review_karma_transactions',
  'gitswarm_notification_preferences',
  'gitswarm_agent_notifications',
];

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: store`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    it('creates every table of the data model under the same names', async () => {
      const tables = await store.db.introspection.getTables();
      const names = tables.map((t) => t.name);
      for (const table of SECTION_9_TABLES) expect(names).toContain(table);
      expect(names).toContain('gitswarm_operations');
    });

    it('lists every boolean and JSON column for normalisation, and nothing else', async () => {
      const tables = await store.db.introspection.getTables();
      const columns = tables.filter((t) => t.name.startsWith('gitswarm_')).flatMap((t) => t.columns);
      const booleans = new Set(columns.filter((c) => /bool/i.test(c.dataType)).map((c) => c.name));
      const jsons = new Set(columns.filter((c) => /json/i.test(c.dataType)).map((c) => c.name));
      if (dialect !== 'sqlite') {
        expect([...booleans].sort()).toEqual([...BOOLEAN_COLUMNS].sort());
        expect([...jsons].sort()).toEqual(
          [...JSON_COLUMNS]
            .filter((c) => c !== 'response')
            .concat('response')
            .sort(),
        );
      }
    });

    it('returns the same normalised row shape on every dialect', async () => {
      const agentId = randomUUID();
      await store.db
        .insertInto('gitswarm_agents')
        .values({ id: agentId, name: `agent-${agentId}`, is_human: true, metadata: toJson({ a: [1, 2] }) })
        .execute();
      const repoId = randomUUID();
      await store.db.insertInto('gitswarm_repos').values({ id: repoId, name: 'r' }).execute();
      const agent = await store.db
        .selectFrom('gitswarm_agents')
        .selectAll()
        .where('id', '=', agentId)
        .executeTakeFirstOrThrow();
      expect(agent.is_human).toBe(true);
      expect(agent.karma).toBe(0);
      expect(agent.metadata).toEqual({ a: [1, 2] });
      expect(agent.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const repo = await store.db
        .selectFrom('gitswarm_repos')
        .selectAll()
        .where('id', '=', repoId)
        .executeTakeFirstOrThrow();
      expect(repo.consensus_threshold).toBe(0.66);
      expect(repo.human_review_weight).toBe(1.5);
      expect(repo.auto_revert_on_red).toBe(true);
      expect(repo.auto_promote_on_green).toBe(false);
      expect(repo.merge_mode).toBe('review');
      const count = await store.db
        .selectFrom('gitswarm_agents')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(typeof count.n).toBe('number');
    });

    it('binds booleans and dates wherever a query takes them', async () => {
      const human = randomUUID();
      const bot = randomUUID();
      await store.db
        .insertInto('gitswarm_agents')
        .values([
          { id: human, name: `agent-${human}`, is_human: true },
          { id: bot, name: `agent-${bot}`, is_human: false },
        ])
        .execute();
      const ours = [human, bot];
      const humans = await store.db
        .selectFrom('gitswarm_agents')
        .select('id')
        .where('id', 'in', ours)
        .where('is_human', '=', true)
        .execute();
      expect(humans.map((row) => row.id)).toEqual([human]);
      const either = await store.db
        .selectFrom('gitswarm_agents')
        .select('id')
        .where('id', 'in', ours)
        .where('is_human', 'in', [true, false])
        .execute();
      expect(either).toHaveLength(2);
      const later = new Date(Date.now() + 3_600_000);
      const before = await store.db
        .selectFrom('gitswarm_agents')
        .select('id')
        .where('id', 'in', ours)
        .where(sql<boolean>`created_at < ${later}`)
        .where(sql<boolean>`${false} = ${false}`)
        .execute();
      expect(before).toHaveLength(2);
      if (dialect === 'sqlite') {
        // Only SQLite's driver streams here (PostgreSQL's would need a cursor package).
        const streamed: string[] = [];
        for await (const row of store.db
          .selectFrom('gitswarm_agents')
          .select('id')
          .where('id', 'in', ours)
          .where('is_human', '=', false)
          .stream())
          streamed.push(row.id);
        expect(streamed).toEqual([bot]);
      }
      await store.db.transaction().execute(async (trx) => {
        await trx.updateTable('gitswarm_agents').set({ is_human: true }).where('id', '=', bot).execute();
        const stamped = await trx
          .updateTable('gitswarm_agents')
          .set({ updated_at: sql`${later}` })
          .where('id', '=', bot)
          .where(sql<boolean>`${true} = ${true}`)
          .returning(['is_human'])
          .executeTakeFirstOrThrow();
        expect(stamped.is_human).toBe(true);
      });
    });

    it('serialises concurrent read-decide-write transactions under the repo lock', async () => {
      const repoId = randomUUID();
      await store.db
        .insertInto('gitswarm_repos')
        .values({ id: repoId, name: 'locked', patch_count: 0 })
        .execute();
      await Promise.all(
        Array.from({ length: 10 }, () =>
          lockedTransaction(store, repoId, async (trx) => {
            const row = await trx
              .selectFrom('gitswarm_repos')
              .select('patch_count')
              .where('id', '=', repoId)
              .executeTakeFirstOrThrow();
            await sql`select 1`.execute(trx);
            await trx
              .updateTable('gitswarm_repos')
              .set({ patch_count: row.patch_count + 1 })
              .where('id', '=', repoId)
              .execute();
          }),
        ),
      );
      const repo = await store.db
        .selectFrom('gitswarm_repos')
        .select('patch_count')
        .where('id', '=', repoId)
        .executeTakeFirstOrThrow();
      expect(repo.patch_count).toBe(10);
    });

    // Two stores on one database stand in for two processes (PGlite lives in one process only).
    const twoStores = dialectLabel(dialect) === 'pglite' ? postgresServerSkipReason(dialect) : null;
    it.skipIf(twoStores !== null)(
      withSkipReason(
        'excludes across stores: an operation lock and a one-transaction lock wait for each other',
        twoStores,
      ),
      async () => {
        const other = await openStore(store.location, store.schema ? { schema: store.schema } : {});
        const operation =
          (on: Store): HoldLock =>
          (repoId, work) =>
            withRepoLock(on, repoId, work);
        // The lock covers a transaction's statements: on PostgreSQL it goes out with the first.
        const transaction =
          (on: Store): HoldLock =>
          (repoId, work) =>
            lockedTransaction(on, repoId, async (trx) => {
              await sql`select 1`.execute(trx);
              await work();
            });
        /**
         * Returns once the waiter is blocked on the lock. PostgreSQL shows it: an advisory lock
         * not granted (polled, with a deadline). SQLite's file lock shows no waiter, so there the
         * waiter gets a bounded window in which running early would be caught.
         */
        const waiterBlocked = async (repoId: string) => {
          if (dialect === 'sqlite') return sqliteWaiterWindow();
          const deadline = Date.now() + 10_000;
          for (;;) {
            // The lock's 64-bit key shows as classid (high half) and objid (low half).
            const { rows } = await sql<{ n: string }>`
              with k as (select hashtextextended(${repoId}, 0) as key)
              select count(*) as n from pg_locks, k
              where locktype = 'advisory' and not granted
                and classid = ((k.key >> 32) & 4294967295)::oid and objid = (k.key & 4294967295)::oid`.execute(
              store.db,
            );
            if (Number(rows[0]?.n) > 0) return;
            if (Date.now() > deadline) throw new Error('the waiter never blocked on the lock in 10 s');
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        };
        /** The holder takes the lock first; the waiter must run only after the holder let go. */
        const expectExclusion = async (holder: HoldLock, waiter: HoldLock) => {
          const repoId = randomUUID();
          const order = await lockOrder(holder, waiter, repoId, () => waiterBlocked(repoId));
          expect(order).toEqual(['released', 'holder', 'waiter']);
        };
        try {
          for (const [first, second] of [
            [other, store],
            [store, other],
          ] as const) {
            await expectExclusion(operation(first), transaction(second));
            await expectExclusion(transaction(second), operation(first));
          }
        } finally {
          await other.close();
        }
      },
    );

    // Only a PostgreSQL server takes a connection URL with session options.
    itOnPostgresServer(
      dialect,
      'runs PostgreSQL sessions in UTC and keeps the options of the URL',
      async () => {
        const url = new URL(store.location);
        url.searchParams.set('options', '-c statement_timeout=12345');
        const other = await openStore(url.toString(), store.schema ? { schema: store.schema } : {});
        try {
          const { rows } = await sql<{ tz: string; timeout: string }>`
            select current_setting('TimeZone') as tz, current_setting('statement_timeout') as timeout`.execute(
            other.db,
          );
          expect(rows[0]).toEqual({ tz: 'UTC', timeout: '12345ms' });
        } finally {
          await other.close();
        }
      },
    );

    it('rolls back everything a failed transaction wrote', async () => {
      const repoId = randomUUID();
      await expect(
        lockedTransaction(store, repoId, async (trx) => {
          await trx.insertInto('gitswarm_repos').values({ id: repoId, name: 'half' }).execute();
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const repo = await store.db
        .selectFrom('gitswarm_repos')
        .select('id')
        .where('id', '=', repoId)
        .executeTakeFirst();
      expect(repo).toBeUndefined();
    });
  });
}
