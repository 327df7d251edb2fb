/**
 * Mode B reviews and consensus: asked of the server, which records reviews and computes consensus
 * with the same core rules as Mode A. Shapes are the server's; the CLI maps them to its output.
 */
import type { ConsensusResult } from '../core/consensus.js';
import type { ReviewVerdict, StaleReviewsPolicy, Stream, StreamReview } from '../store/index.js';
import { type RemoteStreamsDeps, resolveServerStream } from './streams.js';

/** A review as the server lists it (`GET /streams/:id/reviews`). */
export type ServerReview = Pick<
  StreamReview,
  'stream_id' | 'reviewer_id' | 'verdict' | 'feedback' | 'is_human' | 'tested' | 'reviewed_at' | 'head_commit'
> & { reviewer_name?: string; stale: boolean };

/** Puts the stream up for review (its author). */
export async function submitRemoteForReview(deps: RemoteStreamsDeps, streamRef: string): Promise<Stream> {
  const stream = await resolveServerStream(deps, streamRef);
  return (await deps.server.post<{ stream: Stream }>(`/streams/${encodeURIComponent(stream.id)}/submit`))
    .stream;
}

/** Records the acting agent's verdict; the server answers the consensus after it. */
export async function submitRemoteReview(
  deps: RemoteStreamsDeps,
  input: { stream: string; verdict: ReviewVerdict; feedback: string | null; tested: boolean },
): Promise<{ review: ServerReview; consensus: ConsensusResult }> {
  const stream = await resolveServerStream(deps, input.stream);
  return deps.server.post(`/streams/${encodeURIComponent(stream.id)}/reviews`, {
    verdict: input.verdict,
    feedback: input.feedback,
    tested: input.tested,
  });
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
  const listed = await deps.server.get<{
    reviews: ServerReview[];
    head_commit: string | null;
    stale: number;
    stale_reviews: StaleReviewsPolicy;
  }>(`/streams/${encodeURIComponent(stream.id)}/reviews`);
  return { stream, ...listed };
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
