/**
 * The rows of `gitswarm_stabilize_runs`: a server stabilization run is a durable job. It is
 * queued by a request, leased by one server instance at a time (`lease_owner`, `lease_until`,
 * renewed while it runs) and finished with the verdict; a run whose lease lapsed (its instance
 * died) is taken over by any instance, or ends as `error` after too many starts. Every change of
 * hands is a compare-and-swap on the row, so two instances never both think they hold a run.
 */

import type { ExpressionBuilder } from 'kysely';
import { GitSwarmError } from '../errors.js';
import type { Database, Executor, StabilizeRun, StabilizeRunStatus } from '../store/index.js';
import { newId } from '../util/ids.js';

/** The statuses of a run that is not over: at most one such run per repository. */
export const ACTIVE_RUN_STATUSES: readonly StabilizeRunStatus[] = ['queued', 'running'];

/** Characters of output kept in a run's `log_tail`. */
export const LOG_TAIL_CHARS = 16 * 1024;

/** The run of a repository that is queued or running, if any. */
export async function findActiveRun(db: Executor, repoId: string): Promise<StabilizeRun | undefined> {
  return db
    .selectFrom('gitswarm_stabilize_runs')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where('status', 'in', [...ACTIVE_RUN_STATUSES])
    .orderBy('created_at')
    .executeTakeFirst();
}

/** Inserts a queued run (the caller holds the repository's lock and checked for an active one). */
export async function insertQueuedRun(
  db: Executor,
  input: { repoId: string; requestedBy: string | null; now: string },
): Promise<StabilizeRun> {
  const id = newId();
  await db
    .insertInto('gitswarm_stabilize_runs')
    .values({
      id,
      repo_id: input.repoId,
      requested_by: input.requestedBy,
      status: 'queued',
      created_at: input.now,
    })
    .execute();
  return getRun(db, input.repoId, id);
}

/** A run of a repository, or 404 `not_found`. */
export async function getRun(db: Executor, repoId: string, runId: string): Promise<StabilizeRun> {
  const run = await db
    .selectFrom('gitswarm_stabilize_runs')
    .selectAll()
    .where('id', '=', runId)
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  if (!run) throw new GitSwarmError('not_found', `No stabilization run ${runId} in this repository.`);
  return run;
}

/**
 * Runs an instance may take now, oldest first: queued ones, running ones whose lease lapsed, and
 * running ones leased by this instance's own name (left by an earlier process of the same name).
 */
export async function listClaimableRuns(
  db: Executor,
  query: { now: string; owner: string; excludeIds: readonly string[]; limit: number },
): Promise<StabilizeRun[]> {
  let q = db
    .selectFrom('gitswarm_stabilize_runs')
    .selectAll()
    .where((eb) => claimable(eb, query.now, query.owner));
  if (query.excludeIds.length) q = q.where('id', 'not in', [...query.excludeIds]);
  return q.orderBy('created_at').orderBy('id').limit(query.limit).execute();
}

/**
 * Takes the run's lease if it is still claimable as `seen` was (same status and number of starts;
 * a running one's lease lapsed, or it is this instance's own): true when this instance now holds
 * it. Counts one more start.
 */
export async function leaseRun(
  db: Executor,
  seen: StabilizeRun,
  lease: { owner: string; now: string; until: string },
): Promise<boolean> {
  const result = await db
    .updateTable('gitswarm_stabilize_runs')
    .set({
      status: 'running',
      lease_owner: lease.owner,
      lease_until: lease.until,
      attempts: seen.attempts + 1,
      started_at: seen.started_at ?? lease.now,
    })
    .where('id', '=', seen.id)
    .where('attempts', '=', seen.attempts)
    .where((eb) => claimable(eb, lease.now, lease.owner))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Queued, or running under a lapsed lease or one of this instance's name. */
function claimable(eb: ExpressionBuilder<Database, 'gitswarm_stabilize_runs'>, now: string, owner: string) {
  return eb.or([
    eb('status', '=', 'queued'),
    eb.and([
      eb('status', '=', 'running'),
      eb.or([eb('lease_until', '<', now), eb('lease_until', 'is', null), eb('lease_owner', '=', owner)]),
    ]),
  ]);
}

/** Extends the lease and saves what the run has to show so far; false when the lease was lost. */
export async function renewRunLease(
  db: Executor,
  runId: string,
  lease: { owner: string; until: string },
  progress: { logTail: string; bufferCommit?: string | null },
): Promise<boolean> {
  const result = await db
    .updateTable('gitswarm_stabilize_runs')
    .set({
      lease_until: lease.until,
      log_tail: progress.logTail,
      ...(progress.bufferCommit ? { buffer_commit: progress.bufferCommit } : {}),
    })
    .where('id', '=', runId)
    .where('status', '=', 'running')
    .where('lease_owner', '=', lease.owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export interface RunOutcome {
  status: Exclude<StabilizeRunStatus, 'queued' | 'running'>;
  bufferCommit: string | null;
  stabilizationId: string | null;
  tag: string | null;
  breakingStreamId: string | null;
  reverted: boolean;
  taskId: string | null;
  logTail: string;
  error: string | null;
  now: string;
}

/** Records the verdict of a run this instance holds; false when it no longer held it. */
export async function finishRun(
  db: Executor,
  runId: string,
  owner: string,
  outcome: RunOutcome,
): Promise<boolean> {
  const result = await db
    .updateTable('gitswarm_stabilize_runs')
    .set({
      status: outcome.status,
      ...(outcome.bufferCommit ? { buffer_commit: outcome.bufferCommit } : {}),
      stabilization_id: outcome.stabilizationId,
      tag: outcome.tag,
      breaking_stream_id: outcome.breakingStreamId,
      reverted: outcome.reverted,
      task_id: outcome.taskId,
      log_tail: outcome.logTail,
      error: outcome.error,
      lease_owner: null,
      lease_until: null,
      finished_at: outcome.now,
    })
    .where('id', '=', runId)
    .where('status', '=', 'running')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Gives a run back to the queue without counting its start (this instance is shutting down):
 * any instance, this one after a restart included, starts it again from the beginning.
 * `attempts` is the count before this instance's start.
 */
export async function requeueRun(
  db: Executor,
  runId: string,
  owner: string,
  saved: { attempts: number; logTail: string },
): Promise<boolean> {
  const result = await db
    .updateTable('gitswarm_stabilize_runs')
    .set({
      status: 'queued',
      lease_owner: null,
      lease_until: null,
      attempts: saved.attempts,
      log_tail: saved.logTail,
    })
    .where('id', '=', runId)
    .where('status', '=', 'running')
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Ends a run that lapsed too often as `error`, if still claimable as seen; true when done. */
export async function abandonRun(
  db: Executor,
  seen: StabilizeRun,
  lease: { owner: string; now: string },
  error: string,
): Promise<boolean> {
  const result = await db
    .updateTable('gitswarm_stabilize_runs')
    .set({ status: 'error', error, lease_owner: null, lease_until: null, finished_at: lease.now })
    .where('id', '=', seen.id)
    .where('attempts', '=', seen.attempts)
    .where((eb) => claimable(eb, lease.now, lease.owner))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Keeps the last {@link LOG_TAIL_CHARS} characters of what is appended, cut at a line start. */
export class LogTail {
  #text = '';
  constructor(readonly limit: number = LOG_TAIL_CHARS) {}
  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > this.limit * 2) this.#trim();
  }
  line(line: string): void {
    if (this.#text !== '' && !this.#text.endsWith('\n')) this.#text += '\n';
    this.append(`${line}\n`);
  }
  toString(): string {
    this.#trim();
    return this.#text;
  }
  #trim(): void {
    if (this.#text.length <= this.limit) return;
    const cut = this.#text.slice(-this.limit);
    const newline = cut.indexOf('\n');
    this.#text = newline >= 0 && newline < cut.length - 1 ? cut.slice(newline + 1) : cut;
  }
}
