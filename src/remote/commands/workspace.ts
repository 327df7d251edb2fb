/** `workspace create|list|destroy` and `commit` on a connected clone: same shapes as Mode A. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { remoteActor } from '../actor.js';
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

export function runCommitRemote(opts: { message: string }, deps: Connected) {
  return commitRemoteWorkspace(streamsOf(deps), opts);
}
