/**
 * Committing a stream's worktree: everything in it, with a Change-Id; then a deferred rebase is
 * finished, a merge conflict rechecked, dependent streams cascaded and, in swarm mode, the stream
 * merged into the buffer. `gitswarm commit` (Mode A, the agent's `.worktrees/<agent>`) and
 * `POST /streams/:id/commits` (Mode C, the server's worktree of the stream) both call it.
 */
import { commitAll } from '../../engine/commit.js';
import { markedConflictPaths } from '../../engine/conflicts.js';
import { checkMerge } from '../../engine/merge.js';
import { GitSwarmError, isGitSwarmError } from '../../errors.js';
import { type Agent, inTransaction, type Repo, type Stream, withRepoLock } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import {
  branchHead,
  type CascadeOutcome,
  cascadeDependents,
  needsRebase,
  rebaseStreamOntoBase,
  recoveredStatus,
} from './stream-cascade.js';
import { mergeStream } from './stream-merge.js';
import { getStreamById, updateStream } from './streams.js';
import { agentIdentity, repoRoot } from './workspace-paths.js';

export interface CommitStreamResult {
  commit: string;
  change_id: string;
  stream_id: string;
  merged: boolean;
  /** The buffer head after the swarm-mode merge. */
  buffer_head?: string;
  /** What happened to the streams built on this one. */
  cascade: CascadeOutcome[];
}

export const MAX_COMMIT_MESSAGE_LENGTH = 20_000;

/** The message trimmed, or `invalid_input`. */
export function assertCommitMessage(value: string): string {
  const message = value.trim();
  if (message === '' || message.length > MAX_COMMIT_MESSAGE_LENGTH || message.includes('\0')) {
    throw new GitSwarmError(
      'invalid_input',
      `A commit message must be non-empty text of at most ${MAX_COMMIT_MESSAGE_LENGTH} characters.`,
    );
  }
  return message;
}

/** A stream merged in swarm mode goes on taking commits (each merges again). */
export function continuesSwarmStream(
  repo: Pick<Repo, 'merge_mode'>,
  stream: Pick<Stream, 'status'>,
): boolean {
  return stream.status === 'merged' && repo.merge_mode === 'swarm';
}

export interface CommitStreamWorktreeInput {
  /** Read under the repository's lock. */
  repo: Repo;
  agent: Agent;
  /** Live, or continuing in swarm mode: the caller checked it and the agent's access. */
  stream: Stream;
  /** The stream's worktree, on its branch. */
  worktree: string;
  /** Checked with `assertCommitMessage`. */
  message: string;
}

/** Commits the stream's worktree; see the module comment. Call under the repository's lock. */
export async function commitStreamWorktree(
  deps: CoreDeps,
  input: CommitStreamWorktreeInput,
): Promise<CommitStreamResult> {
  const { repo, agent, worktree, message } = input;
  return withRepoLock(deps.store, repo.id, async () => {
    const repoDir = repoRoot(repo);
    let stream = input.stream;
    const continuesSwarm = continuesSwarmStream(repo, stream);
    // An update (or a `git merge`) that conflicted commits as the merge's resolution: refused
    // while a conflicted file still holds its markers, which would record them as resolved.
    const marked = await markedConflictPaths(worktree, stream.conflict?.paths ?? []);
    if (marked.length > 0) {
      throw new GitSwarmError(
        'conflict',
        `Stream ${stream.name} still has conflict markers in: ${marked.join(', ')}`,
        {
          hint: 'Write the resolved files (without the <<<<<<< ======= >>>>>>> lines), then commit.',
          details: { stream_id: stream.id, paths: marked },
        },
      );
    }
    const bufferRef = `refs/heads/${repo.buffer_branch}`;
    const committed = await commitAll(worktree, {
      message,
      author: agentIdentity(agent),
      // The swarm merge and a conflict recheck want the buffer head: read with the commit.
      alsoRead: [bufferRef],
    });
    if (!committed) {
      throw new GitSwarmError('nothing_to_commit', `Nothing to commit in ${worktree}`);
    }
    let head = committed.commit;
    const rebased = needsRebase(stream);
    if (rebased) {
      await rebaseStreamOntoBase(deps, { repo, stream, worktree, trigger: 'commit', agentId: agent.id });
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
