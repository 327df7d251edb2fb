import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { createBranchRule } from '../../../src/core/governance/branch-rules.js';
import { evaluateConsensus } from '../../../src/core/streams/consensus.js';
import { listReviews, submitForReview, submitReview } from '../../../src/core/streams/reviews.js';
import { getStream } from '../../../src/core/streams/streams.js';
import type { ReviewVerdict } from '../../../src/store/index.js';
import { countWritesTo } from '../../helpers/socket-writes.js';
import {
  DIALECTS,
  dialectLabel,
  itOnPostgresServer,
  openTestStore,
  type TestStore,
} from '../../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

const guild = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: reviews`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    async function setUp(settings: Record<string, unknown> = guild) {
      const deps = testDeps(store);
      const seeded = await seedRepo(deps, settings);
      const author = await seedAgent(deps, 'author');
      const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      const stream = await insertStream(deps, seeded.repo, author);
      return { deps, ...seeded, author, maintainer, stream };
    }

    // The repository's other writers wait for each round trip a review makes under its lock.
    itOnPostgresServer(
      dialect,
      'on PostgreSQL a review makes three round trips: the lock with its reads, its writes, the commit',
      async () => {
        const { deps, repo, maintainer, stream } = await setUp();
        // A first review opens the pool's connection; the second is the one counted.
        await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'comment' });
        const counter = countWritesTo(inject('postgresUrl') as string);
        try {
          const result = await submitReview(deps, {
            repo,
            stream,
            reviewer: maintainer,
            verdict: 'approve',
          });
          expect(result.review.verdict).toBe('approve');
        } finally {
          counter.stop();
        }
        expect(counter.writes()).toBe(3);
      },
    );

    it('returns the consensus a fresh evaluateConsensus reads, in every model, with a branch rule', async () => {
      const models = [
        guild,
        { merge_mode: 'review', ownership_model: 'open', consensus_threshold: 0.6, human_review_weight: 2 },
        { merge_mode: 'review', ownership_model: 'solo' },
        { merge_mode: 'swarm' },
      ];
      for (const settings of models) {
        const { deps, repo, owner, author, maintainer, stream } = await setUp(settings);
        await createBranchRule(deps, store.db, {
          repo,
          actor: owner,
          fields: { branch_pattern: repo.buffer_branch, required_approvals: 2 },
        });
        const karmic = await seedAgent(deps, 'karmic', { karma: 15, karmaIn: repo });
        const human = await seedAgent(deps, 'human', { isHuman: true });
        const turns: [typeof author, ReviewVerdict][] = [
          [maintainer, 'request_changes'],
          [karmic, 'approve'],
          [human, 'comment'],
          [maintainer, 'approve'],
          [human, 'request_changes'],
          [karmic, 'approve'],
          [owner, 'approve'],
        ];
        for (const [reviewer, verdict] of turns) {
          const result = await submitReview(deps, { repo, stream, reviewer, verdict });
          const fresh = await evaluateConsensus(
            deps,
            store.db,
            repo,
            await getStream(store.db, repo.id, stream.id),
          );
          expect(result.consensus, `${JSON.stringify(settings)}: ${verdict}`).toEqual(fresh);
          expect(result.stream).toEqual(await getStream(store.db, repo.id, stream.id));
        }
      }
    });

    it('serializes concurrent reviews of one stream: every verdict counted once, in some order', async () => {
      const { deps, repo, owner, stream } = await setUp({ merge_mode: 'review', ownership_model: 'open' });
      const reviewers = [owner];
      for (let i = 0; i < 6; i++) reviewers.push(await seedAgent(deps, `concurrent-${i}`));
      const results = await Promise.all(
        reviewers.map((reviewer) => submitReview(deps, { repo, stream, reviewer, verdict: 'approve' })),
      );
      // Under the lock each one saw all the verdicts before it and none after.
      expect(results.map((r) => r.consensus.approvals).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await listReviews(store.db, stream.id)).toHaveLength(7);
      const fresh = await evaluateConsensus(
        deps,
        store.db,
        repo,
        await getStream(store.db, repo.id, stream.id),
      );
      expect(fresh.approvals).toBe(7);
    });

    it('refuses a review by the stream author and writes nothing', async () => {
      const { deps, repo, author, stream } = await setUp();
      await expect(
        submitReview(deps, { repo, stream, reviewer: author, verdict: 'approve' }),
      ).rejects.toMatchObject({
        code: 'self_review',
      });
      expect(await listReviews(store.db, stream.id)).toEqual([]);
    });

    it('refuses a maintainer reviewing a stream they wrote', async () => {
      const { deps, repo, owner } = await setUp();
      const own = await insertStream(deps, repo, owner);
      await expect(
        submitReview(deps, { repo, stream: own, reviewer: owner, verdict: 'approve' }),
      ).rejects.toMatchObject({ code: 'self_review' });
    });

    it('keeps one review per reviewer: a second verdict replaces the first', async () => {
      const { deps, repo, maintainer, stream } = await setUp();
      const first = await submitReview(deps, {
        repo,
        stream,
        reviewer: maintainer,
        verdict: 'approve',
        feedback: 'LGTM',
      });
      expect(first.consensus).toMatchObject({ reached: true, approvals: 1, rejections: 0 });
      expect(first.stream.review_status).toBe('approved');
      const second = await submitReview(deps, {
        repo,
        stream,
        reviewer: maintainer,
        verdict: 'request_changes',
        feedback: 'Missing tests.',
        tested: true,
      });
      expect(second.consensus).toMatchObject({
        reached: false,
        approvals: 0,
        rejections: 1,
        reason: 'no_maintainer_approval',
      });
      expect(second.stream.review_status).toBe('changes_requested');
      const reviews = await listReviews(store.db, stream.id);
      expect(reviews).toHaveLength(1);
      expect(reviews[0]).toMatchObject({
        reviewer_id: maintainer.id,
        reviewer_name: maintainer.name,
        verdict: 'request_changes',
        feedback: 'Missing tests.',
        tested: true,
        is_human: false,
      });
      expect(reviews[0]?.id).toBe(first.review.id);
    });

    it('takes is_human from the reviewer', async () => {
      const { deps, repo, stream } = await setUp();
      const human = await seedAgent(deps, 'human', { isHuman: true });
      const { review } = await submitReview(deps, { repo, stream, reviewer: human, verdict: 'comment' });
      expect(review.is_human).toBe(true);
      expect(review.verdict).toBe('comment');
    });

    it('needs read access to review', async () => {
      const { deps, repo, stream } = await setUp({ ...guild, is_private: true });
      const outsider = await seedAgent(deps, 'outsider');
      await expect(
        submitReview(deps, { repo, stream, reviewer: outsider, verdict: 'approve' }),
      ).rejects.toMatchObject({
        code: 'forbidden',
      });
      expect(await listReviews(store.db, stream.id)).toEqual([]);
    });

    it('refuses an unknown verdict and over-long feedback', async () => {
      const { deps, repo, maintainer, stream } = await setUp();
      await expect(
        submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'lgtm' as ReviewVerdict }),
      ).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(
        submitReview(deps, {
          repo,
          stream,
          reviewer: maintainer,
          verdict: 'approve',
          feedback: 'x'.repeat(10_001),
        }),
      ).rejects.toMatchObject({ code: 'invalid_input' });
    });

    it('refuses reviews of a merged or abandoned stream', async () => {
      const { deps, repo, author, maintainer } = await setUp();
      for (const status of ['merged', 'abandoned'] as const) {
        const stream = await insertStream(deps, repo, author, { status });
        await expect(
          submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'approve' }),
        ).rejects.toMatchObject({ code: 'invalid_state' });
      }
    });

    it('lets only the author submit for review, which sets status and review status in_review', async () => {
      const { deps, repo, author, maintainer, stream } = await setUp();
      await expect(submitForReview(deps, { repo, stream, actor: maintainer })).rejects.toMatchObject({
        code: 'forbidden',
      });
      const submitted = await submitForReview(deps, { repo, stream, actor: author });
      expect(submitted).toMatchObject({ status: 'in_review', review_status: 'in_review' });
      const again = await submitForReview(deps, { repo, stream, actor: author });
      expect(again.status).toBe('in_review');
      const events = await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.submitted'] });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ agent_id: author.id, target_id: stream.id });
    });

    it('asks for another look when resubmitted after change requests, and keeps an approval', async () => {
      const { deps, repo, author, maintainer, stream } = await setUp();
      await submitForReview(deps, { repo, stream, actor: author });
      await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'request_changes' });
      expect((await getStream(store.db, repo.id, stream.id)).review_status).toBe('changes_requested');
      const resubmitted = await submitForReview(deps, { repo, stream, actor: author });
      expect(resubmitted).toMatchObject({ status: 'in_review', review_status: 'in_review' });
      await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'approve' });
      const again = await submitForReview(deps, { repo, stream, actor: author });
      expect(again.review_status).toBe('approved');
      const events = await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.submitted'] });
      expect(events).toHaveLength(2);
    });

    it('refuses to submit a conflicted stream for review', async () => {
      const { deps, repo, author } = await setUp();
      const stream = await insertStream(deps, repo, author, { status: 'conflicted' });
      await expect(submitForReview(deps, { repo, stream, actor: author })).rejects.toMatchObject({
        code: 'invalid_state',
      });
    });

    it('runs the review flow: submit, a comment keeps it in review, an approval reaches consensus', async () => {
      const { deps, repo, author, maintainer, stream } = await setUp({ ...guild, min_reviews: 2 });
      const peer = await seedAgent(deps, 'peer');
      await submitForReview(deps, { repo, stream, actor: author });
      const commented = await submitReview(deps, {
        repo,
        stream,
        reviewer: peer,
        verdict: 'comment',
        feedback: 'Nice.',
      });
      expect(commented.stream.review_status).toBe('in_review');
      expect(commented.consensus.reason).toBe('insufficient_reviews');
      const peerApproved = await submitReview(deps, { repo, stream, reviewer: peer, verdict: 'approve' });
      expect(peerApproved.consensus).toMatchObject({
        reached: false,
        reason: 'insufficient_reviews',
        approvals: 0,
      });
      const approved = await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'approve' });
      expect(approved.consensus).toMatchObject({
        reached: true,
        reason: 'threshold_met',
        approvals: 1,
        min_reviews: 2,
      });
      const row = await getStream(store.db, repo.id, stream.id);
      expect(row).toMatchObject({ status: 'in_review', review_status: 'approved' });
      const events = await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.reviewed'] });
      expect(events).toHaveLength(3);
    });
  });
}
