/**
 * Shared branches (buffer, main) move by compare-and-swap, never by a checkout; but a user may
 * have one checked out (main usually is, in the repository's own folder). Moving it under a dirty
 * checkout would silently make its files look reverted, so such a move is refused; a clean
 * checkout is brought along with the ref.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { git, gitOut } from '../../engine/git.js';
import { findGitRepo, hasRefFiles } from '../../engine/repo.js';
import { parseHeadFile } from '../../engine/worktree-list.js';
import { syncWorktreeAfterRefMove } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';
import { readOrNull } from '../../util/read-or-null.js';

/**
 * The worktrees that have `branch` checked out (usually none, or the main worktree). Every merge
 * and promotion asks, so where the layout is the usual one (files ref storage, a main worktree
 * and linked ones) the worktrees' HEAD files are read directly, and a linked worktree's path only
 * for those on the branch; else `git worktree list` answers.
 */
export async function worktreesOnBranch(repoDir: string, branch: string): Promise<string[]> {
  const ref = `refs/heads/${branch}`;
  return (await worktreesOnBranchOnDisk(repoDir, ref)) ?? (await worktreesOnBranchFromGit(repoDir, ref));
}

async function worktreesOnBranchFromGit(repoDir: string, ref: string): Promise<string[]> {
  const out = await gitOut(['worktree', 'list', '--porcelain'], { cwd: repoDir });
  const paths: string[] = [];
  let current: string | null = null;
  for (const line of out.split('\n')) {
    if (line.startsWith('worktree ')) current = line.slice('worktree '.length);
    else if (line === `branch ${ref}` && current !== null) paths.push(current);
  }
  return paths;
}

/**
 * What `git worktree list` reads (gitrepository-layout: `HEAD`, `worktrees/<id>/HEAD` and
 * `worktrees/<id>/gitdir`; a bare repository has no `HEAD` checkout), read in-process with synchronous reads (a few microseconds each, so
 * hundreds of worktrees cost about what one git process does); null when anything is not as expected.
 */
async function worktreesOnBranchOnDisk(repoDir: string, ref: string): Promise<string[] | null> {
  const { root, commonDir } = await findGitRepo(repoDir);
  if (!hasRefFiles(readOrNull(join(commonDir, 'config')))) return null;
  const paths: string[] = [];
  // A bare repository (the server's, Mode C) has no checkout of its own: only linked worktrees.
  if (root !== commonDir) {
    const main = parseHeadFile(readOrNull(join(commonDir, 'HEAD')));
    if (main === undefined) return null;
    if (main === ref) paths.push(root);
  }
  const linkedDir = join(commonDir, 'worktrees');
  let ids: string[];
  try {
    ids = readdirSync(linkedDir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    ids = [];
  }
  for (const id of ids) {
    const dir = join(linkedDir, id);
    const head = parseHeadFile(readOrNull(join(dir, 'HEAD')));
    if (head === undefined) return null;
    if (head !== ref) continue;
    const gitdir = readOrNull(join(dir, 'gitdir'))?.trim();
    if (!gitdir) return null;
    paths.push(dirname(resolve(dir, gitdir)));
  }
  return paths;
}

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
