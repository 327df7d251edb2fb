/**
 * Mode B reviews and consensus: asked of the server, which records reviews and computes consensus
 * with the same core rules as Mode A. Shapes are the server's; the CLI maps them to its output.
 */
import type { ConsensusResult } from '../core/streams/consensus.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { ReviewVerdict, StaleReviewsPolicy, Stream, StreamReview } from '../store/index.js';
import { settleInOrder } from '../util/settle.js';
import { fetchStreamOnDemand } from './diff.js';
import { forEachPage } from './pages.js';
import { type RemoteStreamsDeps, resolveServerStream, sendReport } from './streams.js';

/** A review as the server lists it (`GET /streams/:id/reviews`). */
export type ServerReview = Pick<
  StreamReview,
  'stream_id' | 'reviewer_id' | 'verdict' | 'feedback' | 'is_human' | 'tested' | 'reviewed_at' | 'head_commit'
> & { reviewer_name?: string; stale: boolean };

/** Puts the stream up for review (its author). */
export async function submitRemoteForReview(deps: RemoteStreamsDeps, streamRef: string): Promise<Stream> {
  const stream = await resolveServerStream(deps, streamRef);
  const sent = await sendReport<{ stream: Stream }>(
    deps,
    'review submit',
    `/streams/${encodeURIComponent(stream.id)}/submit`,
    {},
  );
  // Queued: up for review once the server takes it (it checks the author then).
  return sent.queued ? { ...stream, status: 'in_review', review_status: 'in_review' } : sent.body.stream;
}

/** Records the acting agent's verdict; the server answers the consensus after it. */
export async function submitRemoteReview(
  deps: RemoteStreamsDeps,
  input: { stream: string; verdict: ReviewVerdict; feedback: string | null; tested: boolean },
): Promise<{ review: ServerReview; consensus: ConsensusResult }> {
  const stream = await resolveServerStream(deps, input.stream);
  const path = `/streams/${encodeURIComponent(stream.id)}`;
  const verdict = { verdict: input.verdict, feedback: input.feedback, tested: input.tested };
  // The fetch does not wait for the verdict, nor the verdict for the fetch.
  const [sent] = await settleInOrder(
    sendReport<{ review: ServerReview; consensus: ConsensusResult }>(
      deps,
      'review submit',
      `${path}/reviews`,
      verdict,
    ),
    fetchForReview(deps, stream),
  );
  if (!sent.queued) return sent.body;
  // Queued: the server counts it when it comes back; meanwhile the consensus as last read.
  const actor = await deps.actor();
  const { consensus } = await deps.server
    .get<{ consensus: ConsensusResult }>(`${path}/consensus`)
    .catch((error: unknown) => {
      if (!isGitSwarmError(error, 'server_unreachable')) throw error;
      throw new GitSwarmError(
        'server_unreachable',
        `Your ${input.verdict} of stream ${stream.id} is queued; its consensus is unknown until the server answers.`,
        { hint: 'It is sent by the next connected command, or: gitswarm sync', details: { queued: true } },
      );
    });
  return {
    review: {
      stream_id: stream.id,
      reviewer_id: actor.id,
      reviewer_name: actor.name,
      verdict: input.verdict,
      feedback: input.feedback,
      is_human: false,
      tested: input.tested,
      reviewed_at: new Date().toISOString(),
      head_commit: null,
      stale: false,
    },
    consensus,
  };
}

/**
 * The reviewer's clone gets the code it gives a verdict on: the stream's branch, fetched on demand
 * as `diff` does. The verdict is the server's to record whatever git says: a branch not pushed
 * yet, or a remote that does not answer, leaves the clone as it was.
 */
async function fetchForReview(deps: RemoteStreamsDeps, stream: Stream): Promise<void> {
  try {
    await fetchStreamOnDemand(deps, stream);
  } catch (error) {
    if (!isGitSwarmError(error, 'not_found') && !isGitSwarmError(error, 'git_failed')) throw error;
  }
}

/** A stream's reviews, each marked stale when given on code that has changed since. */
export async function listRemoteReviews(
  deps: RemoteStreamsDeps,
  streamRef: string,
): Promise<{
  stream: Stream;
  reviews: ServerReview[];
  head_commit: string | null;
  stale: number;
  stale_reviews: StaleReviewsPolicy;
}> {
  const stream = await resolveServerStream(deps, streamRef);
  type ReviewsPage = {
    reviews: ServerReview[];
    head_commit: string | null;
    stale: number;
    stale_reviews: StaleReviewsPolicy;
    next_cursor?: string | null;
  };
  let listed: Omit<ReviewsPage, 'next_cursor'> | undefined;
  await forEachPage<ReviewsPage>(
    deps.server,
    `/streams/${encodeURIComponent(stream.id)}/reviews`,
    {},
    (page) => {
      const { next_cursor: _next, ...body } = page;
      listed = listed
        ? { ...body, reviews: [...listed.reviews, ...body.reviews], stale: listed.stale + body.stale }
        : body;
    },
  );
  return { stream, ...(listed as Omit<ReviewsPage, 'next_cursor'>) };
}

/** Whether the stream has consensus, with the numbers behind it, as the server computes it. */
export async function remoteConsensus(
  deps: RemoteStreamsDeps,
  streamRef: string,
): Promise<{ stream: Stream; consensus: ConsensusResult }> {
  const stream = await resolveServerStream(deps, streamRef);
  const { consensus } = await deps.server.get<{ consensus: ConsensusResult }>(
    `/streams/${encodeURIComponent(stream.id)}/consensus`,
  );
  return { stream, consensus };
}
