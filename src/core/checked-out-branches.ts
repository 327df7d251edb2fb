/**
 * Shared branches (buffer, main) move by compare-and-swap, never by a checkout; but a user may
 * have one checked out (main usually is, in the repository's own folder). Moving it under a dirty
 * checkout would silently make its files look reverted, so such a move is refused; a clean
 * checkout is brought along with the ref.
 */
import { gitOut } from '../engine/git.js';
import { isWorktreeDirty, syncWorktreeAfterRefMove } from '../engine/worktrees.js';
import { GitSwarmError } from '../errors.js';

/** The worktrees that have `branch` checked out (usually none, or the main worktree). */
export async function worktreesOnBranch(repoDir: string, branch: string): Promise<string[]> {
  const out = await gitOut(['worktree', 'list', '--porcelain'], { cwd: repoDir });
  const paths: string[] = [];
  let current: string | null = null;
  for (const line of out.split('\n')) {
    if (line.startsWith('worktree ')) current = line.slice('worktree '.length);
    else if (line === `branch refs/heads/${branch}` && current !== null) paths.push(current);
  }
  return paths;
}

/** Throws `worktree_dirty` when a checkout of `branch` has uncommitted changes; returns the clean checkouts. */
export async function assertCheckoutsClean(repoDir: string, branch: string): Promise<string[]> {
  const paths = await worktreesOnBranch(repoDir, branch);
  for (const path of paths) {
    if (await isWorktreeDirty(path)) {
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
