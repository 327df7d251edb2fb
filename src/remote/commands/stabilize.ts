/** `gitswarm stabilize` on a connected clone: Mode A's result shape (cli/stabilize.ts), run here, decided there. */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { StabilizeCommandResult } from '../../cli/stabilize.js';
import { remoteActor } from '../actor.js';
import { connectedGit } from '../git-ops.js';
import { serverApi } from '../server-api.js';
import { type StabilizeRepo, stabilizeConnected } from '../stabilize.js';

export async function runStabilizeRemote(
  deps: CommandDeps & { remote: RemoteDeps },
): Promise<StabilizeCommandResult> {
  const { remote, ctx, io } = deps;
  const api = serverApi(remote.client);
  const actor = await remoteActor(remote);
  const { repo } = await api.get<{ repo: StabilizeRepo }>(`/repos/${encodeURIComponent(remote.repoId())}`);
  const { stabilization_id: _id, ...result } = await stabilizeConnected({
    api,
    git: connectedGit(ctx.root, remote.connection.remote),
    repo,
    actor,
    progress: (line) => io.stderr.write(`${line}\n`),
    ...(io.env.PATH !== undefined ? { searchPath: io.env.PATH } : {}),
    ...(io.isTTY ? { output: (chunk: string) => io.stderr.write(chunk) } : {}),
  });
  return result;
}
