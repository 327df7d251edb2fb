/**
 * Which sandbox a server stabilization run uses. The server's operator decides, not the
 * repository's maintainers: bubblewrap whenever it works here; no sandbox only when the server
 * was started with `--allow-unsandboxed` (and then also when the repository asks for `sandbox
 * none`). Without a working bubblewrap and without that flag, runs are refused
 * (`sandbox_unavailable`).
 */

import { checkSandbox, type SandboxMode } from '../engine/sandbox.js';
import { GitSwarmError } from '../errors.js';
import type { Repo } from '../store/index.js';
import { commandEnv } from '../util/command-env.js';

export const UNSANDBOXED_HINT =
  'Install bubblewrap where the server runs (with unprivileged user namespaces enabled), or start the server with --allow-unsandboxed (GITSWARM_ALLOW_UNSANDBOXED=1).';

/** The sandbox mode for a run of `repo` on this server, or `sandbox_unavailable`. */
export async function serverSandboxMode(
  repo: Pick<Repo, 'sandbox'>,
  options: { allowUnsandboxed: boolean; searchPath?: string },
): Promise<SandboxMode> {
  if (options.allowUnsandboxed && repo.sandbox === 'none') return 'none';
  const check = await checkSandbox(options.searchPath ?? commandEnv().PATH);
  if (check.ok) return 'bubblewrap';
  if (options.allowUnsandboxed) return 'none';
  throw new GitSwarmError(
    'sandbox_unavailable',
    `This server has no sandbox for the stabilize command: ${check.reason}`,
    {
      hint: UNSANDBOXED_HINT,
      httpHint:
        "Ask the server's operator to install bubblewrap, or to start the server with --allow-unsandboxed.",
    },
  );
}
