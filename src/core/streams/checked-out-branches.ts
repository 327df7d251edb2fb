/**
 * Shared branches (buffer, main) move by compare-and-swap, never by a checkout; but a user may
 * have one checked out (main usually is, in the repository's own folder). Moving it under a dirty
 * checkout would silently make its files look reverted, so such a move is refused; a clean
 * checkout is brought along with the ref.
 */
import { git, gitOut } from '../../engine/git.js';
import { worktreesOnBranch } from '../../engine/worktree-list.js';
import { syncWorktreeAfterRefMove } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';

/**
 * Throws `worktree_dirty` when a checkout of `branch` has changes to tracked files (untracked
 * files are the user's business) or, given the move, has untracked files the move would
 * overwrite. Returns the checkouts to bring along after the move.
 */
export async function assertCheckoutsClean(
  repoDir: string,
  branch: string,
  move?: { from: string; to: string },
): Promise<string[]> {
  const paths = await worktreesOnBranch(repoDir, branch);
  for (const path of paths) {
    const status = await gitOut(['status', '--porcelain=v1', '--untracked-files=no'], { cwd: path });
    const blocked =
      status !== '' ||
      (move !== undefined &&
        (await git(['read-tree', '-n', '-m', '-u', move.from, move.to], { cwd: path, okExitCodes: [128] }))
          .exitCode !== 0);
    if (blocked) {
      throw new GitSwarmError(
        'worktree_dirty',
        `Branch ${branch} is checked out with uncommitted changes in ${path}`,
        {
          hint: `Commit, stash or discard the changes in ${path}, or check out another branch there.`,
          details: { branch, worktree: path },
        },
      );
    }
  }
  return paths;
}

/** Brings clean checkouts of a branch up to date after its ref moved from `from` to `to`. */
export async function syncCheckouts(paths: readonly string[], from: string, to: string): Promise<void> {
  for (const path of paths) await syncWorktreeAfterRefMove(path, from, to);
}

/**
 * After a crash between a ref move and the sync of its checkouts: every checkout of the branch
 * whose index and files are still exactly `from` is brought to `to`. A checkout with other changes
 * is left alone (they are someone's work, not staleness).
 */
export async function syncStaleCheckouts(
  repoDir: string,
  branch: string,
  from: string,
  to: string,
): Promise<string[]> {
  const synced: string[] = [];
  for (const path of await worktreesOnBranch(repoDir, branch)) {
    const files = await git(['diff', '--quiet', from, '--'], { cwd: path, okExitCodes: [1] });
    const index = await git(['diff', '--cached', '--quiet', from, '--'], { cwd: path, okExitCodes: [1] });
    if (files.exitCode === 0 && index.exitCode === 0) {
      await syncWorktreeAfterRefMove(path, from, to);
      synced.push(path);
    }
  }
  return synced;
}
