/**
 * Reviews: one per reviewer per stream (a later verdict replaces the earlier one), never by the
 * stream's author. Each verdict records the code it was given on (head and diff fingerprint, so
 * it can go stale: review-freshness.ts), re-evaluates consensus and records the stream's review
 * status.
 */
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  batch,
  type Executor,
  lockedTransaction,
  type Repo,
  type ReviewStatus,
  type ReviewVerdict,
  type StaleReviewsPolicy,
  type Stream,
  type StreamReview,
  writtenRow,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { prepareActivity, recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { decideStreamAction, streamAccessQuery } from '../governance/access.js';
import { type BranchRule, branchRulesQuery, matchBranchRule } from '../governance/branch-rules.js';
import { type KeysetKey, keysetPage, type PageRequest } from '../pagination.js';
import {
  type ConsensusResult,
  type CountedReview,
  countReviews,
  decideConsensus,
  evaluateConsensus,
  streamCountedReviewsQuery,
} from './consensus.js';
import {
  isStaleReview,
  lastCommitQuery,
  readStreamCode,
  readStreamCodeAfter,
  type StreamCode,
} from './review-freshness.js';
import { isLiveStream, refreshStream, updateStream, updateStreamQuery } from './streams.js';

/** The verdicts a review can give; only approve and request_changes count towards consensus. */
export const REVIEW_VERDICTS: readonly ReviewVerdict[] = ['approve', 'request_changes', 'comment'];

const MAX_FEEDBACK_LENGTH = 10_000;

/** Whether a string (CLI or HTTP input) is a review verdict. */
export function isReviewVerdict(value: string): value is ReviewVerdict {
  return (REVIEW_VERDICTS as readonly string[]).includes(value);
}

export interface SubmitForReviewInput {
  repo: Repo;
  stream: Stream;
  /** The stream's author. */
  actor: Agent;
}

/** Puts a stream up for review (its author only): status and review status become in_review. */
export async function submitForReview(deps: CoreDeps, input: SubmitForReviewInput): Promise<Stream> {
  const { repo, actor } = input;
  return lockedTransaction(deps.store, repo.id, async (trx) => {
    const stream = await refreshStream(trx, input.stream);
    if (stream.agent_id !== actor.id) {
      throw new GitSwarmError(
        'forbidden',
        `Only the stream's author can submit stream ${stream.id} for review.`,
      );
    }
    // Submitting again is a no-op, except after change requests: then it asks for another look.
    if (stream.status === 'in_review' && stream.review_status !== 'changes_requested') return stream;
    if (stream.status === 'conflicted') {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.id} is conflicted; resolve the conflict first.`,
        {
          hint: `Fix the files in your worktree, then: gitswarm commit -m MSG --as ${actor.name}`,
          details: { stream_id: stream.id, conflict: stream.conflict },
        },
      );
    }
    const consensus = await evaluateConsensus(deps, trx, repo, stream);
    const updated = await updateStream(deps, trx, stream, {
      status: 'in_review',
      review_status: consensus.reached ? 'approved' : 'in_review',
    });
    await recordActivity(deps, trx, {
      event: 'stream.submitted',
      repoId: repo.id,
      agentId: actor.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: { name: stream.name },
    });
    return updated;
  });
}

export interface SubmitReviewInput {
  repo: Repo;
  /** Read again under the repository's lock. */
  stream: Pick<Stream, 'id'>;
  reviewer: Agent;
  verdict: ReviewVerdict;
  feedback?: string | null;
  tested?: boolean;
}

export interface SubmitReviewResult {
  /** The verdict just given: on the stream's code now, so never stale. */
  review: StreamReview & { stale: false };
  consensus: ConsensusResult;
  stream: Stream;
}

/** Records (or replaces) a reviewer's verdict on a stream and returns the consensus after it. */
export async function submitReview(deps: CoreDeps, input: SubmitReviewInput): Promise<SubmitReviewResult> {
  const { repo, reviewer, verdict } = input;
  if (!isReviewVerdict(verdict)) {
    throw new GitSwarmError('invalid_input', `Unknown verdict ${JSON.stringify(verdict)}.`, {
      hint: `Use one of: ${REVIEW_VERDICTS.join(', ')}`,
    });
  }
  const feedback = input.feedback ?? null;
  if (feedback !== null && feedback.length > MAX_FEEDBACK_LENGTH) {
    throw new GitSwarmError(
      'invalid_input',
      `Review feedback may be at most ${MAX_FEEDBACK_LENGTH} characters.`,
    );
  }
  return lockedTransaction(deps.store, repo.id, async (trx) => {
    // Every round trip here is held against the repository's other writers: the stream with the
    // reviewer's access, the branch rules, the reviews so far and the stream's last commit go in
    // one (with the lock, on PostgreSQL), the writes in another.
    const [streamRows, rules, reviewRows, lastCommits] = await batch(trx, [
      streamAccessQuery(deps, trx, repo, input.stream.id, reviewer),
      branchRulesQuery(trx, repo.id),
      streamCountedReviewsQuery(trx, repo.id, input.stream.id),
      lastCommitQuery(trx, input.stream.id),
    ]);
    const { stream, facts } = decideStreamAction(repo, input.stream.id, reviewer, 'read', streamRows[0]);
    if (stream.agent_id === reviewer.id) {
      throw new GitSwarmError(
        'self_review',
        `Agent ${reviewer.name} wrote stream ${stream.id}; it cannot review it.`,
      );
    }
    if (!isLiveStream(stream)) {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.id} is ${stream.status}; it can no longer be reviewed.`,
      );
    }
    // Read under the lock: commits move the stream's head under the same lock.
    const code = await readStreamCodeAfter(deps, trx, repo, stream, lastCommits[0]);
    // Consensus after this verdict, counted from the reviews just read with this one in place of
    // the reviewer's earlier verdict: what evaluateConsensus would read once it is written.
    const counted: CountedReview[] = [
      ...countReviews(reviewRows, stream, code).filter((r) => r.reviewer_id !== reviewer.id),
      {
        reviewer_id: reviewer.id,
        verdict,
        is_human: reviewer.is_human,
        karma: facts.repo_karma ?? 0,
        is_maintainer: facts.maintainer_role !== null,
        stale: false,
      },
    ];
    const consensus: ConsensusResult = {
      ...decideConsensus(repo, counted, findBranchRuleIn(rules as BranchRule[], repo.buffer_branch)),
      head_commit: code.head,
    };
    const reviewStatus = nextReviewStatus(stream, consensus);
    const tested = input.tested ?? false;
    const activity = prepareActivity(deps, trx, {
      event: 'stream.reviewed',
      repoId: repo.id,
      agentId: reviewer.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        verdict,
        tested,
        is_human: reviewer.is_human,
        consensus_reached: consensus.reached,
        review_status: reviewStatus,
        head_commit: code.head,
      },
    });
    const upsert = upsertReviewQuery(deps, trx, {
      streamId: stream.id,
      reviewer,
      verdict,
      feedback,
      tested,
      code,
    });
    let reviews: StreamReview[];
    let updated = stream;
    if (reviewStatus === stream.review_status) {
      [reviews] = await batch(trx, [upsert, activity.query]);
    } else {
      let rows: Stream[];
      [reviews, rows] = await batch(trx, [
        upsert,
        updateStreamQuery(deps, trx, stream, { review_status: reviewStatus }),
        activity.query,
      ]);
      updated = writtenRow(rows);
    }
    activity.recorded();
    return { review: { ...writtenRow(reviews), stale: false }, consensus, stream: updated };
  });
}

export interface WithdrawReviewInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  reviewer: Agent;
  /** Why, for the activity log (e.g. `dismissed on GitHub by octocat`). */
  reason?: string;
}

/**
 * Removes a reviewer's verdict (a review dismissed on GitHub), re-evaluates consensus and records
 * the stream's review status and `stream.review_dismissed`. Returns null when there was none.
 */
export async function withdrawReview(
  deps: CoreDeps,
  input: WithdrawReviewInput,
): Promise<{ consensus: ConsensusResult; stream: Stream } | null> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const stream = await refreshStream(trx, input.stream);
    const removed = await trx
      .deleteFrom('gitswarm_stream_reviews')
      .where('stream_id', '=', stream.id)
      .where('reviewer_id', '=', input.reviewer.id)
      .returning(['verdict'])
      .executeTakeFirst();
    if (!removed) return null;
    const consensus = await evaluateConsensus(deps, trx, input.repo, stream);
    const { reviewStatus, updated } = await settleReviewStatus(deps, trx, stream, consensus);
    await recordActivity(deps, trx, {
      event: 'stream.review_dismissed',
      repoId: input.repo.id,
      agentId: input.reviewer.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        verdict: removed.verdict,
        reason: input.reason ?? null,
        consensus_reached: consensus.reached,
        review_status: reviewStatus,
      },
    });
    return { consensus, stream: updated };
  });
}

/** The buffer branch's rule among the repository's, as findBranchRule picks it (null for none). */
function findBranchRuleIn(rules: readonly BranchRule[], branch: string): BranchRule | null {
  return matchBranchRule(rules, branch) ?? null;
}

/** Records the review status the verdicts now give the stream (the row is left alone when unchanged). */
async function settleReviewStatus(
  deps: CoreDeps,
  trx: Executor,
  stream: Stream,
  consensus: ConsensusResult,
): Promise<{ reviewStatus: ReviewStatus | null; updated: Stream }> {
  const reviewStatus = nextReviewStatus(stream, consensus);
  const updated =
    reviewStatus === stream.review_status
      ? stream
      : await updateStream(deps, trx, stream, { review_status: reviewStatus });
  return { reviewStatus, updated };
}

/** What the stream's review status becomes after a verdict. */
function nextReviewStatus(stream: Stream, consensus: ConsensusResult): ReviewStatus | null {
  if (consensus.reached) return 'approved';
  if (consensus.rejections > 0) return 'changes_requested';
  return stream.status === 'in_review' || stream.review_status !== null ? 'in_review' : null;
}

interface UpsertReview {
  streamId: string;
  reviewer: Agent;
  verdict: ReviewVerdict;
  feedback: string | null;
  tested: boolean;
  code: StreamCode;
}

function upsertReviewQuery(deps: CoreDeps, db: Executor, input: UpsertReview) {
  const now = isoNow(deps.clock);
  const values = {
    verdict: input.verdict,
    feedback: input.feedback,
    tested: input.tested,
    is_human: input.reviewer.is_human,
    reviewed_at: now,
    head_commit: input.code.head,
    diff_fingerprint: input.code.fingerprint,
  };
  return db
    .insertInto('gitswarm_stream_reviews')
    .values({ id: newId(), stream_id: input.streamId, reviewer_id: input.reviewer.id, ...values })
    .onConflict((oc) => oc.columns(['stream_id', 'reviewer_id']).doUpdateSet(values))
    .returningAll();
}

export type ListedReview = StreamReview & { reviewer_name: string };

function reviewsQuery(db: Executor, streamId: string) {
  return db
    .selectFrom('gitswarm_stream_reviews as r')
    .innerJoin('gitswarm_agents as a', 'a.id', 'r.reviewer_id')
    .selectAll('r')
    .select('a.name as reviewer_name')
    .where('r.stream_id', '=', streamId);
}

/** A stream's reviews, oldest first, with each reviewer's name. */
export async function listReviews(db: Executor, streamId: string): Promise<ListedReview[]> {
  return reviewsQuery(db, streamId).orderBy('r.reviewed_at').orderBy('r.id').execute();
}

// A verdict given again moves its review to the end (its reviewed_at is the new verdict's).
const REVIEW_KEYS: readonly KeysetKey<ListedReview>[] = [
  { by: 'r.reviewed_at', direction: 'asc', type: 'string', value: (r) => r.reviewed_at },
  { by: 'r.id', direction: 'asc', type: 'string', value: (r) => r.id },
];

export type JudgedReview = ListedReview & {
  /** Given on code that has changed since (review-freshness.ts). */
  stale: boolean;
};

export interface StreamReviews {
  reviews: JudgedReview[];
  /** The stream head the reviews were judged against; null when unknown. */
  head_commit: string | null;
  /** How many of the reviews are stale. */
  stale: number;
  /** Whether stale verdicts are left out of consensus (dismiss) or still count (keep). */
  stale_reviews: StaleReviewsPolicy;
}

/** A stream's reviews, oldest first, each marked stale or not against the stream's code now. */
export async function listReviewsWithStaleness(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  stream: Pick<Stream, 'id' | 'branch' | 'base_branch'>,
  /** One page (pagination.ts); without it, every review. */
  page?: PageRequest,
): Promise<StreamReviews & { next_cursor: string | null }> {
  const code = await readStreamCode(deps, db, repo, stream);
  const listed = page
    ? await keysetPage(reviewsQuery(db, stream.id), REVIEW_KEYS, page)
    : { rows: await listReviews(db, stream.id), nextCursor: null };
  const reviews = listed.rows.map((r) => ({ ...r, stale: isStaleReview(r, code) }));
  return {
    reviews,
    head_commit: code.head,
    stale: reviews.filter((r) => r.stale).length,
    stale_reviews: repo.stale_reviews,
    next_cursor: listed.nextCursor,
  };
}
