/**
 * A STREAM argument (its id, name or branch `stream/<id>`) resolved on the server, as
 * core/streams/streams.ts findStream resolves it locally: by id or branch first, else the newest live
 * stream of that name (else the newest of that name).
 */
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { getAllPages, type PagedGetter } from './pages.js';
import type { RemoteStream } from './server-api.js';

const BRANCH_PREFIX = 'stream/';
const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/;
const LIVE = new Set(['active', 'in_review', 'conflicted']);

type ServerStream = RemoteStream & { repo_id: string };

export async function findServerStream<S extends ServerStream = ServerStream>(
  api: PagedGetter,
  repoId: string,
  ref: string,
): Promise<S> {
  const id = ref.startsWith(BRANCH_PREFIX) ? ref.slice(BRANCH_PREFIX.length) : ref;
  if (STREAM_ID.test(id)) {
    try {
      const { stream } = await api.get<{ stream: S }>(`/streams/${encodeURIComponent(id)}`);
      if (stream.repo_id === repoId) return stream;
    } catch (error) {
      // Not an id, or (through a cache) an id never read before: the list may still name it.
      const lookOn = ['stream_not_found', 'not_found', 'server_unreachable'] as const;
      if (!lookOn.some((code) => isGitSwarmError(error, code))) throw error;
    }
  }
  const streams = await getAllPages<S>(api, `/repos/${encodeURIComponent(repoId)}/streams`, 'streams');
  // By id too: offline, the cached list may name a stream whose own record was never read.
  const byBranch = streams.find((s) => s.id === id || s.branch === ref);
  if (byBranch) return byBranch;
  const named = streams.filter((s) => s.name === ref).reverse();
  const found = named.find((s) => LIVE.has(s.status)) ?? named[0];
  if (!found) {
    throw new GitSwarmError('stream_not_found', `No stream ${JSON.stringify(ref)} in this repository.`);
  }
  return found;
}
