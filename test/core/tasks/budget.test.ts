import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import {
  deposit,
  getBudget,
  listBudgetTransactions,
  MAX_TOTAL_CREDITS,
} from '../../../src/core/tasks/budget.js';
import {
  abandonClaim,
  cancelTask,
  claimTask,
  createTask,
  expireTasks,
  reviewClaim,
  submitClaim,
} from '../../../src/core/tasks/tasks.js';
import { isGitSwarmError } from '../../../src/errors.js';
import type { Agent } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import {
  expectLedgerConsistent,
  expectRefused,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from './tasks-fixture.js';

/** A small seeded PRNG (mulberry32): the same sequence on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: budget`, () => {
    let store: TestStore;
    let deps: TestDeps;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });
    beforeEach(() => {
      deps = testDeps(store);
    });

    it('shows an empty budget without creating a row, and creates it on the first deposit', async () => {
      const s = await seedRepo(deps);
      expect(await getBudget(store.db, s.repo.id)).toEqual({
        repo_id: s.repo.id,
        budget_id: null,
        total_credits: 0,
        available_credits: 0,
        reserved_credits: 0,
        paid_out_credits: 0,
        max_bounty_per_issue: 1000,
      });
      const rows = await store.db
        .selectFrom('gitswarm_repo_budgets')
        .where('repo_id', '=', s.repo.id)
        .selectAll()
        .execute();
      expect(rows).toEqual([]);
      const first = await deposit(deps, store.db, {
        repo: s.repo,
        actor: s.owner,
        amount: 250,
        description: 'Seed',
      });
      expect(first.transaction).toMatchObject({
        type: 'deposit',
        amount: 250,
        balance_after: 250,
        agent_id: s.owner.id,
        description: 'Seed',
        task_id: null,
      });
      const second = await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 50 });
      expect(second.transaction.balance_after).toBe(300);
      expect(second.budget.id).toBe(first.budget.id);
      expect(await getBudget(store.db, s.repo.id)).toMatchObject({
        budget_id: first.budget.id,
        total_credits: 300,
        available_credits: 300,
        reserved_credits: 0,
        paid_out_credits: 0,
      });
      const history = await listBudgetTransactions(store.db, s.repo.id);
      expect(history.map((t) => [t.type, t.amount, t.balance_after, t.agent_name])).toEqual([
        ['deposit', 50, 300, s.owner.name],
        ['deposit', 250, 250, s.owner.name],
      ]);
      const activity = await listActivity(store.db, { repoId: s.repo.id, eventTypes: ['budget.deposited'] });
      expect(activity.map((a) => a.metadata)).toEqual([
        expect.objectContaining({ amount: 50, balance_after: 300 }),
        expect.objectContaining({ amount: 250, balance_after: 250 }),
      ]);
    });

    it('lets admins deposit (owner or explicit grant) and refuses everyone else, changing nothing', async () => {
      const s = await seedRepo(deps);
      const maintainer = await seedAgent(deps, s, { maintainer: true });
      const writer = await seedAgent(deps, s);
      const admin = await seedAgent(deps, s, { access: 'admin' });
      await expectRefused(store, 'forbidden', () =>
        deposit(deps, store.db, { repo: s.repo, actor: maintainer, amount: 10 }),
      );
      await expectRefused(store, 'forbidden', () =>
        deposit(deps, store.db, { repo: s.repo, actor: writer, amount: 10 }),
      );
      await deposit(deps, store.db, { repo: s.repo, actor: admin, amount: 10 });
      expect((await getBudget(store.db, s.repo.id)).total_credits).toBe(10);
    });

    it('refuses amounts that are not whole positive numbers or would overflow, changing nothing', async () => {
      const s = await seedRepo(deps);
      for (const amount of [0, -5, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 1_000_000_001]) {
        await expectRefused(store, 'invalid_input', () =>
          deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount }),
        );
      }
      await expectRefused(store, 'invalid_input', () =>
        deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 5, description: 'x'.repeat(501) }),
      );
      await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 1_000_000_000 });
      await deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 1_000_000_000 });
      await expectRefused(store, 'invalid_input', () =>
        deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount: 1 }),
      );
      expect((await getBudget(store.db, s.repo.id)).total_credits).toBe(MAX_TOTAL_CREDITS);
    });

    it("deposits inside a caller's transaction and rolls back with it", async () => {
      const s = await seedRepo(deps);
      await expect(
        store.db.transaction().execute(async (trx) => {
          await deposit(deps, trx, { repo: s.repo, actor: s.owner, amount: 70 });
          expect((await getBudget(trx, s.repo.id)).available_credits).toBe(70);
          throw new Error('later step fails');
        }),
      ).rejects.toThrow('later step fails');
      expect(await getBudget(store.db, s.repo.id)).toMatchObject({ budget_id: null, total_credits: 0 });
      expect(await listBudgetTransactions(store.db, s.repo.id)).toEqual([]);
    });

    it('keeps total = available + reserved + paid_out and a true balance_after over 320 random operations', async () => {
      const random = prng(20260301);
      const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
      const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
      const s = await seedRepo(deps);
      const creator = await seedAgent(deps, s, { prefix: 'creator' });
      const workers = [await seedAgent(deps, s), await seedAgent(deps, s), await seedAgent(deps, s)];
      const start = Date.parse('2026-03-01T12:00:00.000Z');
      let now = start;
      deps.clock.set(new Date(now).toISOString());

      type ModelTask = {
        number: number;
        amount: number;
        status: string;
        claimant?: Agent;
        expiresAt: number | null;
      };
      const model = { total: 0, available: 0, reserved: 0, paid: 0 };
      const tasks: ModelTask[] = [];
      const counts: Record<string, number> = {};
      const refusals: Record<string, number> = {};
      const past = (t: ModelTask) => t.expiresAt !== null && t.expiresAt <= now;

      async function attempt(kind: string, expected: string | null, action: () => Promise<unknown>) {
        counts[kind] = (counts[kind] ?? 0) + 1;
        const before = await getBudget(store.db, s.repo.id);
        try {
          await action();
        } catch (error) {
          if (!isGitSwarmError(error)) throw error;
          expect({ kind, code: error.code }).toEqual({ kind, code: expected });
          expect(await getBudget(store.db, s.repo.id)).toEqual(before);
          refusals[error.code] = (refusals[error.code] ?? 0) + 1;
          return false;
        }
        expect({ kind, code: null }).toEqual({ kind, code: expected });
        return true;
      }

      const operationCount = () => Object.values(counts).reduce((a, b) => a + b, 0);
      for (let step = 0; operationCount() < 320; step++) {
        const roll = random();
        const live = (...statuses: string[]) => tasks.filter((t) => statuses.includes(t.status));
        if (roll < 0.15) {
          const amount = between(1, 200);
          await attempt('deposit', null, () =>
            deposit(deps, store.db, { repo: s.repo, actor: s.owner, amount }),
          );
          model.total += amount;
          model.available += amount;
        } else if (roll < 0.4) {
          const r = random();
          const amount = r < 0.2 ? 0 : r < 0.9 ? between(1, 400) : between(1001, 1100);
          const expiresAt = random() < 0.3 ? now + between(1, 6) * 3_600_000 : null;
          const expected =
            amount > 1000 ? 'invalid_input' : amount > model.available ? 'insufficient_budget' : null;
          const ok = await attempt('create', expected, () =>
            createTask(deps, store.db, {
              repo: s.repo,
              actor: creator,
              title: `Task ${step}`,
              amount,
              expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
            }),
          );
          if (ok) {
            tasks.push({ number: tasks.length + 1, amount, status: 'open', expiresAt });
            model.available -= amount;
            model.reserved += amount;
          }
        } else if (roll < 0.55) {
          const task = pick(live('open'));
          if (!task) continue;
          const agent = pick(workers)!;
          const ok = await attempt('claim', past(task) ? 'expired' : null, () =>
            claimTask(deps, store.db, { repo: s.repo, taskRef: String(task.number), agent }),
          );
          if (ok) Object.assign(task, { status: 'claimed', claimant: agent });
        } else if (roll < 0.67) {
          const task = pick(live('claimed'));
          if (!task) continue;
          const ok = await attempt('submit', past(task) ? 'expired' : null, () =>
            submitClaim(deps, store.db, {
              repo: s.repo,
              agent: task.claimant!,
              taskRef: String(task.number),
            }),
          );
          if (ok) task.status = 'submitted';
        } else if (roll < 0.8) {
          const task = pick(live('submitted'));
          if (!task) continue;
          const verdict = random() < 0.75 ? 'approve' : 'reject';
          await attempt('review', null, () =>
            reviewClaim(deps, store.db, {
              repo: s.repo,
              claimRef: String(task.number),
              reviewer: creator,
              verdict,
            }),
          );
          if (verdict === 'approve') {
            task.status = 'completed';
            model.reserved -= task.amount;
            model.paid += task.amount;
          } else {
            task.status = 'open';
          }
        } else if (roll < 0.85) {
          const task = pick(live('claimed', 'submitted'));
          if (!task) continue;
          await attempt('abandon', null, () =>
            abandonClaim(deps, store.db, {
              repo: s.repo,
              agent: task.claimant!,
              taskRef: String(task.number),
            }),
          );
          task.status = 'open';
        } else if (roll < 0.93) {
          const task = pick(tasks);
          if (!task) continue;
          const cancellable = ['open', 'claimed', 'submitted'].includes(task.status);
          const ok = await attempt('cancel', cancellable ? null : 'invalid_state', () =>
            cancelTask(deps, store.db, { repo: s.repo, taskRef: String(task.number), actor: creator }),
          );
          if (ok) {
            task.status = 'cancelled';
            model.available += task.amount;
            model.reserved -= task.amount;
          }
        } else {
          // Time moves on in half hours (the clock's own millisecond drift stays far below that).
          const halfHours = between(0, 4);
          if (halfHours > 0) {
            now += halfHours * 1_800_000;
            deps.clock.set(new Date(now).toISOString());
          }
          counts.expire = (counts.expire ?? 0) + 1;
          const expired = await expireTasks(deps, store.db, s.repo);
          const due = live('open', 'claimed').filter(past);
          expect(expired.map((t) => t.number).sort((a, b) => a - b)).toEqual(due.map((t) => t.number));
          for (const task of due) {
            task.status = 'expired';
            model.available += task.amount;
            model.reserved -= task.amount;
          }
        }
        const budget = await getBudget(store.db, s.repo.id);
        expect({
          total: budget.total_credits,
          available: budget.available_credits,
          reserved: budget.reserved_credits,
          paid: budget.paid_out_credits,
        }).toEqual(model);
        expect(budget.total_credits).toBe(
          budget.available_credits + budget.reserved_credits + budget.paid_out_credits,
        );
        if (step % 20 === 0) await expectLedgerConsistent(store, s.repo.id);
      }
      await expectLedgerConsistent(store, s.repo.id);
      expect(operationCount()).toBeGreaterThanOrEqual(300);
      // The sequence exercised every kind of movement and refusal.
      for (const kind of ['deposit', 'create', 'claim', 'submit', 'review', 'abandon', 'cancel', 'expire']) {
        expect(counts[kind] ?? 0, kind).toBeGreaterThan(0);
      }
      for (const code of ['insufficient_budget', 'invalid_input', 'invalid_state']) {
        expect(refusals[code] ?? 0, code).toBeGreaterThan(0);
      }
      const types = new Set(
        (await listBudgetTransactions(store.db, s.repo.id, { limit: 10_000 })).map((t) => t.type),
      );
      expect([...types].sort()).toEqual(['bounty_release', 'bounty_reserve', 'deposit', 'payout']);
    });
  });
}
