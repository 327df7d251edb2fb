/**
 * Streams: an agent's line of work on its own branch `stream/<id>`, and the one state machine
 * every stream follows. Git mechanics live in the engine; federation.ts joins the two.
 */
import type { Compilable } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  batch,
  type Executor,
  queryTemplate,
  type Repo,
  type Stream,
  type StreamConflict,
  type StreamStatus,
  toJson,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import type { CoreDeps } from '../deps.js';
import { decideRepoAction, getRepoForAction, repoAccessQuery } from '../governance/access.js';
import {
  DEFAULT_PAGE_LIMIT,
  type KeysetKey,
  keysetPage,
  keysetPageQuery,
  type Page,
  type PageRequest,
  pageOfRows,
} from '../pagination.js';

/**
 * Which status may follow which. active → in_review → merged | abandoned; a conflicted stream
 * recovers (a new commit or a successful retry); only a merged stream can be reverted. In swarm
 * mode a merged stream takes further commits (each merges at once), so merged → active too;
 * federation allows that step in swarm mode only.
 */
export const STREAM_TRANSITIONS: Readonly<Record<StreamStatus, readonly StreamStatus[]>> = {
  active: ['in_review', 'conflicted', 'merged', 'abandoned'],
  in_review: ['active', 'conflicted', 'merged', 'abandoned'],
  conflicted: ['active', 'in_review', 'merged', 'abandoned'],
  merged: ['reverted', 'active'],
  abandoned: [],
  reverted: [],
};

/** Statuses of a stream still being worked on: it holds its name and may merge. */
export const LIVE_STREAM_STATUSES: readonly StreamStatus[] = ['active', 'in_review', 'conflicted'];

/** Whether the stream is still in progress (active, in review or conflicted). */
export function isLiveStream(stream: Pick<Stream, 'status'>): boolean {
  return LIVE_STREAM_STATUSES.includes(stream.status);
}

/** Whether the state machine allows the step from one status to the other. */
export function canTransition(from: StreamStatus, to: StreamStatus): boolean {
  return STREAM_TRANSITIONS[from].includes(to);
}

/** Throws `invalid_state` unless the stream may move to `to`. */
export function assertTransition(stream: Pick<Stream, 'id' | 'status'>, to: StreamStatus): void {
  if (!canTransition(stream.status, to)) {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${stream.id} is ${stream.status}; it cannot become ${to}.`,
      {
        details: { stream_id: stream.id, status: stream.status, wanted: to },
      },
    );
  }
}

const BRANCH_PREFIX = 'stream/';

/**
 * Returns the stream named by `ref`: its id, its branch `stream/<id>`, or its name (a live
 * stream of that name first, else the newest); throws `stream_not_found`.
 */
export async function getStream(db: Executor, repoId: string, ref: string): Promise<Stream> {
  const stream = await findStream(db, repoId, ref);
  if (!stream) {
    throw new GitSwarmError('stream_not_found', `No stream ${JSON.stringify(ref)} in this repository.`);
  }
  return stream;
}

/** Like getStream, but undefined when there is no such stream. */
export async function findStream(db: Executor, repoId: string, ref: string): Promise<Stream | undefined> {
  const id = ref.startsWith(BRANCH_PREFIX) ? ref.slice(BRANCH_PREFIX.length) : ref;
  const byId = await db
    .selectFrom('gitswarm_streams')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where((eb) => eb.or([eb('id', '=', id), eb('branch', '=', ref)]))
    .executeTakeFirst();
  if (byId) return byId;
  const named = await db
    .selectFrom('gitswarm_streams')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where('name', '=', ref)
    .orderBy('created_at', 'desc')
    .execute();
  return named.find(isLiveStream) ?? named[0];
}

/** Reads a stream by id (no name lookup); throws `stream_not_found`. */
export async function getStreamById(db: Executor, streamId: string): Promise<Stream> {
  const stream = await db
    .selectFrom('gitswarm_streams')
    .selectAll()
    .where('id', '=', streamId)
    .executeTakeFirst();
  if (!stream) throw new GitSwarmError('stream_not_found', `No stream ${streamId}`);
  return stream;
}

/** The repository a stream belongs to, in one query; `stream_not_found` when there is no such stream. */
export async function getStreamRepo(db: Executor, streamId: string): Promise<Repo> {
  const [repo] = await streamRepo(db, { streamId });
  if (!repo) throw new GitSwarmError('stream_not_found', `No stream ${streamId}`);
  return repo;
}

/** Compiled once per store: the stream routes start with it. */
const streamRepo = queryTemplate(['streamId'], (db, { streamId }) =>
  db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where('id', '=', (eb) => eb.selectFrom('gitswarm_streams').select('repo_id').where('id', '=', streamId)),
);

export interface ListStreamsQuery {
  status?: readonly StreamStatus[];
  agentId?: string;
  parentStreamId?: string;
}

function streamsQuery(db: Executor, repoId: string, query: ListStreamsQuery) {
  let q = db.selectFrom('gitswarm_streams').selectAll().where('repo_id', '=', repoId);
  if (query.status?.length) q = q.where('status', 'in', query.status);
  if (query.agentId) q = q.where('agent_id', '=', query.agentId);
  if (query.parentStreamId) q = q.where('parent_stream_id', '=', query.parentStreamId);
  return q;
}

/** Lists a repository's streams, oldest first. */
export async function listStreams(
  db: Executor,
  repoId: string,
  query: ListStreamsQuery = {},
): Promise<Stream[]> {
  return streamsQuery(db, repoId, query).orderBy('created_at').orderBy('id').execute();
}

const STREAM_KEYS: readonly KeysetKey<Stream>[] = [
  { by: 'created_at', direction: 'asc', type: 'string', value: (s) => s.created_at },
  { by: 'id', direction: 'asc', type: 'string', value: (s) => s.id },
];

/** One page of a repository's streams, oldest first (pagination.ts). */
export function listStreamsPage(
  db: Executor,
  repoId: string,
  query: ListStreamsQuery,
  page: PageRequest,
): Promise<Page<Stream>> {
  return keysetPage(streamsQuery(db, repoId, query), STREAM_KEYS, page);
}

/**
 * The first page of a repository's streams at the default size, unfiltered: what agents poll. The
 * same query keysetPageQuery builds, compiled once per store instead of at each request.
 */
const firstStreamsPage = queryTemplate(
  ['repoId'],
  (db, { repoId }) => keysetPageQuery(streamsQuery(db, repoId, {}), STREAM_KEYS, {}).query,
);

function isFirstDefaultPage(query: ListStreamsQuery, page: PageRequest): boolean {
  return (
    !query.status?.length &&
    query.agentId === undefined &&
    query.parentStreamId === undefined &&
    page.cursor === undefined &&
    page.limit === undefined
  );
}

/**
 * One page of a repository's streams for an agent who may read the repository: the access check
 * and the page in one round trip (batch.ts); the page is dropped unless the check passes.
 */
export async function listReadableStreamsPage(
  deps: CoreDeps,
  input: { repoId: string; agent: Agent; query: ListStreamsQuery; page: PageRequest },
): Promise<{ repo: Repo; page: Page<Stream> }> {
  const db = deps.store.db;
  let planned: { query: Compilable<Stream>; finish: (rows: Stream[]) => Page<Stream> };
  try {
    planned = isFirstDefaultPage(input.query, input.page)
      ? {
          query: firstStreamsPage.bind(db, { repoId: input.repoId }),
          finish: (rows) => pageOfRows(rows, STREAM_KEYS, DEFAULT_PAGE_LIMIT),
        }
      : keysetPageQuery(streamsQuery(db, input.repoId, input.query), STREAM_KEYS, input.page);
  } catch (error) {
    // A refused reader hears of the refusal, not of a malformed cursor.
    await getRepoForAction(deps, db, input.repoId, input.agent, 'read');
    throw error;
  }
  const [access, rows] = await batch(db, [
    repoAccessQuery(deps, db, input.repoId, input.agent),
    planned.query,
  ]);
  const { repo } = decideRepoAction(input.repoId, input.agent, 'read', access[0]);
  return { repo, page: planned.finish(rows) };
}

/**
 * Live streams built on `streamId`, directly or through others, parents before children. One
 * query per generation, by the parent index: the cost follows the dependents, not the number of
 * streams in the repository.
 */
export async function listDependents(db: Executor, repoId: string, streamId: string): Promise<Stream[]> {
  const result: Stream[] = [];
  const seen = new Set([streamId]);
  let generation = [streamId];
  while (generation.length > 0) {
    const children = await db
      .selectFrom('gitswarm_streams')
      .selectAll()
      .where('parent_stream_id', 'in', generation)
      .where('repo_id', '=', repoId)
      .where('status', 'in', LIVE_STREAM_STATUSES)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const next: string[] = [];
    // Breadth first, each parent's children oldest first.
    for (const parent of generation) {
      for (const child of children) {
        if (child.parent_stream_id === parent && !seen.has(child.id)) {
          seen.add(child.id);
          result.push(child);
          next.push(child.id);
        }
      }
    }
    generation = next;
  }
  return result;
}

export interface StreamChange {
  status?: StreamStatus;
  review_status?: Stream['review_status'];
  conflict?: StreamConflict | null;
  base_branch?: string | null;
  base_commit?: string | null;
  parent_stream_id?: string | null;
  metadata?: Record<string, unknown>;
}

/**
 * Updates a stream, checking the state machine when the status changes; returns the new row.
 * Callers hold the repository lock and pass their transaction.
 */
export async function updateStream(
  deps: CoreDeps,
  db: Executor,
  stream: Stream,
  change: StreamChange,
): Promise<Stream> {
  return updateStreamQuery(deps, db, stream, change).executeTakeFirstOrThrow();
}

/** The statement updateStream runs, after checking the transition (batch.ts). */
export function updateStreamQuery(deps: CoreDeps, db: Executor, stream: Stream, change: StreamChange) {
  if (change.status !== undefined && change.status !== stream.status) assertTransition(stream, change.status);
  const { conflict, metadata, ...plain } = change;
  return db
    .updateTable('gitswarm_streams')
    .set({
      ...plain,
      ...(conflict !== undefined ? { conflict: conflict === null ? null : toJson(conflict) } : {}),
      ...(metadata !== undefined ? { metadata: toJson(metadata) } : {}),
      updated_at: isoNow(deps.clock),
    })
    .where('id', '=', stream.id)
    .returningAll();
}

/** Re-reads a stream inside the caller's transaction (the row may have changed since it was read). */
export async function refreshStream(db: Executor, stream: Pick<Stream, 'id'>): Promise<Stream> {
  return getStreamById(db, stream.id);
}
