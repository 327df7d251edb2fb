/** `gitswarm promote` on a connected clone: Mode A's result shape (cli/promote.ts), the server's rules. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { PromoteCommandResult, PromoteOptions } from '../../cli/promote.js';
import { GitSwarmError } from '../../errors.js';
import { connectedGit } from '../git-ops.js';
import { type PromoteRepo, promoteConnected } from '../promote.js';
import { serverApi } from '../server-api.js';

export async function runPromoteRemote(
  opts: PromoteOptions,
  deps: CommandDeps & { remote: RemoteDeps },
): Promise<PromoteCommandResult> {
  const { remote, ctx } = deps;
  if (opts.force) {
    throw new GitSwarmError('invalid_input', 'A forced promotion is not available on a connected clone.', {
      hint: 'Promote what stabilization passed (gitswarm stabilize, then gitswarm promote).',
    });
  }
  const api = serverApi(remote.client);
  const { repo } = await api.get<{ repo: PromoteRepo }>(`/repos/${encodeURIComponent(remote.repoId())}`);
  return promoteConnected({ api, git: connectedGit(ctx.root, remote.connection.remote), repo });
}
