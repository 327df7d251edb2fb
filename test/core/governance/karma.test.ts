import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import {
  adjustKarma,
  agentKarma,
  awardMergeKarma,
  listKarmaTransactions,
  MERGE_KARMA,
  penalizeRevertedStream,
  REVERT_PENALTY,
  REVIEW_KARMA,
  repoKarma,
} from '../../../src/core/governance/karma.js';
import {
  getReviewerStats,
  refreshReviewerStats,
  reviewerAccuracy,
} from '../../../src/core/governance/reviewer-stats.js';
import { onStreamMerged, onStreamReverted } from '../../../src/core/streams/stream-hooks.js';
import {
  claimTask,
  createTask,
  getTask,
  linkClaimToStream,
  listClaims,
} from '../../../src/core/tasks/tasks.js';
import type { Agent } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import {
  expectRefused,
  insertReview,
  insertStream,
  markMerged,
  markReverted,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from '../tasks/tasks-fixture.js';

describe('karma and accuracy constants', () => {
  it('are the documented values', () => {
    expect({ MERGE_KARMA, REVIEW_KARMA, REVERT_PENALTY }).toEqual({
      MERGE_KARMA: 5,
      REVIEW_KARMA: 1,
      REVERT_PENALTY: -10,
    });
    expect([
      reviewerAccuracy(0, 0),
      reviewerAccuracy(1, 0),
      reviewerAccuracy(3, 1),
      reviewerAccuracy(0, 1),
    ]).toEqual([0.5, 0.667, 0.667, 0.333]);
    expect(reviewerAccuracy(98, 0)).toBe(0.99);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: karma`, () => {
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

    async function karmaOf(agent: Agent): Promise<number> {
      const row = await store.db
        .selectFrom('gitswarm_agents')
        .select('karma')
        .where('id', '=', agent.id)
        .executeTakeFirstOrThrow();
      return row.karma;
    }

    it('adjusts karma with a reason row, the agent total and an activity event together', async () => {
      const s = await seedRepo(deps);
      const agent = await seedAgent(deps, s);
      const up = await adjustKarma(deps, store.db, {
        agentId: agent.id,
        repoId: s.repo.id,
        amount: 7,
        reason: 'manual',
      });
      const down = await adjustKarma(deps, store.db, {
        agentId: agent.id,
        repoId: null,
        amount: -3,
        reason: 'other',
      });
      // `karma` is the figure in the change's repository; without one, the total.
      expect([up.karma, up.totalKarma, down.karma, down.totalKarma]).toEqual([7, 7, 4, 4]);
      expect(await karmaOf(agent)).toBe(4);
      expect(await repoKarma(store.db, s.repo.id, agent.id)).toBe(7);
      expect(await agentKarma(store.db, agent.id)).toEqual({
        total: 4,
        repositories: [{ repo_id: s.repo.id, repo_name: s.repo.name, karma: 7 }],
      });
      const rows = await listKarmaTransactions(store.db, agent.id);
      expect(rows.map((r) => [r.amount, r.reason, r.repo_id])).toEqual([
        [-3, 'other', null],
        [7, 'manual', s.repo.id],
      ]);
      const events = await listActivity(store.db, { eventTypes: ['karma.changed'], limit: 1000 });
      expect(events.filter((e) => e.agent_id === agent.id).map((e) => e.metadata)).toEqual([
        expect.objectContaining({ amount: -3, karma: 4, total_karma: 4, reason: 'other' }),
        expect.objectContaining({ amount: 7, karma: 7, total_karma: 7, reason: 'manual' }),
      ]);
    });

    it('refuses a zero, fractional or huge change, an empty reason and an unknown agent, changing nothing', async () => {
      const s = await seedRepo(deps);
      const agent = await seedAgent(deps, s);
      const base = { agentId: agent.id, repoId: s.repo.id, reason: 'r' };
      for (const amount of [0, 1.5, Number.NaN, 1_000_001]) {
        await expectRefused(store, 'invalid_input', () => adjustKarma(deps, store.db, { ...base, amount }));
      }
      await expectRefused(store, 'invalid_input', () =>
        adjustKarma(deps, store.db, { ...base, amount: 1, reason: ' ' }),
      );
      await expectRefused(store, 'invalid_input', () =>
        adjustKarma(deps, store.db, { ...base, amount: 1, reason: 'x'.repeat(256) }),
      );
      await expectRefused(store, 'agent_not_found', () =>
        adjustKarma(deps, store.db, { ...base, amount: 1, agentId: '00000000-0000-4000-8000-000000000000' }),
      );
    });

    it("rolls back with the caller's transaction", async () => {
      const s = await seedRepo(deps);
      const agent = await seedAgent(deps, s);
      await expect(
        store.db.transaction().execute(async (trx) => {
          await adjustKarma(deps, trx, { agentId: agent.id, repoId: s.repo.id, amount: 5, reason: 'r' });
          throw new Error('merge failed later');
        }),
      ).rejects.toThrow('merge failed later');
      expect(await karmaOf(agent)).toBe(0);
      expect(await listKarmaTransactions(store.db, agent.id)).toEqual([]);
    });

    it('merges reward author and approvers once; a revert takes that back and costs the author once; reviewer accuracy follows', async () => {
      const s = await seedRepo(deps);
      const [x, y, r1, r2, r3] = [
        await seedAgent(deps, s, { prefix: 'x' }),
        await seedAgent(deps, s, { prefix: 'y' }),
        await seedAgent(deps, s, { prefix: 'r1' }),
        await seedAgent(deps, s, { prefix: 'r2' }),
        await seedAgent(deps, s, { prefix: 'r3' }),
      ] as [Agent, Agent, Agent, Agent, Agent];
      const a = await insertStream(deps, { repo: s.repo, agent: x, status: 'in_review' });
      await insertReview(deps, { stream: a, reviewer: r1, verdict: 'approve' });
      await insertReview(deps, { stream: a, reviewer: r2, verdict: 'request_changes' });
      await insertReview(deps, { stream: a, reviewer: r3, verdict: 'comment' });
      const mergedA = await markMerged(deps, a);
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: mergedA,
        mergeCommit: 'c'.repeat(40),
        actorId: x.id,
      });

      expect([await karmaOf(x), await karmaOf(r1), await karmaOf(r2), await karmaOf(r3)]).toEqual([
        5, 1, 0, 0,
      ]);
      expect(await getReviewerStats(store.db, s.repo.id, r1.id)).toMatchObject({
        total_reviews: 1,
        approvals: 1,
        rejections: 0,
        accuracy_score: 0.667,
      });
      expect(await getReviewerStats(store.db, s.repo.id, r2.id)).toMatchObject({
        total_reviews: 1,
        approvals: 0,
        rejections: 1,
        accuracy_score: 0.5,
      });
      const r3Rows = await store.db
        .selectFrom('gitswarm_reviewer_stats')
        .selectAll()
        .where('agent_id', '=', r3.id)
        .execute();
      expect(r3Rows).toEqual([]);

      // The same merge reported twice awards nothing more.
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: mergedA,
        mergeCommit: 'c'.repeat(40),
        actorId: x.id,
      });
      expect(await awardMergeKarma(deps, store.db, { repo: s.repo, stream: mergedA })).toEqual([]);
      expect([await karmaOf(x), await karmaOf(r1)]).toEqual([5, 1]);

      const b = await insertStream(deps, { repo: s.repo, agent: y, status: 'in_review' });
      await insertReview(deps, { stream: b, reviewer: r1, verdict: 'approve' });
      await insertReview(deps, { stream: b, reviewer: r2, verdict: 'approve' });
      const mergedB = await markMerged(deps, b);
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: mergedB,
        mergeCommit: 'd'.repeat(40),
        actorId: y.id,
      });
      expect([await karmaOf(y), await karmaOf(r1), await karmaOf(r2)]).toEqual([5, 2, 1]);
      expect((await getReviewerStats(store.db, s.repo.id, r1.id)).accuracy_score).toBe(0.75);
      expect(await getReviewerStats(store.db, s.repo.id, r2.id)).toMatchObject({
        total_reviews: 2,
        approvals: 1,
        rejections: 1,
        accuracy_score: 0.667,
      });

      // The revert hook may run before the stream row says "reverted": it counts the stream as reverted anyway.
      await onStreamReverted(deps, store.db, { repo: s.repo, stream: mergedB, revertCommit: 'e'.repeat(40) });
      // What the merge earned is taken back (author −5, each approver −1), and the author loses 10 more.
      expect(await karmaOf(y)).toBe(REVERT_PENALTY);
      expect([await karmaOf(r1), await karmaOf(r2)]).toEqual([1, 0]);
      expect(await repoKarma(store.db, s.repo.id, y.id)).toBe(REVERT_PENALTY);
      expect((await getReviewerStats(store.db, s.repo.id, r1.id)).accuracy_score).toBe(0.5);
      expect(await getReviewerStats(store.db, s.repo.id, r2.id)).toMatchObject({
        total_reviews: 2,
        approvals: 1,
        accuracy_score: 0.333,
      });
      // Stabilization reporting the same revert again costs nothing more.
      const revertedB = await markReverted(deps, mergedB);
      expect(await penalizeRevertedStream(deps, store.db, { repo: s.repo, stream: revertedB })).toEqual([]);
      await onStreamReverted(deps, store.db, {
        repo: s.repo,
        stream: revertedB,
        revertCommit: 'e'.repeat(40),
      });
      expect([await karmaOf(y), await karmaOf(r1), await karmaOf(r2)]).toEqual([-10, 1, 0]);
      // A recomputation from the recorded state gives the same numbers.
      expect(
        (await refreshReviewerStats(deps, store.db, { repoId: s.repo.id, agentId: r2.id })).accuracy_score,
      ).toBe(0.333);

      const reasons = (
        await store.db
          .selectFrom('gitswarm_review_karma_transactions')
          .select(['agent_id', 'amount', 'reason'])
          .where('repo_id', '=', s.repo.id)
          .execute()
      ).map(
        (r) =>
          `${r.agent_id === x.id ? 'x' : r.agent_id === y.id ? 'y' : r.agent_id === r1.id ? 'r1' : 'r2'} ${r.amount} ${r.reason}`,
      );
      expect(reasons.sort()).toEqual(
        [
          `x 5 stream_merged:${a.id}`,
          `r1 1 review_approved:${a.id}`,
          `y 5 stream_merged:${b.id}`,
          `r1 1 review_approved:${b.id}`,
          `r2 1 review_approved:${b.id}`,
          `y -5 reverted:stream_merged:${b.id}`,
          `r1 -1 reverted:review_approved:${b.id}`,
          `r2 -1 reverted:review_approved:${b.id}`,
          `y -10 stream_reverted:${b.id}`,
        ].sort(),
      );
    });

    it('a revert takes back, in its repository only, bounty karma a claim on the stream earned before bounties stopped paying karma', async () => {
      const s = await seedRepo(deps);
      const elsewhere = await seedRepo(deps);
      const worker = await seedAgent(deps, s, { prefix: 'worker' });
      await createTask(deps, store.db, { repo: s.repo, actor: s.owner, title: 'Old bounty' });
      const stream = await insertStream(deps, { repo: s.repo, agent: worker });
      const claim = await claimTask(deps, store.db, {
        repo: s.repo,
        taskRef: '1',
        agent: worker,
        streamId: stream.id,
      });
      const merged = await markMerged(deps, stream);
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: merged,
        mergeCommit: 'f'.repeat(40),
        actorId: null,
      });
      await store.db
        .updateTable('gitswarm_task_claims')
        .set({ status: 'approved' })
        .where('id', '=', claim.id)
        .execute();
      // The ledger of an older version: bounty karma for this task, and karma the worker has elsewhere.
      await adjustKarma(deps, store.db, {
        agentId: worker.id,
        repoId: s.repo.id,
        amount: 25,
        reason: `bounty_paid:${claim.task_id}`,
      });
      await adjustKarma(deps, store.db, {
        agentId: worker.id,
        repoId: elsewhere.repo.id,
        amount: 7,
        reason: 'manual',
      });
      expect(await repoKarma(store.db, s.repo.id, worker.id)).toBe(MERGE_KARMA + 25);

      const changes = await penalizeRevertedStream(deps, store.db, { repo: s.repo, stream: merged });
      expect(changes.map((c) => [c.amount, c.reason])).toEqual([
        [-25, `reverted:bounty_paid:${claim.task_id}`],
        [-MERGE_KARMA, `reverted:stream_merged:${stream.id}`],
        [REVERT_PENALTY, `stream_reverted:${stream.id}`],
      ]);
      expect(await repoKarma(store.db, s.repo.id, worker.id)).toBe(REVERT_PENALTY);
      expect(await repoKarma(store.db, elsewhere.repo.id, worker.id)).toBe(7);
      expect(await karmaOf(worker)).toBe(REVERT_PENALTY + 7);
    });

    it('a merge hands in the active claim linked to the stream', async () => {
      const s = await seedRepo(deps);
      const creator = await seedAgent(deps, s);
      const worker = await seedAgent(deps, s);
      await createTask(deps, store.db, { repo: s.repo, actor: creator, title: 'Linked work' });
      await createTask(deps, store.db, { repo: s.repo, actor: creator, title: 'Unlinked work' });
      const stream = await insertStream(deps, { repo: s.repo, agent: worker });
      await linkClaimToStream(deps, store.db, {
        repo: s.repo,
        taskRef: '1',
        agent: worker,
        streamId: stream.id,
      });
      await claimTask(deps, store.db, { repo: s.repo, taskRef: '2', agent: worker });
      const merged = await markMerged(deps, stream);
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: merged,
        mergeCommit: 'f'.repeat(40),
        actorId: null,
      });
      expect((await getTask(store.db, s.repo.id, '1')).status).toBe('submitted');
      expect((await getTask(store.db, s.repo.id, '2')).status).toBe('claimed');
      const [claim] = await listClaims(store.db, { repoId: s.repo.id, status: ['submitted'] });
      expect(claim).toMatchObject({
        stream_id: stream.id,
        submission_notes: `Stream ${stream.id} merged into the buffer.`,
      });
      const submitted = await listActivity(store.db, { repoId: s.repo.id, eventTypes: ['task.submitted'] });
      expect(submitted.map((e) => e.metadata)).toEqual([
        expect.objectContaining({ auto: true, stream_id: stream.id }),
      ]);
    });
  });
}
