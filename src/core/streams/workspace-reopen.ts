/**
 * After a revert, the author's way forward: `workspace reopen` starts a new stream from the
 * buffer head with the reverted change re-applied (a revert of each revert commit, written by the
 * engine without a checkout of the buffer), carries the agent's uncommitted work over into the
 * same worktree, and links the stream to the critical task of the red build. The reverted stream
 * stays reverted. Merging the new stream hands the task's claim in; the next green stabilization
 * that contains that merge completes the task (red-tasks.ts).
 */
import { existsSync } from 'node:fs';
import {
  carryOnto,
  restoreWorktree,
  snapshotWorktree,
  switchWorktreeCarrying,
  type WorktreeSnapshot,
} from '../../engine/carry-over.js';
import { git } from '../../engine/git.js';
import { assertValidName, isObjectId } from '../../engine/names.js';
import { OpLog } from '../../engine/oplog.js';
import { revertOnto } from '../../engine/revert.js';
import { createBranchAt, streamBranch } from '../../engine/stream-branches.js';
import { addWorktree, removeWorktree } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  lockedTransaction,
  type Repo,
  type Stream,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { failpoint } from '../../util/failpoints.js';
import { newId, newStreamId } from '../../util/ids.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from '../repos/repos.js';
import { findOpenRedTask } from '../stabilization/red-tasks.js';
import { OPEN_CLAIM_STATUSES } from '../tasks/task-claims.js';
import { branchHead } from './stream-cascade.js';
import { insertStreamRecord } from './stream-records.js';
import { getStream, getStreamById, updateStream } from './streams.js';
import { agentIdentity, excludeWorktreesDir, repoRoot, worktreePath } from './workspace-paths.js';
import { findWorkspace, insertWorkspaceRecord } from './workspaces.js';

export interface ReopenWorkspaceInput {
  repo: Repo;
  /** The reverted stream's author. */
  agent: Agent;
  /** The reverted stream (id, name or branch); default: the one of the agent's workspace. */
  streamRef?: string;
}

export interface ReappliedMerge {
  merge_commit: string;
  revert_commit: string;
  /** The new stream's commit that undoes the revert. */
  commit: string;
}

export interface ReopenWorkspaceResult {
  stream: Stream;
  reopened_from: Stream;
  worktree: string;
  /** The new stream's head: the buffer head plus the re-applied change. */
  head: string;
  reapplied: ReappliedMerge[];
  /** Whether uncommitted work was carried over from the old worktree. */
  carried_over: boolean;
  task_id: string | null;
  task_number: number | null;
}

/** Reopens a reverted stream as a new one (see the file's comment). */
export async function reopenWorkspace(
  deps: CoreDeps,
  input: ReopenWorkspaceInput,
): Promise<ReopenWorkspaceResult> {
  const { agent } = input;
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    const db = deps.store.db;
    await requireAction(deps, db, repo, agent, 'write');
    const workspace = await findWorkspace(db, repo.id, agent.id);
    const old = await reopenedStream(db, repo, agent, input.streamRef, workspace?.stream_id);
    if (workspace && workspace.stream_id !== old.id) {
      throw new GitSwarmError(
        'invalid_state',
        `Agent ${agent.name} has a workspace on another stream at ${workspace.path}.`,
        {
          hint: `Commit or finish it, then: gitswarm workspace destroy --as ${agent.name} && gitswarm workspace reopen ${old.id} --as ${agent.name}`,
          details: { stream_id: workspace.stream_id, worktree: workspace.path },
        },
      );
    }
    const reverted = await revertedMerges(db, repo, old);

    // The change again, on the buffer head: the newest revert undone first.
    const bufferHead = await branchHead(repoDir, repo.buffer_branch);
    const { head, reapplied } = await reapplyReverts(repoDir, {
      repo,
      agent,
      old,
      reverted,
      onto: bufferHead,
    });

    // The agent's uncommitted work, merged onto the new head (refused on conflict: nothing moved).
    const oldWorktree = workspace && existsSync(workspace.path) ? workspace.path : null;
    const snapshot = oldWorktree ? await snapshotWorktree(oldWorktree) : null;
    const target = snapshot?.dirty ? await carryWork(repoDir, snapshot, head, oldWorktree) : head;

    const task = await linkableTask(db, repo, old, agent);
    const id = newStreamId();
    const name = await freeReopenName(db, repo.id, old.name);
    const branch = streamBranch(id);
    const path = oldWorktree ?? worktreePath(repo, agent.name);
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    if (!oldWorktree && existsSync(path)) {
      throw new GitSwarmError('invalid_state', `A folder already exists where the worktree goes: ${path}`, {
        hint: `Remove it first: git worktree remove --force ${path}`,
        details: { worktree: path },
      });
    }
    const opId = await createBranchAt(repoDir, { branch, at: head, oplog, streamId: id, agentId: agent.id });
    // Undo, in reverse, whatever of the git side was done when a later step fails.
    const undo = async (worktreeMoved: boolean) => {
      if (worktreeMoved && oldWorktree && snapshot) {
        // Back on the old branch with the files as they were.
        await restoreWorktree(oldWorktree, old.branch, snapshot);
      } else if (worktreeMoved) {
        await removeWorktree(repoDir, path).catch(() => {});
      }
      await git(['update-ref', '-d', `refs/heads/${branch}`, head], { cwd: repoDir }).catch(() => {});
      await oplog.abort(opId);
    };
    try {
      if (oldWorktree && snapshot) {
        await switchWorktreeCarrying(oldWorktree, { branch, from: snapshot.tree, to: target });
      } else {
        await excludeWorktreesDir(repoDir);
        await addWorktree(repoDir, { path, branch });
      }
    } catch (error) {
      await undo(oldWorktree !== null);
      throw error;
    }
    failpoint('reopen.after-worktree-switch');

    const stream = await inTransaction(db, async (trx) => {
      const stream = await insertReopenedStream(deps, trx, {
        repo,
        agent,
        old,
        id,
        name,
        branch,
        bufferHead,
        reapplied,
        task,
        eventMetadata: { worktree: path },
      });
      if (workspace) {
        await trx
          .updateTable('gitswarm_worktrees')
          .set({ stream_id: id })
          .where('id', '=', workspace.id)
          .execute();
      } else {
        await insertWorkspaceRecord(deps, trx, { repoId: repo.id, agentId: agent.id, streamId: id, path });
      }
      await oplog.complete(opId, trx);
      return stream;
    }).catch(async (error: unknown) => {
      await undo(true);
      throw error;
    });
    return {
      stream,
      reopened_from: old,
      worktree: path,
      head,
      reapplied: reapplied.reverse(),
      carried_over: snapshot?.dirty === true,
      task_id: task?.id ?? null,
      task_number: task?.number ?? null,
    };
  });
}

/** The stream to reopen: named, or the workspace's; reverted, and the agent's own. */
async function reopenedStream(
  db: Executor,
  repo: Repo,
  agent: Agent,
  ref: string | undefined,
  workspaceStreamId: string | undefined,
): Promise<Stream> {
  if (ref === undefined && workspaceStreamId === undefined) {
    throw new GitSwarmError('invalid_state', `Agent ${agent.name} has no workspace to reopen.`, {
      hint: `Name the reverted stream: gitswarm workspace reopen STREAM --as ${agent.name}`,
    });
  }
  const stream =
    ref !== undefined
      ? await getStream(db, repo.id, ref)
      : await getStreamById(db, workspaceStreamId as string);
  assertReopenable(stream, agent);
  return stream;
}

/** Only its author reopens a stream, and only a reverted one. */
export function assertReopenable(stream: Stream, agent: Pick<Agent, 'id' | 'name'>): void {
  if (stream.agent_id !== agent.id) {
    throw new GitSwarmError('forbidden', `Only the author of stream ${stream.name} reopens it.`, {
      hint: 'Act as its author with --as, or start your own stream: gitswarm workspace create',
      details: { stream_id: stream.id },
    });
  }
  if (stream.status !== 'reverted') {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${stream.name} is ${stream.status}; only a reverted stream is reopened.`,
      {
        hint:
          stream.status === 'merged'
            ? `Start a new one: gitswarm workspace destroy --as ${agent.name} && gitswarm workspace create --as ${agent.name}`
            : `Keep working on it: gitswarm commit -m MSG --as ${agent.name}`,
        details: { stream_id: stream.id, status: stream.status },
      },
    );
  }
}

/**
 * The live critical task of the red that reverted `old`, when the agent can take it on: it is
 * open, or the agent already holds its claim (the link then moves to the new stream).
 */
export async function linkableTask(db: Executor, repo: Repo, old: Stream, agent: Agent) {
  const task = await findOpenRedTask(db, repo, { streamId: old.id });
  if (!task) return undefined;
  if (task.status === 'open') return task;
  const claim = await db
    .selectFrom('gitswarm_task_claims')
    .select('agent_id')
    .where('task_id', '=', task.id)
    .where('status', 'in', OPEN_CLAIM_STATUSES)
    .executeTakeFirst();
  return claim?.agent_id === agent.id ? task : undefined;
}

/** `<name>-reopened`, then `-reopened-2`, … : the first name no live stream holds. */
export async function freeReopenName(db: Executor, repoId: string, oldName: string): Promise<string> {
  const base = `${oldName.slice(0, 80)}-reopened`;
  for (let n = 1; n < 1000; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    assertValidName('stream', name);
    const taken = await db
      .selectFrom('gitswarm_streams')
      .select('id')
      .where('repo_id', '=', repoId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!taken) return name;
  }
  throw new GitSwarmError('already_exists', `Stream ${oldName} was reopened too many times.`);
}

export interface RevertedMerge {
  merge_commit: string;
  revert_commit: string;
}

/** The stream's reverted merges, newest revert first (the order they are re-applied in). */
export async function revertedMerges(db: Executor, repo: Repo, old: Stream): Promise<RevertedMerge[]> {
  const rows = await db
    .selectFrom('gitswarm_merges')
    .select(['merge_commit', 'revert_commit'])
    .where('repo_id', '=', repo.id)
    .where('stream_id', '=', old.id)
    .where('revert_commit', 'is not', null)
    .orderBy('reverted_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  if (rows.length === 0) {
    throw new GitSwarmError('invalid_state', `Stream ${old.name} has no reverted merge to re-apply.`, {
      details: { stream_id: old.id },
    });
  }
  return rows.map((r) => ({ merge_commit: r.merge_commit, revert_commit: r.revert_commit as string }));
}

/**
 * The reverted change again, on `onto` (the buffer head): a revert of each revert commit, the
 * newest first, written without a checkout. A conflict refuses the reopen (nothing moved).
 */
export async function reapplyReverts(
  repoDir: string,
  input: {
    repo: Pick<Repo, 'buffer_branch'>;
    agent: Pick<Agent, 'id' | 'name'>;
    old: Pick<Stream, 'id' | 'name'>;
    reverted: readonly RevertedMerge[];
    onto: string;
  },
): Promise<{ head: string; reapplied: ReappliedMerge[] }> {
  const { agent, old } = input;
  let head = input.onto;
  const reapplied: ReappliedMerge[] = [];
  for (const merge of input.reverted) {
    const outcome = await revertOnto(repoDir, {
      commit: merge.revert_commit,
      onto: head,
      author: agentIdentity(agent),
      message: `Reapply merge ${merge.merge_commit.slice(0, 12)} of stream ${old.name}\n\nThis reverts commit ${merge.revert_commit}, which reverted merge ${merge.merge_commit}.\nReopened from stream ${old.id}.\n`,
    });
    if (outcome.kind === 'conflicted') {
      throw new GitSwarmError(
        'conflict',
        `Re-applying stream ${old.name} on ${input.repo.buffer_branch} conflicts in: ${outcome.paths.join(', ')}`,
        {
          hint: `Start a fresh stream instead (gitswarm workspace destroy --as ${agent.name} && gitswarm workspace create --as ${agent.name}) and redo the change on the current buffer.`,
          details: { paths: outcome.paths, stream_id: old.id },
        },
      );
    }
    head = outcome.commit;
    reapplied.push({ merge_commit: merge.merge_commit, revert_commit: merge.revert_commit, commit: head });
  }
  return { head, reapplied };
}

/**
 * The agent's uncommitted work (a snapshot of its worktree) merged onto the new head: the tree
 * the worktree is switched to. A conflict refuses the reopen (nothing moved).
 */
export async function carryWork(
  repoDir: string,
  snapshot: WorktreeSnapshot,
  head: string,
  worktree: string | null,
): Promise<string> {
  const carried = await carryOnto(repoDir, snapshot, head);
  if (!carried.clean) {
    throw new GitSwarmError(
      'conflict',
      `Your uncommitted changes conflict with the re-applied stream in: ${carried.paths.join(', ')}`,
      {
        hint: 'Nothing changed. Undo or set aside the conflicting edits in the worktree, then run gitswarm workspace reopen again.',
        details: { paths: carried.paths, worktree },
      },
    );
  }
  return carried.tree;
}

/**
 * The reopened stream's record in the caller's transaction: a stream on the buffer, built at
 * `bufferHead`, marked `reopened_from`, linked to the red's task, its re-applied commits recorded.
 */
export async function insertReopenedStream(
  deps: CoreDeps,
  trx: Executor,
  input: {
    repo: Repo;
    agent: Agent;
    old: Stream;
    id: string;
    name: string;
    branch: string;
    bufferHead: string;
    /** In the order applied (newest revert first). */
    reapplied: readonly ReappliedMerge[];
    task: { id: string } | undefined;
    eventMetadata?: Record<string, unknown>;
  },
): Promise<Stream> {
  const { repo, agent, old, id, task, reapplied } = input;
  const created = await insertStreamRecord(deps, trx, {
    repo,
    agent,
    id,
    name: input.name,
    branch: input.branch,
    source: old.source,
    parent: null,
    baseBranch: repo.buffer_branch,
    baseCommit: input.bufferHead,
    ...(task ? { taskRef: task.id } : {}),
    eventMetadata: {
      ...input.eventMetadata,
      reopened_from: old.id,
      reapplied: reapplied.map((r) => r.commit),
    },
  });
  const stream = await updateStream(deps, trx, created, {
    metadata: { ...created.metadata, reopened_from: old.id },
  });
  for (const commit of [...reapplied].reverse()) {
    await trx
      .insertInto('gitswarm_stream_commits')
      .values({
        id: newId(),
        stream_id: id,
        agent_id: agent.id,
        commit_hash: commit.commit,
        change_id: null,
        message: `Reapply merge ${commit.merge_commit.slice(0, 12)} of stream ${old.name}`,
        created_at: isoNow(deps.clock),
      })
      .execute();
  }
  return stream;
}

export interface ReopenDecision {
  stream_id: string;
  buffer_branch: string;
  /** The merges to re-apply, newest revert first (the order to apply them in). */
  reverted: RevertedMerge[];
  /** The name the new stream will get (it may change if another takes it meanwhile). */
  name: string;
  task_id: string | null;
  task_number: number | null;
}

/**
 * Mode B, before a connected clone does the git of a reopen: may the agent reopen the stream,
 * and which reverts to undo (the same checks as reopenWorkspace; nothing recorded).
 */
export async function decideReopen(
  deps: CoreDeps,
  input: { repo: Repo; agent: Agent; stream: Pick<Stream, 'id'> },
): Promise<ReopenDecision> {
  const db = deps.store.db;
  const repo = await getRepo(db, input.repo.id);
  await requireAction(deps, db, repo, input.agent, 'write');
  const old = await getStreamById(db, input.stream.id);
  if (old.repo_id !== repo.id) throw new GitSwarmError('stream_not_found', `No stream ${old.id} here.`);
  assertReopenable(old, input.agent);
  const reverted = await revertedMerges(db, repo, old);
  const task = await linkableTask(db, repo, old, input.agent);
  return {
    stream_id: old.id,
    buffer_branch: repo.buffer_branch,
    reverted,
    name: await freeReopenName(db, repo.id, old.name),
    task_id: task?.id ?? null,
    task_number: task?.number ?? null,
  };
}

export interface RecordReopenInput {
  repo: Repo;
  agent: Agent;
  /** The reverted stream. */
  stream: Pick<Stream, 'id'>;
  /** The id the client gave the new stream. */
  id: string;
  branch?: string;
  /** The buffer head the change was re-applied on. */
  baseCommit: string;
  /** The commits the client wrote, in the order applied (newest revert first). */
  reapplied: ReappliedMerge[];
}

/**
 * Mode B: records the reopen a connected clone made (its branch pushed): the same checks as
 * reopenWorkspace under the repository lock, the re-applied merges exactly the stream's reverted
 * ones in order, then the record as Mode A makes it. Idempotent on the new stream's id.
 */
export async function recordReopenedStream(
  deps: CoreDeps,
  input: RecordReopenInput,
): Promise<{
  stream: Stream;
  reopened_from: Stream;
  task_id: string | null;
  task_number: number | null;
  created: boolean;
}> {
  const { agent } = input;
  for (const commit of [input.baseCommit, ...input.reapplied.map((r) => r.commit)]) {
    if (!isObjectId(commit)) {
      throw new GitSwarmError('invalid_input', 'A commit must be a full commit id (40 or 64 hex digits).');
    }
  }
  const branch = input.branch ?? streamBranch(input.id);
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    await requireAction(deps, trx, repo, agent, 'write');
    const old = await getStreamById(trx, input.stream.id);
    if (old.repo_id !== repo.id) throw new GitSwarmError('stream_not_found', `No stream ${old.id} here.`);
    const existing = await trx
      .selectFrom('gitswarm_streams')
      .selectAll()
      .where('id', '=', input.id)
      .executeTakeFirst();
    if (existing) {
      if (existing.agent_id === agent.id && existing.metadata.reopened_from === old.id) {
        const task = existing.task_id
          ? await trx
              .selectFrom('gitswarm_tasks')
              .select(['id', 'number'])
              .where('id', '=', existing.task_id)
              .executeTakeFirst()
          : undefined;
        return {
          stream: existing,
          reopened_from: old,
          task_id: task?.id ?? null,
          task_number: task?.number ?? null,
          created: false,
        };
      }
      throw new GitSwarmError('already_exists', `A stream with id ${input.id} already exists.`, {
        details: { stream_id: input.id },
      });
    }
    assertReopenable(old, agent);
    const reverted = await revertedMerges(trx, repo, old);
    const matches =
      reverted.length === input.reapplied.length &&
      reverted.every(
        (r, i) =>
          r.merge_commit === input.reapplied[i]?.merge_commit &&
          r.revert_commit === input.reapplied[i]?.revert_commit,
      );
    if (!matches) {
      throw new GitSwarmError(
        'commit_mismatch',
        `The re-applied merges are not stream ${old.name}'s reverted merges, newest revert first.`,
        {
          hint: 'Ask again (POST /streams/:id/reopen/decision) and re-apply what it answers.',
          details: { stream_id: old.id, reverted },
        },
      );
    }
    const task = await linkableTask(trx, repo, old, agent);
    const stream = await insertReopenedStream(deps, trx, {
      repo,
      agent,
      old,
      id: input.id,
      name: await freeReopenName(trx, repo.id, old.name),
      branch,
      bufferHead: input.baseCommit,
      reapplied: input.reapplied,
      task,
      eventMetadata: { reported: true },
    });
    return {
      stream,
      reopened_from: old,
      task_id: task?.id ?? null,
      task_number: task?.number ?? null,
      created: true,
    };
  });
}
