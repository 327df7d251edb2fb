/**
 * Conflicts an agent that speaks only HTTP can resolve (Mode C; DESIGN §6.2): the conflict as data
 * (base, ours and theirs of each path), bringing the stream's base into its server worktree so the
 * agent resolves the markers there and commits, and a maintainer turning an unresolved conflict
 * into a task for another agent.
 *
 * A conflict is recorded the one way streams record it (`stream.conflict`, status `conflicted`):
 * an update that conflicts records `operation: 'merge'` onto the base head, the same record a
 * refused merge leaves, so the commit that resolves it clears it through the commit's recheck.
 */

import {
  type ConflictFile,
  mergeInProgress,
  mergeIntoWorktree,
  readConflicts,
  unmergedPaths,
} from '../../engine/conflicts.js';
import { isWorktreeDirty } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  inTransaction,
  type Repo,
  type Stream,
  type Task,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import { getAgent } from '../agents/agents.js';
import type { CoreDeps } from '../deps.js';
import { conflictTaskId, requireAction, requireStreamWrite } from '../governance/access.js';
import { inRepoTransaction } from '../repos/repo-transaction.js';
import { getRepo } from '../repos/repos.js';
import { createTask, LIVE_TASK_STATUSES } from '../tasks/tasks.js';
import { branchHead, recoveredStatus, streamBase } from './stream-cascade.js';
import { commitStreamWorktree } from './stream-commit.js';
import { getStreamById, isLiveStream, updateStream } from './streams.js';
import { agentIdentity, repoRoot } from './workspace-paths.js';

export interface StreamConflicts {
  stream_id: string;
  status: Stream['status'];
  /** The stream's head: the `ours` side. */
  head: string;
  /** The head of what the stream must merge with (the buffer, or its live parent stream): `theirs`. */
  onto: string;
  onto_branch: string;
  /** The conflict recorded on the stream, if any (the paths above are computed now). */
  recorded: Stream['conflict'];
  paths: ConflictFile[];
}

export interface ReadStreamConflictsInput {
  repo: Repo;
  stream: Stream;
  maxFileBytes?: number;
  maxTotalBytes?: number;
}

/**
 * The conflicts between a stream's head (ours) and its base's current head (theirs), computed
 * now and worktree-free; empty `paths` when they merge cleanly. Reads only: no lock, no record.
 */
export async function readStreamConflicts(
  deps: CoreDeps,
  input: ReadStreamConflictsInput,
): Promise<StreamConflicts> {
  const { repo, stream } = input;
  const repoDir = repoRoot(repo);
  const base = await streamBase(deps.store.db, repo, stream);
  const head = await branchHead(repoDir, stream.branch);
  const paths = await readConflicts(repoDir, {
    ours: head,
    theirs: base.head,
    ...(input.maxFileBytes !== undefined ? { maxFileBytes: input.maxFileBytes } : {}),
    ...(input.maxTotalBytes !== undefined ? { maxTotalBytes: input.maxTotalBytes } : {}),
  });
  return {
    stream_id: stream.id,
    status: stream.status,
    head,
    onto: base.head,
    onto_branch: base.branch,
    recorded: stream.conflict,
    paths,
  };
}

export interface UpdateStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
  /** The stream's worktree (Mode C: its server worktree), checked out on the stream's branch. */
  worktree: string;
}

export type UpdateOutcome = 'up_to_date' | 'fast_forward' | 'merged' | 'conflicted';

export interface UpdateStreamResult {
  stream_id: string;
  outcome: UpdateOutcome;
  status: Stream['status'];
  /** The stream's head afterwards (before the resolution commit, for `conflicted`). */
  head: string;
  onto: string;
  onto_branch: string;
  /** The merge commit (`merged`) and its Change-Id. */
  commit?: string;
  change_id?: string;
  /** The conflicted paths (`conflicted`): their worktree files hold conflict markers. */
  paths?: string[];
}

/**
 * Brings the stream's base (its live parent's head, else the buffer's) into the stream's
 * worktree, under the repository lock, for the stream's writers (core requireStreamWrite). A clean
 * merge is committed at once with a Change-Id and clears a recorded conflict; a conflicted one
 * leaves markers in the files (binary files keep the stream's side), `MERGE_HEAD` set and the
 * stream `conflicted` until a commit in the worktree resolves it. Asking again while the same
 * update waits for its resolution answers the same result.
 */
export async function updateStreamFromBase(
  deps: CoreDeps,
  input: UpdateStreamInput,
): Promise<UpdateStreamResult> {
  const { actor, worktree } = input;
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    const stream = await getStreamById(deps.store.db, input.stream.id);
    await requireStreamWrite(deps, deps.store.db, repo, stream, actor);
    if (!isLiveStream(stream)) {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.name} is ${stream.status}; it takes no updates.`,
        {
          details: { stream_id: stream.id, status: stream.status },
        },
      );
    }
    const base = await streamBase(deps.store.db, repo, stream);
    const result = (outcome: UpdateOutcome, head: string, extra: Partial<UpdateStreamResult> = {}) =>
      ({
        stream_id: stream.id,
        outcome,
        status: stream.status,
        head,
        onto: base.head,
        onto_branch: base.branch,
        ...extra,
      }) satisfies UpdateStreamResult;
    const pending = await mergeInProgress(worktree);
    if (pending !== null) {
      const head = await branchHead(repoDir, stream.branch);
      if (pending === base.head && stream.status === 'conflicted') {
        const paths = stream.conflict?.paths ?? (await unmergedPaths(worktree));
        return { ...result('conflicted', head, { paths }), status: 'conflicted' };
      }
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.name} has an update waiting for its resolution (merging ${pending.slice(0, 12)}).`,
        {
          hint: `Write the resolved files and commit (POST /api/v1/streams/${stream.id}/commits), then update again.`,
          details: { stream_id: stream.id, merging: pending },
        },
      );
    }
    if (await isWorktreeDirty(worktree)) {
      throw new GitSwarmError('worktree_dirty', `Stream ${stream.name} has uncommitted changes.`, {
        hint: `Commit them first (POST /api/v1/streams/${stream.id}/commits), then update.`,
        details: { stream_id: stream.id },
      });
    }
    const merged = await mergeIntoWorktree(worktree, base.head, agentIdentity(actor));
    if (merged.kind === 'conflicted') {
      const updated = await inTransaction(deps.store.db, async (trx) => {
        const current = await getStreamById(trx, stream.id);
        const { needs_rebase: _, ...metadata } = current.metadata;
        const next = await updateStream(deps, trx, current, {
          status: 'conflicted',
          conflict: {
            operation: 'merge',
            onto: base.head,
            paths: merged.paths,
            detected_at: isoNow(deps.clock),
          },
          metadata,
        });
        await recordActivity(deps, trx, {
          event: 'stream.conflicted',
          repoId: repo.id,
          agentId: actor.id,
          targetType: 'stream',
          targetId: stream.id,
          metadata: {
            operation: 'merge',
            trigger: 'update',
            onto: base.head,
            onto_branch: base.branch,
            paths: merged.paths,
          },
        });
        return next;
      });
      return { ...result('conflicted', merged.head, { paths: merged.paths }), status: updated.status };
    }
    let head = merged.head;
    let committed: { commit: string; changeId: string } | null = null;
    if (merged.kind === 'staged') {
      // The commit every stream commit is (Change-Id, conflict recheck, cascade; in swarm mode the merge).
      const done = await commitStreamWorktree(deps, {
        repo,
        agent: actor,
        stream,
        worktree,
        message: `Merge ${base.branch} into ${stream.name}`,
      });
      committed = { commit: done.commit, changeId: done.change_id };
      head = done.commit;
    } else if (merged.kind === 'fast_forward') {
      head = merged.head;
    }
    const updated = await inTransaction(deps.store.db, async (trx) => {
      let current = await getStreamById(trx, stream.id);
      // The stream now holds its base's head: a conflict with it (merge or rebase) is gone.
      const { needs_rebase: _, ...metadata } = current.metadata;
      const recovering = current.status === 'conflicted';
      if (merged.kind !== 'up_to_date' || recovering || current.metadata.needs_rebase === true) {
        current = await updateStream(deps, trx, current, {
          metadata,
          ...(merged.kind !== 'up_to_date' ? { base_commit: base.head } : {}),
          ...(recovering ? { status: recoveredStatus(current), conflict: null } : {}),
        });
      }
      if (merged.kind !== 'up_to_date') {
        await recordActivity(deps, trx, {
          event: 'stream.updated',
          repoId: repo.id,
          agentId: actor.id,
          targetType: 'stream',
          targetId: stream.id,
          metadata: {
            operation: 'update',
            outcome: merged.kind === 'staged' ? 'merged' : merged.kind,
            onto: base.head,
            onto_branch: base.branch,
            head,
            ...(recovering ? { conflict_resolved: true } : {}),
          },
        });
      }
      return current;
    });
    const outcome: UpdateOutcome = merged.kind === 'staged' ? 'merged' : merged.kind;
    return {
      ...result(outcome, head, committed ? { commit: committed.commit, change_id: committed.changeId } : {}),
      status: updated.status,
    };
  });
}

export interface FileConflictTaskInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  /** A maintainer (maintain access). */
  actor: Agent;
  title?: string;
  description?: string;
  priority?: string;
  /** Bounty in budget credits (as any task). */
  amount?: number;
  /** The agent asked to resolve it (id or name); anyone with write access may claim the task. */
  assignee?: string;
}

export interface FileConflictTaskResult {
  task: Task;
  stream: Stream;
}

/**
 * Turns a stream's unresolved conflict into a task (maintain access): the task names the stream
 * and its conflicted paths, and the stream records it (`metadata.conflict_task_id`). The agent
 * holding the task's active claim may then update the stream, write its files and commit
 * (core requireStreamWrite), as its author may; the right ends with the claim. One live conflict
 * task per stream: `invalid_state` while one is open, claimed or submitted.
 */
export async function fileConflictTask(
  deps: CoreDeps,
  input: FileConflictTaskInput,
): Promise<FileConflictTaskResult> {
  const { actor } = input;
  return inRepoTransaction(deps, deps.store.db, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    await requireAction(deps, trx, repo, actor, 'merge');
    const stream = await getStreamById(trx, input.stream.id);
    if (stream.repo_id !== repo.id) throw new Error('stream of another repository');
    if (stream.status !== 'conflicted' || !stream.conflict) {
      throw new GitSwarmError('invalid_state', `Stream ${stream.name} is ${stream.status}, not conflicted.`, {
        hint: `Its conflicts, if any, show in GET /api/v1/streams/${stream.id}/conflicts; an update records them.`,
        details: { stream_id: stream.id, status: stream.status },
      });
    }
    const existing = conflictTaskId(stream);
    if (existing !== null) {
      const task = await trx
        .selectFrom('gitswarm_tasks')
        .select(['id', 'number', 'status'])
        .where('id', '=', existing)
        .executeTakeFirst();
      if (task && LIVE_TASK_STATUSES.includes(task.status)) {
        throw new GitSwarmError(
          'invalid_state',
          `Stream ${stream.name} already has conflict task #${task.number} (${task.status}).`,
          { details: { stream_id: stream.id, task_id: task.id } },
        );
      }
    }
    const assignee = input.assignee !== undefined ? await getAgent(trx, input.assignee) : null;
    const paths = stream.conflict.paths;
    const task = await createTask(deps, trx, {
      repo,
      actor,
      title: input.title ?? `Resolve the conflict of stream ${stream.name}`.slice(0, 200),
      description:
        input.description ??
        [
          `Stream ${stream.name} (${stream.id}) conflicts with ${stream.conflict.onto.slice(0, 12)} in:`,
          ...paths.map((path) => `- ${path}`),
          '',
          'Claim this task, then: GET /api/v1/streams/:id/conflicts (base, ours, theirs),',
          'POST /api/v1/streams/:id/update, write the resolved files (PUT /api/v1/streams/:id/files/<path>),',
          'POST /api/v1/streams/:id/commits, and submit the claim.',
        ].join('\n'),
      labels: ['conflict'],
      ...(input.priority !== undefined ? { priority: input.priority } : {}),
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
      ...(assignee ? { assignedTo: assignee.id } : {}),
    });
    const updated = await updateStream(deps, trx, stream, {
      metadata: { ...stream.metadata, conflict_task_id: task.id },
    });
    await recordActivity(deps, trx, {
      event: 'stream.updated',
      repoId: repo.id,
      agentId: actor.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: { conflict_task_id: task.id, task_number: task.number, paths },
    });
    return { task, stream: updated };
  });
}
