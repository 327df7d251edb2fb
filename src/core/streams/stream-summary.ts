/**
 * A repository's streams at a glance, at a cost that does not grow with their number: how many
 * there are in each state (one aggregate query on the repo/status index) and the first few live
 * ones with their agents' names (one capped query). `gitswarm status` and its MCP tool show this.
 */
import type { Executor, Stream, StreamStatus } from '../../store/index.js';
import { LIVE_STREAM_STATUSES } from './streams.js';

/** Every stream status, so a count of zero is still named. */
export const STREAM_STATUSES: readonly StreamStatus[] = [
  'active',
  'in_review',
  'conflicted',
  'merged',
  'abandoned',
  'reverted',
];

export type StreamCounts = Record<StreamStatus, number> & { live: number; total: number };

/** The repository's streams counted by status (one `group by` query), with the live ones and all. */
export async function countStreamsByStatus(db: Executor, repoId: string): Promise<StreamCounts> {
  const rows = await db
    .selectFrom('gitswarm_streams')
    .select(['status', (eb) => eb.fn.countAll<number | string | bigint>().as('count')])
    .where('repo_id', '=', repoId)
    .groupBy('status')
    .execute();
  return tallyStreams(rows.map((row) => [row.status, Number(row.count)]));
}

/** Stream counts from (status, how many) pairs: every status named, with `live` and `total`. */
export function tallyStreams(pairs: Iterable<readonly [StreamStatus, number]>): StreamCounts {
  const counts = Object.fromEntries(STREAM_STATUSES.map((status) => [status, 0])) as StreamCounts;
  for (const [status, count] of pairs) counts[status] += count;
  counts.live = LIVE_STREAM_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  counts.total = STREAM_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  return counts;
}

export type StreamWithAgent = Stream & { agent_name: string };

/**
 * Up to `limit` streams in the given statuses with their agents' names, oldest first (newest
 * first with `newestFirst`), or, with `mergeOrder`, in merge-queue order (priority, then age).
 * One capped query per status, each read in order from the repo/status/created index (no sort of
 * all the repository's streams).
 */
export async function listStreamsWithAgents(
  db: Executor,
  repoId: string,
  query: { status: readonly StreamStatus[]; limit: number; mergeOrder?: boolean; newestFirst?: boolean },
): Promise<StreamWithAgent[]> {
  const perStatus = await Promise.all(
    query.status.map((status) => {
      let q = db
        .selectFrom('gitswarm_streams as s')
        .innerJoin('gitswarm_agents as a', 'a.id', 's.agent_id')
        .selectAll('s')
        .select('a.name as agent_name')
        .where('s.repo_id', '=', repoId)
        .where('s.status', '=', status);
      if (query.mergeOrder) q = q.orderBy('s.merge_priority', 'desc');
      const direction = query.newestFirst ? 'desc' : 'asc';
      return q.orderBy('s.created_at', direction).orderBy('s.id', direction).limit(query.limit).execute();
    }),
  );
  const streams = perStatus.flat();
  if (perStatus.length > 1) {
    streams.sort((a, b) => compareListed(a, b, query.mergeOrder === true, query.newestFirst === true));
  }
  return streams.slice(0, query.limit);
}

function compareListed(a: Stream, b: Stream, mergeOrder: boolean, newestFirst: boolean): number {
  if (mergeOrder && a.merge_priority !== b.merge_priority) return b.merge_priority - a.merge_priority;
  const older = a.created_at !== b.created_at ? a.created_at < b.created_at : a.id < b.id;
  if (a.created_at === b.created_at && a.id === b.id) return 0;
  return older === newestFirst ? 1 : -1;
}

/** How many workspaces (worktrees) the repository has. */
export async function countWorkspaces(db: Executor, repoId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_worktrees')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('count'))
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  return Number(row?.count ?? 0);
}
