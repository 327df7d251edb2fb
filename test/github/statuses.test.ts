/**
 * The statuses' and the comment's text from core consensus results: each stream state, the numbers
 * of each model, GitHub's 140-character limit on descriptions, and stabilization results.
 */
import { describe, expect, it } from 'vitest';
import { type CountedReview, decideConsensus } from '../../src/core/streams/consensus.js';
import { COMMENT_MARKER, consensusCommentBody } from '../../src/github/pr-comment.js';
import { consensusStatus, stabilizeStatus } from '../../src/github/statuses.js';

const settings = {
  merge_mode: 'review' as const,
  ownership_model: 'guild' as const,
  consensus_threshold: 0.66,
  min_reviews: 2,
  human_review_weight: 1.5,
};
const review = (verdict: CountedReview['verdict'], is_maintainer = true): CountedReview => ({
  reviewer_id: `r-${Math.random()}`,
  verdict,
  is_human: false,
  karma: 0,
  is_maintainer,
});

describe('GitHub statuses and comment text', () => {
  const waiting = decideConsensus(settings, [review('approve')]);
  const reached = decideConsensus(settings, [review('approve'), review('approve')], {
    id: 'rule',
    consensus_threshold: null,
    required_approvals: 2,
  });

  it('says pending with the reason and numbers until consensus, then success', () => {
    expect(consensusStatus({ status: 'in_review' }, waiting)).toEqual({
      state: 'pending',
      context: 'gitswarm/consensus',
      description:
        'Waiting for consensus (insufficient reviews): 1 approval, 0 changes requested, ratio 1.00 / 0.66',
    });
    expect(consensusStatus({ status: 'in_review' }, reached).description).toBe(
      'Consensus reached: 2 approvals, 0 changes requested, ratio 1.00 / 0.66, 2 approvals required',
    );
    expect(consensusStatus({ status: 'in_review' }, reached).state).toBe('success');
  });

  it('follows the stream: merged success, reverted failure, abandoned error, whatever the reviews', () => {
    expect(consensusStatus({ status: 'merged' }, waiting).state).toBe('success');
    expect(consensusStatus({ status: 'reverted' }, reached).state).toBe('failure');
    expect(consensusStatus({ status: 'abandoned' }, reached).state).toBe('error');
  });

  it('keeps descriptions within GitHub’s 140 characters', () => {
    const huge = 10 ** 20;
    const long = {
      ...reached,
      reason: 'no_maintainer_approval' as const,
      approvals: huge,
      rejections: huge,
      required_approvals: huge,
    };
    const status = consensusStatus({ status: 'active' }, { ...long, reached: false });
    expect(status.description.length).toBeLessThanOrEqual(140);
    expect(status.description.endsWith('…')).toBe(true);
  });

  it('maps stabilization results to states', () => {
    expect(stabilizeStatus('green', 'green-7')).toMatchObject({
      state: 'success',
      description: 'Stabilization green (green-7)',
    });
    expect(stabilizeStatus('flaky', null).state).toBe('success');
    expect(stabilizeStatus('red', null)).toMatchObject({ state: 'failure', context: 'gitswarm/stabilize' });
    expect(stabilizeStatus('error', null).state).toBe('error');
  });

  it('writes the comment with its marker, the numbers and the merge', () => {
    const body = consensusCommentBody({ id: 's1', name: 'feat', status: 'merged' }, reached, {
      merge_commit: 'a'.repeat(40),
      target_branch: 'buffer',
    });
    expect(body.split('\n')[0]).toBe(COMMENT_MARKER);
    expect(body).toContain('**Merged** into `buffer` as aaaaaaaaaaaa.');
    expect(body).toContain('| Approvals required | 2 |');
    expect(body).toContain('| Model | guild |');
  });
});
