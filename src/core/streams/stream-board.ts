/**
 * A repository's streams board in one read, at a cost that does not grow with the number of
 * streams: per column the count (one `group by`) and the newest few streams with their authors'
 * names (one capped query per column, read from the repo/status/created index), the consensus
 * of the open ones among them (consensus.ts, in one batch), and the fork edges (parent → child),
 * capped. The dashboard's repository page draws its board and dependency graph from this.
 */
import type { Executor, Repo, StreamStatus } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import { type ConsensusResult, evaluateConsensusOfStreams } from './consensus.js';
import { countStreamsByStatus, listStreamsWithAgents, type StreamWithAgent } from './stream-summary.js';
import { LIVE_STREAM_STATUSES } from './streams.js';

/** The board's columns, in the order a stream moves through them (abandoned streams are not shown). */
export const BOARD_STATUSES: readonly StreamStatus[] = [
  'active',
  'in_review',
  'conflicted',
  'merged',
  'reverted',
];

/** Fork edges the board returns at most. */
export const BOARD_FORK_LIMIT = 200;

export interface BoardColumn {
  status: StreamStatus;
  /** Every stream of that status in the repository. */
  count: number;
  /** The newest ones, newest first, at most `perColumn`. */
  streams: StreamWithAgent[];
}

/** A stream built on another, with both ends' names and statuses. */
export interface ForkEdge {
  parent_id: string;
  parent_name: string;
  parent_status: StreamStatus;
  child_id: string;
  child_name: string;
  child_status: StreamStatus;
}

export interface StreamBoard {
  columns: BoardColumn[];
  /** The consensus of every open stream (active, in review, conflicted) in the columns, by stream id. */
  consensus: Map<string, ConsensusResult>;
  /** Newest children first, at most {@link BOARD_FORK_LIMIT}. */
  forks: ForkEdge[];
  /** More fork edges exist than were returned. */
  forks_truncated: boolean;
}

/** Reads the board: counts, the newest `perColumn` streams of each column, their consensus and the forks. */
export async function readStreamBoard(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  options: { perColumn: number },
): Promise<StreamBoard> {
  const [counts, lists, forkRows] = await Promise.all([
    countStreamsByStatus(db, repo.id),
    Promise.all(
      BOARD_STATUSES.map((status) =>
        listStreamsWithAgents(db, repo.id, { status: [status], limit: options.perColumn, newestFirst: true }),
      ),
    ),
    readForks(db, repo.id, BOARD_FORK_LIMIT + 1),
  ]);
  const open = lists.flat().filter((stream) => LIVE_STREAM_STATUSES.includes(stream.status));
  const consensus = await evaluateConsensusOfStreams(deps, db, repo, open);
  return {
    columns: BOARD_STATUSES.map((status, i) => ({ status, count: counts[status], streams: lists[i] ?? [] })),
    consensus,
    forks: forkRows.slice(0, BOARD_FORK_LIMIT),
    forks_truncated: forkRows.length > BOARD_FORK_LIMIT,
  };
}

/** Up to `limit` fork edges of the repository, newest children first (one query). */
async function readForks(db: Executor, repoId: string, limit: number): Promise<ForkEdge[]> {
  return db
    .selectFrom('gitswarm_streams as c')
    .innerJoin('gitswarm_streams as p', 'p.id', 'c.parent_stream_id')
    .select([
      'p.id as parent_id',
      'p.name as parent_name',
      'p.status as parent_status',
      'c.id as child_id',
      'c.name as child_name',
      'c.status as child_status',
    ])
    .where('c.repo_id', '=', repoId)
    .where('c.parent_stream_id', 'is not', null)
    .orderBy('c.created_at', 'desc')
    .orderBy('c.id', 'desc')
    .limit(limit)
    .execute();
}
