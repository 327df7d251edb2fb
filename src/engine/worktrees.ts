/**
 * Worktrees: one per stream (checked out on its own branch) and throw-away detached ones for
 * verification. Shared branches (buffer, main) are never checked out here.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { GitSwarmError } from '../errors.js';
import { git, gitOut } from './git.js';
import { assertRevision, assertValidBranch, isObjectId } from './names.js';

function assertWorktreePath(path: string): string {
  if (!isAbsolute(path) || path.includes('\0')) {
    throw new GitSwarmError('invalid_path', `A worktree path must be absolute: ${path}`);
  }
  return path;
}

/** Adds a worktree at `path` (absolute, not existing or empty) with `branch` checked out. */
export async function addWorktree(repoDir: string, options: { path: string; branch: string }): Promise<void> {
  assertWorktreePath(options.path);
  assertValidBranch(options.branch);
  await gitOut(['worktree', 'add', '--quiet', options.path, options.branch], { cwd: repoDir });
}

/**
 * Removes a worktree and its files, even with changes in it (`worktree remove --force`). When git
 * cannot (the directory is already gone, or broken), the directory is deleted and `worktree prune`
 * drops git's record of it; after a successful remove there is nothing left to prune.
 */
export async function removeWorktree(repoDir: string, path: string): Promise<void> {
  assertWorktreePath(path);
  const result = await git(['worktree', 'remove', '--force', path], { cwd: repoDir, okExitCodes: [128] });
  if (result.exitCode === 0) return;
  await rm(path, { recursive: true, force: true });
  await gitOut(['worktree', 'prune'], { cwd: repoDir });
}

/** Whether a worktree has staged, unstaged or untracked (not ignored) changes. */
export async function isWorktreeDirty(path: string): Promise<boolean> {
  assertWorktreePath(path);
  const out = await git(['status', '--porcelain=v1', '-z', '--untracked-files=normal'], { cwd: path });
  return out.stdout !== '';
}

/**
 * Runs `fn` in a throw-away worktree detached at `commit` (no branch checked out, so it cannot
 * clash with any other worktree); the worktree is removed afterwards, also when `fn` throws.
 * git starts before this returns, so the caller can do other work while it checks out.
 */
export async function withDetachedWorktree<T>(
  repoDir: string,
  commit: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  assertRevision(commit);
  const parent = mkdtempSync(join(tmpdir(), 'gitswarm-verify-'));
  const path = join(parent, basename(parent));
  try {
    await addDetachedWorktree(repoDir, path, commit);
    return await fn(path);
  } finally {
    await removeWorktree(repoDir, path).finally(() => rm(parent, { recursive: true, force: true }));
  }
}

/**
 * `git worktree add --detach`, tried again when git tripped over another worktree being added at
 * the same moment: it reads every worktree's admin folder and fails on one whose `commondir` is not
 * written yet (seen with two stabilize runs at once). The failed attempt leaves nothing behind.
 */
async function addDetachedWorktree(repoDir: string, path: string, commit: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await gitOut(['worktree', 'add', '--quiet', '--detach', path, commit], { cwd: repoDir });
      return;
    } catch (error) {
      const stderr = String((error as GitSwarmError).details?.git_stderr ?? '');
      if (attempt >= 8 || !/failed to read .*\/worktrees\/.*commondir/.test(stderr)) throw error;
      await rm(path, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

/**
 * Brings a clean worktree whose branch was moved by `update-ref` from `oldOid` to `newOid` up to
 * date (index and files): `git read-tree -m -u old new`. The caller guarantees it is clean.
 */
export async function syncWorktreeAfterRefMove(path: string, oldOid: string, newOid: string): Promise<void> {
  assertWorktreePath(path);
  if (!isObjectId(oldOid) || !isObjectId(newOid)) {
    throw new GitSwarmError('invalid_input', 'Syncing a worktree needs full object ids.');
  }
  await gitOut(['read-tree', '-m', '-u', oldOid, newOid], { cwd: path });
}
