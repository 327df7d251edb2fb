/**
 * Worktrees: one per stream (checked out on its own branch) and throw-away detached ones for
 * verification. Shared branches (buffer, main) are never checked out here.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { GitSwarmError } from '../errors.js';
import { readOrNull, realpathOrNull } from '../util/read-or-null.js';
import { git, gitOut, WITHOUT_HOOKS } from './git.js';
import { addLinkedWorktree } from './linked-worktree.js';
import { assertRevision, assertValidBranch, isObjectId } from './names.js';

function assertWorktreePath(path: string): string {
  if (!isAbsolute(path) || path.includes('\0')) {
    throw new GitSwarmError('invalid_path', `A worktree path must be absolute: ${path}`);
  }
  return path;
}

/**
 * Adds a worktree at `path` (absolute, not existing or empty) with `branch` checked out. No hook
 * runs (a post-checkout hook would run outside any sandbox, in a checkout of an agent's code), as
 * for the engine's commits and merges.
 */
export async function addWorktree(repoDir: string, options: { path: string; branch: string }): Promise<void> {
  assertWorktreePath(options.path);
  assertValidBranch(options.branch);
  if (await addLinkedWorktree(repoDir, options.path, { branch: options.branch })) return;
  await gitOut([...WITHOUT_HOOKS, 'worktree', 'add', '--quiet', options.path, options.branch], {
    cwd: repoDir,
  });
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
 * git starts before this returns, so the caller can do other work while it checks out. No hook
 * runs: the commit is code under test, and only the sandbox may run it.
 */
export async function withDetachedWorktree<T>(
  repoDir: string,
  commit: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  assertRevision(commit);
  const parent = mkdtempSync(join(tmpdir(), 'gitswarm-verify-'));
  const path = join(parent, basename(parent));
  let adminDir: string | null = null;
  try {
    await addDetachedWorktree(repoDir, path, commit);
    // Read before `fn` runs anything in the worktree: what is in it afterwards cannot be trusted.
    adminDir = adminDirOf(path);
    return await fn(path);
  } finally {
    await discardWorktree(repoDir, path, adminDir).finally(() =>
      rm(parent, { recursive: true, force: true }),
    );
  }
}

/**
 * The admin folder git keeps for the linked worktree at `path` (`<common dir>/worktrees/<id>`),
 * named by the worktree's `.git` file and naming it back in its `gitdir` file; null when it is not
 * so (then git removes the worktree).
 */
function adminDirOf(path: string): string | null {
  const dotGit = join(path, '.git');
  const named = /^gitdir: (.+)\n?$/.exec(readOrNull(dotGit) ?? '')?.[1];
  if (named === undefined || !isAbsolute(named) || basename(dirname(named)) !== 'worktrees') return null;
  // git names the worktree by its real path.
  const realDotGit = join(realpathOrNull(path) ?? path, '.git');
  return readOrNull(join(named, 'gitdir'))?.trim() === realDotGit ? named : null;
}

/**
 * Removes a throw-away worktree: its files, then git's admin folder of it, which is all
 * `git worktree remove --force` does for a worktree no one else uses, without a git process (a
 * stabilization removes one per test run). git removes it when its admin folder is not known or
 * the files cannot all be removed.
 */
async function discardWorktree(repoDir: string, path: string, adminDir: string | null): Promise<void> {
  if (adminDir !== null) {
    try {
      await rm(path, { recursive: true, force: true });
      await rm(adminDir, { recursive: true, force: true });
      return;
    } catch {
      // git tries
    }
  }
  await removeWorktree(repoDir, path);
}

/**
 * `git worktree add --detach`, tried again when git tripped over another worktree being added at
 * the same moment: it reads every worktree's admin folder and fails on one whose `commondir` is not
 * written yet (seen with two stabilize runs at once). The failed attempt leaves nothing behind.
 */
async function addDetachedWorktree(repoDir: string, path: string, commit: string): Promise<void> {
  if (await addLinkedWorktree(repoDir, path, { commit })) return;
  for (let attempt = 1; ; attempt++) {
    try {
      await gitOut([...WITHOUT_HOOKS, 'worktree', 'add', '--quiet', '--detach', path, commit], {
        cwd: repoDir,
      });
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
