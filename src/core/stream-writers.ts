/**
 * Who writes a stream's files and commits in its server worktree (Mode C): its author, an agent
 * with maintain access, or the agent holding the active claim on the stream's conflict task (the
 * task a maintainer filed to have another agent resolve the stream's conflict, stream-conflicts.ts).
 * Every route that changes a stream's worktree asks this one function.
 */
import { GitSwarmError } from '../errors.js';
import type { Agent, Executor, Repo, Stream } from '../store/index.js';
import { accessRank, requireAction } from './access.js';
import type { CoreDeps } from './deps.js';

/** Why the agent may write: the stream is its own, it maintains the repository, or it resolves the conflict. */
export type StreamWriterRole = 'author' | 'maintainer' | 'conflict_task';

/** The id of the stream's conflict task, when a maintainer filed one (stream metadata `conflict_task_id`). */
export function conflictTaskId(stream: Pick<Stream, 'metadata'>): string | null {
  const id = stream.metadata.conflict_task_id;
  return typeof id === 'string' ? id : null;
}

/**
 * Throws `forbidden` unless the agent may change the stream's worktree (write access to the
 * repository, and one of the roles of StreamWriterRole); returns the role.
 */
export async function requireStreamWriter(
  deps: CoreDeps,
  repo: Repo,
  stream: Pick<Stream, 'id' | 'name' | 'agent_id' | 'metadata'>,
  agent: Agent,
  db: Executor = deps.store.db,
): Promise<StreamWriterRole> {
  const access = await requireAction(deps, db, repo, agent, 'write');
  if (stream.agent_id === agent.id) return 'author';
  if (accessRank(access.level) >= accessRank('maintain')) return 'maintainer';
  const taskId = conflictTaskId(stream);
  if (taskId !== null) {
    const claim = await db
      .selectFrom('gitswarm_task_claims as c')
      .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
      .select('c.id')
      .where('c.task_id', '=', taskId)
      .where('c.agent_id', '=', agent.id)
      .where('c.status', '=', 'active')
      .where('t.status', '=', 'claimed')
      .where('t.repo_id', '=', repo.id)
      .executeTakeFirst();
    if (claim) return 'conflict_task';
  }
  throw new GitSwarmError(
    'forbidden',
    `Only the author of stream ${stream.name}, a maintainer, or the claimant of its conflict task writes its files.`,
    {
      hint:
        taskId !== null
          ? `Claim its conflict task first: POST /api/v1/tasks/${taskId}/claim`
          : 'Work on a stream of your own (POST /api/v1/repos/:id/streams), or ask a maintainer.',
      details: { stream_id: stream.id, ...(taskId !== null ? { conflict_task_id: taskId } : {}) },
    },
  );
}
