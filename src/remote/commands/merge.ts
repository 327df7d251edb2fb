/**
 * `gitswarm merge STREAM` on a connected clone: the same result and exit codes as Mode A
 * (cli/merge.ts), the decision the server's (remote/merge.ts). Reads go through the clone's cache
 * and the merge report through the outbox, so a server that stops answering leaves a merge that
 * needed no decision (swarm mode, or `offline_merges` allow) to be reported by `gitswarm sync`.
 */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { MergeCommandResult, MergeOptions } from '../../cli/merge.js';
import { isGitSwarmError } from '../../errors.js';
import { remoteActor } from '../actor.js';
import { type ConnectedGit, connectedGit } from '../git-ops.js';
import { type ConnectedMergeResult, mergeConnected } from '../merge.js';
import { assertOfflineMergeAllowed, readOrCache, sendOrQueue } from '../offline.js';
import { offlineContextOf } from '../offline-client.js';
import { type RemoteStream, type ServerApi, serverApi } from '../server-api.js';
import { findServerStream } from '../stream-ref.js';
import { cascadeAfterMerge, publishLockOf } from './workspace.js';

type Connected = CommandDeps & { remote: RemoteDeps };

export async function runMergeRemote(
  opts: MergeOptions,
  deps: Connected,
): Promise<MergeCommandResult & { push_retries: number }> {
  const session = await openMergeSession(deps);
  const stream = await findServerStream(session.cached, deps.remote.repoId(), opts.stream).catch(
    async (error) => {
      // Offline, a stream never read before is known by its branch here (stream/<id>).
      if (!isGitSwarmError(error, 'server_unreachable')) throw error;
      const id = opts.stream.startsWith('stream/') ? opts.stream.slice('stream/'.length) : opts.stream;
      if (!/^[A-Za-z0-9._-]{1,36}$/.test(id) || !(await session.git.branchHead(`stream/${id}`))) throw error;
      return { id, name: id, branch: `stream/${id}`, status: 'active', agent_id: '' };
    },
  );
  return session.merge(stream);
}

/**
 * Merges a stream connected, with the offline rules: what `merge` runs, and what a connected
 * swarm-mode `commit` can run to merge its stream (one call: the stream as the server knows it).
 */
export async function mergeStreamConnected(
  deps: Connected,
  stream: RemoteStream,
): Promise<ConnectedMergeResult> {
  return (await openMergeSession(deps)).merge(stream);
}

interface MergeSession {
  cached: ServerApi;
  git: ConnectedGit;
  merge(stream: RemoteStream): Promise<ConnectedMergeResult>;
}

async function openMergeSession(deps: Connected): Promise<MergeSession> {
  const { remote, ctx, io } = deps;
  const api = serverApi(remote.client);
  const offline = offlineContextOf({
    db: deps.core.store.db,
    connection: remote.connection,
    client: remote.client,
    env: io.env,
    root: ctx.root,
    notify: (line) => io.stderr.write(`${line}\n`),
  });
  // Reads answered from the cache when the server does not answer (marked stale on stderr).
  const cached: ServerApi = {
    ...api,
    get: async <T>(path: string) => (await readOrCache(offline, path, () => api.get<T>(path))).value,
  };
  const actor = await remoteActor(remote).catch(async (error) => {
    // Offline the key's owner is the agent named for the command (its key chose it).
    const named = remote.connection.agentRef;
    if (!named || !remote.client.apiKey) throw error;
    return { id: named, name: named };
  });
  // Read once per merge, so a later merge without the server knows the repository's rules.
  const { repo } = await cached.get<{
    repo: { merge_mode: string; buffer_branch: string; metadata?: unknown };
  }>(`/repos/${encodeURIComponent(remote.repoId())}`);
  const git = connectedGit(ctx.root, remote.connection.remote);
  return {
    cached,
    git,
    merge: async (stream) =>
      cascadeAfterMerge(
        deps,
        stream,
        await mergeConnected({
          api,
          git,
          actor,
          stream,
          exclusive: publishLockOf(deps),
          offline: {
            async allow() {
              assertOfflineMergeAllowed(repo, remote.connection.url);
              return { buffer_branch: repo.buffer_branch };
            },
            async report(body) {
              const out = await sendOrQueue(offline, {
                command: 'merge',
                method: 'PATCH',
                path: `/streams/${encodeURIComponent(stream.id)}`,
                body,
                agent: remote.connection.agentRef ?? null,
              });
              return { queued: out.queued };
            },
          },
        }),
      ),
  };
}
