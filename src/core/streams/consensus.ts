/**
 * Consensus: whether a stream's reviews allow it to merge, by the repository's ownership model,
 * with the numbers behind the answer. The one place these rules live.
 *
 * - swarm merge mode: always reached (quality comes from stabilization).
 * - solo: an approval from the owner or a maintainer.
 * - guild: maintainer approvals / (maintainer approvals + maintainer change requests) ≥ threshold,
 *   and at least `min_reviews` decisive reviews (approve or request_changes) from anyone.
 * - open: every decisive review weighs sqrt(karma + 1) for an agent, with its karma in this
 *   repository (karma earned elsewhere weighs nothing here), `human_review_weight` for a human;
 *   Σ approve / Σ (approve + request_changes) ≥ threshold.
 *
 * The buffer branch's rule (branch-rules.ts), if one matches, overrides the threshold with its
 * `consensus_threshold` and asks for at least `required_approvals` counted approvals (not in swarm mode).
 *
 * `comment` verdicts never count. The stream's author cannot have a review (reviews.ts refuses).
 *
 * Stale verdicts (given on code that has changed since: review-freshness.ts) count in none of the
 * models, nor towards a rule's required approvals, unless the repository's `stale_reviews` is `keep`.
 */
import {
  type Executor,
  type OwnershipModel,
  queryTemplate,
  type Repo,
  type ReviewVerdict,
  type StaleReviewsPolicy,
  type Stream,
} from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import { type BranchRule, findBranchRule } from '../governance/branch-rules.js';
import { isStaleReview, readStreamCode, readStreamCodes, type StreamCode } from './review-freshness.js';

export type ConsensusReason =
  | 'swarm_mode'
  | 'threshold_met'
  | 'maintainer_approved'
  | 'insufficient_reviews'
  | 'insufficient_approvals'
  | 'below_threshold'
  | 'no_maintainer_approval';

export interface ConsensusResult {
  reached: boolean;
  reason: ConsensusReason;
  model: OwnershipModel | 'swarm';
  /** Approvals that count under the model (maintainers' for solo and guild, everyone's for open). */
  approvals: number;
  /** Change requests that count under the model. */
  rejections: number;
  threshold: number;
  /** The ratio compared with the threshold (weighted for open); 0 when nothing counts yet. */
  ratio: number;
  /** Decisive reviews needed before the ratio is considered. */
  min_reviews: number;
  /** Counted approvals the buffer's branch rule asks for (0 without a rule). */
  required_approvals: number;
  /** The branch rule that applied (threshold, required approvals), or null. */
  rule_id: string | null;
  /** Approvals and change requests given on code that has changed since (any reviewer). */
  stale_approvals: number;
  stale_rejections: number;
  /** Whether those were left out (dismiss) or counted (keep). */
  stale_reviews: StaleReviewsPolicy;
  /** The stream head the reviews were judged against; null when unknown. */
  head_commit: string | null;
}

/** The parts of a branch rule consensus applies. */
export type ConsensusRule = Pick<BranchRule, 'id' | 'consensus_threshold' | 'required_approvals'>;

/** The reviews consensus looks at: one per reviewer, with who the reviewer is. */
export interface CountedReview {
  reviewer_id: string;
  verdict: ReviewVerdict;
  is_human: boolean;
  /** The reviewer's karma in the stream's repository. */
  karma: number;
  is_maintainer: boolean;
  /** Given on code that has changed since (false when unknown). */
  stale?: boolean;
}

/** Ratios within this of the threshold count as meeting it (2/3 against a stored 0.667, say). */
const RATIO_EPSILON = 1e-9;

/** The stream as consensus reads it: its reviews, and its branch for the code they were given on. */
export type ConsensusStream = Pick<Stream, 'id' | 'agent_id' | 'branch' | 'base_branch'>;

/**
 * Evaluates consensus for a stream in the caller's transaction, under the buffer branch's rule
 * (looked up unless the caller passes it, null for none), against the stream's code now (read
 * unless the caller passes it).
 */
export async function evaluateConsensus(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  stream: ConsensusStream,
  rule?: ConsensusRule | null,
  code?: StreamCode,
): Promise<ConsensusResult> {
  const current = code ?? (await readStreamCode(deps, db, repo, stream));
  const results = await evaluateConsensusOfStreams(
    deps,
    db,
    repo,
    [stream],
    rule,
    new Map([[stream.id, current]]),
  );
  return results.get(stream.id) as ConsensusResult;
}

/**
 * Evaluates consensus for many streams of one repository at once, by the same rule as
 * {@link evaluateConsensus}: the buffer's branch rule read once, the streams' code read together
 * (one git call for the heads, unless the caller passes the codes), and their reviews in one query.
 */
export async function evaluateConsensusOfStreams(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  streams: readonly ConsensusStream[],
  rule?: ConsensusRule | null,
  codes?: ReadonlyMap<string, StreamCode>,
): Promise<Map<string, ConsensusResult>> {
  const results = new Map<string, ConsensusResult>();
  if (streams.length === 0) return results;
  const [applied, current] = await Promise.all([
    rule === undefined ? findBranchRule(db, repo.id, repo.buffer_branch) : rule,
    codes ?? readStreamCodes(deps, db, repo, streams),
  ]);
  const reviews = await loadCountedReviews(db, repo.id, streams, current);
  for (const stream of streams) {
    const decision = decideConsensus(repo, reviews.get(stream.id) ?? [], applied ?? null);
    results.set(stream.id, { ...decision, head_commit: current.get(stream.id)?.head ?? null });
  }
  return results;
}

/** The counted reviews of each stream (its author's own left out), in one query. */
async function loadCountedReviews(
  db: Executor,
  repoId: string,
  streams: readonly Pick<Stream, 'id' | 'agent_id'>[],
  codes: ReadonlyMap<string, StreamCode>,
): Promise<Map<string, CountedReview[]>> {
  const rows = await countedReviewsQuery(
    db,
    repoId,
    streams.map((stream) => stream.id),
  ).execute();
  const rowsOf = new Map<string, typeof rows>();
  for (const row of rows) rowsOf.set(row.stream_id, [...(rowsOf.get(row.stream_id) ?? []), row]);
  return new Map(
    streams.map((stream) => [
      stream.id,
      countReviews(rowsOf.get(stream.id) ?? [], stream, codes.get(stream.id) ?? NO_CODE),
    ]),
  );
}

/**
 * The query behind consensus: the streams' reviews with each reviewer's karma and maintainer row
 * in the repository (batch.ts). Its rows become CountedReviews through countReviews.
 */
export function countedReviewsQuery(db: Executor, repoId: string, streamIds: readonly string[]) {
  return db
    .selectFrom('gitswarm_stream_reviews as r')
    .leftJoin('gitswarm_repo_karma as k', (join) =>
      join.onRef('k.agent_id', '=', 'r.reviewer_id').on('k.repo_id', '=', repoId),
    )
    .leftJoin('gitswarm_maintainers as m', (join) =>
      join.onRef('m.agent_id', '=', 'r.reviewer_id').on('m.repo_id', '=', repoId),
    )
    .select([
      'r.stream_id',
      'r.reviewer_id',
      'r.verdict',
      'r.is_human',
      'r.head_commit',
      'r.diff_fingerprint',
      'r.reviewed_at',
      'k.karma',
      'm.id as maintainer_row',
    ])
    .where('r.stream_id', 'in', streamIds);
}

/** countedReviewsQuery for one stream, compiled once per store: every review write reads it. */
export function streamCountedReviewsQuery(db: Executor, repoId: string, streamId: string) {
  return countedReviewsOfStream.bind(db, { repoId, streamId });
}

const countedReviewsOfStream = queryTemplate(['repoId', 'streamId'], (db, { repoId, streamId }) =>
  countedReviewsQuery(db, repoId, [streamId]),
);

type CountedReviewRow = Awaited<ReturnType<ReturnType<typeof countedReviewsQuery>['execute']>>[number];

/** countedReviewsQuery's rows as consensus counts them: the author's never, staleness against `code`. */
export function countReviews(
  rows: readonly CountedReviewRow[],
  stream: Pick<Stream, 'agent_id'>,
  code: StreamCode,
): CountedReview[] {
  return rows
    .filter((row) => row.reviewer_id !== stream.agent_id)
    .map((row) => ({
      reviewer_id: row.reviewer_id,
      verdict: row.verdict,
      is_human: row.is_human,
      karma: row.karma ?? 0,
      is_maintainer: row.maintainer_row !== null,
      stale: isStaleReview(row, code),
    }));
}

/** The code of a stream nothing is known about (no head, no commit): no review is stale on it. */
const NO_CODE: StreamCode = { head: null, fingerprint: null, last_commit_at: null };

type ConsensusSettings = Pick<
  Repo,
  'merge_mode' | 'ownership_model' | 'consensus_threshold' | 'min_reviews' | 'human_review_weight'
> &
  Partial<Pick<Repo, 'stale_reviews'>>;

/**
 * The pure decision: the repository's settings, the counted reviews and the branch rule in, the
 * answer out. The rule's threshold replaces the repository's; its required approvals come on top.
 * Stale reviews are left out first unless the repository keeps them.
 */
export function decideConsensus(
  repo: ConsensusSettings,
  reviews: readonly CountedReview[],
  rule: ConsensusRule | null = null,
): ConsensusResult {
  const policy = repo.stale_reviews ?? 'dismiss';
  const stale = reviews.filter((r) => r.stale === true);
  const counted = policy === 'keep' ? reviews : reviews.filter((r) => r.stale !== true);
  const result = decideByModel(
    rule?.consensus_threshold != null ? { ...repo, consensus_threshold: rule.consensus_threshold } : repo,
    counted,
  );
  const required = rule?.required_approvals ?? 0;
  const ruled = {
    ...result,
    required_approvals: result.model === 'swarm' ? 0 : required,
    rule_id: rule?.id ?? null,
    stale_approvals: stale.filter((r) => r.verdict === 'approve').length,
    stale_rejections: stale.filter((r) => r.verdict === 'request_changes').length,
    stale_reviews: policy,
    head_commit: null,
  };
  if (ruled.reached && result.model !== 'swarm' && result.approvals < required) {
    return { ...ruled, reached: false, reason: 'insufficient_approvals' };
  }
  return ruled;
}

type ModelDecision = Omit<
  ConsensusResult,
  'required_approvals' | 'rule_id' | 'stale_approvals' | 'stale_rejections' | 'stale_reviews' | 'head_commit'
>;

function decideByModel(repo: ConsensusSettings, reviews: readonly CountedReview[]): ModelDecision {
  const threshold = Number(repo.consensus_threshold);
  const decisive = reviews.filter((r) => r.verdict !== 'comment');
  const count = (list: readonly CountedReview[], verdict: ReviewVerdict) =>
    list.filter((r) => r.verdict === verdict).length;

  if (repo.merge_mode === 'swarm') {
    const approvals = count(decisive, 'approve');
    const rejections = count(decisive, 'request_changes');
    return {
      reached: true,
      reason: 'swarm_mode',
      model: 'swarm',
      approvals,
      rejections,
      threshold,
      ratio: ratioOf(approvals, rejections),
      min_reviews: 0,
    };
  }

  switch (repo.ownership_model) {
    case 'solo': {
      const maintainers = decisive.filter((r) => r.is_maintainer);
      const approvals = count(maintainers, 'approve');
      const rejections = count(maintainers, 'request_changes');
      return {
        reached: approvals > 0,
        reason: approvals > 0 ? 'maintainer_approved' : 'no_maintainer_approval',
        model: 'solo',
        approvals,
        rejections,
        threshold,
        ratio: ratioOf(approvals, rejections),
        min_reviews: 1,
      };
    }
    case 'guild': {
      const maintainers = decisive.filter((r) => r.is_maintainer);
      const approvals = count(maintainers, 'approve');
      const rejections = count(maintainers, 'request_changes');
      const ratio = ratioOf(approvals, rejections);
      const minReviews = repo.min_reviews;
      const reason: ConsensusReason =
        decisive.length < minReviews
          ? 'insufficient_reviews'
          : approvals === 0
            ? 'no_maintainer_approval'
            : ratio + RATIO_EPSILON < threshold
              ? 'below_threshold'
              : 'threshold_met';
      return {
        reached: reason === 'threshold_met',
        reason,
        model: 'guild',
        approvals,
        rejections,
        threshold,
        ratio,
        min_reviews: minReviews,
      };
    }
    case 'open': {
      const humanWeight = Number(repo.human_review_weight);
      const weight = (r: CountedReview) => (r.is_human ? humanWeight : Math.sqrt(Math.max(r.karma, 0) + 1));
      const sum = (verdict: ReviewVerdict) =>
        decisive.filter((r) => r.verdict === verdict).reduce((total, r) => total + weight(r), 0);
      const approveWeight = sum('approve');
      const rejectWeight = sum('request_changes');
      const total = approveWeight + rejectWeight;
      const ratio = total > 0 ? approveWeight / total : 0;
      const reason: ConsensusReason =
        total <= 0
          ? 'insufficient_reviews'
          : ratio + RATIO_EPSILON < threshold
            ? 'below_threshold'
            : 'threshold_met';
      return {
        reached: reason === 'threshold_met',
        reason,
        model: 'open',
        approvals: count(decisive, 'approve'),
        rejections: count(decisive, 'request_changes'),
        threshold,
        ratio,
        min_reviews: 1,
      };
    }
  }
}

function ratioOf(approvals: number, rejections: number): number {
  const total = approvals + rejections;
  return total > 0 ? approvals / total : 0;
}
