import { type ActivityEntry, type Executor, onCommit, queryTemplate, toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import type { CoreDeps } from '../deps.js';
import { type KeysetKey, keysetPage, type Page, type PageRequest } from '../pagination.js';
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
  const prepared = prepareActivity(deps, db, input);
  await db.executeQuery(prepared.query.compile());
  prepared.recorded();
  return prepared.entry;
}

/**
 * recordActivity in steps, for callers that send the insert with other statements (batch.ts):
 * the entry, its insert, and `recorded()` to call once the insert has run.
 */
export function prepareActivity(deps: CoreDeps, db: Executor, input: ActivityInput) {
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
  return {
    entry,
    query: activityInsert.bind(db, { ...entry, metadata: toJson(entry.metadata) }),
    recorded: () => onCommit(db, () => deps.events.publish(entry)),
  };
}

/** Compiled once per store: nearly every write records an event. */
const activityInsert = queryTemplate(
  ['id', 'repo_id', 'agent_id', 'event_type', 'target_type', 'target_id', 'metadata', 'created_at'],
  (db, row) => db.insertInto('gitswarm_activity_log').values(row),
);

export interface ActivityQuery {
  repoId?: string;
  limit?: number;
  /** Only entries created after this id's entry (for --follow). */
  afterCreatedAt?: string;
  eventTypes?: readonly string[];
}

function activityQuery(db: Executor, query: ActivityQuery) {
  let q = db.selectFrom('gitswarm_activity_log').selectAll();
  if (query.repoId) q = q.where('repo_id', '=', query.repoId);
  if (query.afterCreatedAt) q = q.where('created_at', '>', query.afterCreatedAt);
  if (query.eventTypes?.length) q = q.where('event_type', 'in', query.eventTypes);
  return q;
}

/** How many entries a list gives without a limit. */
export const DEFAULT_ACTIVITY_LIMIT = 50;

/** Lists activity, newest first. */
export async function listActivity(db: Executor, query: ActivityQuery): Promise<ActivityEntry[]> {
  return (await listActivityPage(db, query, { limit: query.limit })).rows;
}

const ACTIVITY_KEYS: readonly KeysetKey<ActivityEntry>[] = [
  { by: 'created_at', direction: 'desc', type: 'string', value: (e) => e.created_at },
  { by: 'id', direction: 'asc', type: 'string', value: (e) => e.id },
];

/** One page of activity, newest first (pagination.ts); `query.limit` is ignored for `page.limit`. */
export function listActivityPage(
  db: Executor,
  query: ActivityQuery,
  page: PageRequest,
): Promise<Page<ActivityEntry>> {
  return keysetPage(activityQuery(db, query), ACTIVITY_KEYS, page, DEFAULT_ACTIVITY_LIMIT);
}
