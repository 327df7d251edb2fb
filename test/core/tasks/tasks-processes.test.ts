/**
 * Eight OS processes act on one repository at the same moment through the built code and a
 * shared store: claiming one task leaves exactly one claim; depositing leaves an exact ledger.
 * PGlite lives inside one process, so on it the same races run as eight concurrent callers.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { deposit, getBudget, listBudgetTransactions } from '../../../src/core/tasks/budget.js';
import { claimTask, createTask, getTask, listClaims } from '../../../src/core/tasks/tasks.js';
import type { Agent } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { requireBuilt, runWorkers as runFixtureWorkers } from '../../helpers/workers.js';
import {
  expectLedgerConsistent,
  type SeededRepo,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from './tasks-fixture.js';

const PROCESSES = 8;
const DEPOSITS_EACH = 10;
const DEPOSIT = 7;

type Outcome = { ok: true; id: string; balance_after?: number } | { ok: false; code: string };

interface WorkerConfig {
  repoId: string;
  agent: string;
  op: 'claim' | 'deposit';
  taskRef?: string;
  amount?: number;
  repeat?: number;
}

/** Runs one worker process per config, released together, and collects their outcomes. */
function runWorkers(store: TestStore, configs: WorkerConfig[]): Promise<Outcome[][]> {
  return runFixtureWorkers<Outcome[]>(
    'tasks-worker.mjs',
    configs.map((config) => [
      JSON.stringify({
        ...config,
        location: store.location,
        schema: store.schema,
        now: '2026-03-01T13:00:00Z',
      }),
    ]),
  );
}

const inProcessOnly = (dialect: string) => dialect === 'postgres' && !inject('postgresUrl');

for (const dialect of DIALECTS) {
  const label = dialectLabel(dialect);
  const mode = inProcessOnly(dialect) ? `${PROCESSES} concurrent callers` : `${PROCESSES} OS processes`;
  describe(`${label}: tasks and budget under ${mode}`, () => {
    let store: TestStore;
    let deps: TestDeps;
    let seeded: SeededRepo;
    let agents: Agent[];
    beforeAll(async () => {
      if (!inProcessOnly(dialect)) requireBuilt('src/core/tasks/tasks.js');
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });
    beforeEach(async () => {
      deps = testDeps(store);
      seeded = await seedRepo(deps);
      agents = [];
      for (let i = 0; i < PROCESSES; i++)
        agents.push(await seedAgent(deps, seeded, { prefix: `p${i}`, access: 'admin' }));
    });

    it('exactly one of eight simultaneous claims on a task wins', async () => {
      const creator = await seedAgent(deps, seeded, { prefix: 'creator' });
      const task = await createTask(deps, store.db, {
        repo: seeded.repo,
        actor: creator,
        title: 'Contested',
      });
      let outcomes: Outcome[];
      if (inProcessOnly(dialect)) {
        const settled = await Promise.allSettled(
          agents.map((agent) => claimTask(deps, store.db, { repo: seeded.repo, taskRef: '1', agent })),
        );
        outcomes = settled.map((r) =>
          r.status === 'fulfilled'
            ? { ok: true, id: r.value.id }
            : { ok: false, code: (r.reason as { code: string }).code },
        );
      } else {
        const results = await runWorkers(
          store,
          agents.map((agent) => ({ repoId: seeded.repo.id, agent: agent.name, op: 'claim', taskRef: '1' })),
        );
        outcomes = results.flat();
      }
      const winners = outcomes.filter((o) => o.ok);
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((o) => !o.ok)).toEqual(
        Array(PROCESSES - 1).fill({ ok: false, code: 'invalid_state' }),
      );
      const claims = await listClaims(store.db, { taskId: task.id });
      expect(claims.map((c) => [c.id, c.status])).toEqual([[winners[0]?.id, 'active']]);
      expect((await getTask(store.db, seeded.repo.id, '1')).status).toBe('claimed');
    });

    it('eight processes depositing at once leave an exact ledger', async () => {
      let outcomes: Outcome[];
      if (inProcessOnly(dialect)) {
        outcomes = (
          await Promise.all(
            agents.map(async (agent) => {
              const mine: Outcome[] = [];
              for (let i = 0; i < DEPOSITS_EACH; i++) {
                const { transaction } = await deposit(deps, store.db, {
                  repo: seeded.repo,
                  actor: agent,
                  amount: DEPOSIT,
                });
                mine.push({ ok: true, id: transaction.id, balance_after: transaction.balance_after });
              }
              return mine;
            }),
          )
        ).flat();
      } else {
        const results = await runWorkers(
          store,
          agents.map((agent) => ({
            repoId: seeded.repo.id,
            agent: agent.name,
            op: 'deposit',
            amount: DEPOSIT,
            repeat: DEPOSITS_EACH,
          })),
        );
        outcomes = results.flat();
      }
      const count = PROCESSES * DEPOSITS_EACH;
      expect(outcomes.filter((o) => o.ok)).toHaveLength(count);
      expect(await getBudget(store.db, seeded.repo.id)).toMatchObject({
        total_credits: count * DEPOSIT,
        available_credits: count * DEPOSIT,
        reserved_credits: 0,
        paid_out_credits: 0,
      });
      // Every deposit saw the one before it: the balances after are exactly 7, 14, …, 560.
      const ledger = await listBudgetTransactions(store.db, seeded.repo.id, { limit: 10_000 });
      expect(ledger.map((t) => t.balance_after).sort((a, b) => a - b)).toEqual(
        Array.from({ length: count }, (_, i) => (i + 1) * DEPOSIT),
      );
      expect(outcomes.map((o) => (o.ok ? o.balance_after : -1)).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
        Array.from({ length: count }, (_, i) => (i + 1) * DEPOSIT),
      );
      await expectLedgerConsistent(store, seeded.repo.id, { inOrder: false });
    });
  });
}
