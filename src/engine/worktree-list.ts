/** The worktrees git knows for a repository, with the branch each has checked out. */
import { git } from './git.js';

export interface ListedWorktree {
  /** Absolute path, as git records it. */
  path: string;
  /** The checked-out branch without `refs/heads/`, or null (detached, bare). */
  branch: string | null;
  /** The commit checked out, or null (an unborn branch, bare). */
  head: string | null;
}

/** Every worktree of the repository (the main one first), from `git worktree list --porcelain`. */
export async function listWorktrees(repoDir: string): Promise<ListedWorktree[]> {
  const { stdout } = await git(['worktree', 'list', '--porcelain', '-z'], { cwd: repoDir });
  const worktrees: ListedWorktree[] = [];
  let current: ListedWorktree | null = null;
  // With -z each attribute ends in NUL and an empty field ends a worktree, so paths may hold newlines.
  for (const field of stdout.split('\0')) {
    if (field.startsWith('worktree ')) {
      current = { path: field.slice('worktree '.length), branch: null, head: null };
      worktrees.push(current);
    } else if (current && field.startsWith('HEAD ')) {
      current.head = field.slice('HEAD '.length);
    } else if (current && field.startsWith('branch refs/heads/')) {
      current.branch = field.slice('branch refs/heads/'.length);
    }
  }
  return worktrees;
}

/** The path of the worktree that has `branch` checked out, or null. */
export async function worktreeOfBranch(repoDir: string, branch: string): Promise<string | null> {
  return (await listWorktrees(repoDir)).find((w) => w.branch === branch)?.path ?? null;
}
