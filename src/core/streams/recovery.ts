/**
 * Crash recovery: operations whose ref moved but whose governance record was never written (the
 * process died in between) are finished; intents whose ref never moved are rolled back. The CLI
 * runs this at start-up; it is cheap when nothing is pending and safe to run any number of times.
 */
import { carryOnto, snapshotWorktree, switchWorktreeCarrying } from '../../engine/carry-over.js';
import { gitOut, zeroOid } from '../../engine/git.js';
import { moveRef, OpLog, reconcileRefMoves } from '../../engine/oplog.js';
import { readRef } from '../../engine/repo.js';
import { worktreesOnBranch } from '../../engine/worktree-list.js';
import { removeWorktree } from '../../engine/worktrees.js';
import { type Executor, inTransaction, type Operation, type Repo, withRepoLock } from '../../store/index.js';
import { failpoint } from '../../util/failpoints.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { getRepo } from '../repos/repos.js';
import { recordPromotion } from '../stabilization/buffer-promotion.js';
import { syncStaleCheckouts } from './checked-out-branches.js';
import { cascadeDependents, recoveredStatus, reparentChildren } from './stream-cascade.js';
import { recordMerge } from './stream-merge.js';
import { recordRevert } from './stream-revert.js';
import { updateStream } from './streams.js';
import { repoRoot } from './workspace-paths.js';

export interface RecoveredOperation {
  operation_id: string;
  kind: string;
  ref: string;
  outcome: 'finished' | 'rolled_back';
}

/** Reconciles the operation log with the refs and finishes what a crash left half-done. */
export async function recoverOperations(
  deps: CoreDeps,
  repo: Pick<Repo, 'id'>,
): Promise<RecoveredOperation[]> {
  const pending = await deps.store.db
    .selectFrom('gitswarm_operations')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (!pending) return [];
  // Under the lock no other process is between a ref move and its record, so every pending
  // operation found here really was interrupted.
  return withRepoLock(deps.store, repo.id, async () => {
    const current = await getRepo(deps.store.db, repo.id);
    const repoDir = repoRoot(current);
    const results = await reconcileRefMoves(repoDir, deps.store, current.id, deps.clock);
    const oplog = new OpLog(deps.store, current.id, deps.clock);
    const recovered: RecoveredOperation[] = [];
    for (const result of results) {
      const { operation } = result;
      let outcome: 'applied' | 'not_applied' = result.outcome;
      if (outcome === 'applied' && (await isOrphanStreamBranch(deps, operation))) {
        await removeOrphanStreamBranch(deps, repoDir, operation, oplog);
        outcome = 'not_applied';
      }
      // The process may have died before it brought a checkout of the moved branch along. Synced
      // before the record that completes the operation: a crash here leaves it pending, and the
      // next recovery finds the checkouts already synced (or syncs them).
      const head = outcome === 'applied' ? await readRef(repoDir, operation.ref) : null;
      if (head && operation.old_oid && operation.ref.startsWith('refs/heads/')) {
        await syncStaleCheckouts(repoDir, operation.ref.slice('refs/heads/'.length), operation.old_oid, head);
      }
      failpoint('recovery.after-checkout-sync');
      await inTransaction(deps.store.db, async (trx) => {
        if (outcome === 'applied') await finishOperation(deps, trx, current, operation, oplog);
        await recordActivity(deps, trx, {
          event: 'operation.recovered',
          repoId: current.id,
          agentId: operation.agent_id,
          targetType: 'operation',
          targetId: operation.id,
          metadata: {
            kind: operation.kind,
            ref: operation.ref,
            old_oid: operation.old_oid,
            new_oid: operation.new_oid,
            stream_id: operation.stream_id,
            outcome: outcome === 'applied' ? 'finished' : 'rolled_back',
          },
        });
      });
      if (outcome === 'applied' && isBufferMerge(current, operation)) {
        // The merge completes once its cascade has run (as in mergeStream): its dependents move
        // onto the buffer and are replayed onto it.
        try {
          await reparentChildren(deps, current, operation.stream_id, null, 'parent_merged');
        } finally {
          await oplog.complete(operation.id);
        }
      }
      recovered.push({
        operation_id: operation.id,
        kind: operation.kind,
        ref: operation.ref,
        outcome: outcome === 'applied' ? 'finished' : 'rolled_back',
      });
    }
    // A rebase interrupted midway through a cascade: the dependents it had not reached (and the
    // one rolled back) are replayed as the crashed process would have; those done are up to date.
    for (const root of await interruptedCascades(
      deps,
      results.map((r) => r.operation),
    )) {
      await cascadeDependents(deps, current, root, null);
    }
    return recovered;
  });
}

/** A stream's merge into the buffer (the merges whose record `recordMerge` writes). */
function isBufferMerge(repo: Repo, op: Operation): op is Operation & { stream_id: string } {
  return op.kind === 'merge' && op.stream_id !== null && op.ref === `refs/heads/${repo.buffer_branch}`;
}

/** The streams whose dependents a pending rebase was replaying: its stream's parent, else itself. */
async function interruptedCascades(deps: CoreDeps, operations: readonly Operation[]): Promise<string[]> {
  const roots = new Set<string>();
  for (const op of operations) {
    if (op.kind !== 'rebase' || !op.stream_id) continue;
    const stream = await deps.store.db
      .selectFrom('gitswarm_streams')
      .select(['id', 'parent_stream_id'])
      .where('id', '=', op.stream_id)
      .executeTakeFirst();
    if (stream) roots.add(stream.parent_stream_id ?? stream.id);
  }
  return [...roots];
}

/** A stream branch whose creation was interrupted before the stream's row was written. */
async function isOrphanStreamBranch(deps: CoreDeps, op: Operation): Promise<boolean> {
  if (op.kind !== 'stream_create' || !op.stream_id) return false;
  const row = await deps.store.db
    .selectFrom('gitswarm_streams')
    .select('id')
    .where('id', '=', op.stream_id)
    .executeTakeFirst();
  return row === undefined;
}

/**
 * Undoes a half-made workspace (its worktree and branch) so the agent can create one again; git
 * work, so it runs before the recording transaction. A recorded workspace's worktree found on the
 * branch (a reopen died after switching it) is switched back to its recorded stream, never removed.
 */
async function removeOrphanStreamBranch(
  deps: CoreDeps,
  repoDir: string,
  op: Operation,
  oplog: OpLog,
): Promise<void> {
  const branch = op.ref.slice('refs/heads/'.length);
  for (const path of await worktreesOnBranch(repoDir, branch)) {
    const recordedBranch = await recordedWorktreeBranch(deps, path);
    const recordedHead = recordedBranch ? await readRef(repoDir, `refs/heads/${recordedBranch}`) : null;
    if (recordedBranch && recordedHead) await switchBackCarrying(repoDir, path, recordedBranch, recordedHead);
    else await removeWorktree(repoDir, path);
  }
  const deleted = await moveRef(repoDir, oplog, {
    ref: op.ref,
    old: op.new_oid,
    new: zeroOid(op.new_oid),
    kind: 'branch_delete',
    description: `Delete ${branch}: its workspace was never recorded`,
    streamId: op.stream_id,
    agentId: op.agent_id,
  });
  if (deleted.moved) await oplog.complete(deleted.opId);
  await oplog.abort(op.id);
}

/** The branch of the stream a worktree row records for `path`, if there is one. */
async function recordedWorktreeBranch(deps: CoreDeps, path: string): Promise<string | null> {
  const row = await deps.store.db
    .selectFrom('gitswarm_worktrees')
    .innerJoin('gitswarm_streams', 'gitswarm_streams.id', 'gitswarm_worktrees.stream_id')
    .select('gitswarm_streams.branch')
    .where('gitswarm_worktrees.path', '=', path)
    .executeTakeFirst();
  return row?.branch ?? null;
}

/**
 * Puts a worktree back on `branch` with its uncommitted work: the changes relative to its current
 * head carried onto the branch's head; where they do not apply cleanly, its files exactly as they
 * are (nothing of the agent's is lost; the difference shows as uncommitted).
 */
async function switchBackCarrying(
  repoDir: string,
  path: string,
  branch: string,
  head: string,
): Promise<void> {
  const now = await snapshotWorktree(path);
  const carried = await carryOnto(repoDir, now, head);
  const headTree = await gitOut(['rev-parse', `${head}^{tree}`], { cwd: repoDir });
  const files = carried.clean ? carried.tree : now.tree;
  await switchWorktreeCarrying(path, { branch, from: now.tree, to: now.dirty ? files : headTree });
}

async function finishOperation(
  deps: CoreDeps,
  trx: Executor,
  repo: Repo,
  op: Operation,
  oplog: OpLog,
): Promise<void> {
  if (isBufferMerge(repo, op)) {
    await recordMerge(deps, trx, {
      repo,
      streamId: op.stream_id,
      mergeCommit: op.new_oid,
      agentId: op.agent_id,
      trigger: 'recovery',
      opId: op.id,
      oplog,
      complete: false,
    });
    return;
  }
  if (op.kind === 'revert' && op.stream_id) {
    const mergeCommit = await revertedMergeOf(trx, repo, op);
    if (mergeCommit) {
      await recordRevert(deps, trx, {
        repo,
        streamId: op.stream_id,
        mergeCommit,
        revertCommit: op.new_oid,
        agentId: op.agent_id,
        reason: 'recovered after an interruption',
        opId: op.id,
        oplog,
        recovered: true,
      });
      return;
    }
  }
  if (op.kind === 'promote' && op.ref === `refs/heads/${repo.promote_target}`) {
    await recordPromotion(deps, trx, {
      repo,
      fromCommit: op.old_oid,
      toCommit: op.new_oid,
      trigger: null,
      agentId: op.agent_id,
      opId: op.id,
      oplog,
      recovered: true,
    });
    return;
  }
  if (op.kind === 'rebase' && op.stream_id && typeof op.metadata.onto === 'string') {
    const stream = await trx
      .selectFrom('gitswarm_streams')
      .selectAll()
      .where('id', '=', op.stream_id)
      .executeTakeFirst();
    if (stream) {
      const { needs_rebase: _, ...metadata } = stream.metadata;
      const recovering = stream.status === 'conflicted' && stream.conflict?.operation === 'rebase';
      await updateStream(deps, trx, stream, {
        base_commit: op.metadata.onto,
        metadata,
        ...(recovering ? { status: recoveredStatus(stream), conflict: null } : {}),
      });
    }
  }
  // Stream creation, rebases, tags, deletions: the ref is where it should be; nothing else to record.
  await oplog.complete(op.id, trx);
}

/** The merge a revert operation undid: from its metadata, else the stream's latest unreverted merge. */
async function revertedMergeOf(trx: Executor, repo: Repo, op: Operation): Promise<string | null> {
  const fromMetadata = op.metadata.reverted;
  if (typeof fromMetadata === 'string') return fromMetadata;
  const merge = await trx
    .selectFrom('gitswarm_merges')
    .select('merge_commit')
    .where('repo_id', '=', repo.id)
    .where('stream_id', '=', op.stream_id as string)
    .where('reverted_at', 'is', null)
    .orderBy('merged_at', 'desc')
    .executeTakeFirst();
  return merge?.merge_commit ?? null;
}
