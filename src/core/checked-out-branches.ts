/**
 * Shared branches (buffer, main) move by compare-and-swap, never by a checkout; but a user may
 * have one checked out (main usually is, in the repository's own folder). Moving it under a dirty
 * checkout would silently make its files look reverted, so such a move is refused; a clean
 * checkout is brought along with the ref.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { git, gitOut } from '../engine/git.js';
import { findGitRepo } from '../engine/repo.js';
import { syncWorktreeAfterRefMove } from '../engine/worktrees.js';
import { GitSwarmError } from '../errors.js';

/**
 * The worktrees that have `branch` checked out (usually none, or the main worktree). Every merge
 * and promotion asks, so the worktrees' HEAD files are read directly where the layout is the
 * usual one (files ref storage, main worktree plus linked ones); else `git worktree list` answers.
 */
export async function worktreesOnBranch(repoDir: string, branch: string): Promise<string[]> {
  const heads = (await worktreeHeadsOnDisk(repoDir)) ?? (await worktreeHeadsFromGit(repoDir));
  const ref = `refs/heads/${branch}`;
  return heads.filter((head) => head.ref === ref).map((head) => head.path);
}

interface WorktreeHead {
  path: string;
  /** The checked-out branch's full ref; null when detached. */
  ref: string | null;
}

async function worktreeHeadsFromGit(repoDir: string): Promise<WorktreeHead[]> {
  const out = await gitOut(['worktree', 'list', '--porcelain'], { cwd: repoDir });
  const heads: WorktreeHead[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('worktree ')) heads.push({ path: line.slice('worktree '.length), ref: null });
    else if (line.startsWith('branch ') && heads.length > 0) {
      (heads[heads.length - 1] as WorktreeHead).ref = line.slice('branch '.length);
    }
  }
  return heads;
}

/**
 * What `git worktree list` reads (gitrepository-layout: `HEAD`, `worktrees/<id>/HEAD` and
 * `worktrees/<id>/gitdir`), read in-process; null when anything is not as expected.
 */
async function worktreeHeadsOnDisk(repoDir: string): Promise<WorktreeHead[] | null> {
  const { root, commonDir } = await findGitRepo(repoDir);
  if (root === commonDir) return null; // bare
  const config = await readFile(join(commonDir, 'config'), 'utf8').catch(() => null);
  if (config === null || /^\s*refstorage\s*=/im.test(config)) return null;
  const main = parseHead(await readFile(join(commonDir, 'HEAD'), 'utf8').catch(() => null));
  if (main === undefined) return null;
  const heads: WorktreeHead[] = [{ path: root, ref: main }];
  const linkedDir = join(commonDir, 'worktrees');
  const ids = await readdir(linkedDir).catch((error: NodeJS.ErrnoException) =>
    error.code === 'ENOENT' ? [] : null,
  );
  if (ids === null) return null;
  for (const id of ids.sort()) {
    const dir = join(linkedDir, id);
    const [head, gitdir] = await Promise.all([
      readFile(join(dir, 'HEAD'), 'utf8').catch(() => null),
      readFile(join(dir, 'gitdir'), 'utf8').catch(() => null),
    ]);
    const ref = parseHead(head);
    if (ref === undefined || gitdir === null || gitdir.trim() === '') return null;
    heads.push({ path: dirname(resolve(dir, gitdir.trim())), ref });
  }
  return heads;
}

/** A HEAD file's branch ref, null when detached, undefined when it is not a HEAD file git would write. */
function parseHead(text: string | null): string | null | undefined {
  if (text === null) return undefined;
  const content = text.trim();
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(content)) return null;
  return /^ref: (refs\/\S+)$/.exec(content)?.[1];
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
