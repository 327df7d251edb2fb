/**
 * Consensus decisions the consensus tests left loose (found by mutation testing): a branch rule's
 * required approvals in swarm mode, stale approvals and stale change requests counted apart, a
 * weighted ratio exactly at the tolerance below the threshold; and the batch evaluation's edges:
 * no streams asks nothing, the rule a caller passes is the one applied, an author's own review
 * (written past the refusal) never counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBranchRule } from '../../src/core/governance/branch-rules.js';
import {
  type CountedReview,
  decideConsensus,
  evaluateConsensusOfStreams,
} from '../../src/core/streams/consensus.js';
import { submitReview } from '../../src/core/streams/reviews.js';
import { newId } from '../../src/util/ids.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../helpers/streams-fixture.js';

const settings = {
  merge_mode: 'review',
  ownership_model: 'open',
  consensus_threshold: 0.66,
  min_reviews: 1,
  human_review_weight: 1,
} as const;

function review(verdict: CountedReview['verdict'], reviewer_id: string, stale = false): CountedReview {
  return { reviewer_id, verdict, is_human: true, karma: 0, is_maintainer: true, stale };
}

describe('consensus at its edges', () => {
  it("swarm mode ignores a branch rule's required approvals, and reports none required", () => {
    const rule = { id: 'rule-1', consensus_threshold: null, required_approvals: 2 };
    expect(decideConsensus({ ...settings, merge_mode: 'swarm' }, [], rule)).toMatchObject({
      reached: true,
      reason: 'swarm_mode',
      model: 'swarm',
      required_approvals: 0,
      rule_id: 'rule-1',
    });
    // The same rule outside swarm mode asks for its approvals.
    expect(decideConsensus(settings, [review('approve', 'a')], rule)).toMatchObject({
      reached: false,
      reason: 'insufficient_approvals',
      required_approvals: 2,
    });
  });

  it('stale approvals and stale change requests are counted apart', () => {
    const reviews = [
      review('approve', 'a', true),
      review('request_changes', 'b', true),
      review('request_changes', 'c', true),
      review('comment', 'd', true),
      review('approve', 'e'),
    ];
    expect(decideConsensus(settings, reviews)).toMatchObject({
      reached: true,
      approvals: 1,
      rejections: 0,
      stale_approvals: 1,
      stale_rejections: 2,
      stale_reviews: 'dismiss',
    });
  });

  it('open: a ratio exactly the tolerance (1e-9) below the threshold meets it; further below does not', () => {
    const split = [review('approve', 'a'), review('request_changes', 'b')]; // ratio 0.5
    expect(decideConsensus({ ...settings, consensus_threshold: 0.500000001 }, split)).toMatchObject({
      reached: true,
      reason: 'threshold_met',
      ratio: 0.5,
    });
    expect(decideConsensus({ ...settings, consensus_threshold: 0.50000001 }, split)).toMatchObject({
      reached: false,
      reason: 'below_threshold',
    });
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: consensus of many streams at its edges`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    it('no streams: an empty answer without asking the database', async () => {
      const deps = testDeps(store);
      const { repo } = await seedRepo(deps, settings);
      const closed = await openTestStore(dialect);
      await closed.close();
      expect(await evaluateConsensusOfStreams(deps, closed.db, repo, [])).toEqual(new Map());
    });

    it("the buffer's rule read when the caller passes none; a rule passed (even none) is the one applied", async () => {
      const deps = testDeps(store);
      const seeded = await seedRepo(deps, settings);
      const stream = await insertStream(deps, seeded.repo, await seedAgent(deps, 'author'));
      const reviewer = await seedAgent(deps, 'peer', { maintainerOf: seeded });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer, verdict: 'approve' });
      const rule = await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: seeded.repo.buffer_branch, required_approvals: 2 },
      });
      const read = await evaluateConsensusOfStreams(deps, store.db, seeded.repo, [stream]);
      expect(read.get(stream.id)).toMatchObject({ reached: false, rule_id: rule.id, required_approvals: 2 });
      const none = await evaluateConsensusOfStreams(deps, store.db, seeded.repo, [stream], null);
      expect(none.get(stream.id)).toMatchObject({ reached: true, rule_id: null, required_approvals: 0 });
    });

    it("an author's own review never counts, even when one is on record", async () => {
      const deps = testDeps(store);
      const seeded = await seedRepo(deps, settings);
      const author = await seedAgent(deps, 'author', { maintainerOf: seeded });
      const stream = await insertStream(deps, seeded.repo, author);
      await store.db
        .insertInto('gitswarm_stream_reviews')
        .values({
          id: newId(),
          stream_id: stream.id,
          reviewer_id: author.id,
          verdict: 'approve',
          is_human: true,
        })
        .execute();
      const result = await evaluateConsensusOfStreams(deps, store.db, seeded.repo, [stream]);
      expect(result.get(stream.id)).toMatchObject({
        reached: false,
        approvals: 0,
        reason: 'insufficient_reviews',
      });
    });
  });
}
