/**
 * Worktree-free reverts: of a merge commit relative to its first parent, on top of a branch head
 * (published by compare-and-swap), and of any commit on top of a given commit (no ref moves; a
 * reopened stream's branch is created at it). The three-way merge (base = the reverted commit,
 * ours = head, theirs = its first parent) is done by `merge-tree`. A conflict moves nothing.
 */
import { GitSwarmError } from '../errors.js';
import { type GitIdentity, identityEnv } from './author.js';
import { git, gitOut, hasMergeTreeBase } from './git.js';
import { MAX_CAS_ATTEMPTS, normalizeMessage } from './merge.js';
import { assertRevision, assertValidBranch } from './names.js';
import { mergeTree, syntheticCommit, type TreeMerge, writeCommits } from './objects.js';
import { moveRef, type OpLog } from './oplog.js';

export interface RevertMergeOptions {
  /** Branch name (not a full ref), e.g. `buffer`. */
  branch: string;
  mergeCommit: string;
  message: string;
  author: GitIdentity;
  oplog: OpLog;
  streamId?: string | null;
  agentId?: string | null;
}

export type RevertOutcome =
  | { kind: 'reverted'; commit: string; opId: string }
  | { kind: 'conflicted'; paths: string[] };

/**
 * Undoes what `mergeCommit` brought in (relative to its first parent) with a new commit on
 * `branch`. Retries on the new head when another writer moved the branch meanwhile. The
 * operation is left pending for the caller to complete.
 */
export async function revertMerge(repoDir: string, options: RevertMergeOptions): Promise<RevertOutcome> {
  assertValidBranch(options.branch);
  assertRevision(options.mergeCommit);
  const message = normalizeMessage(options.message);
  const env = identityEnv(options.author);
  const ref = `refs/heads/${options.branch}`;
  const withBase = await hasMergeTreeBase();
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    // One spawn. Head and its tree are read one after the other; if the branch moved in between,
    // the compare-and-swap on `head` fails and this is recomputed.
    const m = options.mergeCommit;
    const resolved = await git(
      ['rev-parse', ref, `${ref}^{tree}`, `${m}^{commit}`, `${m}^1`, `${m}^1^{tree}`, '--'],
      {
        cwd: repoDir,
        okExitCodes: [128],
      },
    );
    const [head, headTree, merge, firstParent, firstParentTree] = resolved.stdout.trim().split('\n');
    if (
      resolved.exitCode !== 0 ||
      head === undefined ||
      headTree === undefined ||
      merge === undefined ||
      firstParent === undefined ||
      firstParentTree === undefined
    ) {
      throw new GitSwarmError(
        'not_found',
        `Branch ${options.branch} or commit ${m} (with a parent) does not exist.`,
      );
    }
    const merged = await undoTree(repoDir, {
      head,
      headTree,
      commit: merge,
      parent: firstParent,
      parentTree: firstParentTree,
      withBase,
    });
    if (!merged.clean) return { kind: 'conflicted', paths: merged.paths };
    const commit = await gitOut(['commit-tree', '--no-gpg-sign', merged.tree, '-p', head, '-F', '-'], {
      cwd: repoDir,
      input: message,
      env,
    });
    const move = await moveRef(repoDir, options.oplog, {
      ref,
      old: head,
      new: commit,
      kind: 'revert',
      description: `Revert ${merge} on ${options.branch}`,
      streamId: options.streamId ?? null,
      agentId: options.agentId ?? null,
      metadata: { reverted: merge },
    });
    if (move.moved) return { kind: 'reverted', commit, opId: move.opId };
  }
  throw new GitSwarmError('ref_moved', `Branch ${options.branch} kept moving; the revert was not published.`);
}

/** The tree of `head` with what `commit` brought in (relative to `parent`) undone. */
async function undoTree(
  repoDir: string,
  input: {
    head: string;
    headTree: string;
    commit: string;
    parent: string;
    parentTree: string;
    withBase: boolean;
  },
): Promise<TreeMerge> {
  if (input.withBase) return mergeTree(repoDir, input.head, input.parent, { mergeBase: input.commit });
  const [ours, theirs] = await writeCommits(repoDir, [
    syntheticCommit(input.headTree, input.commit),
    syntheticCommit(input.parentTree, input.commit),
  ]);
  return mergeTree(repoDir, ours as string, theirs as string);
}

export interface RevertOntoOptions {
  /** The commit to undo (relative to its first parent). */
  commit: string;
  /** The commit the revert goes on top of. */
  onto: string;
  message: string;
  author: GitIdentity;
}

export type RevertOntoOutcome =
  | { kind: 'committed'; commit: string }
  | { kind: 'conflicted'; paths: string[] };

/**
 * Writes a commit on top of `onto` that undoes `commit` (a revert of a revert re-applies a
 * change). No ref moves: the caller publishes the commit (a new branch at it).
 */
export async function revertOnto(repoDir: string, options: RevertOntoOptions): Promise<RevertOntoOutcome> {
  assertRevision(options.commit);
  assertRevision(options.onto);
  const message = normalizeMessage(options.message);
  const c = options.commit;
  const o = options.onto;
  const resolved = await git(
    ['rev-parse', `${o}^{commit}`, `${o}^{tree}`, `${c}^{commit}`, `${c}^1`, `${c}^1^{tree}`, '--'],
    { cwd: repoDir, okExitCodes: [128] },
  );
  const [head, headTree, commit, parent, parentTree] = resolved.stdout.trim().split('\n');
  if (
    resolved.exitCode !== 0 ||
    head === undefined ||
    headTree === undefined ||
    commit === undefined ||
    parent === undefined ||
    parentTree === undefined
  ) {
    throw new GitSwarmError('not_found', `Commit ${o} or ${c} (with a parent) does not exist.`);
  }
  const merged = await undoTree(repoDir, {
    head,
    headTree,
    commit,
    parent,
    parentTree,
    withBase: await hasMergeTreeBase(),
  });
  if (!merged.clean) return { kind: 'conflicted', paths: merged.paths };
  const created = await gitOut(['commit-tree', '--no-gpg-sign', merged.tree, '-p', head, '-F', '-'], {
    cwd: repoDir,
    input: message,
    env: identityEnv(options.author),
  });
  return { kind: 'committed', commit: created };
}
