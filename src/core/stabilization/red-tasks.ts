/**
 * The critical tasks of red builds, after they are filed: a red run that is already known links
 * to the open task instead of filing another, and a green run closes the tasks whose fix it
 * contains.
 *
 * A task is "the same" when it is live (open, claimed, submitted) and critical, and either an
 * earlier red stabilization of the same culprit stream filed it (or linked to it), or the culprit
 * stream is the one working on it (a reopened stream is linked to its task); with no culprit,
 * when an earlier red of the same buffer commit filed it.
 */
import { isAncestor } from '../../engine/repo.js';
import type { Executor, Repo, Task } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import { approveClaimOnGreen, LIVE_TASK_STATUSES } from '../tasks/tasks.js';

export interface RedTaskKey {
  /** The culprit's stream, when bisection found one. */
  streamId: string | null;
  /** The failing buffer commit (the key when there is no culprit). */
  bufferCommit?: string;
}

/** The live critical task already filed for this red (see the file's comment), if any. */
export async function findOpenRedTask(
  db: Executor,
  repo: Pick<Repo, 'id'>,
  key: RedTaskKey,
): Promise<Task | undefined> {
  if (key.streamId === null && key.bufferCommit === undefined) return undefined;
  let earlier = db
    .selectFrom('gitswarm_stabilizations')
    .select('details')
    .where('repo_id', '=', repo.id)
    .where('result', '=', 'red');
  earlier =
    key.streamId !== null
      ? earlier.where('breaking_stream_id', '=', key.streamId)
      : earlier
          .where('buffer_commit', '=', key.bufferCommit as string)
          .where('breaking_stream_id', 'is', null);
  const taskIds = new Set<string>();
  for (const row of await earlier.execute()) {
    if (typeof row.details.task_id === 'string') taskIds.add(row.details.task_id);
  }
  if (key.streamId !== null) {
    const claims = await db
      .selectFrom('gitswarm_task_claims')
      .select('task_id')
      .where('stream_id', '=', key.streamId)
      .where('status', 'in', ['active', 'submitted'])
      .execute();
    for (const claim of claims) taskIds.add(claim.task_id);
  }
  if (taskIds.size === 0) return undefined;
  return db
    .selectFrom('gitswarm_tasks')
    .selectAll()
    .where('repo_id', '=', repo.id)
    .where('id', 'in', [...taskIds])
    .where('priority', '=', 'critical')
    .where('status', 'in', LIVE_TASK_STATUSES)
    .orderBy('created_at')
    .orderBy('number')
    .executeTakeFirst();
}

/**
 * Completes the critical tasks a green run at `greenCommit` proves fixed: tasks the stabilizer
 * filed (no creator) whose claim was handed in because its stream merged, with that merge (not
 * reverted) in the green commit. The same approval a reviewer gives (`task review … approve`),
 * given by the green run. Returns the completed tasks.
 */
export async function closeFixedRedTasks(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; repoDir: string; greenCommit: string; stabilizationId: string },
): Promise<Task[]> {
  const candidates = await db
    .selectFrom('gitswarm_task_claims as c')
    .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
    .innerJoin('gitswarm_merges as m', 'm.stream_id', 'c.stream_id')
    .select(['c.id as claim_id', 't.id as task_id', 'm.merge_commit'])
    .where('t.repo_id', '=', input.repo.id)
    .where('t.priority', '=', 'critical')
    .where('t.created_by', 'is', null)
    .where('t.status', '=', 'submitted')
    .where('c.status', '=', 'submitted')
    .where('m.reverted_at', 'is', null)
    .where('m.target_branch', '=', input.repo.buffer_branch)
    .execute();
  const closed: Task[] = [];
  const done = new Set<string>();
  for (const row of candidates) {
    if (done.has(row.task_id)) continue;
    if (!(await isAncestor(input.repoDir, row.merge_commit, input.greenCommit).catch(() => false))) continue;
    done.add(row.task_id);
    closed.push(
      await approveClaimOnGreen(deps, db, {
        repoId: input.repo.id,
        taskId: row.task_id,
        claimId: row.claim_id,
        notes: `Stabilization ${input.stabilizationId} is green at ${input.greenCommit}, which contains merge ${row.merge_commit}.`,
        stabilizationId: input.stabilizationId,
      }),
    );
  }
  return closed;
}
