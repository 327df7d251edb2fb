/**
 * A new stream's record, alike for a stream made here with its worktree (workspaces.ts) and one a
 * client made in its own clone (remote-sync.ts): the checks on its name and parent, the row, the
 * link to a claimed task, and the `stream.created` event.
 */
import { GitSwarmError } from '../errors.js';
import { type Agent, type Executor, type Repo, type Stream, toJson } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { recordActivity } from './activity.js';
import type { CoreDeps } from './deps.js';
import { getStream, isLiveStream, LIVE_STREAM_STATUSES } from './streams.js';
import { linkClaimToStream } from './tasks.js';

/** Throws already_exists when a live stream of the repository has the name. */
export async function assertStreamNameFree(
  db: Executor,
  repoId: string,
  name: string,
  hint = 'Choose another name.',
): Promise<void> {
  const taken = await db
    .selectFrom('gitswarm_streams')
    .select('id')
    .where('repo_id', '=', repoId)
    .where('name', '=', name)
    .where('status', 'in', LIVE_STREAM_STATUSES)
    .executeTakeFirst();
  if (taken) {
    throw new GitSwarmError('already_exists', `A stream named ${name} is already in progress.`, {
      hint,
      details: { stream_id: taken.id },
    });
  }
}

/** The stream a new one depends on; it must be live (a merged or abandoned one is no base). */
export async function getLiveParent(
  db: Executor,
  repoId: string,
  ref: string,
  hint = 'build on the buffer instead',
): Promise<Stream> {
  const parent = await getStream(db, repoId, ref);
  if (!isLiveStream(parent)) {
    throw new GitSwarmError('invalid_state', `Stream ${parent.name} is ${parent.status}; ${hint}.`, {
      details: { parent_stream_id: parent.id, status: parent.status },
    });
  }
  return parent;
}

export interface NewStreamRecord {
  repo: Repo;
  agent: Agent;
  id: string;
  name: string;
  branch: string;
  source?: Stream['source'];
  parent: Stream | null;
  baseBranch: string;
  baseCommit: string | null;
  /** Link the agent's claim on this task (id or number) to the stream, claiming it if need be. */
  taskRef?: string;
  /** Added to the `stream.created` event. */
  eventMetadata?: Record<string, unknown>;
}

/** Inserts the stream in the caller's transaction, links its task, records `stream.created`. */
export async function insertStreamRecord(
  deps: CoreDeps,
  trx: Executor,
  input: NewStreamRecord,
): Promise<Stream> {
  const { repo, agent, id } = input;
  const now = isoNow(deps.clock);
  let stream = await trx
    .insertInto('gitswarm_streams')
    .values({
      id,
      repo_id: repo.id,
      agent_id: agent.id,
      name: input.name,
      branch: input.branch,
      source: input.source ?? 'cli',
      status: 'active',
      parent_stream_id: input.parent?.id ?? null,
      base_branch: input.baseBranch,
      base_commit: input.baseCommit,
      metadata: toJson({}),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (input.taskRef !== undefined) {
    const claim = await linkClaimToStream(deps, trx, { repo, taskRef: input.taskRef, agent, streamId: id });
    stream = await trx
      .updateTable('gitswarm_streams')
      .set({ task_id: claim.task_id })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  await recordActivity(deps, trx, {
    event: 'stream.created',
    repoId: repo.id,
    agentId: agent.id,
    targetType: 'stream',
    targetId: id,
    metadata: {
      name: input.name,
      branch: input.branch,
      base_branch: input.baseBranch,
      base_commit: input.baseCommit,
      parent_stream_id: input.parent?.id ?? null,
      task_id: stream.task_id,
      ...input.eventMetadata,
    },
  });
  return stream;
}
