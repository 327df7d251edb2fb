/**
 * `gitswarm merge STREAM` on a connected clone: the same result and exit codes as Mode A
 * (cli/merge.ts), the decision the server's (remote/merge.ts).
 */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { MergeCommandResult, MergeOptions } from '../../cli/merge.js';
import { remoteActor } from '../actor.js';
import { connectedGit } from '../git-ops.js';
import { mergeConnected } from '../merge.js';
import { serverApi } from '../server-api.js';
import { findServerStream } from '../stream-ref.js';

export async function runMergeRemote(
  opts: MergeOptions,
  deps: CommandDeps & { remote: RemoteDeps },
): Promise<MergeCommandResult & { push_retries: number }> {
  const { remote, ctx } = deps;
  const api = serverApi(remote.client);
  const actor = await remoteActor(remote);
  const stream = await findServerStream(api, remote.repoId(), opts.stream);
  return mergeConnected({
    api,
    git: connectedGit(ctx.root, remote.connection.remote),
    actor,
    stream,
  });
}
