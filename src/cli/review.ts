/**
 * `gitswarm review submit STREAM` (the author puts the stream up for review),
 * `gitswarm review submit STREAM approve|request_changes|comment` (a reviewer's verdict) and
 * `gitswarm review list STREAM`.
 */
import type { ConsensusResult } from '../core/streams/consensus.js';
import {
  isReviewVerdict,
  listReviewsWithStaleness,
  REVIEW_VERDICTS,
  submitForReview,
  submitReview,
} from '../core/streams/reviews.js';
import { getStream } from '../core/streams/streams.js';
import { GitSwarmError } from '../errors.js';
import type { ReviewVerdict, StaleReviewsPolicy } from '../store/index.js';
import { type CommandDeps, type RemoteDeps, requireActor } from './context.js';
import { type Style, safeText, shortOid, table } from './output.js';
import { type StreamView, toStreamView } from './views.js';

export interface SubmitReviewOptions {
  stream: string;
  /** Absent: put the stream up for review. */
  verdict?: string;
  feedback?: string;
  tested?: boolean;
}

/**
 * The consensus as the CLI reports it: the core's result without `model`, and any `reason` string
 * (a server newer than this CLI may send one it does not know).
 */
export type ConsensusView = Omit<ConsensusResult, 'model' | 'reason'> & { reason: string };

export interface ReviewRecordedResult {
  review: {
    stream_id: string;
    reviewer_id: string;
    reviewer_name: string;
    verdict: ReviewVerdict;
    feedback: string | null;
    tested: boolean;
    /** The stream head the verdict was given on. */
    head_commit: string | null;
  };
  consensus: ConsensusView;
}

export interface SubmittedForReviewResult {
  stream: StreamView;
}

export type SubmitReviewResult = ReviewRecordedResult | SubmittedForReviewResult;

export function toConsensusView(consensus: ConsensusResult): ConsensusView {
  return {
    reached: consensus.reached,
    reason: consensus.reason,
    approvals: consensus.approvals,
    rejections: consensus.rejections,
    threshold: consensus.threshold,
    ratio: consensus.ratio,
    min_reviews: consensus.min_reviews,
    required_approvals: consensus.required_approvals,
    rule_id: consensus.rule_id,
    stale_approvals: consensus.stale_approvals,
    stale_rejections: consensus.stale_rejections,
    stale_reviews: consensus.stale_reviews,
    head_commit: consensus.head_commit,
  };
}

/** Puts a stream up for review, or records a verdict on it. */
export async function runSubmitReview(
  opts: SubmitReviewOptions,
  deps: CommandDeps,
): Promise<SubmitReviewResult> {
  const { core, ctx } = deps;
  if (opts.verdict !== undefined && !isReviewVerdict(opts.verdict)) {
    throw new GitSwarmError('invalid_input', `Unknown verdict ${JSON.stringify(opts.verdict)}.`, {
      hint: `Use one of: ${REVIEW_VERDICTS.join(', ')}`,
    });
  }
  if (opts.verdict === undefined && (opts.feedback !== undefined || opts.tested)) {
    throw new GitSwarmError('usage', '-m and --tested go with a verdict.', {
      hint: 'Run: gitswarm review submit STREAM approve|request_changes|comment -m FEEDBACK',
    });
  }
  if (deps.remote) return submitReviewRemote(opts, { ...deps, remote: deps.remote });
  const actor = await requireActor(deps);
  const stream = await getStream(core.store.db, ctx.repo.id, opts.stream);
  if (opts.verdict === undefined) {
    const submitted = await submitForReview(core, { repo: ctx.repo, stream, actor });
    return { stream: toStreamView(submitted) };
  }
  const { review, consensus } = await submitReview(core, {
    repo: ctx.repo,
    stream,
    reviewer: actor,
    verdict: opts.verdict,
    feedback: opts.feedback ?? null,
    tested: opts.tested ?? false,
  });
  return {
    review: {
      stream_id: review.stream_id,
      reviewer_id: review.reviewer_id,
      reviewer_name: actor.name,
      verdict: review.verdict,
      feedback: review.feedback,
      tested: review.tested,
      head_commit: review.head_commit,
    },
    consensus: toConsensusView(consensus),
  };
}

async function submitReviewRemote(
  opts: SubmitReviewOptions,
  deps: CommandDeps & { remote: RemoteDeps },
): Promise<SubmitReviewResult> {
  const m = await import('../remote/commands/review.js');
  if (opts.verdict === undefined)
    return { stream: toStreamView(await m.runSubmitForReviewRemote(opts.stream, deps)) };
  const { review, consensus, reviewerName } = await m.runSubmitReviewRemote(
    {
      stream: opts.stream,
      verdict: opts.verdict as ReviewVerdict,
      feedback: opts.feedback ?? null,
      tested: opts.tested ?? false,
    },
    deps,
  );
  return {
    review: {
      stream_id: review.stream_id,
      reviewer_id: review.reviewer_id,
      reviewer_name: review.reviewer_name ?? reviewerName,
      verdict: review.verdict,
      feedback: review.feedback,
      tested: review.tested,
      head_commit: review.head_commit,
    },
    consensus: toConsensusView(consensus),
  };
}

/** "2 approvals, 0 change requests, ratio 1.00 of 0.66 needed". */
export function describeConsensus(consensus: ConsensusView, style: Style): string {
  const verdict = consensus.reached ? style.green('consensus reached') : style.yellow('no consensus yet');
  const numbers = `${consensus.approvals} approval${consensus.approvals === 1 ? '' : 's'}, ${consensus.rejections} change request${consensus.rejections === 1 ? '' : 's'}; ratio ${consensus.ratio.toFixed(2)}, threshold ${consensus.threshold}`;
  const rule = consensus.rule_id
    ? `; branch rule ${consensus.rule_id} asks for ${consensus.required_approvals} approval${consensus.required_approvals === 1 ? '' : 's'}`
    : '';
  return `${verdict} (${consensus.reason.replaceAll('_', ' ')}): ${numbers}${rule}${describeStale(consensus)}`;
}

/** "; 1 stale approval (code changed since) not counted", or '' when nothing is stale. */
function describeStale(consensus: ConsensusView): string {
  const parts: string[] = [];
  const plural = (n: number, word: string) => `${n} stale ${word}${n === 1 ? '' : 's'}`;
  if (consensus.stale_approvals > 0) parts.push(plural(consensus.stale_approvals, 'approval'));
  if (consensus.stale_rejections > 0) parts.push(plural(consensus.stale_rejections, 'change request'));
  if (parts.length === 0) return '';
  const counted = consensus.stale_reviews === 'keep' ? 'still counted (stale_reviews keep)' : 'not counted';
  return `; ${parts.join(', ')} (code changed since) ${counted}`;
}

export function formatSubmitReview(result: SubmitReviewResult, style: Style): string {
  if ('stream' in result) {
    return `Stream ${style.bold(result.stream.id)} is up for review.\nReviewers: gitswarm review submit ${result.stream.id} approve --as REVIEWER`;
  }
  const { review, consensus } = result;
  const lines = [
    `Recorded ${review.verdict.replace('_', ' ')} from ${review.reviewer_name} on stream ${review.stream_id}${review.head_commit ? ` at ${shortOid(review.head_commit)}` : ''}`,
  ];
  lines.push(describeConsensus(consensus, style));
  if (consensus.reached) lines.push(`Next: gitswarm merge ${review.stream_id} --as AGENT`);
  return lines.join('\n');
}

export interface ListReviewsOptions {
  stream: string;
}

export interface ListReviewsResult {
  stream_id: string;
  /** The stream head the reviews were judged against. */
  head_commit: string | null;
  /** How many reviews are stale, and whether stale ones count towards consensus. */
  stale: number;
  stale_reviews: StaleReviewsPolicy;
  reviews: {
    reviewer_id: string;
    reviewer_name: string;
    verdict: ReviewVerdict;
    feedback: string | null;
    tested: boolean;
    is_human: boolean;
    reviewed_at: string;
    /** The stream head the verdict was given on (null: given before heads were recorded). */
    head_commit: string | null;
    /** Given on code that has changed since. */
    stale: boolean;
  }[];
}

export async function runListReviews(
  opts: ListReviewsOptions,
  deps: CommandDeps,
): Promise<ListReviewsResult> {
  const listed = deps.remote
    ? await (await import('../remote/commands/review.js')).runListReviewsRemote(opts.stream, {
        ...deps,
        remote: deps.remote,
      })
    : await listLocalReviews(opts.stream, deps);
  const { stream } = listed;
  return {
    stream_id: stream.id,
    head_commit: listed.head_commit,
    stale: listed.stale,
    stale_reviews: listed.stale_reviews,
    reviews: listed.reviews.map((r) => ({
      reviewer_id: r.reviewer_id,
      reviewer_name: r.reviewer_name ?? r.reviewer_id,
      verdict: r.verdict,
      feedback: r.feedback,
      tested: r.tested,
      is_human: r.is_human,
      reviewed_at: r.reviewed_at,
      head_commit: r.head_commit,
      stale: r.stale,
    })),
  };
}

async function listLocalReviews(streamRef: string, deps: CommandDeps) {
  const db = deps.core.store.db;
  const stream = await getStream(db, deps.ctx.repo.id, streamRef);
  return { stream, ...(await listReviewsWithStaleness(deps.core, db, deps.ctx.repo, stream)) };
}

export function formatListReviews(result: ListReviewsResult, style: Style): string {
  if (result.reviews.length === 0) return `No reviews of stream ${result.stream_id} yet.`;
  const rows = table(
    result.reviews.map((r) => [
      r.reviewer_name,
      r.stale
        ? style.dim(`${r.verdict} (stale)`)
        : r.verdict === 'approve'
          ? style.green(r.verdict)
          : r.verdict === 'request_changes'
            ? style.red(r.verdict)
            : r.verdict,
      r.tested ? 'tested' : '-',
      safeText(r.feedback ?? ''),
      shortOid(r.head_commit),
    ]),
    ['REVIEWER', 'VERDICT', 'TESTED', 'FEEDBACK', 'ON HEAD'].map(style.dim),
  );
  if (result.stale === 0) return rows;
  const counted =
    result.stale_reviews === 'keep'
      ? 'they still count (stale_reviews keep)'
      : 'they no longer count; reviewers re-review the new head';
  return `${rows}\n${result.stale} stale: given on code that has changed since (head now ${shortOid(result.head_commit)}); ${counted}.`;
}
