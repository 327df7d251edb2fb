/**
 * Workspaces: an agent's stream and its worktree at `.worktrees/<agent>/`, one per agent per
 * repository. Creating one, committing in it (which cascades to dependent streams and, in swarm
 * mode, merges into the buffer at once) and destroying it.
 */
import { existsSync } from 'node:fs';
import { commitAll } from '../engine/commit.js';
import { git } from '../engine/git.js';
import { checkMerge } from '../engine/merge.js';
import { assertValidName } from '../engine/names.js';
import { OpLog } from '../engine/oplog.js';
import { createBranchAt, streamBranch } from '../engine/stream-branches.js';
import { addWorktree, isWorktreeDirty, removeWorktree } from '../engine/worktrees.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stream,
  type Worktree,
  withRepoLock,
} from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { failpoint } from '../util/failpoints.js';
import { newId, newStreamId } from '../util/ids.js';
import { requireAction } from './access.js';
import { recordActivity } from './activity.js';
import type { CoreDeps } from './deps.js';
import { getRepo } from './repos.js';
import {
  branchHead,
  type CascadeOutcome,
  cascadeDependents,
  needsRebase,
  rebaseStreamOntoBase,
  recoveredStatus,
  reparentChildren,
} from './stream-cascade.js';
import { mergeStream } from './stream-merge.js';
import { assertStreamNameFree, getFromStream, getLiveParent, insertStreamRecord } from './stream-records.js';
import { getStreamById, isLiveStream, updateStream } from './streams.js';
import { agentIdentity, excludeWorktreesDir, repoRoot, worktreePath } from './workspace-paths.js';

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
    const id = newStreamId();
    const name = input.name ?? `${agent.name.slice(0, 90)}-${id.slice(0, 6)}`;
    assertValidName('stream', name);
    await assertStreamNameFree(deps.store.db, repo.id, name, 'Choose another name with --name.');
    const parent =
      input.dependsOn === undefined
        ? null
        : await getLiveParent(
            deps.store.db,
            repo.id,
            input.dependsOn,
            'build on the buffer instead (leave out --depends-on)',
          );
    const from =
      input.fromStream === undefined
        ? null
        : await getFromStream(deps.store.db, repo.id, input.fromStream, input.dependsOn);
    const baseBranch = parent ? parent.branch : repo.buffer_branch;
    const baseCommit = await branchHead(repoDir, baseBranch);
    const startAt = from ? await branchHead(repoDir, from.branch) : baseCommit;
    const branch = streamBranch(id);
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    const opId = await createBranchAt(repoDir, {
      branch,
      at: startAt,
      oplog,
      streamId: id,
      agentId: agent.id,
    });
    const undoBranch = async () => {
      await git(['update-ref', '-d', `refs/heads/${branch}`, startAt], { cwd: repoDir }).catch(() => {});
      await oplog.abort(opId);
    };
    try {
      await excludeWorktreesDir(repoDir);
      await addWorktree(repoDir, { path, branch });
    } catch (error) {
      await undoBranch();
      throw error;
    }
    failpoint('stream-create.after-worktree');
    try {
      const stream = await inTransaction(deps.store.db, async (trx) => {
        const stream = await insertStreamRecord(deps, trx, {
          repo,
          agent,
          id,
          name,
          branch,
          source: input.source ?? 'cli',
          parent,
          baseBranch,
          baseCommit,
          fromStream: from,
          ...(input.taskRef !== undefined ? { taskRef: input.taskRef } : {}),
          eventMetadata: { worktree: path },
        });
        await insertWorkspaceRecord(deps, trx, { repoId: repo.id, agentId: agent.id, streamId: id, path });
        await oplog.complete(opId, trx);
        return stream;
      });
      return { stream, worktree: path };
    } catch (error) {
      await removeWorktree(repoDir, path).catch(() => {});
      await undoBranch();
      throw error;
    }
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

/** A repository's workspaces with their agents and streams. */
export async function listWorkspaces(db: Executor, repoId: string): Promise<ListedWorkspace[]> {
  return db
    .selectFrom('gitswarm_worktrees as w')
    .innerJoin('gitswarm_agents as a', 'a.id', 'w.agent_id')
    .innerJoin('gitswarm_streams as s', 's.id', 'w.stream_id')
    .selectAll('w')
    .select(['a.name as agent_name', 's.name as stream_name', 's.status as stream_status', 's.branch'])
    .where('w.repo_id', '=', repoId)
    .orderBy('w.created_at')
    .execute();
}

export interface CommitWorkspaceInput {
  repo: Repo;
  agent: Agent;
  message: string;
}

export interface CommitWorkspaceResult {
  commit: string;
  change_id: string;
  stream_id: string;
  merged: boolean;
  /** The buffer head after the swarm-mode merge. */
  buffer_head?: string;
  /** What happened to the streams built on this one. */
  cascade: CascadeOutcome[];
}

const MAX_MESSAGE_LENGTH = 20_000;

/**
 * Commits everything in the agent's worktree (with a Change-Id), finishes a deferred rebase,
 * cascades to dependent streams and, in swarm mode, merges into the buffer.
 */
export async function commitWorkspace(
  deps: CoreDeps,
  input: CommitWorkspaceInput,
): Promise<CommitWorkspaceResult> {
  const { agent } = input;
  const message = input.message.trim();
  if (message === '' || message.length > MAX_MESSAGE_LENGTH || message.includes('\0')) {
    throw new GitSwarmError(
      'invalid_input',
      `A commit message must be non-empty text of at most ${MAX_MESSAGE_LENGTH} characters.`,
    );
  }
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    const workspace = await getWorkspace(deps.store.db, repo.id, agent);
    let stream = await getStreamById(deps.store.db, workspace.stream_id);
    await requireAction(deps, deps.store.db, repo, agent, 'write');
    const continuesSwarm = stream.status === 'merged' && repo.merge_mode === 'swarm';
    if (!isLiveStream(stream) && !continuesSwarm) {
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
    const bufferRef = `refs/heads/${repo.buffer_branch}`;
    const committed = await commitAll(workspace.path, {
      message,
      author: agentIdentity(agent),
      // The swarm merge and a conflict recheck want the buffer head: read with the commit.
      alsoRead: [bufferRef],
    });
    if (!committed) {
      throw new GitSwarmError('nothing_to_commit', `Nothing to commit in ${workspace.path}`);
    }
    let head = committed.commit;
    const rebased = needsRebase(stream);
    if (rebased) {
      await rebaseStreamOntoBase(deps, {
        repo,
        stream,
        worktree: workspace.path,
        trigger: 'commit',
        agentId: agent.id,
      });
      stream = await getStreamById(deps.store.db, stream.id);
      head = await branchHead(repoDir, stream.branch);
    }
    const mergeConflict =
      stream.status === 'conflicted' && stream.conflict?.operation === 'merge' ? stream.conflict : null;
    const bufferHead = committed.refs[bufferRef] ?? (await branchHead(repoDir, repo.buffer_branch));
    const recheck = mergeConflict ? await checkMerge(repoDir, bufferHead, head) : null;
    await inTransaction(deps.store.db, async (trx) => {
      const current = await getStreamById(trx, stream.id);
      await trx
        .insertInto('gitswarm_stream_commits')
        .values({
          id: newId(),
          stream_id: stream.id,
          agent_id: agent.id,
          commit_hash: head,
          change_id: committed.changeId,
          message,
          created_at: isoNow(deps.clock),
        })
        .execute();
      if (continuesSwarm) {
        await updateStream(deps, trx, current, { status: 'active' });
      } else if (recheck?.clean) {
        await updateStream(deps, trx, current, { status: recoveredStatus(current), conflict: null });
      } else if (recheck && !recheck.clean && mergeConflict) {
        await updateStream(deps, trx, current, {
          conflict: { ...mergeConflict, paths: recheck.paths, detected_at: isoNow(deps.clock) },
        });
      }
      await recordActivity(deps, trx, {
        event: 'stream.committed',
        repoId: repo.id,
        agentId: agent.id,
        targetType: 'stream',
        targetId: stream.id,
        metadata: {
          commit: head,
          change_id: committed.changeId,
          subject: message.split('\n')[0],
          ...(recheck ? { conflict_resolved: recheck.clean } : {}),
        },
      });
    });
    const result = { commit: head, change_id: committed.changeId, stream_id: stream.id };
    if (repo.merge_mode === 'swarm') {
      try {
        const merged = await mergeStream(deps, {
          repo,
          stream,
          actor: agent,
          trigger: 'swarm',
          // A deferred rebase replaced the commit: then the merge reads the heads itself.
          ...(rebased ? {} : { committed: { head, bufferHead } }),
        });
        return { ...result, merged: true, buffer_head: merged.buffer_head, cascade: merged.cascade };
      } catch (error) {
        if (!isGitSwarmError(error, 'conflict')) throw error;
        await cascadeDependents(deps, repo, stream.id, agent.id);
        throw new GitSwarmError(
          'conflict',
          `Committed ${head.slice(0, 12)}, but merging it into ${repo.buffer_branch} conflicts in: ${((error.details?.paths as string[]) ?? []).join(', ')}`,
          { hint: error.hint, details: { ...error.details, ...result, merged: false } },
        );
      }
    }
    const cascade = await cascadeDependents(deps, repo, stream.id, agent.id);
    return { ...result, merged: false, cascade };
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
