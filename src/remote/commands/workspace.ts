/** `workspace create|list|destroy` and `commit` on a connected clone: same shapes as Mode A. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { OpLog } from '../../engine/oplog.js';
import { isGitSwarmError } from '../../errors.js';
import { type Stream, withRepoLock } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import { cascadeLocalDependents, type RemoteCascadeDeps } from '../cascade.js';
import { findStoredKey, storedKeys } from '../credentials.js';
import { connectedGit } from '../git-ops.js';
import { type ConnectedMergeResult, mergeConnected } from '../merge.js';
import { readOrCache, sendOrQueue } from '../offline.js';
import { offlineContextOf } from '../offline-client.js';
import { reopenRemoteWorkspace } from '../reopen.js';
import { serverApi } from '../server-api.js';
import { connectedStreams, type RemoteStreamsDeps } from '../streams.js';
import {
  commitRemoteWorkspace,
  createRemoteWorkspace,
  destroyRemoteWorkspace,
  listRemoteWorkspaces,
} from '../workspaces.js';

type Connected = CommandDeps & { remote: RemoteDeps };

/**
 * The Mode B stream modules' context for a connected command. Offline (b-outbox): reads come from
 * the local cache when the server does not answer (marked stale on stderr), reports go into the
 * outbox, and the acting agent is the one whose saved key the command uses.
 */
export function streamsOf(deps: Connected): RemoteStreamsDeps {
  const { remote, io, ctx, core } = deps;
  const offline = offlineContextOf({
    db: core.store.db,
    connection: remote.connection,
    client: remote.client,
    env: io.env,
    root: ctx.root,
    notify: (line) => io.stderr.write(`${line}\n`),
  });
  const online = connectedStreams(remote, ctx.repo.path ?? ctx.root, () => actorOf(deps));
  let stale = false;
  return {
    ...online,
    server: {
      ...online.server,
      get: async <T>(path: string) => {
        const read = await readOrCache(offline, path, () => online.server.get<T>(path));
        stale ||= read.stale;
        return read.value;
      },
    },
    isStale: () => stale,
    report: async (command, path, body) => {
      const actor = await actorOf(deps);
      const sent = await sendOrQueue(offline, { command, method: 'POST', path, body, agent: actor.name });
      return { queued: sent.queued, body: sent.sent ? sent.body : null };
    },
  };
}

/** The acting agent: the server's answer, else (server down) the agent whose saved key is in use. */
export async function actorOf(deps: Connected): Promise<{ id: string; name: string }> {
  try {
    return await remoteActor(deps.remote);
  } catch (error) {
    if (!isGitSwarmError(error, 'server_unreachable')) throw error;
    const { connection, client } = deps.remote;
    const saved = storedKeys(deps.io.env, connection.url).find(
      (k) =>
        k.api_key === client.apiKey &&
        (connection.agentRef === undefined ||
          [k.agent_id, k.agent_name.toLowerCase()].includes(connection.agentRef.toLowerCase())),
    );
    if (!saved) throw error;
    return { id: saved.agent_id, name: saved.agent_name };
  }
}

export function runCreateWorkspaceRemote(
  opts: { name?: string; task?: string; dependsOn?: string; fromStream?: string; fromPr?: number },
  deps: Connected,
) {
  return createRemoteWorkspace(streamsOf(deps), opts);
}

export async function runListWorkspacesRemote(deps: Connected) {
  const streams = streamsOf(deps);
  const workspaces = await listRemoteWorkspaces(streams);
  return { workspaces, ...staleMark(streams) };
}

/** `stale: true` for --json when a read came from the cache (the server did not answer). */
export function staleMark(streams: RemoteStreamsDeps): { stale?: true } {
  return streams.isStale?.() ? { stale: true } : {};
}

/** `workspace reopen`: the server decides and records, the clone re-applies and carries the work. */
export function runReopenWorkspaceRemote(opts: { stream?: string }, deps: Connected) {
  return reopenRemoteWorkspace(streamsOf(deps), opts);
}

export function runDestroyWorkspaceRemote(opts: { abandon?: boolean }, deps: Connected) {
  return destroyRemoteWorkspace(streamsOf(deps), opts);
}

/** Commits, pushes and reports; in swarm mode the stream then merges through the connected merge path. */
export function runCommitRemote(opts: { message: string }, deps: Connected) {
  const { remote, ctx } = deps;
  return commitRemoteWorkspace(streamsOf(deps), {
    message: opts.message,
    mergeIntoBuffer: async (stream) => {
      const merged = await cascadeAfterMerge(
        deps,
        stream,
        await mergeConnected({
          api: serverApi(remote.client),
          git: connectedGit(ctx.root, remote.connection.remote),
          actor: await remoteActor(remote),
          stream,
          exclusive: publishLockOf(deps),
        }),
      );
      return { buffer_head: merged.buffer_head, push_retries: merged.push_retries, cascade: merged.cascade };
    },
    cascade: (stream, head) => cascadeLocalDependents(cascadeDepsOf(deps), stream, head),
  });
}

/**
 * Runs `work` holding the clone's publish lock: one merge at a time publishes the shared buffer
 * from this clone (across its processes), beside the repository's own lock, which it does not
 * take (the push and the report go over the network).
 */
export function publishLockOf(deps: Connected): <T>(work: () => Promise<T>) => Promise<T> {
  return (work) => withRepoLock(deps.core.store, `${deps.ctx.repo.id}:publish`, work);
}

/**
 * What the cascade of a connected command needs: the stream modules' context, the clone's
 * operation log, and the server as each agent whose key is saved on this machine.
 */
export function cascadeDepsOf(deps: Connected, options: { cached?: boolean } = {}): RemoteCascadeDeps {
  const { remote, ctx } = deps;
  const streams = streamsOf(deps);
  return {
    ...streams,
    // After a merge the server has just answered: read it, not through the cache (a read cached
    // here would answer later offline commands with a list that lacks streams made since).
    ...(options.cached === false
      ? { server: { ...streams.server, get: <T>(path: string) => remote.client.get<T>(path) } }
      : {}),
    oplog: new OpLog(deps.core.store, ctx.repo.id, deps.core.clock),
    serverAs: (agentName) => {
      const saved = findStoredKey(deps.io.env, remote.connection.url, agentName);
      if (!saved) return null;
      const client = remote.client.withApiKey(saved.api_key, saved.agent_name);
      return {
        get: (path) => client.get(path),
        post: (path, body) => client.post(path, body, { idempotencyKey: true }),
        patch: (path, body) => client.patch(path, body, { idempotencyKey: true }),
        delete: (path, body) => client.delete(path, body === undefined ? {} : { body }),
      };
    },
  };
}

/** After a merge this clone made and the server recorded, its dependents replayed onto the merge. */
export async function cascadeAfterMerge<T extends ConnectedMergeResult>(
  deps: Connected,
  stream: Pick<Stream, 'id'>,
  merged: T,
): Promise<T> {
  // Offline or queued: the server has not recorded the merge; the next commit cascades.
  if (merged.offline || merged.queued) return merged;
  return {
    ...merged,
    cascade: await cascadeLocalDependents(
      cascadeDepsOf(deps, { cached: false }),
      stream,
      merged.merge_commit,
    ),
  };
}
