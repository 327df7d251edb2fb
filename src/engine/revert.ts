/**
 * Worktree-free revert of a merge commit relative to its first parent, on top of a branch head:
 * the three-way merge (base = the merge, ours = head, theirs = its first parent) is done by
 * `merge-tree` and published by compare-and-swap. A conflict moves nothing.
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
    let merged: TreeMerge;
    if (withBase) {
      merged = await mergeTree(repoDir, head, firstParent, { mergeBase: merge });
    } else {
      const [ours, theirs] = await writeCommits(repoDir, [
        syntheticCommit(headTree, merge),
        syntheticCommit(firstParentTree, merge),
      ]);
      merged = await mergeTree(repoDir, ours as string, theirs as string);
    }
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
