/** `workspace create|list|destroy` and `commit` on a connected clone: same shapes as Mode A. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { OpLog } from '../../engine/oplog.js';
import { remoteActor } from '../actor.js';
import { cascadeLocalDependents } from '../cascade.js';
import { findStoredKey } from '../credentials.js';
import { connectedGit } from '../git-ops.js';
import { mergeConnected } from '../merge.js';
import { serverApi } from '../server-api.js';
import { connectedStreams, type RemoteStreamsDeps } from '../streams.js';
import {
  commitRemoteWorkspace,
  createRemoteWorkspace,
  destroyRemoteWorkspace,
  listRemoteWorkspaces,
} from '../workspaces.js';

type Connected = CommandDeps & { remote: RemoteDeps };

/** The Mode B stream modules' context for a connected command. */
export function streamsOf(deps: Connected): RemoteStreamsDeps {
  return connectedStreams(deps.remote, deps.ctx.repo.path ?? deps.ctx.root, () => remoteActor(deps.remote));
}

export function runCreateWorkspaceRemote(
  opts: { name?: string; task?: string; dependsOn?: string },
  deps: Connected,
) {
  return createRemoteWorkspace(streamsOf(deps), opts);
}

export async function runListWorkspacesRemote(deps: Connected) {
  return { workspaces: await listRemoteWorkspaces(streamsOf(deps)) };
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
      const merged = await mergeConnected({
        api: serverApi(remote.client),
        git: connectedGit(ctx.root, remote.connection.remote),
        actor: await remoteActor(remote),
        stream,
      });
      return { buffer_head: merged.buffer_head, cascade: merged.cascade };
    },
    cascade: (stream, head) =>
      cascadeLocalDependents(
        {
          ...streamsOf(deps),
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
        },
        stream,
        head,
      ),
  });
}
