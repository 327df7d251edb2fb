/**
 * Reviewer statistics per agent and repository, kept in `gitswarm_reviewer_stats` and brought up
 * to date whenever a stream a reviewer judged merges or is reverted.
 *
 * Counted reviews are verdicts `approve` or `request_changes` on streams of the repository that
 * merged (reverted ones included); comments and reviews of streams not yet merged do not count.
 * - `total_reviews` = counted reviews; `approvals` / `rejections` = those with `approve` /
 *   `request_changes`.
 * - An approval is correct when its stream merged and was not reverted, wrong when the stream's
 *   merge was reverted.
 * - `accuracy_score = (correct + 1) / (correct + wrong + 2)`, rounded to 3 decimals (the
 *   column's precision, so both dialects store the same value): a Laplace
 *   estimate that starts at 0.5 (the column default) with no evidence and moves towards the
 *   observed share of correct approvals as evidence grows.
 *
 * The row is recomputed from the reviews, streams and merges each time, so it never drifts.
 */
import type { Executor, Repo, Stream } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import type { CoreDeps } from '../deps.js';

export interface ReviewerStats {
  agent_id: string;
  repo_id: string;
  total_reviews: number;
  approvals: number;
  rejections: number;
  accuracy_score: number;
}

/** The accuracy of a reviewer with this many correct and wrong approvals. */
export function reviewerAccuracy(correct: number, wrong: number): number {
  return Math.round(((correct + 1) / (correct + wrong + 2)) * 1000) / 1000;
}

type Outcome = 'merged' | 'reverted';

interface StatsOverride {
  streamId: string;
  outcome: Outcome;
}

async function computeStats(
  db: Executor,
  repoId: string,
  agentId: string,
  override: StatsOverride | null,
): Promise<Omit<ReviewerStats, 'agent_id' | 'repo_id'>> {
  const reviews = await db
    .selectFrom('gitswarm_stream_reviews as r')
    .innerJoin('gitswarm_streams as s', 's.id', 'r.stream_id')
    .select(['r.stream_id', 'r.verdict', 's.status'])
    .where('s.repo_id', '=', repoId)
    .where('r.reviewer_id', '=', agentId)
    .where('r.verdict', 'in', ['approve', 'request_changes'])
    .execute();
  const streamIds = [...new Set(reviews.map((r) => r.stream_id))];
  const merges =
    streamIds.length === 0
      ? []
      : await db
          .selectFrom('gitswarm_merges')
          .select(['stream_id', 'reverted_at'])
          .where('stream_id', 'in', streamIds)
          .execute();
  const outcomes = new Map<string, Outcome>();
  for (const merge of merges) {
    if (merge.reverted_at !== null) outcomes.set(merge.stream_id, 'reverted');
    else if (!outcomes.has(merge.stream_id)) outcomes.set(merge.stream_id, 'merged');
  }
  let total = 0;
  let approvals = 0;
  let rejections = 0;
  let correct = 0;
  let wrong = 0;
  for (const review of reviews) {
    const outcome = outcomeOf(review.stream_id, review.status, outcomes, override);
    if (outcome === null) continue;
    total += 1;
    if (review.verdict === 'approve') {
      approvals += 1;
      if (outcome === 'merged') correct += 1;
      else wrong += 1;
    } else {
      rejections += 1;
    }
  }
  return {
    total_reviews: total,
    approvals,
    rejections,
    accuracy_score: reviewerAccuracy(correct, wrong),
  };
}

/**
 * The stream's outcome: the hook's own stream by what is happening to it (its row may not be
 * updated yet), others by their status or merge record; null for streams that never merged.
 */
function outcomeOf(
  streamId: string,
  status: Stream['status'],
  merges: ReadonlyMap<string, Outcome>,
  override: StatsOverride | null,
): Outcome | null {
  if (override?.streamId === streamId) return override.outcome;
  if (status === 'reverted' || merges.get(streamId) === 'reverted') return 'reverted';
  if (status === 'merged' || merges.has(streamId)) return 'merged';
  return null;
}

async function writeStats(
  deps: CoreDeps,
  db: Executor,
  repoId: string,
  agentId: string,
  override: StatsOverride | null,
): Promise<ReviewerStats> {
  const stats = await computeStats(db, repoId, agentId, override);
  const now = isoNow(deps.clock);
  await db
    .insertInto('gitswarm_reviewer_stats')
    .values({ id: newId(), agent_id: agentId, repo_id: repoId, ...stats, updated_at: now })
    .onConflict((oc) => oc.columns(['agent_id', 'repo_id']).doUpdateSet({ ...stats, updated_at: now }))
    .execute();
  return { agent_id: agentId, repo_id: repoId, ...stats };
}

/** Recomputes one reviewer's statistics in a repository, in the caller's transaction. */
export async function refreshReviewerStats(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; agentId: string },
): Promise<ReviewerStats> {
  return writeStats(deps, db, input.repoId, input.agentId, null);
}

/**
 * Brings the statistics of every reviewer of `stream` up to date after it merged or was
 * reverted, in the caller's (merge or revert) transaction.
 */
export async function updateReviewerStatsForStream(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Pick<Repo, 'id'>; stream: Pick<Stream, 'id'>; outcome: Outcome },
): Promise<ReviewerStats[]> {
  const reviewers = await db
    .selectFrom('gitswarm_stream_reviews')
    .select('reviewer_id')
    .where('stream_id', '=', input.stream.id)
    .where('verdict', 'in', ['approve', 'request_changes'])
    .orderBy('reviewer_id')
    .execute();
  const override = { streamId: input.stream.id, outcome: input.outcome };
  const updated: ReviewerStats[] = [];
  for (const { reviewer_id } of reviewers) {
    updated.push(await writeStats(deps, db, input.repo.id, reviewer_id, override));
  }
  return updated;
}

/** A reviewer's statistics in a repository; the defaults when none were recorded yet. */
export async function getReviewerStats(
  db: Executor,
  repoId: string,
  agentId: string,
): Promise<ReviewerStats> {
  const row = await db
    .selectFrom('gitswarm_reviewer_stats')
    .select(['agent_id', 'repo_id', 'total_reviews', 'approvals', 'rejections', 'accuracy_score'])
    .where('repo_id', '=', repoId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
  return (
    row ?? {
      agent_id: agentId,
      repo_id: repoId,
      total_reviews: 0,
      approvals: 0,
      rejections: 0,
      accuracy_score: reviewerAccuracy(0, 0),
    }
  );
}
