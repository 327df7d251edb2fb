/**
 * Cascade: when a stream's head moves, the streams built on it are replayed onto its new head,
 * worktree-free (or in their own clean worktree). A dirty worktree defers its stream's rebase to
 * the agent's next commit; a conflict marks that stream conflicted and the cascade goes on.
 */

import { git } from '../../engine/git.js';
import { assertValidRef } from '../../engine/names.js';
import { OpLog } from '../../engine/oplog.js';
import { rebaseBranch } from '../../engine/rebase.js';
import { readLooseRefs, readRef } from '../../engine/repo.js';
import { worktreesOnBranch } from '../../engine/worktree-list.js';
import { isWorktreeDirty } from '../../engine/worktrees.js';
import { GitSwarmError } from '../../errors.js';
import { type Executor, inTransaction, type Repo, type Stream, withRepoLock } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { failpoint } from '../../util/failpoints.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { getStreamById, isLiveStream, listDependents, listStreams, updateStream } from './streams.js';
import { repoRoot } from './workspace-paths.js';

export type CascadeOutcome =
  | { stream_id: string; outcome: 'rebased'; head: string; onto: string }
  | { stream_id: string; outcome: 'up_to_date'; head: string }
  | { stream_id: string; outcome: 'deferred'; reason: 'worktree_dirty' }
  | { stream_id: string; outcome: 'conflicted'; paths: string[]; onto: string };

/**
 * The head of a branch, or `invalid_state` when the branch does not exist. A loose ref file is
 * read without a git process (as git would: a loose ref wins over a packed one); else git reads it.
 */
export async function branchHead(repoDir: string, branch: string): Promise<string> {
  const head = await readRef(repoDir, `refs/heads/${branch}`);
  if (!head) {
    throw new GitSwarmError('invalid_state', `Branch ${branch} does not exist.`, {
      hint: 'Run: gitswarm init',
      details: { branch },
    });
  }
  return head;
}

/**
 * The heads of several branches, in order: from their loose ref files, else in one git call;
 * `invalid_state` when one does not exist.
 */
export async function branchHeads(repoDir: string, branches: readonly string[]): Promise<string[]> {
  const refs = branches.map((branch) => `refs/heads/${branch}`);
  for (const ref of refs) assertValidRef(ref);
  const loose = await readLooseRefs(repoDir, refs);
  if (loose) return loose;
  // The trailing `--` makes git read every argument as a revision (each checked above); git
  // echoes it as the last line.
  const result = await git(['rev-parse', ...refs, '--'], { cwd: repoDir, okExitCodes: [128] });
  const heads = result.stdout.trim().split('\n');
  if (heads[heads.length - 1] === '--') heads.pop();
  if (result.exitCode !== 0 || heads.length !== refs.length) {
    // Name the missing one the usual way.
    for (const branch of branches) await branchHead(repoDir, branch);
  }
  return heads;
}

/**
 * What a stream is built on: its parent stream's branch while the parent is live, else the
 * buffer (a stream whose parent merged or was abandoned is re-parented onto the buffer).
 */
export async function streamBase(
  db: Executor,
  repo: Repo,
  stream: Stream,
): Promise<{ branch: string; head: string }> {
  const repoDir = repoRoot(repo);
  if (stream.parent_stream_id && stream.base_branch !== repo.buffer_branch) {
    const parent = await getStreamById(db, stream.parent_stream_id);
    if (isLiveStream(parent))
      return { branch: parent.branch, head: await branchHead(repoDir, parent.branch) };
  }
  return { branch: repo.buffer_branch, head: await branchHead(repoDir, repo.buffer_branch) };
}

/** Whether the stream waits for a rebase: deferred by a dirty worktree or stopped by a conflict. */
export function needsRebase(stream: Stream): boolean {
  return stream.metadata.needs_rebase === true || stream.conflict?.operation === 'rebase';
}

/** The status a conflicted stream returns to once its conflict is gone. */
export function recoveredStatus(stream: Stream): 'active' | 'in_review' {
  return stream.review_status === null ? 'active' : 'in_review';
}

function withoutNeedsRebase(metadata: Record<string, unknown>): Record<string, unknown> {
  const { needs_rebase: _, ...rest } = metadata;
  return rest;
}

export interface RebaseStreamInput {
  repo: Repo;
  stream: Stream;
  /** The stream's worktree when it has one (it must be clean; dirty ones are deferred). */
  worktree?: string | null;
  /** What caused the rebase, for the activity log. */
  trigger: 'cascade' | 'commit';
  agentId?: string | null;
}

/**
 * Replays a stream onto its base's current head and records the result. Call under the
 * repository lock; git moves nothing on a conflict.
 */
export async function rebaseStreamOntoBase(
  deps: CoreDeps,
  input: RebaseStreamInput,
): Promise<CascadeOutcome> {
  const { repo } = input;
  const repoDir = repoRoot(repo);
  const stream = await getStreamById(deps.store.db, input.stream.id);
  if (input.worktree && (await isWorktreeDirty(input.worktree))) {
    if (stream.metadata.needs_rebase !== true) {
      await inTransaction(deps.store.db, async (trx) => {
        await updateStream(deps, trx, stream, { metadata: { ...stream.metadata, needs_rebase: true } });
        await recordActivity(deps, trx, {
          event: 'stream.updated',
          repoId: repo.id,
          agentId: input.agentId ?? null,
          targetType: 'stream',
          targetId: stream.id,
          metadata: { needs_rebase: true, reason: 'worktree_dirty' },
        });
      });
    }
    return { stream_id: stream.id, outcome: 'deferred', reason: 'worktree_dirty' };
  }
  const base = await streamBase(deps.store.db, repo, stream);
  const oplog = new OpLog(deps.store, repo.id, deps.clock);
  const outcome = await rebaseBranch(repoDir, {
    branch: stream.branch,
    onto: base.head,
    // Only the stream's own commits move: not those of a parent it has left or that was rebased.
    upstream: stream.base_commit,
    oplog,
    streamId: stream.id,
    agentId: input.agentId ?? null,
    ...(input.worktree ? { worktree: input.worktree } : {}),
  });
  return inTransaction(deps.store.db, async (trx) => {
    const current = await getStreamById(trx, stream.id);
    const recovering = current.status === 'conflicted' && current.conflict?.operation === 'rebase';
    if (outcome.kind === 'conflicted') {
      await updateStream(deps, trx, current, {
        status: 'conflicted',
        conflict: {
          operation: 'rebase',
          onto: base.head,
          paths: outcome.paths,
          detected_at: isoNow(deps.clock),
        },
        metadata: withoutNeedsRebase(current.metadata),
      });
      await recordActivity(deps, trx, {
        event: 'stream.conflicted',
        repoId: repo.id,
        agentId: input.agentId ?? null,
        targetType: 'stream',
        targetId: stream.id,
        metadata: { operation: 'rebase', onto: base.head, onto_branch: base.branch, paths: outcome.paths },
      });
      return { stream_id: stream.id, outcome: 'conflicted', paths: outcome.paths, onto: base.head };
    }
    const cleared = {
      metadata: withoutNeedsRebase(current.metadata),
      ...(recovering ? { status: recoveredStatus(current), conflict: null } : {}),
    };
    if (outcome.kind === 'up_to_date') {
      if (needsRebase(current)) await updateStream(deps, trx, current, cleared);
      return { stream_id: stream.id, outcome: 'up_to_date', head: outcome.head };
    }
    await updateStream(deps, trx, current, { ...cleared, base_commit: base.head });
    await oplog.complete(outcome.opId, trx);
    await recordActivity(deps, trx, {
      event: 'stream.rebased',
      repoId: repo.id,
      agentId: input.agentId ?? null,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        trigger: input.trigger,
        onto: base.head,
        onto_branch: base.branch,
        head: outcome.head,
        previous_head: outcome.previousHead,
      },
    });
    return { stream_id: stream.id, outcome: 'rebased', head: outcome.head, onto: base.head };
  });
}

/**
 * Replays every live stream built on `streamId` (transitively, parents first) onto its base's
 * new head. One dependent's conflict or dirty worktree does not stop the others.
 */
export async function cascadeDependents(
  deps: CoreDeps,
  repo: Repo,
  streamId: string,
  agentId: string | null = null,
): Promise<CascadeOutcome[]> {
  return withRepoLock(deps.store, repo.id, async () => {
    const dependents = await listDependents(deps.store.db, repo.id, streamId);
    const outcomes: CascadeOutcome[] = [];
    for (const dependent of dependents) {
      const worktree = await deps.store.db
        .selectFrom('gitswarm_worktrees')
        .select('path')
        .where('stream_id', '=', dependent.id)
        .executeTakeFirst();
      // A server-held repository's stream worktrees (Mode C) are git's record, not a workspace row.
      const worktreePath =
        worktree?.path ?? (await worktreesOnBranch(repoRoot(repo), dependent.branch))[0] ?? null;
      outcomes.push(
        await rebaseStreamOntoBase(deps, {
          repo,
          stream: dependent,
          worktree: worktreePath,
          trigger: 'cascade',
          agentId,
        }),
      );
    }
    return outcomes;
  });
}

export type ReparentReason = 'parent_merged' | 'parent_abandoned';

/**
 * Streams built on a stream that merged or was abandoned now build on the buffer (recorded with
 * the reason). Needs no git: the server of Mode B calls it alone.
 */
export async function reparentOntoBuffer(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  streamId: string,
  agentId: string | null,
  reason: ReparentReason,
): Promise<Stream[]> {
  const children = await listStreams(db, repo.id, { parentStreamId: streamId });
  const live = children.filter((c) => isLiveStream(c) && c.base_branch !== repo.buffer_branch);
  if (live.length === 0) return [];
  return inTransaction(db, async (trx) => {
    const moved: Stream[] = [];
    for (const child of live) {
      moved.push(await updateStream(deps, trx, child, { base_branch: repo.buffer_branch }));
      await recordActivity(deps, trx, {
        event: 'stream.updated',
        repoId: repo.id,
        agentId,
        targetType: 'stream',
        targetId: child.id,
        metadata: { base_branch: repo.buffer_branch, reason, parent_stream_id: streamId },
      });
    }
    return moved;
  });
}

/**
 * Re-parents the children of a merged or abandoned stream onto the buffer, then replays every
 * dependent onto its new base: a merged parent's commits are in the buffer already; an abandoned
 * parent's are dropped (jj's abandon), each child keeping only its own commits.
 */
export async function reparentChildren(
  deps: CoreDeps,
  repo: Repo,
  streamId: string,
  agentId: string | null,
  reason: ReparentReason,
): Promise<CascadeOutcome[]> {
  await reparentOntoBuffer(deps, deps.store.db, repo, streamId, agentId, reason);
  failpoint('cascade.after-reparent');
  return cascadeDependents(deps, repo, streamId, agentId);
}
