import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustKarma } from '../../../src/core/governance/karma.js';
import {
  type CountedReview,
  decideConsensus,
  evaluateConsensus,
  evaluateConsensusOfStreams,
} from '../../../src/core/streams/consensus.js';
import { submitReview } from '../../../src/core/streams/reviews.js';
import type { ReviewVerdict } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

interface Reviewer {
  verdict: ReviewVerdict;
  karma?: number;
  human?: boolean;
  maintainer?: boolean;
}

interface Case {
  name: string;
  settings: Record<string, unknown>;
  reviewers: Reviewer[];
  expected: {
    reached: boolean;
    reason: string;
    model: string;
    approvals: number;
    rejections: number;
    threshold: number;
    ratio: number;
    min_reviews: number;
  };
}

const guild = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66 };
const open = {
  merge_mode: 'review',
  ownership_model: 'open',
  consensus_threshold: 0.66,
  human_review_weight: 1.5,
};
const solo = { merge_mode: 'review', ownership_model: 'solo', consensus_threshold: 0.66 };

const CASES: Case[] = [
  {
    name: 'swarm: reached with no reviews at all',
    settings: { ...guild, merge_mode: 'swarm', min_reviews: 2 },
    reviewers: [],
    expected: {
      reached: true,
      reason: 'swarm_mode',
      model: 'swarm',
      approvals: 0,
      rejections: 0,
      threshold: 0.66,
      ratio: 0,
      min_reviews: 0,
    },
  },
  {
    name: 'solo: nothing without a maintainer approval',
    settings: solo,
    reviewers: [{ verdict: 'approve' }, { verdict: 'approve', karma: 50 }],
    expected: {
      reached: false,
      reason: 'no_maintainer_approval',
      model: 'solo',
      approvals: 0,
      rejections: 0,
      threshold: 0.66,
      ratio: 0,
      min_reviews: 1,
    },
  },
  {
    name: 'solo: one maintainer approval suffices, even against a maintainer change request',
    settings: solo,
    reviewers: [
      { verdict: 'approve', maintainer: true },
      { verdict: 'request_changes', maintainer: true },
    ],
    expected: {
      reached: true,
      reason: 'maintainer_approved',
      model: 'solo',
      approvals: 1,
      rejections: 1,
      threshold: 0.66,
      ratio: 0.5,
      min_reviews: 1,
    },
  },
  {
    name: 'guild: no reviews is insufficient',
    settings: { ...guild, min_reviews: 1 },
    reviewers: [],
    expected: {
      reached: false,
      reason: 'insufficient_reviews',
      model: 'guild',
      approvals: 0,
      rejections: 0,
      threshold: 0.66,
      ratio: 0,
      min_reviews: 1,
    },
  },
  {
    name: 'guild: 1 maintainer approval / 1 total >= 0.66',
    settings: { ...guild, min_reviews: 1 },
    reviewers: [{ verdict: 'approve', maintainer: true }],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'guild',
      approvals: 1,
      rejections: 0,
      threshold: 0.66,
      ratio: 1,
      min_reviews: 1,
    },
  },
  {
    name: 'guild: 2 of 3 maintainers approve (0.667 >= 0.66)',
    settings: { ...guild, min_reviews: 1 },
    reviewers: [
      { verdict: 'approve', maintainer: true },
      { verdict: 'approve', maintainer: true },
      { verdict: 'request_changes', maintainer: true },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'guild',
      approvals: 2,
      rejections: 1,
      threshold: 0.66,
      ratio: 2 / 3,
      min_reviews: 1,
    },
  },
  {
    name: 'guild: 2 of 3 is below a 0.75 threshold',
    settings: { ...guild, consensus_threshold: 0.75, min_reviews: 1 },
    reviewers: [
      { verdict: 'approve', maintainer: true },
      { verdict: 'approve', maintainer: true },
      { verdict: 'request_changes', maintainer: true },
    ],
    expected: {
      reached: false,
      reason: 'below_threshold',
      model: 'guild',
      approvals: 2,
      rejections: 1,
      threshold: 0.75,
      ratio: 2 / 3,
      min_reviews: 1,
    },
  },
  {
    name: 'guild: non-maintainer change requests do not count in the ratio',
    settings: { ...guild, min_reviews: 2 },
    reviewers: [
      { verdict: 'approve', maintainer: true },
      { verdict: 'request_changes' },
      { verdict: 'request_changes' },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'guild',
      approvals: 1,
      rejections: 0,
      threshold: 0.66,
      ratio: 1,
      min_reviews: 2,
    },
  },
  {
    name: 'guild: fewer reviews than min_reviews',
    settings: { ...guild, min_reviews: 3 },
    reviewers: [
      { verdict: 'approve', maintainer: true },
      { verdict: 'approve', maintainer: true },
      { verdict: 'comment', maintainer: true },
    ],
    expected: {
      reached: false,
      reason: 'insufficient_reviews',
      model: 'guild',
      approvals: 2,
      rejections: 0,
      threshold: 0.66,
      ratio: 1,
      min_reviews: 3,
    },
  },
  {
    name: 'guild: approvals from non-maintainers only',
    settings: { ...guild, min_reviews: 1 },
    reviewers: [{ verdict: 'approve', karma: 100 }],
    expected: {
      reached: false,
      reason: 'no_maintainer_approval',
      model: 'guild',
      approvals: 0,
      rejections: 0,
      threshold: 0.66,
      ratio: 0,
      min_reviews: 1,
    },
  },
  {
    name: 'open: no decisive review is insufficient',
    settings: open,
    reviewers: [{ verdict: 'comment' }],
    expected: {
      reached: false,
      reason: 'insufficient_reviews',
      model: 'open',
      approvals: 0,
      rejections: 0,
      threshold: 0.66,
      ratio: 0,
      min_reviews: 1,
    },
  },
  {
    name: 'open: sqrt(3+1)=2 approve vs sqrt(0+1)=1 reject → 2/3',
    settings: open,
    reviewers: [
      { verdict: 'approve', karma: 3 },
      { verdict: 'request_changes', karma: 0 },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'open',
      approvals: 1,
      rejections: 1,
      threshold: 0.66,
      ratio: 2 / 3,
      min_reviews: 1,
    },
  },
  {
    name: 'open: agent 1 approve vs human 1.5 reject → 0.4',
    settings: open,
    reviewers: [
      { verdict: 'approve', karma: 0 },
      { verdict: 'request_changes', human: true },
    ],
    expected: {
      reached: false,
      reason: 'below_threshold',
      model: 'open',
      approvals: 1,
      rejections: 1,
      threshold: 0.66,
      ratio: 0.4,
      min_reviews: 1,
    },
  },
  {
    name: 'open: sqrt(99+1)=10 approve vs two agents of weight 1 → 10/12',
    settings: open,
    reviewers: [
      { verdict: 'approve', karma: 99 },
      { verdict: 'request_changes', karma: 0 },
      { verdict: 'request_changes', karma: 0 },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'open',
      approvals: 1,
      rejections: 2,
      threshold: 0.66,
      ratio: 10 / 12,
      min_reviews: 1,
    },
  },
  {
    name: 'open: human weight 3 approve vs sqrt(3+1)=2 reject → exactly 0.6 meets 0.6',
    settings: { ...open, human_review_weight: 3, consensus_threshold: 0.6 },
    reviewers: [
      { verdict: 'approve', human: true },
      { verdict: 'request_changes', karma: 3 },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'open',
      approvals: 1,
      rejections: 1,
      threshold: 0.6,
      ratio: 0.6,
      min_reviews: 1,
    },
  },
  {
    // Karma below zero weighs as zero karma (sqrt(0 + 1) = 1): never NaN, never a veto.
    name: 'open: a reviewer at -5 karma asking for changes weighs 1 and does not block two approvals',
    settings: open,
    reviewers: [
      { verdict: 'approve', karma: 8 },
      { verdict: 'approve', karma: 3 },
      { verdict: 'request_changes', karma: -5 },
    ],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'open',
      approvals: 2,
      rejections: 1,
      threshold: 0.66,
      ratio: 5 / 6,
      min_reviews: 1,
    },
  },
  {
    name: 'open: a lone approval at -5 karma still counts (weight 1, ratio 1)',
    settings: open,
    reviewers: [{ verdict: 'approve', karma: -5 }],
    expected: {
      reached: true,
      reason: 'threshold_met',
      model: 'open',
      approvals: 1,
      rejections: 0,
      threshold: 0.66,
      ratio: 1,
      min_reviews: 1,
    },
  },
  {
    name: 'open: -1 and -5 karma weigh the same as 0 against an approval at 0 (ratio 1/3)',
    settings: open,
    reviewers: [
      { verdict: 'approve' },
      { verdict: 'request_changes', karma: -1 },
      { verdict: 'request_changes', karma: -5 },
    ],
    expected: {
      reached: false,
      reason: 'below_threshold',
      model: 'open',
      approvals: 1,
      rejections: 2,
      threshold: 0.66,
      ratio: 1 / 3,
      min_reviews: 1,
    },
  },
];

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: consensus`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    for (const testCase of CASES) {
      it(testCase.name, async () => {
        const deps = testDeps(store);
        const seeded = await seedRepo(deps, testCase.settings);
        const author = await seedAgent(deps, 'author');
        const stream = await insertStream(deps, seeded.repo, author);
        const reviewers: Awaited<ReturnType<typeof seedAgent>>[] = [];
        for (const reviewer of testCase.reviewers) {
          const agent = await seedAgent(deps, 'reviewer', {
            karma: reviewer.karma,
            karmaIn: seeded.repo,
            isHuman: reviewer.human,
            maintainerOf: reviewer.maintainer ? seeded : undefined,
          });
          await submitReview(deps, { repo: seeded.repo, stream, reviewer: agent, verdict: reviewer.verdict });
          reviewers.push(agent);
        }
        const result = await evaluateConsensus(deps, store.db, seeded.repo, stream);
        // In one batch with another stream of the repository (the verdicts turned round, its
        // author a reviewer of the first): each answer is the one evaluateConsensus gives.
        const other = await insertStream(deps, seeded.repo, reviewers[0] ?? author);
        for (const [i, reviewer] of testCase.reviewers.entries()) {
          const verdict = reviewer.verdict === 'approve' ? 'request_changes' : 'approve';
          const agent = i === 0 ? author : reviewers[i];
          if (agent) await submitReview(deps, { repo: seeded.repo, stream: other, reviewer: agent, verdict });
        }
        const batch = await evaluateConsensusOfStreams(deps, store.db, seeded.repo, [stream, other]);
        expect(batch.get(stream.id)).toEqual(result);
        expect(batch.get(other.id)).toEqual(await evaluateConsensus(deps, store.db, seeded.repo, other));
        const {
          ratio,
          rule_id,
          required_approvals,
          stale_approvals,
          stale_rejections,
          stale_reviews,
          head_commit,
          ...rest
        } = result;
        const { ratio: expectedRatio, ...expectedRest } = testCase.expected;
        expect(rest).toEqual(expectedRest);
        expect({ rule_id, required_approvals }).toEqual({ rule_id: null, required_approvals: 0 });
        // No git and no recorded commit: no head to judge by, so nothing is stale.
        expect({ stale_approvals, stale_rejections, stale_reviews, head_commit }).toEqual({
          stale_approvals: 0,
          stale_rejections: 0,
          stale_reviews: 'dismiss',
          head_commit: null,
        });
        expect(Number.isFinite(ratio)).toBe(true);
        expect(ratio).toBeCloseTo(expectedRatio, 9);
      });
    }

    it('uses the reviewer karma current at evaluation time', async () => {
      const deps = testDeps(store);
      const seeded = await seedRepo(deps, open);
      const author = await seedAgent(deps, 'author');
      const stream = await insertStream(deps, seeded.repo, author);
      const fan = await seedAgent(deps, 'fan', { karma: 0 });
      const critic = await seedAgent(deps, 'critic', { karma: 0 });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: fan, verdict: 'approve' });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: critic, verdict: 'request_changes' });
      expect((await evaluateConsensus(deps, store.db, seeded.repo, stream)).reached).toBe(false);
      await adjustKarma(deps, store.db, {
        agentId: fan.id,
        repoId: seeded.repo.id,
        amount: 8,
        reason: 'test',
      });
      const after = await evaluateConsensus(deps, store.db, seeded.repo, stream);
      expect(after.reached).toBe(true);
      expect(after.ratio).toBeCloseTo(3 / 4, 9);
    });
  });
}

describe('decideConsensus with stale reviews', () => {
  const settings = {
    merge_mode: 'review',
    consensus_threshold: 0.66,
    min_reviews: 1,
    human_review_weight: 1.5,
  } as const;
  const review = (verdict: CountedReview['verdict'], stale: boolean, reviewer_id: string): CountedReview => ({
    reviewer_id,
    verdict,
    is_human: false,
    karma: 0,
    is_maintainer: true,
    stale,
  });
  const staleApproval = [review('approve', true, 'a')];

  for (const model of ['solo', 'guild', 'open'] as const) {
    it(`${model}: a stale approval alone does not reach consensus (dismiss), and does with keep`, () => {
      const dismissed = decideConsensus({ ...settings, ownership_model: model }, staleApproval);
      expect(dismissed).toMatchObject({
        reached: false,
        approvals: 0,
        stale_approvals: 1,
        stale_reviews: 'dismiss',
      });
      const kept = decideConsensus(
        { ...settings, ownership_model: model, stale_reviews: 'keep' },
        staleApproval,
      );
      expect(kept).toMatchObject({ reached: true, approvals: 1, stale_approvals: 1, stale_reviews: 'keep' });
    });
  }

  it("a branch rule's required approvals count fresh approvals only", () => {
    const rule = { id: 'r', consensus_threshold: null, required_approvals: 2 };
    const reviews = [review('approve', false, 'a'), review('approve', true, 'b')];
    expect(decideConsensus({ ...settings, ownership_model: 'guild' }, reviews, rule)).toMatchObject({
      reached: false,
      reason: 'insufficient_approvals',
      approvals: 1,
      stale_approvals: 1,
    });
  });

  it('a stale change request stops blocking', () => {
    const reviews = [review('approve', false, 'a'), review('request_changes', true, 'b')];
    expect(decideConsensus({ ...settings, ownership_model: 'guild' }, reviews)).toMatchObject({
      reached: true,
      rejections: 0,
      stale_rejections: 1,
    });
  });
});
