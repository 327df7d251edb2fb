/**
 * `gitswarm workspace reopen` on a connected clone: Mode A's reopen (core/streams/workspace-reopen.ts)
 * with the server deciding and recording. The server answers whether the agent may reopen the
 * stream and which reverts to undo (`POST /streams/:id/reopen/decision`); the clone writes the
 * re-applied change on the remote's buffer head (the core's reapplyReverts, worktree-free),
 * carries the agent's uncommitted work over into the same worktree, pushes the new branch
 * (create-only) and reports it (`POST /streams/:id/reopen`), where the checks run again. A
 * refusal at any step takes back what was made, as `workspace create` does.
 */
import { existsSync } from 'node:fs';
import { excludeWorktreesDir, worktreePath } from '../core/streams/workspace-paths.js';
import {
  carryWork,
  type ReappliedMerge,
  type ReopenDecision,
  reapplyReverts,
} from '../core/streams/workspace-reopen.js';
import { restoreWorktree, snapshotWorktree, switchWorktreeCarrying } from '../engine/carry-over.js';
import { casDelete, casPush, createLocalBranch, deleteLocalBranch, fetchBranch } from '../engine/remote.js';
import { streamBranch } from '../engine/stream-branches.js';
import { addWorktree, removeWorktree } from '../engine/worktrees.js';
import { GitSwarmError } from '../errors.js';
import type { Stream } from '../store/index.js';
import { newStreamId } from '../util/ids.js';
import { getServerStream, type RemoteStreamsDeps, resolveServerStream } from './streams.js';
import { findLocalWorkspace } from './workspaces.js';

export interface RemoteReopenResult {
  stream: Stream;
  reopened_from: Stream;
  worktree: string;
  head: string;
  reapplied: ReappliedMerge[];
  carried_over: boolean;
  task_id: string | null;
  task_number: number | null;
}

/** Reopens the agent's reverted stream (its workspace's, or the one named) as a new stream. */
export async function reopenRemoteWorkspace(
  deps: RemoteStreamsDeps,
  input: { stream?: string },
): Promise<RemoteReopenResult> {
  const agent = await deps.actor();
  const { root, remote } = deps;
  const workspace = await findLocalWorkspace(deps, agent.name);
  if (input.stream === undefined && !workspace) {
    throw new GitSwarmError('invalid_state', `Agent ${agent.name} has no workspace to reopen.`, {
      hint: `Name the reverted stream: gitswarm workspace reopen STREAM --as ${agent.name}`,
    });
  }
  const old =
    input.stream !== undefined
      ? await resolveServerStream(deps, input.stream)
      : await getServerStream(deps, (workspace as { streamId: string }).streamId);
  if (workspace && workspace.streamId !== old.id) {
    throw new GitSwarmError(
      'invalid_state',
      `Agent ${agent.name} has a workspace on another stream at ${workspace.path}.`,
      {
        hint: `Commit or finish it, then: gitswarm workspace destroy --as ${agent.name} && gitswarm workspace reopen ${old.id} --as ${agent.name}`,
        details: { stream_id: workspace.streamId, worktree: workspace.path },
      },
    );
  }
  const decision = await deps.server.post<ReopenDecision>(
    `/streams/${encodeURIComponent(old.id)}/reopen/decision`,
    {},
  );

  // The change again, on the remote's buffer head (the reverts are on it: the fetch brings them).
  const bufferHead = await fetchBranch(root, decision.buffer_branch, { remote });
  if (bufferHead === null) {
    throw new GitSwarmError('not_found', `The remote "${remote}" has no branch ${decision.buffer_branch}.`);
  }
  const { head, reapplied } = await reapplyReverts(root, {
    repo: { buffer_branch: decision.buffer_branch },
    agent,
    old,
    reverted: decision.reverted,
    onto: bufferHead,
  });

  // The agent's uncommitted work, merged onto the new head (refused on conflict: nothing moved).
  const oldWorktree = workspace && existsSync(workspace.path) ? workspace.path : null;
  const snapshot = oldWorktree ? await snapshotWorktree(oldWorktree) : null;
  const target = snapshot?.dirty ? await carryWork(root, snapshot, head, oldWorktree) : head;
  const path = oldWorktree ?? worktreePath({ id: deps.repoId, path: root }, agent.name);
  if (!oldWorktree && existsSync(path)) {
    throw new GitSwarmError('invalid_state', `A folder already exists where the worktree goes: ${path}`, {
      hint: `Remove it first: git worktree remove --force ${path}`,
      details: { worktree: path },
    });
  }

  const id = newStreamId();
  const branch = streamBranch(id);
  const ref = `refs/heads/${branch}`;
  await createLocalBranch(root, branch, head);
  let worktreeMoved = false;
  let pushed = false;
  try {
    if (oldWorktree && snapshot) {
      worktreeMoved = true;
      await switchWorktreeCarrying(oldWorktree, { branch, from: snapshot.tree, to: target });
    } else {
      await excludeWorktreesDir(root);
      await addWorktree(root, { path, branch });
      worktreeMoved = true;
    }
    const push = await casPush(root, { ref, oid: head, expected: 'absent' }, { remote });
    if (push.status === 'rejected') {
      throw new GitSwarmError('already_exists', `Branch ${branch} already exists on the remote "${remote}".`);
    }
    pushed = true;
    const recorded = await deps.server.post<{
      stream: Stream;
      reopened_from: Stream;
      task_id: string | null;
      task_number: number | null;
    }>(`/streams/${encodeURIComponent(old.id)}/reopen`, {
      id,
      branch,
      base_commit: bufferHead,
      reapplied,
    });
    return {
      stream: recorded.stream,
      reopened_from: recorded.reopened_from,
      worktree: path,
      head,
      reapplied: [...reapplied].reverse(),
      carried_over: snapshot?.dirty === true,
      task_id: recorded.task_id,
      task_number: recorded.task_number,
    };
  } catch (error) {
    // Undo, in reverse, whatever was made (best effort: the error is what matters).
    if (pushed) await casDelete(root, { ref, expected: head }, { remote }).catch(() => {});
    if (worktreeMoved && oldWorktree && snapshot && workspace) {
      // Back on the old branch with the files as they were.
      await restoreWorktree(oldWorktree, workspace.branch, snapshot);
    } else if (worktreeMoved) {
      await removeWorktree(root, path).catch(() => {});
    }
    await deleteLocalBranch(root, branch, head).catch(() => false);
    throw error;
  }
}
