/**
 * Mode B cascade: after a commit, or a merge of the stream into the buffer, the live streams built on it whose worktrees are in this clone
 * are replayed onto its new head (parents first, as in Mode A), their branches pushed, and the
 * result reported to the server as their author (whose key this machine holds: the server takes
 * a stream's commits and conflicts only from its author). A dependent in another clone is that
 * clone's to rebase; one whose author's key is not saved here, or whose worktree has uncommitted
 * changes, is left as it is and says why.
 */
import { basename, dirname, join } from 'node:path';
import { WORKTREES_DIR } from '../core/streams/workspace-paths.js';
import { readChangeId } from '../engine/change-id.js';
import { gitOut } from '../engine/git.js';
import type { OpLog } from '../engine/oplog.js';
import { rebaseBranch } from '../engine/rebase.js';
import { worktreeOfBranch } from '../engine/worktree-list.js';
import { isWorktreeDirty } from '../engine/worktrees.js';
import { isGitSwarmError } from '../errors.js';
import type { Stream } from '../store/index.js';
import { listServerStreams, type RemoteStreamsDeps, type StreamsServer } from './streams.js';
import { publishStreamBranch } from './workspaces.js';

export type RemoteCascadeOutcome =
  | { stream_id: string; outcome: 'rebased'; head: string; onto: string }
  | { stream_id: string; outcome: 'up_to_date'; head: string }
  | { stream_id: string; outcome: 'deferred'; reason: 'worktree_dirty' | 'no_key' }
  | { stream_id: string; outcome: 'conflicted'; paths: string[]; onto: string };

/** The server as another agent of this machine (with its saved key). */
export type StreamsServerAs = StreamsServer & { patch<T>(path: string, body: unknown): Promise<T> };

export interface RemoteCascadeDeps extends RemoteStreamsDeps {
  /** The server acting as `agentName` with its key saved on this machine, or null when none is. */
  serverAs(agentName: string): StreamsServerAs | null;
  /** The clone's operation log (a rebase moves a local ref through it, as in Mode A). */
  oplog: OpLog;
}

const LIVE: readonly Stream['status'][] = ['active', 'in_review', 'conflicted'];

/**
 * Replays this clone's dependents of `parent` onto `parentHead` (its new head after a commit, or
 * its merge commit on the buffer after a merge: the server then has them build on the buffer),
 * transitively.
 */
export async function cascadeLocalDependents(
  deps: RemoteCascadeDeps,
  parent: Pick<Stream, 'id'>,
  parentHead: string,
  streams?: Stream[],
): Promise<RemoteCascadeOutcome[]> {
  const all = streams ?? (await listServerStreams(deps));
  const outcomes: RemoteCascadeOutcome[] = [];
  for (const child of all.filter((s) => s.parent_stream_id === parent.id && LIVE.includes(s.status))) {
    const worktree = await worktreeOfBranch(deps.root, child.branch);
    if (worktree === null || dirname(worktree) !== join(deps.root, WORKTREES_DIR)) continue;
    const server = deps.serverAs(basename(worktree));
    if (server === null) {
      outcomes.push({ stream_id: child.id, outcome: 'deferred', reason: 'no_key' });
      continue;
    }
    if (await isWorktreeDirty(worktree)) {
      outcomes.push({ stream_id: child.id, outcome: 'deferred', reason: 'worktree_dirty' });
      continue;
    }
    const rebased = await rebaseBranch(deps.root, {
      branch: child.branch,
      onto: parentHead,
      upstream: child.base_commit,
      oplog: deps.oplog,
      streamId: child.id,
      worktree,
    });
    const path = `/streams/${encodeURIComponent(child.id)}`;
    if (rebased.kind === 'conflicted') {
      await server
        .patch(path, {
          status: 'conflicted',
          conflict: { paths: rebased.paths, onto: parentHead, operation: 'rebase' },
        })
        .catch((error: unknown) => {
          // Already conflicted: the server keeps the first report; the paths are in the outcome.
          if (!isGitSwarmError(error, 'invalid_state')) throw error;
        });
      outcomes.push({ stream_id: child.id, outcome: 'conflicted', paths: rebased.paths, onto: parentHead });
      continue;
    }
    if (rebased.kind === 'up_to_date') {
      outcomes.push({ stream_id: child.id, outcome: 'up_to_date', head: rebased.head });
      continue;
    }
    await deps.oplog.complete(rebased.opId);
    await publishStreamBranch(deps, child.branch);
    const message = await gitOut(['log', '-1', '--format=%B', rebased.head], { cwd: deps.root });
    const changeId = readChangeId(message);
    await server.post(`${path}/commits`, {
      commit: rebased.head,
      ...(changeId ? { change_id: changeId } : {}),
      message: message.trim(),
    });
    outcomes.push({ stream_id: child.id, outcome: 'rebased', head: rebased.head, onto: parentHead });
    outcomes.push(...(await cascadeLocalDependents(deps, child, rebased.head, all)));
  }
  return outcomes;
}
