/** `review submit|list`, `consensus` and `diff` on a connected clone: the server answers, same shapes as Mode A. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { ReviewVerdict } from '../../store/index.js';
import { type DiffRefs, remoteDiffRefs } from '../diff.js';
import { listRemoteReviews, remoteConsensus, submitRemoteForReview, submitRemoteReview } from '../reviews.js';
import { actorOf, staleMark, streamsOf } from './workspace.js';

type Connected = CommandDeps & { remote: RemoteDeps };

export function runSubmitForReviewRemote(stream: string, deps: Connected) {
  return submitRemoteForReview(streamsOf(deps), stream);
}

export async function runSubmitReviewRemote(
  input: { stream: string; verdict: ReviewVerdict; feedback: string | null; tested: boolean },
  deps: Connected,
) {
  const [result, actor] = await Promise.all([submitRemoteReview(streamsOf(deps), input), actorOf(deps)]);
  return { ...result, reviewerName: actor.name };
}

/** (Its --json already has a `stale` count of stale reviews: a cached read says so on stderr only.) */
export function runListReviewsRemote(stream: string, deps: Connected) {
  return listRemoteReviews(streamsOf(deps), stream);
}

export async function runConsensusRemote(stream: string, deps: Connected) {
  const streams = streamsOf(deps);
  return { ...(await remoteConsensus(streams, stream)), ...staleMark(streams) };
}

export async function runDiffRefsRemote(
  stream: string,
  deps: Connected,
): Promise<DiffRefs & { stale?: true }> {
  const streams = streamsOf(deps);
  return { ...(await remoteDiffRefs(streams, stream)), ...staleMark(streams) };
}
