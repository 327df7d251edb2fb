/**
 * After a revert, the author's way forward: `workspace reopen` starts a new stream from the
 * buffer head with the reverted change re-applied (a revert of each revert commit, written by the
 * engine without a checkout of the buffer), carries the agent's uncommitted work over into the
 * same worktree, and links the stream to the critical task of the red build. The reverted stream
 * stays reverted. Merging the new stream hands the task's claim in; the next green stabilization
 * that contains that merge completes the task (red-tasks.ts).
 */
import { existsSync } from 'node:fs';
import { carryOnto, snapshotWorktree, switchWorktreeCarrying } from '../engine/carry-over.js';
import { git } from '../engine/git.js';
import { assertValidName } from '../engine/names.js';
import { OpLog } from '../engine/oplog.js';
import { revertOnto } from '../engine/revert.js';
import { createBranchAt, streamBranch } from '../engine/stream-branches.js';
import { addWorktree, removeWorktree } from '../engine/worktrees.js';
import { GitSwarmError } from '../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stream,
  withRepoLock,
} from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { failpoint } from '../util/failpoints.js';
import { newId, newStreamId } from '../util/ids.js';
import { requireAction } from './access.js';
import type { CoreDeps } from './deps.js';
import { findOpenRedTask } from './red-tasks.js';
import { getRepo } from './repos.js';
import { branchHead } from './stream-cascade.js';
import { insertStreamRecord } from './stream-records.js';
import { getStream, getStreamById, updateStream } from './streams.js';
import { OPEN_CLAIM_STATUSES } from './task-claims.js';
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
    const reverted = await db
      .selectFrom('gitswarm_merges')
      .select(['merge_commit', 'revert_commit'])
      .where('repo_id', '=', repo.id)
      .where('stream_id', '=', old.id)
      .where('revert_commit', 'is not', null)
      .orderBy('reverted_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    if (reverted.length === 0) {
      throw new GitSwarmError('invalid_state', `Stream ${old.name} has no reverted merge to re-apply.`, {
        details: { stream_id: old.id },
      });
    }

    // The change again, on the buffer head: the newest revert undone first.
    const bufferHead = await branchHead(repoDir, repo.buffer_branch);
    let head = bufferHead;
    const reapplied: ReappliedMerge[] = [];
    for (const merge of reverted) {
      const revertCommit = merge.revert_commit as string;
      const outcome = await revertOnto(repoDir, {
        commit: revertCommit,
        onto: head,
        author: agentIdentity(agent),
        message: `Reapply merge ${merge.merge_commit.slice(0, 12)} of stream ${old.name}\n\nThis reverts commit ${revertCommit}, which reverted merge ${merge.merge_commit}.\nReopened from stream ${old.id}.\n`,
      });
      if (outcome.kind === 'conflicted') {
        throw new GitSwarmError(
          'conflict',
          `Re-applying stream ${old.name} on ${repo.buffer_branch} conflicts in: ${outcome.paths.join(', ')}`,
          {
            hint: `Start a fresh stream instead (gitswarm workspace destroy --as ${agent.name} && gitswarm workspace create --as ${agent.name}) and redo the change on the current buffer.`,
            details: { paths: outcome.paths, stream_id: old.id },
          },
        );
      }
      head = outcome.commit;
      reapplied.push({ merge_commit: merge.merge_commit, revert_commit: revertCommit, commit: head });
    }

    // The agent's uncommitted work, merged onto the new head (refused on conflict: nothing moved).
    const oldWorktree = workspace && existsSync(workspace.path) ? workspace.path : null;
    const snapshot = oldWorktree ? await snapshotWorktree(oldWorktree) : null;
    let target = head;
    if (snapshot?.dirty) {
      const carried = await carryOnto(repoDir, snapshot, head);
      if (!carried.clean) {
        throw new GitSwarmError(
          'conflict',
          `Your uncommitted changes conflict with the re-applied stream in: ${carried.paths.join(', ')}`,
          {
            hint: 'Nothing changed. Undo or set aside the conflicting edits in the worktree, then run gitswarm workspace reopen again.',
            details: { paths: carried.paths, worktree: oldWorktree },
          },
        );
      }
      target = carried.tree;
    }

    const task = await linkableTask(db, repo, old, agent);
    const id = newStreamId();
    const name = await freeName(db, repo.id, old.name);
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
        // Back on the old branch with the files as they were (best effort: the error is what matters).
        const now = await snapshotWorktree(oldWorktree).catch(() => null);
        if (now) {
          await switchWorktreeCarrying(oldWorktree, {
            branch: old.branch,
            from: now.tree,
            to: snapshot.tree,
          }).catch(() => {});
        }
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
      const created = await insertStreamRecord(deps, trx, {
        repo,
        agent,
        id,
        name,
        branch,
        source: old.source,
        parent: null,
        baseBranch: repo.buffer_branch,
        baseCommit: bufferHead,
        ...(task ? { taskRef: task.id } : {}),
        eventMetadata: { worktree: path, reopened_from: old.id, reapplied: reapplied.map((r) => r.commit) },
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
  return stream;
}

/**
 * The live critical task of the red that reverted `old`, when the agent can take it on: it is
 * open, or the agent already holds its claim (the link then moves to the new stream).
 */
async function linkableTask(db: Executor, repo: Repo, old: Stream, agent: Agent) {
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
async function freeName(db: Executor, repoId: string, oldName: string): Promise<string> {
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
