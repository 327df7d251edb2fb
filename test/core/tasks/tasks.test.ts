import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { deposit, getBudget } from '../../../src/core/tasks/budget.js';
import {
  abandonClaim,
  cancelTask,
  claimTask,
  createTask,
  expireTasks,
  fileCriticalTask,
  getTask,
  linkClaimToStream,
  listClaims,
  listTasks,
  reviewClaim,
  submitClaim,
} from '../../../src/core/tasks/tasks.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import {
  expectLedgerConsistent,
  expectRefused,
  insertStream,
  type SeededRepo,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from './tasks-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: tasks`, () => {
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

    async function setup(funds = 0) {
      const seeded = await seedRepo(deps);
      const creator = await seedAgent(deps, seeded, { prefix: 'creator' });
      const worker = await seedAgent(deps, seeded, { prefix: 'worker' });
      if (funds > 0) await deposit(deps, store.db, { repo: seeded.repo, actor: seeded.owner, amount: funds });
      return { ...seeded, seeded, creator, worker };
    }

    async function events(seeded: SeededRepo) {
      const entries = await listActivity(store.db, { repoId: seeded.repo.id, limit: 1000 });
      return entries.map((e) => e.event_type).reverse();
    }

    describe('create', () => {
      it('numbers tasks per repository 1, 2, 3 and keeps what it was given', async () => {
        const a = await setup();
        const b = await setup();
        const t1 = await createTask(deps, store.db, { repo: a.repo, actor: a.creator, title: 'First' });
        const t2 = await createTask(deps, store.db, {
          repo: a.repo,
          actor: a.creator,
          title: '  Second  ',
          description: 'Details',
          priority: 'high',
          labels: ['ui', 'bug', 'ui', ' '],
          difficulty: 'hard',
          expiresAt: '2026-04-01T00:00:00+02:00',
        });
        const other = await createTask(deps, store.db, {
          repo: b.repo,
          actor: b.creator,
          title: 'Other repo',
        });
        const t3 = await createTask(deps, store.db, { repo: a.repo, actor: a.creator, title: 'Third' });
        expect([t1.number, t2.number, t3.number, other.number]).toEqual([1, 2, 3, 1]);
        expect(t1).toMatchObject({
          status: 'open',
          priority: 'medium',
          amount: 0,
          labels: [],
          difficulty: null,
        });
        expect(t2).toMatchObject({
          title: 'Second',
          description: 'Details',
          priority: 'high',
          labels: ['ui', 'bug'],
          difficulty: 'hard',
          expires_at: '2026-03-31T22:00:00.000Z',
          created_by: a.creator.id,
        });
        expect(await events(a)).toEqual(['repo.initialized', 'task.created', 'task.created', 'task.created']);
      });

      it('reserves the bounty from the budget in the same step', async () => {
        const s = await setup(500);
        const task = await createTask(deps, store.db, {
          repo: s.repo,
          actor: s.creator,
          title: 'Paid',
          amount: 120,
        });
        expect(task.amount).toBe(120);
        const budget = await getBudget(store.db, s.repo.id);
        expect(budget).toMatchObject({ total_credits: 500, available_credits: 380, reserved_credits: 120 });
        const ledger = await store.db
          .selectFrom('gitswarm_budget_transactions')
          .selectAll()
          .where('task_id', '=', task.id)
          .execute();
        expect(ledger).toEqual([
          expect.objectContaining({
            type: 'bounty_reserve',
            amount: 120,
            balance_after: 380,
            agent_id: s.creator.id,
          }),
        ]);
        expect((await events(s)).slice(-2)).toEqual(['task.created', 'bounty.reserved']);
        await expectLedgerConsistent(store, s.repo.id);
      });

      it('refuses invalid input and changes nothing', async () => {
        const s = await setup();
        const base = { repo: s.repo, actor: s.creator };
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: '   ' }),
        );
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: 'x'.repeat(501) }),
        );
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: 'T', priority: 'urgent' }),
        );
        for (const amount of [-1, 1.5, Number.NaN]) {
          await expectRefused(store, 'invalid_input', () =>
            createTask(deps, store.db, { ...base, title: 'T', amount }),
          );
        }
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: 'T', expiresAt: 'tomorrow' }),
        );
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: 'T', expiresAt: '2026-02-01T00:00:00Z' }),
        );
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, {
            ...base,
            title: 'T',
            labels: Array.from({ length: 21 }, (_, i) => `l${i}`),
          }),
        );
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, { ...base, title: 'T', difficulty: 'x'.repeat(21) }),
        );
      });

      it('refuses a bounty the budget cannot cover or above max_bounty_per_issue, changing nothing', async () => {
        const s = await setup(100);
        await expectRefused(store, 'insufficient_budget', () =>
          createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Too rich', amount: 101 }),
        );
        const empty = await setup();
        await expectRefused(store, 'insufficient_budget', () =>
          createTask(deps, store.db, {
            repo: empty.repo,
            actor: empty.creator,
            title: 'No budget',
            amount: 1,
          }),
        );
        const rich = await setup(5000);
        await expectRefused(store, 'invalid_input', () =>
          createTask(deps, store.db, {
            repo: rich.repo,
            actor: rich.creator,
            title: 'Over the cap',
            amount: 1001,
          }),
        );
        const ok = await createTask(deps, store.db, {
          repo: rich.repo,
          actor: rich.creator,
          title: 'Cap',
          amount: 1000,
        });
        expect(ok.amount).toBe(1000);
      });

      it('refuses an agent without write access, changing nothing', async () => {
        const s = await seedRepo(deps, { agent_access: 'allowlist' });
        const reader = await seedAgent(deps, s, { prefix: 'reader' });
        await expectRefused(store, 'forbidden', () =>
          createTask(deps, store.db, { repo: s.repo, actor: reader, title: 'Nope' }),
        );
        const writer = await seedAgent(deps, s, { prefix: 'writer', access: 'write' });
        expect((await createTask(deps, store.db, { repo: s.repo, actor: writer, title: 'Yes' })).number).toBe(
          1,
        );
      });
    });

    describe('get and list', () => {
      it('finds a task by id, number or #number, only in its repository', async () => {
        const s = await setup();
        const other = await setup();
        const task = await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Find me' });
        expect((await getTask(store.db, s.repo.id, task.id)).id).toBe(task.id);
        expect((await getTask(store.db, s.repo.id, task.id.toUpperCase())).id).toBe(task.id);
        expect((await getTask(store.db, s.repo.id, '1')).id).toBe(task.id);
        expect((await getTask(store.db, s.repo.id, '#1')).id).toBe(task.id);
        for (const ref of ['2', 'abc', '', '-1', '1.0']) {
          await expect(getTask(store.db, s.repo.id, ref)).rejects.toMatchObject({ code: 'task_not_found' });
        }
        await expect(getTask(store.db, other.repo.id, task.id)).rejects.toMatchObject({
          code: 'task_not_found',
        });
      });

      it('lists critical first, then by priority, newest first within one, and filters by status', async () => {
        const s = await setup();
        const make = (title: string, priority: string) =>
          createTask(deps, store.db, { repo: s.repo, actor: s.creator, title, priority });
        await make('low-old', 'low');
        await make('high-old', 'high');
        await make('medium', 'medium');
        await make('critical', 'critical');
        await make('high-new', 'high');
        await make('low-new', 'low');
        const listed = await listTasks(store.db, s.repo.id);
        expect(listed.map((t) => t.title)).toEqual([
          'critical',
          'high-new',
          'high-old',
          'medium',
          'low-new',
          'low-old',
        ]);
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '3', agent: s.worker });
        expect((await listTasks(store.db, s.repo.id, { status: 'claimed' })).map((t) => t.title)).toEqual([
          'medium',
        ]);
        expect(await listTasks(store.db, s.repo.id, { status: ['open', 'claimed'] })).toHaveLength(6);
        expect(await listTasks(store.db, s.repo.id, { status: 'completed' })).toEqual([]);
        await expect(listTasks(store.db, s.repo.id, { status: 'done' })).rejects.toMatchObject({
          code: 'invalid_input',
        });
      });
    });

    describe('claim', () => {
      it('gives one agent the task and records it', async () => {
        const s = await setup();
        const task = await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Work' });
        const claim = await claimTask(deps, store.db, {
          repo: s.repo,
          taskRef: String(task.number),
          agent: s.worker,
        });
        expect(claim).toMatchObject({
          task_id: task.id,
          agent_id: s.worker.id,
          status: 'active',
          stream_id: null,
        });
        expect((await getTask(store.db, s.repo.id, task.id)).status).toBe('claimed');
        expect((await events(s)).at(-1)).toBe('task.claimed');
      });

      it("refuses the task's creator, a second claimant and a reader, changing nothing", async () => {
        const s = await setup();
        const task = await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Work' });
        await expectRefused(store, 'forbidden', () =>
          claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent: s.creator }),
        );
        await claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent: s.worker });
        const second = await seedAgent(deps, s.seeded, { prefix: 'second' });
        await expectRefused(store, 'invalid_state', () =>
          claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent: second }),
        );
        await expectRefused(store, 'invalid_state', () =>
          claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent: s.worker }),
        );
        await expectRefused(store, 'task_not_found', () =>
          claimTask(deps, store.db, { repo: s.repo, taskRef: '99', agent: s.worker }),
        );
        const closed = await seedRepo(deps, { agent_access: 'allowlist' });
        const writer = await seedAgent(deps, closed, { access: 'write' });
        const reader = await seedAgent(deps, closed, { prefix: 'reader' });
        await createTask(deps, store.db, { repo: closed.repo, actor: writer, title: 'Closed' });
        await expectRefused(store, 'forbidden', () =>
          claimTask(deps, store.db, { repo: closed.repo, taskRef: '1', agent: reader }),
        );
      });

      it('refuses a task past its expiry even before the expiry pass, changing nothing', async () => {
        const s = await setup();
        await createTask(deps, store.db, {
          repo: s.repo,
          actor: s.creator,
          title: 'Soon',
          expiresAt: '2026-03-01T13:00:00Z',
        });
        deps.clock.set('2026-03-01T13:00:00.000Z');
        await expectRefused(store, 'expired', () =>
          claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker }),
        );
      });

      it('lets only one of many concurrent claimants win', async () => {
        const s = await setup();
        const task = await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Race' });
        const agents = await Promise.all(
          Array.from({ length: 8 }, (_, i) => seedAgent(deps, s.seeded, { prefix: `racer${i}` })),
        );
        const results = await Promise.allSettled(
          agents.map((agent) => claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'invalid_state' });
        }
        expect(await listClaims(store.db, { taskId: task.id })).toHaveLength(1);
      });
    });

    describe('submit, review, abandon', () => {
      async function claimed(amount = 0) {
        const s = await setup(amount > 0 ? 1000 : 0);
        const task = await createTask(deps, store.db, {
          repo: s.repo,
          actor: s.creator,
          title: 'Job',
          amount,
        });
        const claim = await claimTask(deps, store.db, { repo: s.repo, taskRef: task.id, agent: s.worker });
        return { ...s, task, claim };
      }

      it('submits the active claim with notes', async () => {
        const s = await claimed();
        const submitted = await submitClaim(deps, store.db, {
          repo: s.repo,
          agent: s.worker,
          taskRef: '1',
          notes: 'Done, see stream.',
        });
        expect(submitted).toMatchObject({
          id: s.claim.id,
          status: 'submitted',
          submission_notes: 'Done, see stream.',
        });
        expect(submitted.submitted_at).not.toBeNull();
        expect((await getTask(store.db, s.repo.id, '1')).status).toBe('submitted');
        expect((await events(s)).at(-1)).toBe('task.submitted');
      });

      it('refuses submitting without a claim, twice, or after expiry, changing nothing', async () => {
        const s = await claimed();
        await expectRefused(store, 'claim_not_found', () =>
          submitClaim(deps, store.db, { repo: s.repo, agent: s.creator, taskRef: '1' }),
        );
        await expectRefused(store, 'invalid_input', () =>
          submitClaim(deps, store.db, {
            repo: s.repo,
            agent: s.worker,
            taskRef: '1',
            notes: 'x'.repeat(10_001),
          }),
        );
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, claimId: s.claim.id });
        await expectRefused(store, 'invalid_state', () =>
          submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' }),
        );
        const late = await setup();
        await createTask(deps, store.db, {
          repo: late.repo,
          actor: late.creator,
          title: 'Late',
          expiresAt: '2026-03-02T00:00:00Z',
        });
        await claimTask(deps, store.db, { repo: late.repo, taskRef: '1', agent: late.worker });
        deps.clock.set('2026-03-02T00:00:01Z');
        await expectRefused(store, 'expired', () =>
          submitClaim(deps, store.db, { repo: late.repo, agent: late.worker, taskRef: '1' }),
        );
      });

      it('approval by the creator completes the task and pays the bounty, without karma', async () => {
        const s = await claimed(250);
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        const result = await reviewClaim(deps, store.db, {
          repo: s.repo,
          claimRef: s.claim.id,
          reviewer: s.creator,
          verdict: 'approve',
          notes: 'Great.',
        });
        expect(result.claim).toMatchObject({
          status: 'approved',
          reviewed_by: s.creator.id,
          review_notes: 'Great.',
          payout_amount: 250,
        });
        expect(result.task.status).toBe('completed');
        expect(result.task.completed_at).not.toBeNull();
        expect(result.payout).toBe(250);
        // A bounty pays credits only: every budget bounty counts as self-funded (karma.ts).
        const worker = await store.db
          .selectFrom('gitswarm_agents')
          .select('karma')
          .where('id', '=', s.worker.id)
          .executeTakeFirstOrThrow();
        expect(worker.karma).toBe(0);
        expect(
          await store.db
            .selectFrom('gitswarm_review_karma_transactions')
            .selectAll()
            .where('agent_id', '=', s.worker.id)
            .execute(),
        ).toEqual([]);
        expect(await getBudget(store.db, s.repo.id)).toMatchObject({
          total_credits: 1000,
          available_credits: 750,
          reserved_credits: 0,
          paid_out_credits: 250,
        });
        await expectLedgerConsistent(store, s.repo.id);
        expect((await events(s)).slice(-2)).toEqual(['task.approved', 'bounty.paid']);
      });

      it('approves a task without a bounty, paying nothing', async () => {
        const free = await claimed(0);
        await submitClaim(deps, store.db, { repo: free.repo, agent: free.worker, taskRef: '1' });
        const unpaid = await reviewClaim(deps, store.db, {
          repo: free.repo,
          claimRef: free.claim.id,
          reviewer: free.creator,
          verdict: 'approve',
        });
        expect(unpaid).toMatchObject({ payout: 0 });
        expect(unpaid.task.status).toBe('completed');
        expect(await getBudget(store.db, free.repo.id)).toMatchObject({ budget_id: null });
      });

      it('a maintainer who is not the creator may review; rejection reopens the task', async () => {
        const s = await claimed(100);
        const maintainer = await seedAgent(deps, s.seeded, { prefix: 'maint', maintainer: true });
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        const result = await reviewClaim(deps, store.db, {
          repo: s.repo,
          claimRef: s.claim.id,
          reviewer: maintainer,
          verdict: 'reject',
          notes: 'Tests fail.',
        });
        expect(result.claim).toMatchObject({
          status: 'rejected',
          payout_amount: 0,
          review_notes: 'Tests fail.',
        });
        expect(result.task.status).toBe('open');
        expect(await getBudget(store.db, s.repo.id)).toMatchObject({
          available_credits: 900,
          reserved_credits: 100,
        });
        expect((await events(s)).at(-1)).toBe('task.rejected');
        const again = await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker });
        expect(again.id).not.toBe(s.claim.id);
      });

      it('refuses reviews by others, by the claimant, of unsubmitted claims and unknown verdicts', async () => {
        const s = await claimed(100);
        const reviewer = { repo: s.repo, claimRef: s.claim.id, verdict: 'approve' };
        await expectRefused(store, 'invalid_state', () =>
          reviewClaim(deps, store.db, { ...reviewer, reviewer: s.creator }),
        );
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        const bystander = await seedAgent(deps, s.seeded, { prefix: 'bystander' });
        await expectRefused(store, 'forbidden', () =>
          reviewClaim(deps, store.db, { ...reviewer, reviewer: bystander }),
        );
        await expectRefused(store, 'self_review', () =>
          reviewClaim(deps, store.db, { ...reviewer, reviewer: s.worker }),
        );
        await expectRefused(store, 'invalid_input', () =>
          reviewClaim(deps, store.db, { ...reviewer, reviewer: s.creator, verdict: 'maybe' }),
        );
        await expectRefused(store, 'claim_not_found', () =>
          reviewClaim(deps, store.db, {
            ...reviewer,
            claimRef: '00000000-0000-4000-8000-000000000000',
            reviewer: s.creator,
          }),
        );
        const other = await setup();
        await expectRefused(store, 'claim_not_found', () =>
          reviewClaim(deps, store.db, { ...reviewer, repo: other.repo, reviewer: other.owner }),
        );
        // A maintainer who holds the claim still cannot approve their own work.
        const m = await claimed(0);
        const maintainerWorker = await seedAgent(deps, m.seeded, { maintainer: true });
        await createTask(deps, store.db, { repo: m.repo, actor: m.creator, title: 'Second' });
        await claimTask(deps, store.db, { repo: m.repo, taskRef: '2', agent: maintainerWorker });
        await submitClaim(deps, store.db, { repo: m.repo, agent: maintainerWorker, taskRef: '2' });
        await expectRefused(store, 'self_review', () =>
          reviewClaim(deps, store.db, {
            repo: m.repo,
            claimRef: '2',
            reviewer: maintainerWorker,
            verdict: 'approve',
          }),
        );
        await reviewClaim(deps, store.db, {
          repo: s.repo,
          claimRef: '1',
          reviewer: s.creator,
          verdict: 'approve',
        });
        await expectRefused(store, 'claim_not_found', () =>
          reviewClaim(deps, store.db, {
            repo: s.repo,
            claimRef: '1',
            reviewer: s.creator,
            verdict: 'approve',
          }),
        );
        await expectRefused(store, 'invalid_state', () =>
          reviewClaim(deps, store.db, { ...reviewer, reviewer: s.creator }),
        );
      });

      it('abandoning reopens the task for others; only the claimant can abandon', async () => {
        const s = await claimed();
        await expectRefused(store, 'claim_not_found', () =>
          abandonClaim(deps, store.db, { repo: s.repo, agent: s.creator, taskRef: '1' }),
        );
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        const abandoned = await abandonClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        expect(abandoned.status).toBe('abandoned');
        expect((await getTask(store.db, s.repo.id, '1')).status).toBe('open');
        expect((await events(s)).at(-1)).toBe('task.abandoned');
        await expectRefused(store, 'claim_not_found', () =>
          abandonClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' }),
        );
        const next = await seedAgent(deps, s.seeded, { prefix: 'next' });
        expect((await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: next })).status).toBe(
          'active',
        );
      });
    });

    describe('cancel and expire', () => {
      it('cancelling releases the bounty and closes the claim; the creator or a maintainer may cancel', async () => {
        const s = await setup(300);
        const task = await createTask(deps, store.db, {
          repo: s.repo,
          actor: s.creator,
          title: 'Cancel me',
          amount: 200,
        });
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker });
        await expectRefused(store, 'forbidden', () =>
          cancelTask(deps, store.db, { repo: s.repo, taskRef: '1', actor: s.worker }),
        );
        const cancelled = await cancelTask(deps, store.db, {
          repo: s.repo,
          taskRef: task.id,
          actor: s.creator,
        });
        expect(cancelled.status).toBe('cancelled');
        expect((await listClaims(store.db, { taskId: task.id }))[0]).toMatchObject({ status: 'abandoned' });
        expect(await getBudget(store.db, s.repo.id)).toMatchObject({
          available_credits: 300,
          reserved_credits: 0,
        });
        expect((await events(s)).slice(-2)).toEqual(['task.cancelled', 'bounty.released']);
        await expectLedgerConsistent(store, s.repo.id);
        await expectRefused(store, 'invalid_state', () =>
          cancelTask(deps, store.db, { repo: s.repo, taskRef: '1', actor: s.creator }),
        );
        const maintainer = await seedAgent(deps, s.seeded, { maintainer: true });
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Another' });
        expect(
          (await cancelTask(deps, store.db, { repo: s.repo, taskRef: '2', actor: maintainer })).status,
        ).toBe('cancelled');
      });

      it('refuses cancelling a completed task', async () => {
        const s = await setup();
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Done' });
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker });
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '1' });
        await reviewClaim(deps, store.db, {
          repo: s.repo,
          claimRef: '1',
          reviewer: s.creator,
          verdict: 'approve',
        });
        await expectRefused(store, 'invalid_state', () =>
          cancelTask(deps, store.db, { repo: s.repo, taskRef: '1', actor: s.owner }),
        );
      });

      it('the expiry pass expires open and claimed tasks past expires_at and releases their bounties', async () => {
        const s = await setup(1000);
        const base = { repo: s.repo, actor: s.creator };
        await createTask(deps, store.db, {
          ...base,
          title: 'open',
          amount: 100,
          expiresAt: '2026-03-02T00:00:00Z',
        });
        await createTask(deps, store.db, {
          ...base,
          title: 'claimed',
          amount: 50,
          expiresAt: '2026-03-02T00:00:00Z',
        });
        await createTask(deps, store.db, {
          ...base,
          title: 'submitted',
          amount: 10,
          expiresAt: '2026-03-02T00:00:00Z',
        });
        await createTask(deps, store.db, {
          ...base,
          title: 'later',
          amount: 1,
          expiresAt: '2026-03-09T00:00:00Z',
        });
        await createTask(deps, store.db, { ...base, title: 'never' });
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '2', agent: s.worker });
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '3', agent: s.worker });
        await submitClaim(deps, store.db, { repo: s.repo, agent: s.worker, taskRef: '3' });
        expect(await expireTasks(deps, store.db, s.repo)).toEqual([]);
        deps.clock.set('2026-03-02T00:00:00.000Z');
        const expired = await expireTasks(deps, store.db, s.repo);
        expect(expired.map((t) => [t.title, t.status])).toEqual([
          ['open', 'expired'],
          ['claimed', 'expired'],
        ]);
        expect(await getBudget(store.db, s.repo.id)).toMatchObject({
          available_credits: 989,
          reserved_credits: 11,
        });
        const claims = await listClaims(store.db, { repoId: s.repo.id });
        expect(claims.map((c) => [c.task_number, c.status])).toEqual([
          [2, 'abandoned'],
          [3, 'submitted'],
        ]);
        expect(await expireTasks(deps, store.db, s.repo)).toEqual([]);
        expect((await events(s)).filter((e) => e === 'task.expired')).toHaveLength(2);
        await expectLedgerConsistent(store, s.repo.id);
      });
    });

    describe('streams and critical tasks', () => {
      it('linking a stream claims the task first when the agent holds no claim', async () => {
        const s = await setup();
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Linked' });
        const stream = await insertStream(deps, { repo: s.repo, agent: s.worker });
        const claim = await linkClaimToStream(deps, store.db, {
          repo: s.repo,
          taskRef: '1',
          agent: s.worker,
          streamId: stream.id,
        });
        expect(claim).toMatchObject({ agent_id: s.worker.id, stream_id: stream.id, status: 'active' });
        expect((await getTask(store.db, s.repo.id, '1')).status).toBe('claimed');
        expect((await events(s)).at(-1)).toBe('task.claimed');
      });

      it("linking sets the stream on the agent's existing claim", async () => {
        const s = await setup();
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Linked' });
        const claim = await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker });
        const stream = await insertStream(deps, { repo: s.repo, agent: s.worker });
        const linked = await linkClaimToStream(deps, store.db, {
          repo: s.repo,
          taskRef: '1',
          agent: s.worker,
          streamId: stream.id,
        });
        expect(linked).toMatchObject({ id: claim.id, stream_id: stream.id });
        expect((await events(s)).at(-1)).toBe('task.linked');
        expect(await listClaims(store.db, { taskId: claim.task_id })).toHaveLength(1);
      });

      it("refuses linking to another agent's claim or by the creator, changing nothing", async () => {
        const s = await setup();
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Linked' });
        const creatorStream = await insertStream(deps, { repo: s.repo, agent: s.creator });
        await expectRefused(store, 'forbidden', () =>
          linkClaimToStream(deps, store.db, {
            repo: s.repo,
            taskRef: '1',
            agent: s.creator,
            streamId: creatorStream.id,
          }),
        );
        await claimTask(deps, store.db, { repo: s.repo, taskRef: '1', agent: s.worker });
        const intruder = await seedAgent(deps, s.seeded, { prefix: 'intruder' });
        const stream = await insertStream(deps, { repo: s.repo, agent: intruder });
        await expectRefused(store, 'invalid_state', () =>
          linkClaimToStream(deps, store.db, {
            repo: s.repo,
            taskRef: '1',
            agent: intruder,
            streamId: stream.id,
          }),
        );
      });

      it('links inside a caller transaction and rolls back with it', async () => {
        const s = await setup();
        await createTask(deps, store.db, { repo: s.repo, actor: s.creator, title: 'Tx' });
        const stream = await insertStream(deps, { repo: s.repo, agent: s.worker });
        const before = await listClaims(store.db, { repoId: s.repo.id });
        await expect(
          store.db.transaction().execute(async (trx) => {
            await linkClaimToStream(deps, trx, {
              repo: s.repo,
              taskRef: '1',
              agent: s.worker,
              streamId: stream.id,
            });
            throw new Error('caller fails later');
          }),
        ).rejects.toThrow('caller fails later');
        expect(await listClaims(store.db, { repoId: s.repo.id })).toEqual(before);
        expect((await getTask(store.db, s.repo.id, '1')).status).toBe('open');
      });

      it('files a critical task assigned to the author, listed first', async () => {
        const s = await setup();
        await createTask(deps, store.db, {
          repo: s.repo,
          actor: s.creator,
          title: 'Ordinary',
          priority: 'high',
        });
        const task = await fileCriticalTask(deps, store.db, {
          repo: s.repo,
          title: 'Fix the build broken by stream abc',
          description: 'Stabilization went red at 1234567.',
          assigneeId: s.worker.id,
        });
        expect(task).toMatchObject({
          number: 2,
          priority: 'critical',
          status: 'open',
          assigned_to: s.worker.id,
          created_by: null,
          amount: 0,
        });
        expect((await listTasks(store.db, s.repo.id))[0]?.id).toBe(task.id);
        const byAgent = await fileCriticalTask(deps, store.db, {
          repo: s.repo,
          title: 'Another',
          description: '',
          assignee: s.worker,
          createdBy: s.owner.id,
        });
        expect(byAgent).toMatchObject({ number: 3, created_by: s.owner.id, assigned_to: s.worker.id });
        // The assignee can take it on.
        expect(
          (await claimTask(deps, store.db, { repo: s.repo, taskRef: '2', agent: s.worker })).status,
        ).toBe('active');
      });
    });
  });
}
