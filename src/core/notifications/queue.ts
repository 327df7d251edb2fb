/**
 * The delivery queue is the gitswarm_agent_notifications table: a row is due when
 * `next_attempt_at` has passed, and an attempt holds it by moving `next_attempt_at` past the
 * attempt's longest possible duration (a lease, taken by compare-and-swap on the value it read).
 * Due rows are read a bounded batch at a time, oldest first: memory does not grow with the queue.
 */
import type { Executor } from '../../store/index.js';
import { toJson } from '../../store/index.js';

export interface QueuedNotification {
  id: string;
  agent_id: string;
  type: string;
  payload: Record<string, unknown>;
  attempts: number;
}

export interface NewQueuedNotification {
  id: string;
  agent_id: string;
  type: string;
  payload: Record<string, unknown>;
  due: string;
  created_at: string;
}

/** Records a notification due at `due`; false when it exists (another instance recorded it). */
export async function enqueueNotification(db: Executor, row: NewQueuedNotification): Promise<boolean> {
  const inserted = await db
    .insertInto('gitswarm_agent_notifications')
    .values({
      id: row.id,
      agent_id: row.agent_id,
      type: row.type,
      payload: toJson(row.payload),
      next_attempt_at: row.due,
      created_at: row.created_at,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
}

export interface DueBatchQuery {
  now: string;
  limit: number;
  /** Rows this instance is attempting (never leased twice, whatever their lease says). */
  excludeIds?: readonly string[];
  /** Agents whose target host has no free delivery slot here. */
  excludeAgents?: readonly string[];
}

/** At most `limit` due rows, the longest-waiting first. */
export async function fetchDueBatch(db: Executor, query: DueBatchQuery): Promise<QueuedNotification[]> {
  let q = db
    .selectFrom('gitswarm_agent_notifications')
    .select(['id', 'agent_id', 'type', 'payload', 'attempts'])
    .where('delivered', '=', false)
    .where('next_attempt_at', '<=', query.now);
  if (query.excludeIds?.length) q = q.where('id', 'not in', [...query.excludeIds]);
  if (query.excludeAgents?.length) q = q.where('agent_id', 'not in', [...query.excludeAgents]);
  const rows = await q.orderBy('next_attempt_at').orderBy('id').limit(query.limit).execute();
  return rows as QueuedNotification[];
}

/** Takes the row's lease until `until` if it is still due at `now`; true when taken. */
export async function leaseNotification(
  db: Executor,
  id: string,
  now: string,
  until: string,
): Promise<boolean> {
  const leased = await db
    .updateTable('gitswarm_agent_notifications')
    .set({ next_attempt_at: until })
    .where('id', '=', id)
    .where('delivered', '=', false)
    .where('next_attempt_at', '<=', now)
    .executeTakeFirst();
  return Number(leased.numUpdatedRows) === 1;
}

export interface AttemptOutcome {
  delivered: boolean;
  attempts: number;
  last_error: string | null;
  /** The next attempt, or null when there is none (delivered, or given up). */
  next_attempt_at: string | null;
}

export async function recordAttempt(db: Executor, id: string, outcome: AttemptOutcome): Promise<void> {
  await db
    .updateTable('gitswarm_agent_notifications')
    .set({ ...outcome, last_error: outcome.last_error?.slice(0, 1000) ?? null })
    .where('id', '=', id)
    .execute();
}

/** Moves rows' next attempt to `until` without counting an attempt (open circuit, shutdown). */
export async function postponeNotifications(
  db: Executor,
  ids: readonly string[],
  until: string,
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('gitswarm_agent_notifications')
    .set({ next_attempt_at: until })
    .where('id', 'in', [...ids])
    .where('delivered', '=', false)
    .where('next_attempt_at', 'is not', null)
    .execute();
}

/** Moves the due-before-`until` rows of these agents to `until` (their target's circuit opened). */
export async function postponeAgentsNotifications(
  db: Executor,
  agentIds: readonly string[],
  until: string,
  exceptIds: readonly string[],
): Promise<void> {
  if (agentIds.length === 0) return;
  let q = db
    .updateTable('gitswarm_agent_notifications')
    .set({ next_attempt_at: until })
    .where('agent_id', 'in', [...agentIds])
    .where('delivered', '=', false)
    .where('next_attempt_at', '<', until);
  if (exceptIds.length) q = q.where('id', 'not in', [...exceptIds]);
  await q.execute();
}

/** When the earliest undelivered row is due (leases included), or null when none is. */
export async function earliestDue(
  db: Executor,
  excludeAgents: readonly string[] = [],
): Promise<string | null> {
  let q = db
    .selectFrom('gitswarm_agent_notifications')
    .select((eb) => eb.fn.min('next_attempt_at').as('at'))
    .where('delivered', '=', false);
  if (excludeAgents.length) q = q.where('agent_id', 'not in', [...excludeAgents]);
  const row = await q.executeTakeFirst();
  return row?.at ?? null;
}
