/**
 * What `diff` compares in Mode B: the stream's branch (fetched on demand when it was made on
 * another clone) against the remote's buffer (fetched), or this clone's buffer when the remote has
 * none. The diff itself is computed locally by the CLI, as in Mode A.
 */
import { fetchBranch, fetchStreamBranch, trackingRef } from '../engine/remote.js';
import { readRef } from '../engine/repo.js';
import { streamBranch } from '../engine/stream-branches.js';
import { GitSwarmError } from '../errors.js';
import type { Stream } from '../store/index.js';
import { getServerRepo, type RemoteStreamsDeps, resolveServerStream } from './streams.js';

export interface DiffRefs {
  stream: Stream;
  /** The buffer branch's name (what the output says it compares with). */
  bufferBranch: string;
  /** The full refs to compare: `base...head`. */
  baseRef: string;
  headRef: string;
}

export async function remoteDiffRefs(deps: RemoteStreamsDeps, streamRef: string): Promise<DiffRefs> {
  const [stream, repo] = await Promise.all([resolveServerStream(deps, streamRef), getServerRepo(deps)]);
  const options = { remote: deps.remote };
  const bufferRef = `refs/heads/${repo.buffer_branch}`;
  const remoteBuffer = await fetchBranch(deps.root, repo.buffer_branch, options);
  const baseRef = remoteBuffer === null ? bufferRef : trackingRef(bufferRef, options);
  const headRef = await fetchStreamOnDemand(deps, stream);
  return { stream, bufferBranch: repo.buffer_branch, baseRef, headRef };
}

/**
 * Brings the stream's branch here when it was made or advanced on another clone (`diff`, a
 * verdict of `review submit`): a missing local `stream/<id>` is created from the remote's, one
 * strictly behind is fast-forwarded. Answers the full ref to read the stream's head from;
 * `not_found` when the branch exists neither here nor on the remote.
 */
export async function fetchStreamOnDemand(
  deps: Pick<RemoteStreamsDeps, 'root' | 'remote'>,
  stream: Pick<Stream, 'id' | 'name' | 'branch'>,
): Promise<string> {
  const options = { remote: deps.remote };
  const headRef = `refs/heads/${stream.branch}`;
  if (stream.branch === streamBranch(stream.id)) {
    const fetched = await fetchStreamBranch(deps.root, stream.id, options);
    if (fetched.local === null) throw missingBranch(stream, deps.remote);
    return headRef;
  }
  const remoteHead = await fetchBranch(deps.root, stream.branch, options);
  if (remoteHead !== null) return trackingRef(headRef, options);
  if ((await readRef(deps.root, headRef)) === null) throw missingBranch(stream, deps.remote);
  return headRef;
}

function missingBranch(stream: Pick<Stream, 'name' | 'branch'>, remote: string): GitSwarmError {
  return new GitSwarmError(
    'not_found',
    `Stream ${stream.name}'s branch ${stream.branch} exists neither here nor on "${remote}".`,
    { hint: "Its author's clone has not pushed it yet (every commit pushes it)." },
  );
}
