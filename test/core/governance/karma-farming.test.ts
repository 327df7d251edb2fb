/**
 * The karma-farming attack of issue 10, performed: agent A makes a repository X, deposits credits
 * (free to an admin), posts 1000-credit bounties and approves the claims of its puppet P, ten
 * rounds. Before karma was per repository this gave P 1000 karma that opened another owner's
 * `karma_threshold` gate and outweighed that owner's and a maintainer's change requests in an
 * `open`-model repository. Now P's karma in those repositories is 0: bounties earn no karma, and
 * what P earned by merged work in X counts only in X. The legitimate flow still earns karma, in
 * the repository where the work merged.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireAction, resolveAccess } from '../../../src/core/governance/access.js';
import {
  adjustKarma,
  agentKarma,
  MERGE_KARMA,
  REVERT_PENALTY,
  REVIEW_KARMA,
  repoKarma,
} from '../../../src/core/governance/karma.js';
import { evaluateConsensus } from '../../../src/core/streams/consensus.js';
import { submitReview } from '../../../src/core/streams/reviews.js';
import { onStreamMerged, onStreamReverted } from '../../../src/core/streams/stream-hooks.js';
import { deposit, getBudget } from '../../../src/core/tasks/budget.js';
import { claimTask, createTask, getTask, reviewClaim } from '../../../src/core/tasks/tasks.js';
import type { Agent, Repo } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import {
  expectLedgerConsistent,
  expectRefused,
  insertStream,
  markMerged,
  markReverted,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from '../tasks/tasks-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: karma cannot be farmed`, () => {
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

    /** Credits paid out to an agent (the payout rows of every budget name the claimant). */
    async function creditsPaidTo(agent: Agent): Promise<number> {
      const rows = await store.db
        .selectFrom('gitswarm_budget_transactions')
        .select('amount')
        .where('type', '=', 'payout')
        .where('agent_id', '=', agent.id)
        .execute();
      return rows.reduce((sum, row) => sum + row.amount, 0);
    }

    /**
     * One round of the farm in X: A posts a bounty, P claims it with a stream of its own, A
     * approves the stream (it merges) and then the claim (the bounty is paid).
     */
    async function farmRound(x: Repo, a: Agent, p: Agent, round: number): Promise<void> {
      const task = await createTask(deps, store.db, {
        repo: x,
        actor: a,
        title: `Chore ${round}`,
        amount: 1000,
      });
      const stream = await insertStream(deps, { repo: x, agent: p });
      await claimTask(deps, store.db, { repo: x, taskRef: task.id, agent: p, streamId: stream.id });
      await submitReview(deps, { repo: x, stream, reviewer: a, verdict: 'approve' });
      const merged = await markMerged(deps, stream);
      await onStreamMerged(deps, store.db, {
        repo: x,
        stream: merged,
        mergeCommit: 'c'.repeat(40),
        actorId: a.id,
      });
      expect((await getTask(store.db, x.id, task.id)).status).toBe('submitted');
      const paid = await reviewClaim(deps, store.db, {
        repo: x,
        claimRef: task.id,
        reviewer: a,
        verdict: 'approve',
      });
      expect(paid.payout).toBe(1000);
    }

    it("ten self-funded rounds give the puppet credits, no bounty karma, and nothing in another owner's repositories", async () => {
      // A's repository X, its budget filled by A for free, and the puppet P.
      const { repo: x, owner: a } = await seedRepo(deps);
      const p = await seedAgent(deps, { repo: x, owner: a }, { prefix: 'puppet' });
      await deposit(deps, store.db, { repo: x, actor: a, amount: 10_000 });
      for (let round = 1; round <= 10; round++) await farmRound(x, a, p, round);

      // Credits moved as before: P holds the 10,000 credits A deposited.
      expect(await creditsPaidTo(p)).toBe(10_000);
      expect(await getBudget(store.db, x.id)).toMatchObject({
        available_credits: 0,
        paid_out_credits: 10_000,
      });
      await expectLedgerConsistent(store, x.id);
      // Karma: only the ten merges, in X; no bounty karma at all.
      expect(await repoKarma(store.db, x.id, p.id)).toBe(10 * MERGE_KARMA);
      expect(await repoKarma(store.db, x.id, a.id)).toBe(10 * REVIEW_KARMA);
      const bountyRows = await store.db
        .selectFrom('gitswarm_review_karma_transactions')
        .select('reason')
        .where('agent_id', '=', p.id)
        .where('reason', 'like', 'bounty%')
        .execute();
      expect(bountyRows).toEqual([]);

      // Y: B's repository, write access from 100 karma. P has none there: read only, refused write.
      const y = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 100 });
      expect(await repoKarma(store.db, y.repo.id, p.id)).toBe(0);
      expect(await resolveAccess(deps, store.db, y.repo, p)).toEqual({ level: 'read', source: 'repo_mode' });
      await createTask(deps, store.db, { repo: y.repo, actor: y.owner, title: 'Real work' });
      await expectRefused(store, 'forbidden', () =>
        claimTask(deps, store.db, { repo: y.repo, taskRef: '1', agent: p }),
      );

      // Y2: B's open-model repository with a maintainer M. A's stream there, P approves, B and M
      // ask for changes: P weighs the base weight sqrt(0 + 1) = 1, so the ratio is 1/3 (it was
      // sqrt(1001) / (sqrt(1001) + 2) = 0.94 with the farmed karma) and the stream cannot merge.
      const y2 = await seedRepo(deps, {
        merge_mode: 'review',
        ownership_model: 'open',
        consensus_threshold: 0.66,
      });
      const m = await seedAgent(deps, y2, { prefix: 'maintainer', maintainer: true });
      const stream = await insertStream(deps, { repo: y2.repo, agent: a, status: 'in_review' });
      await submitReview(deps, { repo: y2.repo, stream, reviewer: p, verdict: 'approve' });
      await submitReview(deps, { repo: y2.repo, stream, reviewer: y2.owner, verdict: 'request_changes' });
      const last = await submitReview(deps, {
        repo: y2.repo,
        stream,
        reviewer: m,
        verdict: 'request_changes',
      });
      expect(last.consensus).toMatchObject({ reached: false, reason: 'below_threshold' });
      expect(last.consensus.ratio).toBeCloseTo(1 / 3, 9);
      expect(last.stream.review_status).toBe('changes_requested');

      // Even 1000 karma in X (what the farm used to give; a ledger from before this change may
      // hold such bounty karma) opens nothing outside X: it only raises P's total, which no rule reads.
      await adjustKarma(deps, store.db, {
        agentId: p.id,
        repoId: x.id,
        amount: 1000,
        reason: 'bounty_paid:legacy',
      });
      expect(await agentKarma(store.db, p.id)).toEqual({
        total: 1000 + 10 * MERGE_KARMA,
        repositories: [{ repo_id: x.id, repo_name: x.name, karma: 1000 + 10 * MERGE_KARMA }],
      });
      await expect(requireAction(deps, store.db, y.repo, p, 'write')).rejects.toMatchObject({
        code: 'forbidden',
      });
      const again = await evaluateConsensus(deps, store.db, y2.repo, stream);
      expect(again).toMatchObject({ reached: false, reason: 'below_threshold' });
      expect(again.ratio).toBeCloseTo(1 / 3, 9);
    });

    it('the legitimate flow earns karma in the repository where the work merged, and a revert takes it back there', async () => {
      const r = await seedRepo(deps);
      const other = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 1 });
      const worker = await seedAgent(deps, r, { prefix: 'worker' });
      const reviewer = await seedAgent(deps, r, { prefix: 'reviewer', maintainer: true });
      await deposit(deps, store.db, { repo: r.repo, actor: r.owner, amount: 500 });
      const task = await createTask(deps, store.db, {
        repo: r.repo,
        actor: r.owner,
        title: 'Cache',
        amount: 200,
      });
      const stream = await insertStream(deps, { repo: r.repo, agent: worker });
      await claimTask(deps, store.db, { repo: r.repo, taskRef: task.id, agent: worker, streamId: stream.id });
      await submitReview(deps, { repo: r.repo, stream, reviewer, verdict: 'approve' });
      const merged = await markMerged(deps, stream);
      await onStreamMerged(deps, store.db, {
        repo: r.repo,
        stream: merged,
        mergeCommit: 'd'.repeat(40),
        actorId: null,
      });
      const paid = await reviewClaim(deps, store.db, {
        repo: r.repo,
        claimRef: task.id,
        reviewer: r.owner,
        verdict: 'approve',
      });
      expect(paid.payout).toBe(200);
      expect(await creditsPaidTo(worker)).toBe(200);

      expect(await agentKarma(store.db, worker.id)).toEqual({
        total: MERGE_KARMA,
        repositories: [{ repo_id: r.repo.id, repo_name: r.repo.name, karma: MERGE_KARMA }],
      });
      expect(await repoKarma(store.db, r.repo.id, reviewer.id)).toBe(REVIEW_KARMA);
      expect(await repoKarma(store.db, other.repo.id, worker.id)).toBe(0);
      expect((await resolveAccess(deps, store.db, other.repo, worker)).level).toBe('read');
      const rows = await store.db
        .selectFrom('gitswarm_review_karma_transactions')
        .select(['agent_id', 'repo_id', 'amount', 'reason'])
        .where('repo_id', '=', r.repo.id)
        .where('agent_id', 'in', [worker.id, reviewer.id])
        .orderBy('created_at')
        .execute();
      expect(rows).toEqual([
        {
          agent_id: worker.id,
          repo_id: r.repo.id,
          amount: MERGE_KARMA,
          reason: `stream_merged:${stream.id}`,
        },
        {
          agent_id: reviewer.id,
          repo_id: r.repo.id,
          amount: REVIEW_KARMA,
          reason: `review_approved:${stream.id}`,
        },
      ]);

      // Stabilization reverts the merge: what it earned is taken back in R, and the author pays the penalty.
      const reverted = await markReverted(deps, merged);
      await onStreamReverted(deps, store.db, {
        repo: r.repo,
        stream: reverted,
        revertCommit: 'e'.repeat(40),
      });
      expect(await repoKarma(store.db, r.repo.id, worker.id)).toBe(REVERT_PENALTY);
      expect(await repoKarma(store.db, r.repo.id, reviewer.id)).toBe(0);
      expect((await agentKarma(store.db, worker.id)).total).toBe(REVERT_PENALTY);
    });
  });
}
