/**
 * Carrying a worktree's uncommitted work onto another branch: a snapshot of the working tree
 * (tracked and untracked, not ignored) taken through a temporary index, a three-way merge of it
 * onto the new base, and a switch of the same worktree to the new branch that leaves the work
 * uncommitted. Ignored files (dependencies, caches) stay where they are.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, gitOut, hasMergeTreeBase } from './git.js';
import { assertRevision, assertValidBranch } from './names.js';
import { mergeTree, syntheticCommit, type TreeMerge, writeCommits } from './objects.js';

export interface WorktreeSnapshot {
  /** The commit checked out. */
  head: string;
  headTree: string;
  /** The working tree as a tree object (the worktree's index and files are not touched). */
  tree: string;
  /** Whether there is uncommitted work (the trees differ). */
  dirty: boolean;
}

/** Snapshots the working tree of `worktree` (see the file's comment). */
export async function snapshotWorktree(worktree: string): Promise<WorktreeSnapshot> {
  const [head = '', headTree = ''] = (
    await gitOut(['rev-parse', 'HEAD', 'HEAD^{tree}'], { cwd: worktree })
  ).split('\n');
  const dir = await mkdtemp(join(tmpdir(), 'gitswarm-snapshot-'));
  try {
    const env = { GIT_INDEX_FILE: join(dir, 'index') };
    await gitOut(['read-tree', 'HEAD'], { cwd: worktree, env });
    await gitOut(['add', '-A'], { cwd: worktree, env });
    const tree = await gitOut(['write-tree'], { cwd: worktree, env });
    return { head, headTree, tree, dirty: tree !== headTree };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The snapshot's changes (relative to its head) applied onto `onto`: a three-way merge with the
 * snapshot's head as the base. Conflicts come back as data.
 */
export async function carryOnto(
  repoDir: string,
  snapshot: Pick<WorktreeSnapshot, 'head' | 'tree'>,
  onto: string,
): Promise<TreeMerge> {
  assertRevision(onto);
  if (await hasMergeTreeBase()) {
    const [work] = await writeCommits(repoDir, [syntheticCommit(snapshot.tree, snapshot.head)]);
    return mergeTree(repoDir, onto, work as string, { mergeBase: snapshot.head });
  }
  // Older git finds the base itself: both sides as children of the snapshot's head.
  const ontoTree = await gitOut(['rev-parse', `${onto}^{tree}`], { cwd: repoDir });
  const [ours, theirs] = await writeCommits(repoDir, [
    syntheticCommit(ontoTree, snapshot.head),
    syntheticCommit(snapshot.tree, snapshot.head),
  ]);
  return mergeTree(repoDir, ours as string, theirs as string);
}

/**
 * Switches `worktree` from its working tree `from` (a snapshot's tree) to the branch `branch`,
 * with the files of tree `to` left as uncommitted changes on it: the index goes to the branch's
 * commit, the files to `to`. Files not in either tree (ignored ones) are left alone.
 */
export async function switchWorktreeCarrying(
  worktree: string,
  input: { branch: string; from: string; to: string },
): Promise<void> {
  assertValidBranch(input.branch);
  assertRevision(input.from);
  assertRevision(input.to);
  // The index takes the snapshot (what the files are), so read-tree can move the files from it.
  await gitOut(['add', '-A'], { cwd: worktree });
  await gitOut(['read-tree', '-m', '-u', input.from, input.to], { cwd: worktree });
  await gitOut(['symbolic-ref', 'HEAD', `refs/heads/${input.branch}`], { cwd: worktree });
  // The index back to the branch's commit: what differs from it is uncommitted again.
  await git(['reset', '--quiet'], { cwd: worktree, okExitCodes: [1] });
}

/**
 * Puts a worktree back on `branch` with the files `snapshot` recorded; best effort, for undoing a
 * step that moved it (the error that caused the undo is what the caller reports).
 */
export async function restoreWorktree(
  worktree: string,
  branch: string,
  snapshot: WorktreeSnapshot,
): Promise<void> {
  const now = await snapshotWorktree(worktree).catch(() => null);
  if (!now) return;
  await switchWorktreeCarrying(worktree, { branch, from: now.tree, to: snapshot.tree }).catch(() => {});
}
