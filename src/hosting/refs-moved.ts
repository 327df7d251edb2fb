/**
 * The one place the server's stabilization and promotion say that they moved a server-held
 * repository's buffer or promote target (a revert of a red culprit, a promotion). The upstream
 * push (`remote_url`, hosting/upstream.ts) hangs off this call: every ref move of these paths
 * reaches the upstream through it.
 */
import type { CoreDeps } from '../core/deps.js';
import type { Repo } from '../store/index.js';

export type RefsMovedReason = 'revert' | 'promote';

/** Told after a server stabilization or promotion moved `repo`'s buffer or promote target. */
export type RefsMovedHook = (deps: CoreDeps, repo: Repo, reason: RefsMovedReason) => Promise<void>;

/**
 * Called after a server stabilization reverted a merge or promoted, and after `POST
 * /repos/:id/promote` promoted. Until the upstream push module exists this does nothing; it never
 * throws at its caller (a failed push is the upstream module's to record and retry).
 */
export const afterServerRefsMoved: RefsMovedHook = async (_deps, repo, _reason) => {
  if (!repo.remote_url) return;
  // hosting/upstream.ts (h/hosting) pushes the buffer and the promote target here.
};
