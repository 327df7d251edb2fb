/**
 * Consensus decisions the consensus tests left loose (found by mutation testing): a branch rule's
 * required approvals in swarm mode, stale approvals and stale change requests counted apart, and a
 * weighted ratio exactly at the tolerance below the threshold.
 */
import { describe, expect, it } from 'vitest';
import { type CountedReview, decideConsensus } from '../../src/core/consensus.js';

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
