/** `review submit|list`, `consensus` and `diff` on a connected clone: the server answers, same shapes as Mode A. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { ReviewVerdict } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import { type DiffRefs, remoteDiffRefs } from '../diff.js';
import { listRemoteReviews, remoteConsensus, submitRemoteForReview, submitRemoteReview } from '../reviews.js';
import { streamsOf } from './workspace.js';

type Connected = CommandDeps & { remote: RemoteDeps };

export function runSubmitForReviewRemote(stream: string, deps: Connected) {
  return submitRemoteForReview(streamsOf(deps), stream);
}

export async function runSubmitReviewRemote(
  input: { stream: string; verdict: ReviewVerdict; feedback: string | null; tested: boolean },
  deps: Connected,
) {
  const [result, actor] = await Promise.all([
    submitRemoteReview(streamsOf(deps), input),
    remoteActor(deps.remote),
  ]);
  return { ...result, reviewerName: actor.name };
}

export function runListReviewsRemote(stream: string, deps: Connected) {
  return listRemoteReviews(streamsOf(deps), stream);
}

export function runConsensusRemote(stream: string, deps: Connected) {
  return remoteConsensus(streamsOf(deps), stream);
}

export function runDiffRefsRemote(stream: string, deps: Connected): Promise<DiffRefs> {
  return remoteDiffRefs(streamsOf(deps), stream);
}
