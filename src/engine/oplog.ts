/**
 * The write-ahead operation log: every ref move is recorded (ref, expected old, new) before it
 * happens and completed after the caller has recorded its consequences. On start-up
 * `reconcileRefMoves` compares unfinished intents with the refs, so a crash at any instant leaves
 * git and the database consistent.
 */

import { GitSwarmError } from '../errors.js';
import type { Executor, Operation, Store } from '../store/index.js';
import { toJson } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import { isoNow, systemClock } from '../util/clock.js';
import { type FailpointName, failpoint } from '../util/failpoints.js';
import { newId } from '../util/ids.js';
import { git, zeroOid } from './git.js';
import { assertValidRef, isObjectId } from './names.js';
import { isAncestor, readRef } from './repo.js';

/** What moved a ref. */
export type OperationKind =
  | 'stream_create'
  | 'merge'
  | 'rebase'
  | 'promote'
  | 'revert'
  | 'tag'
  | 'branch_delete';

/** The failpoints of a ref move, per kind (crash tests: src/util/failpoints.ts). */
const MOVE_FAILPOINTS: Partial<Record<OperationKind, { intent: FailpointName; moved: FailpointName }>> = {
  stream_create: { intent: 'stream-create.after-intent', moved: 'stream-create.after-update-ref' },
  merge: { intent: 'merge.after-intent', moved: 'merge.after-update-ref' },
  rebase: { intent: 'rebase.after-intent', moved: 'rebase.after-update-ref' },
  promote: { intent: 'promote.after-intent', moved: 'promote.after-update-ref' },
  revert: { intent: 'revert.after-intent', moved: 'revert.after-update-ref' },
};

/** One intended ref move. `old` null = the ref must not exist yet; `new` all zeros = delete. */
export interface RefMove {
  ref: string;
  old: string | null;
  new: string;
  kind: OperationKind;
  description: string;
  streamId?: string | null;
  agentId?: string | null;
  metadata?: Record<string, unknown>;
}

/** The operation log of one repository (table gitswarm_operations). */
export class OpLog {
  readonly store: Store;
  readonly repoId: string;
  readonly clock: Clock;

  constructor(store: Store, repoId: string, clock: Clock) {
    this.store = store;
    this.repoId = repoId;
    this.clock = clock;
  }

  /**
   * Records the intent as `pending` and returns its id. Written on its own (autocommit through
   * `store.db`, never a caller's transaction) so it is durable before the ref moves; do not call
   * it while holding a transaction on a single-connection store.
   */
  async begin(move: RefMove): Promise<string> {
    const id = newId();
    await this.store.db
      .insertInto('gitswarm_operations')
      .values({
        id,
        repo_id: this.repoId,
        agent_id: move.agentId ?? null,
        kind: move.kind,
        description: move.description,
        ref: move.ref,
        old_oid: move.old,
        new_oid: move.new,
        stream_id: move.streamId ?? null,
        status: 'pending',
        metadata: toJson(move.metadata ?? {}),
        created_at: isoNow(this.clock),
      })
      .execute();
    return id;
  }

  /** Marks an operation done; pass the caller's transaction to complete it with its governance records. */
  async complete(opId: string, db: Executor = this.store.db): Promise<void> {
    await db
      .updateTable('gitswarm_operations')
      .set({ status: 'done', completed_at: isoNow(this.clock) })
      .where('id', '=', opId)
      .where('repo_id', '=', this.repoId)
      .execute();
  }

  /** Marks an operation rolled back (its ref move did not happen). */
  async abort(opId: string): Promise<void> {
    await this.store.db
      .updateTable('gitswarm_operations')
      .set({ status: 'rolled_back', completed_at: isoNow(this.clock) })
      .where('id', '=', opId)
      .where('repo_id', '=', this.repoId)
      .execute();
  }
}

// update-ref failures that mean "the ref is not where you thought" (or is briefly locked by a
// concurrent writer): the ref did not move, and the caller may recompute and retry.
const CAS_FAILURE =
  /cannot lock ref|reference already exists|is at .* but expected|unable to resolve reference/i;

/**
 * Moves a ref by compare-and-swap, logging the intent first: begin → `update-ref ref new old`.
 * On a CAS failure the intent is aborted and `moved: false` returned (with the ref's `current`
 * value when git reported it). Does not complete the
 * operation: the caller does, usually in the transaction that records the consequences.
 */
export async function moveRef(
  repoDir: string,
  oplog: OpLog,
  move: RefMove,
): Promise<{ moved: true; opId: string } | { moved: false; current?: string }> {
  assertValidRef(move.ref);
  if (!isObjectId(move.new) || (move.old !== null && !isObjectId(move.old))) {
    throw new GitSwarmError('invalid_input', `A ref move needs full object ids (${move.ref}).`);
  }
  const remove = /^0+$/.test(move.new);
  if (remove && move.old === null) {
    throw new GitSwarmError('invalid_input', `Deleting ${move.ref} needs its current value.`);
  }
  const opId = await oplog.begin(move);
  const failpoints = MOVE_FAILPOINTS[move.kind];
  if (failpoints) failpoint(failpoints.intent);
  const args = remove
    ? ['update-ref', '-m', `gitswarm: ${move.kind}`, '-d', move.ref, move.old as string]
    : ['update-ref', '-m', `gitswarm: ${move.kind}`, move.ref, move.new, move.old ?? zeroOid(move.new)];
  let result: Awaited<ReturnType<typeof git>>;
  try {
    result = await git(args, { cwd: repoDir, okExitCodes: [1, 128] });
  } catch (error) {
    await oplog.abort(opId);
    throw error;
  }
  if (result.exitCode === 0) {
    if (failpoints) failpoint(failpoints.moved);
    return { moved: true, opId };
  }
  await oplog.abort(opId);
  if (CAS_FAILURE.test(result.stderr)) {
    // "is at <oid> but expected <old>": hand the new value back, saving the caller a rev-parse.
    const current = /is at ([0-9a-f]{40,64}) but expected/.exec(result.stderr)?.[1];
    return current === undefined ? { moved: false } : { moved: false, current };
  }
  throw new GitSwarmError(
    'git_failed',
    `git update-ref failed: ${result.stderr.trim().split('\n')[0] ?? ''}`,
    {
      details: { git_args: args, git_stderr: result.stderr.trim() },
    },
  );
}

/**
 * Compares every pending intent of the repository with its ref: the ref is at `new`, or `new`
 * is an ancestor of it (it moved on since) → 'applied', left pending for the core to finish and
 * complete; otherwise → 'not_applied', marked rolled_back here. Oldest first.
 */
export async function reconcileRefMoves(
  repoDir: string,
  store: Store,
  repoId: string,
  clock: Clock = systemClock,
): Promise<Array<{ operation: Operation; outcome: 'applied' | 'not_applied' }>> {
  const pending = await store.db
    .selectFrom('gitswarm_operations')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where('status', '=', 'pending')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const results: Array<{ operation: Operation; outcome: 'applied' | 'not_applied' }> = [];
  for (const operation of pending) {
    const current = await readRef(repoDir, operation.ref);
    let applied: boolean;
    if (/^0+$/.test(operation.new_oid)) applied = current === null;
    else if (current === null) applied = false;
    else
      applied =
        current === operation.new_oid ||
        (await isAncestor(repoDir, operation.new_oid, current).catch(() => false));
    if (!applied) {
      await store.db
        .updateTable('gitswarm_operations')
        .set({ status: 'rolled_back', completed_at: isoNow(clock) })
        .where('id', '=', operation.id)
        .execute();
    }
    results.push({ operation, outcome: applied ? 'applied' : 'not_applied' });
  }
  return results;
}
