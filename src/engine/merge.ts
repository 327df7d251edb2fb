/**
 * Worktree-free merges: `merge-tree --write-tree` → the merge commit (written in-process, else
 * `commit-tree`) → compare-and-swap `update-ref` through the operation log. A conflict is a
 * result, and then nothing moves.
 */
import { GitSwarmError } from '../errors.js';
import { type GitIdentity, identityEnv } from './author.js';
import { gitOut } from './git.js';
import { commitTreeOf, writeCommitObject } from './loose-objects.js';
import { assertRevision, assertValidBranch, isObjectId } from './names.js';
import { mergeTree, type TreeMerge } from './objects.js';
import { moveRef, type OpLog } from './oplog.js';
import { isAncestor, readRef } from './repo.js';

export type MergeOutcome =
  | { kind: 'merged'; commit: string; previousHead: string; opId: string }
  | { kind: 'conflicted'; paths: string[]; head: string };

export interface MergeIntoBranchOptions {
  /** Branch name (not a full ref), e.g. `buffer`. */
  target: string;
  /** The commit to merge (an object id). */
  source: string;
  message: string;
  author: GitIdentity;
  oplog: OpLog;
  streamId?: string | null;
  agentId?: string | null;
  /** The target's head (an object id) when the caller just read it: saves a read; a stale one costs a retry. */
  targetHead?: string;
  /** The merge the caller computed ahead (`planMerge`): used while the target is still at its head. */
  planned?: PlannedMerge;
}

/** A merge of `source` onto `head` computed ahead of the decision to make it. */
export interface PlannedMerge {
  head: string;
  source: string;
  tree: TreeMerge;
  /** Whether `head` already contains `source` (merging it would bring nothing). */
  empty: boolean;
}

/**
 * Merges the trees of `source` onto `head` (nothing referenced, nothing moved) and tells whether
 * `source` is already in `head`'s history. Only a merge that leaves `head`'s tree as it is can be
 * such a one, so git is asked about the ancestry only then.
 */
export async function planMerge(repoDir: string, head: string, source: string): Promise<PlannedMerge> {
  assertRevision(head);
  assertRevision(source);
  const tree = await mergeTree(repoDir, head, source);
  const empty =
    tree.clean &&
    tree.tree === (await commitTreeOf(repoDir, head)) &&
    (await isAncestor(repoDir, source, head));
  return { head, source, tree, empty };
}

/** How often a merge is recomputed when other writers keep moving the target first. */
export const MAX_CAS_ATTEMPTS = 32;

/** Checks a commit message handed to the engine and gives it the trailing newline git expects. */
export function normalizeMessage(message: string): string {
  if (message.trim() === '') throw new GitSwarmError('invalid_input', 'A commit message cannot be empty.');
  return message.endsWith('\n') ? message : `${message}\n`;
}

/**
 * Merges `source` into branch `target` with a merge commit (parents: target head, source),
 * never touching a worktree. When another writer moved the target between compute and publish,
 * recomputes on the new head (up to MAX_CAS_ATTEMPTS, then `ref_moved`). Does not complete the
 * operation: the caller does, with its records.
 */
export async function mergeIntoBranch(
  repoDir: string,
  options: MergeIntoBranchOptions,
): Promise<MergeOutcome> {
  assertValidBranch(options.target);
  assertRevision(options.source);
  const message = normalizeMessage(options.message);
  const ref = `refs/heads/${options.target}`;
  if (options.targetHead !== undefined && !isObjectId(options.targetHead)) {
    throw new GitSwarmError('invalid_input', 'A merge target head must be a full object id.');
  }
  let head = options.targetHead ?? (await readRef(repoDir, ref));
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    if (head === null) {
      throw new GitSwarmError('not_found', `Branch ${options.target} does not exist.`);
    }
    const { planned } = options;
    const ahead = planned?.head === head && planned.source === options.source ? planned.tree : undefined;
    const composed = await writeMerge(
      repoDir,
      { head, source: options.source, message, author: options.author },
      ahead,
    );
    if (composed.kind === 'conflicted') return composed;
    const commit = composed.commit;
    const move = await moveRef(repoDir, options.oplog, {
      ref,
      old: head,
      new: commit,
      kind: 'merge',
      description: `Merge ${options.source} into ${options.target}`,
      streamId: options.streamId ?? null,
      agentId: options.agentId ?? null,
      metadata: { source: options.source, target: options.target },
    });
    if (move.moved) return { kind: 'merged', commit, previousHead: head, opId: move.opId };
    head = move.current ?? (await readRef(repoDir, ref));
  }
  throw new GitSwarmError('ref_moved', `Branch ${options.target} kept moving; the merge was not published.`);
}

export interface ComposeMergeOptions {
  /** The commit merged onto (the first parent): the target branch's head as the caller read it. */
  head: string;
  /** The commit to merge (the second parent). */
  source: string;
  message: string;
  author: GitIdentity;
}

export type ComposedMerge =
  | { kind: 'merged'; commit: string }
  | { kind: 'conflicted'; paths: string[]; head: string };

/**
 * Writes the no-ff merge commit of `source` onto `head` (parents: head, source) without moving
 * any ref or touching a worktree; the caller publishes it (Mode B: a compare-and-swap push).
 */
export async function composeMerge(repoDir: string, options: ComposeMergeOptions): Promise<ComposedMerge> {
  assertRevision(options.head);
  assertRevision(options.source);
  return writeMerge(repoDir, {
    head: options.head,
    source: options.source,
    message: normalizeMessage(options.message),
    author: options.author,
  });
}

async function writeMerge(
  repoDir: string,
  input: { head: string; source: string; message: string; author: GitIdentity },
  planned?: TreeMerge,
): Promise<ComposedMerge> {
  const env = identityEnv(input.author); // checks the identity before a commit is written
  const merged = planned ?? (await mergeTree(repoDir, input.head, input.source));
  if (!merged.clean) return { kind: 'conflicted', paths: merged.paths, head: input.head };
  const commit =
    (await writeCommitObject(repoDir, {
      tree: merged.tree,
      parents: [input.head, input.source],
      author: input.author,
      committer: input.author,
      message: input.message,
    })) ??
    (await gitOut(
      ['commit-tree', '--no-gpg-sign', merged.tree, '-p', input.head, '-p', input.source, '-F', '-'],
      { cwd: repoDir, input: input.message, env },
    ));
  return { kind: 'merged', commit };
}

/** Whether `theirs` merges cleanly into `ours`, without referencing anything or moving a ref. */
export async function checkMerge(
  repoDir: string,
  ours: string,
  theirs: string,
): Promise<{ clean: true; tree: string } | { clean: false; paths: string[] }> {
  assertRevision(ours);
  assertRevision(theirs);
  const merged = await mergeTree(repoDir, ours, theirs);
  return merged.clean ? { clean: true, tree: merged.tree } : { clean: false, paths: merged.paths };
}
