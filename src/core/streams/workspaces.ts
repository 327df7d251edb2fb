/**
 * Workspaces: an agent's stream and its worktree at `.worktrees/<agent>/`, one per agent per
 * repository. Creating one, committing in it (which cascades to dependent streams and, in swarm
 * mode, merges into the buffer at once) and destroying it.
 */
import { existsSync } from 'node:fs';
import { addWorktree, isWorktreeDirty, removeWorktree } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stream,
  type Worktree,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from '../repos/repos.js';
import { reparentChildren } from './stream-cascade.js';
import {
  assertCommitMessage,
  type CommitStreamResult,
  commitStreamWorktree,
  continuesSwarmStream,
} from './stream-commit.js';
import { createStream } from './stream-create.js';
import { getStreamById, isLiveStream, updateStream } from './streams.js';
import { excludeWorktreesDir, repoRoot, worktreePath } from './workspace-paths.js';

export interface CreateWorkspaceInput {
  repo: Repo;
  agent: Agent;
  /** The stream's name; default: the agent's name and a short suffix. */
  name?: string;
  /** Link the agent's claim on this task (id or number) to the new stream. */
  taskRef?: string;
  /** Build on another stream (id, name or branch) instead of the buffer. */
  dependsOn?: string;
  /** Start at another stream's head, its commits carried over, building on the buffer. */
  fromStream?: string;
  source?: Stream['source'];
}

export interface CreateWorkspaceResult {
  stream: Stream;
  worktree: string;
}

/** Creates a stream from the buffer head (or a parent stream's head) and the agent's worktree on it. */
export async function createWorkspace(
  deps: CoreDeps,
  input: CreateWorkspaceInput,
): Promise<CreateWorkspaceResult> {
  const { agent } = input;
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    await requireAction(deps, deps.store.db, repo, agent, 'write');
    const existing = await findWorkspace(deps.store.db, repo.id, agent.id);
    if (existing) {
      const current = await getStreamById(deps.store.db, existing.stream_id);
      throw new GitSwarmError(
        'invalid_state',
        `Agent ${agent.name} already has a workspace at ${existing.path}`,
        {
          hint:
            current.status === 'reverted'
              ? `Its stream ${current.name} was reverted; go on with it (the change re-applied, your uncommitted work kept): gitswarm workspace reopen --as ${agent.name}. Or destroy it first: gitswarm workspace destroy --as ${agent.name}`
              : `Destroy it first: gitswarm workspace destroy --as ${agent.name}`,
          details: { stream_id: existing.stream_id, worktree: existing.path },
        },
      );
    }
    const path = worktreePath(repo, agent.name);
    if (existsSync(path)) {
      throw new GitSwarmError('invalid_state', `A folder already exists where the worktree goes: ${path}`, {
        hint: `Remove it first: git worktree remove --force ${path}`,
        details: { worktree: path },
      });
    }
    let undoWorktree = false;
    const stream = await createStream(deps, {
      repo,
      agent,
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.taskRef !== undefined ? { taskRef: input.taskRef } : {}),
      ...(input.dependsOn !== undefined ? { dependsOn: input.dependsOn } : {}),
      ...(input.fromStream !== undefined ? { fromStream: input.fromStream } : {}),
      source: input.source ?? 'cli',
      nameHint: 'Choose another name with --name.',
      parentHint: 'build on the buffer instead (leave out --depends-on)',
      eventMetadata: { worktree: path },
      async prepare({ branch }) {
        await excludeWorktreesDir(repoDir);
        await addWorktree(repoDir, { path, branch });
        undoWorktree = true;
      },
      async record(trx, stream) {
        await insertWorkspaceRecord(deps, trx, {
          repoId: repo.id,
          agentId: agent.id,
          streamId: stream.id,
          path,
        });
      },
      async undo() {
        if (undoWorktree) await removeWorktree(repoDir, path).catch(() => {});
      },
    });
    return { stream, worktree: path };
  });
}

/** Records an agent's worktree as the workspace of a stream. */
export async function insertWorkspaceRecord(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; agentId: string; streamId: string; path: string },
): Promise<void> {
  await db
    .insertInto('gitswarm_worktrees')
    .values({
      id: newId(),
      repo_id: input.repoId,
      agent_id: input.agentId,
      stream_id: input.streamId,
      path: input.path,
      created_at: isoNow(deps.clock),
    })
    .execute();
}

/** The agent's workspace in a repository, if it has one. */
export async function findWorkspace(
  db: Executor,
  repoId: string,
  agentId: string,
): Promise<Worktree | undefined> {
  return db
    .selectFrom('gitswarm_worktrees')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
}

/** The agent's workspace, or `invalid_state` with the command that creates one. */
export async function getWorkspace(db: Executor, repoId: string, agent: Agent): Promise<Worktree> {
  const workspace = await findWorkspace(db, repoId, agent.id);
  if (!workspace) {
    throw new GitSwarmError('invalid_state', `Agent ${agent.name} has no workspace.`, {
      hint: `Create one with: gitswarm workspace create --as ${agent.name}`,
    });
  }
  return workspace;
}

export type ListedWorkspace = Worktree & {
  agent_name: string;
  stream_name: string;
  stream_status: Stream['status'];
  branch: string;
};

/** A repository's workspaces with their agents and streams, oldest first; at most `limit` when given. */
export async function listWorkspaces(
  db: Executor,
  repoId: string,
  options: { limit?: number } = {},
): Promise<ListedWorkspace[]> {
  let q = db
    .selectFrom('gitswarm_worktrees as w')
    .innerJoin('gitswarm_agents as a', 'a.id', 'w.agent_id')
    .innerJoin('gitswarm_streams as s', 's.id', 'w.stream_id')
    .selectAll('w')
    .select(['a.name as agent_name', 's.name as stream_name', 's.status as stream_status', 's.branch'])
    .where('w.repo_id', '=', repoId)
    .orderBy('w.created_at')
    .orderBy('w.id');
  if (options.limit !== undefined) q = q.limit(options.limit);
  return q.execute();
}

export interface CommitWorkspaceInput {
  repo: Repo;
  agent: Agent;
  message: string;
}

export type CommitWorkspaceResult = CommitStreamResult;

/**
 * Commits everything in the agent's worktree (with a Change-Id), finishes a deferred rebase,
 * cascades to dependent streams and, in swarm mode, merges into the buffer.
 */
export async function commitWorkspace(
  deps: CoreDeps,
  input: CommitWorkspaceInput,
): Promise<CommitWorkspaceResult> {
  const { agent } = input;
  const message = assertCommitMessage(input.message);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    repoRoot(repo);
    const workspace = await getWorkspace(deps.store.db, repo.id, agent);
    const stream = await getStreamById(deps.store.db, workspace.stream_id);
    await requireAction(deps, deps.store.db, repo, agent, 'write');
    if (!isLiveStream(stream) && !continuesSwarmStream(repo, stream)) {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.name} is ${stream.status}; it takes no more commits.`,
        {
          hint:
            stream.status === 'reverted'
              ? `Its merge was reverted. Go on with your work (kept, uncommitted changes too) on a new stream with the change re-applied: gitswarm workspace reopen --as ${agent.name}`
              : `Start a new one: gitswarm workspace destroy --as ${agent.name} && gitswarm workspace create --as ${agent.name}`,
          details: { stream_id: stream.id, status: stream.status },
        },
      );
    }
    return commitStreamWorktree(deps, { repo, agent, stream, worktree: workspace.path, message });
  });
}

export interface DestroyWorkspaceInput {
  repo: Repo;
  agent: Agent;
  /** Also abandon the stream (and discard uncommitted changes). */
  abandon?: boolean;
}

export interface DestroyWorkspaceResult {
  stream_id: string;
  worktree: string;
  abandoned: boolean;
}

/**
 * Removes the agent's worktree. Uncommitted changes are refused unless the stream is abandoned
 * with it; the stream's branch stays (a kept stream can still be reviewed and merged).
 */
export async function destroyWorkspace(
  deps: CoreDeps,
  input: DestroyWorkspaceInput,
): Promise<DestroyWorkspaceResult> {
  const { agent } = input;
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    const workspace = await getWorkspace(deps.store.db, repo.id, agent);
    const stream = await getStreamById(deps.store.db, workspace.stream_id);
    const abandon = input.abandon === true && isLiveStream(stream);
    if (!input.abandon && existsSync(workspace.path) && (await isWorktreeDirty(workspace.path))) {
      throw new GitSwarmError('worktree_dirty', `The worktree ${workspace.path} has uncommitted changes.`, {
        hint:
          stream.status === 'reverted'
            ? `Stream ${stream.name} was reverted; keep these changes on a new stream with: gitswarm workspace reopen --as ${agent.name} (or discard them: gitswarm workspace destroy --as ${agent.name} --abandon)`
            : `Commit them (gitswarm commit -m MSG --as ${agent.name}) or discard them with: gitswarm workspace destroy --as ${agent.name} --abandon`,
        details: { worktree: workspace.path },
      });
    }
    await removeWorktree(repoDir, workspace.path);
    await inTransaction(deps.store.db, async (trx) => {
      await trx.deleteFrom('gitswarm_worktrees').where('id', '=', workspace.id).execute();
      if (abandon) {
        await updateStream(deps, trx, stream, { status: 'abandoned' });
        await recordActivity(deps, trx, {
          event: 'stream.abandoned',
          repoId: repo.id,
          agentId: agent.id,
          targetType: 'stream',
          targetId: stream.id,
          metadata: { name: stream.name },
        });
      }
      await recordActivity(deps, trx, {
        event: 'workspace.destroyed',
        repoId: repo.id,
        agentId: agent.id,
        targetType: 'stream',
        targetId: stream.id,
        metadata: { worktree: workspace.path, abandoned: abandon },
      });
    });
    // Streams built on it drop its commits and build on the buffer.
    if (abandon) await reparentChildren(deps, repo, stream.id, agent.id, 'parent_abandoned');
    return { stream_id: stream.id, worktree: workspace.path, abandoned: abandon };
  });
}
