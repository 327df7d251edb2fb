/**
 * Budget rules the budget tests left loose (found by mutation testing): the refusals' messages and
 * details, the description and total limits at their edges, the SQL guards that keep a balance from
 * going negative (two reservations racing past the check, a release of credits never reserved), a
 * refused reservation that leaves no budget behind, the activity's target and the ledger's limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity/activity.js';
import {
  deposit,
  getBudget,
  listBudgetTransactions,
  MAX_DEPOSIT,
  MAX_TOTAL_CREDITS,
  payBounty,
  releaseBounty,
  reserveBounty,
} from '../../src/core/tasks/budget.js';
import { createTask } from '../../src/core/tasks/tasks.js';
import type { GitSwarmError } from '../../src/errors.js';
import { seedRepo, type TestDeps, testDeps } from '../core/tasks/tasks-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: budget at its edges`, () => {
    let store: TestStore;
    let deps: TestDeps;
    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    /** A repository and one task in it without a bounty (the movements below name it). */
    async function repoWithTask() {
      const s = await seedRepo(deps);
      const task = await createTask(deps, store.db, {
        repo: s.repo,
        actor: s.owner,
        title: 'Task',
        amount: 0,
      });
      return { s, TASK: task.id };
    }

    it('deposit refusals say why: the amount, a description over 500 characters, the total cap', async () => {
      const s = await seedRepo(deps);
      const bad = await caught(deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 0 }));
      expect([bad.code, bad.message, bad.details]).toEqual([
        'invalid_input',
        `A deposit must be a whole number from 1 to ${MAX_DEPOSIT}.`,
        { amount: 0 },
      ]);
      // Exactly 500 characters is allowed; 501 is not.
      await deposit(deps, store.db, {
        repo: s.repo,
        actor: s.owner,
        amount: MAX_DEPOSIT,
        description: 'x'.repeat(500),
      });
      const long = await caught(
        deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 1, description: 'x'.repeat(501) }),
      );
      expect([long.code, long.message]).toEqual([
        'invalid_input',
        'A deposit description may be at most 500 characters.',
      ]);
      await deposit(deps, store.db, {
        repo: s.repo,
        actor: s.owner,
        amount: MAX_TOTAL_CREDITS - MAX_DEPOSIT,
      });
      const full = await caught(deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 1 }));
      expect([full.code, full.message]).toEqual([
        'invalid_input',
        `A budget may hold at most ${MAX_TOTAL_CREDITS} credits in total; it holds ${MAX_TOTAL_CREDITS}.`,
      ]);
      expect((await getBudget(store.db, s.repo.id)).total_credits).toBe(MAX_TOTAL_CREDITS);
    });

    it('bounty refusals say why, and a refused reservation leaves no budget row behind', async () => {
      const { s, TASK } = await repoWithTask();
      const empty = await caught(
        reserveBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 5, agentId: null }),
      );
      expect([empty.code, empty.message, empty.details]).toEqual([
        'insufficient_budget',
        'The budget has 0 available credits; the bounty needs 5.',
        { available: 0, required: 5 },
      ]);
      expect((await getBudget(store.db, s.repo.id)).budget_id).toBeNull();

      const over = await caught(
        reserveBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 1001, agentId: null }),
      );
      expect([over.code, over.message, over.details]).toEqual([
        'invalid_input',
        'A bounty may be at most 1000 credits in this repository; got 1001.',
        { amount: 1001, max_bounty_per_issue: 1000 },
      ]);
    });

    it('two reservations racing past the check: the SQL guard refuses the second, available never goes negative', async () => {
      const { s, TASK } = await repoWithTask();
      await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 10 });
      const results = await Promise.allSettled([
        reserveBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 8, agentId: null }),
        reserveBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 8, agentId: null }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      // On SQLite both read 10 available before either writes, so the SQL guard is what refuses the
      // second (its details show the 10 it read); on PostgreSQL the pool may order them, and the check does.
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: 'insufficient_budget', details: { required: 8 } });
      if (dialect === 'sqlite') {
        expect(refused.reason.message).toBe('The budget has 10 available credits; the bounty needs 8.');
        expect(refused.reason.details).toEqual({ available: 10, required: 8 });
      }
      expect(await getBudget(store.db, s.repo.id)).toMatchObject({
        available_credits: 2,
        reserved_credits: 8,
      });
    });

    it('releasing or paying more than is reserved, or a non-positive amount, is refused and changes nothing', async () => {
      const { s, TASK } = await repoWithTask();
      await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 10 });
      await reserveBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 3, agentId: null });
      const budget = await getBudget(store.db, s.repo.id);
      const release = await caught(
        releaseBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 4, agentId: null }),
      );
      expect(release.message).toBe(
        `Budget ${budget.budget_id} holds 3 reserved credits; bounty_release needs 4`,
      );
      const pay = await caught(
        payBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 4, agentId: null }),
      );
      expect(pay.message).toBe(`Budget ${budget.budget_id} holds 3 reserved credits; payout needs 4`);
      for (const amount of [0, -1, 1.5]) {
        const error = await caught(
          releaseBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount, agentId: null }),
        );
        expect(error.message).toBe(`A budget movement needs a positive whole amount, got ${amount}`);
      }
      expect(await getBudget(store.db, s.repo.id)).toMatchObject({
        total_credits: 10,
        available_credits: 7,
        reserved_credits: 3,
        paid_out_credits: 0,
      });
    });

    it('activity targets the budget for a deposit and the task for a bounty; the ledger honours its limit', async () => {
      const { s, TASK } = await repoWithTask();
      const { budget } = await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 10 });
      await reserveBounty(deps, store.db, {
        repoId: s.repo.id,
        taskId: TASK,
        amount: 2,
        agentId: s.owner.id,
      });
      await payBounty(deps, store.db, { repoId: s.repo.id, taskId: TASK, amount: 2, agentId: null });
      const activity = await listActivity(store.db, {
        repoId: s.repo.id,
        eventTypes: ['budget.deposited', 'bounty.reserved', 'bounty.paid'],
      });
      expect(activity.map((a) => [a.event_type, a.target_type, a.target_id]).reverse()).toEqual([
        ['budget.deposited', 'budget', budget.id],
        ['bounty.reserved', 'task', TASK],
        ['bounty.paid', 'task', TASK],
      ]);
      expect((await listBudgetTransactions(store.db, s.repo.id, { limit: 2 })).map((t) => t.type)).toEqual([
        'payout',
        'bounty_reserve',
      ]);
      expect(await listBudgetTransactions(store.db, s.repo.id, { limit: 0 })).toHaveLength(1);
    });
  });
}
