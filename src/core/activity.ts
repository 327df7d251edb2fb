import { type ActivityEntry, type Executor, onCommit, toJson } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';
import type { CoreDeps } from './deps.js';
import type { EventName } from './event-names.js';

export interface ActivityInput {
  event: EventName;
  repoId: string | null;
  agentId: string | null;
  targetType?: string;
  targetId?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Records one activity event in the caller's transaction and publishes it on the events bus
 * once that transaction commits.
 */
export async function recordActivity(
  deps: CoreDeps,
  db: Executor,
  input: ActivityInput,
): Promise<ActivityEntry> {
  const entry: ActivityEntry = {
    id: newId(),
    repo_id: input.repoId,
    agent_id: input.agentId,
    event_type: input.event,
    target_type: input.targetType ?? null,
    target_id: input.targetId ?? null,
    metadata: input.metadata ?? {},
    created_at: isoNow(deps.clock),
  };
  await db
    .insertInto('gitswarm_activity_log')
    .values({ ...entry, metadata: toJson(entry.metadata) })
    .execute();
  onCommit(db, () => deps.events.publish(entry));
  return entry;
}

export interface ActivityQuery {
  repoId?: string;
  limit?: number;
  /** Only entries created after this id's entry (for --follow). */
  afterCreatedAt?: string;
  eventTypes?: readonly string[];
}

/** Lists activity, newest first. */
export async function listActivity(db: Executor, query: ActivityQuery): Promise<ActivityEntry[]> {
  let q = db.selectFrom('gitswarm_activity_log').selectAll();
  if (query.repoId) q = q.where('repo_id', '=', query.repoId);
  if (query.afterCreatedAt) q = q.where('created_at', '>', query.afterCreatedAt);
  if (query.eventTypes?.length) q = q.where('event_type', 'in', query.eventTypes);
  return q
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(Math.min(Math.max(query.limit ?? 50, 1), 1000))
    .execute();
}
