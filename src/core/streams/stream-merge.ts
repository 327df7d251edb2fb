/**
 * Merging a stream into the buffer: the checks (state, permission per merge mode, consensus,
 * dependencies, something to merge), the worktree-free merge with a compare-and-swap on the
 * buffer, and the governance record, all under the repository's lock.
 */

import { mergeIntoBranch, type PlannedMerge, planMerge } from '../../engine/merge.js';
import { OpLog } from '../../engine/oplog.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stream,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { failpoint } from '../../util/failpoints.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { findBranchRule } from '../governance/branch-rules.js';
import { getRepo } from '../repos/repos.js';
import { assertCheckoutsClean, syncCheckouts } from './checked-out-branches.js';
import { type ConsensusResult, evaluateConsensus } from './consensus.js';
import { branchHeads, type CascadeOutcome, reparentChildren } from './stream-cascade.js';
import { onStreamMerged } from './stream-hooks.js';
import { canTransition, getStreamById, isLiveStream, updateStream } from './streams.js';
import { actorIdentity, repoRoot } from './workspace-paths.js';

export type MergeTrigger = 'agent' | 'council' | 'swarm';

export interface MergeStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  /** Who merges; null when a passed council proposal executes the merge. */
  actor: Agent | null;
  trigger?: MergeTrigger;
  /**
   * The stream's head as the caller just committed it, holding the repository lock (so it is not
   * on the buffer yet), and the buffer head read with it: the merge need not read them again, nor
   * `repo`, which such a caller read under the same lock.
   */
  committed?: { head: string; bufferHead: string };
}

export interface MergeStreamResult {
  merged: true;
  merge_commit: string;
  buffer_head: string;
  /** What happened to the streams built on this one. */
  cascade: CascadeOutcome[];
}

/**
 * Merges a stream into the buffer (no-ff). Throws no_consensus, conflict (after recording the
 * stream as conflicted), dependency_unmerged, forbidden, invalid_state or empty_stream.
 */
export async function mergeStream(deps: CoreDeps, input: MergeStreamInput): Promise<MergeStreamResult> {
  const trigger = input.trigger ?? (input.actor ? 'agent' : 'council');
  return withRepoLock(deps.store, input.repo.id, async () => {
    // A caller that just committed read the repository (and the heads) under this lock already.
    const repo = input.committed ? input.repo : await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    // Git is read (and the merge computed) before the transaction so no write lock is held while
    // git runs; under the repository lock nothing else moves these refs meanwhile.
    const { source, bufferHead, empty, planned } = input.committed
      ? {
          source: input.committed.head,
          bufferHead: input.committed.bufferHead,
          empty: false,
          planned: undefined,
        }
      : await planStreamMerge(
          repoDir,
          (await getStreamById(deps.store.db, input.stream.id)).branch,
          repo.buffer_branch,
        );
    const stream = await inTransaction(deps.store.db, (trx) =>
      checkMergeable(deps, trx, {
        repo,
        streamId: input.stream.id,
        actor: input.actor,
        source,
        bufferHead,
        empty,
      }),
    );
    const checkouts = await assertCheckoutsClean(repoDir, repo.buffer_branch);
    failpoint('merge.after-check');
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    const outcome = await mergeIntoBranch(repoDir, {
      target: repo.buffer_branch,
      source,
      message: mergeMessage(repo, stream),
      author: actorIdentity(input.actor),
      oplog,
      streamId: stream.id,
      agentId: input.actor?.id ?? null,
      targetHead: bufferHead,
      ...(planned ? { planned } : {}),
    });
    if (outcome.kind === 'conflicted') {
      await inTransaction(deps.store.db, async (trx) => {
        const current = await getStreamById(trx, stream.id);
        await updateStream(deps, trx, current, {
          status: 'conflicted',
          conflict: {
            operation: 'merge',
            onto: outcome.head,
            paths: outcome.paths,
            detected_at: isoNow(deps.clock),
          },
        });
        await recordActivity(deps, trx, {
          event: 'stream.conflicted',
          repoId: repo.id,
          agentId: input.actor?.id ?? null,
          targetType: 'stream',
          targetId: stream.id,
          metadata: {
            operation: 'merge',
            onto: outcome.head,
            onto_branch: repo.buffer_branch,
            paths: outcome.paths,
          },
        });
      });
      throw new GitSwarmError(
        'conflict',
        `Stream ${stream.name} conflicts with ${repo.buffer_branch} in: ${outcome.paths.join(', ')}`,
        {
          hint: `Merge ${repo.buffer_branch} into the worktree, resolve the files, commit, then merge again.`,
          // Mode C: the agent resolves over HTTP (docs/mode-c-conflicts.md).
          httpHint: `Read the conflict: GET /api/v1/streams/${stream.id}/conflicts; bring ${repo.buffer_branch} in with conflict markers: POST /api/v1/streams/${stream.id}/update; write the resolved files, commit, then merge again.`,
          details: { stream_id: stream.id, paths: outcome.paths, buffer_head: outcome.head },
        },
      );
    }
    // Checkouts of the buffer follow it before the record completes the operation: a crash
    // before the record leaves it pending, and recovery syncs what is still stale (docs/crash-safety.md).
    await syncCheckouts(checkouts, outcome.previousHead, outcome.commit);
    failpoint('merge.after-checkout-sync');
    await inTransaction(deps.store.db, (trx) =>
      recordMerge(deps, trx, {
        repo,
        streamId: stream.id,
        mergeCommit: outcome.commit,
        agentId: input.actor?.id ?? null,
        trigger,
        opId: outcome.opId,
        oplog,
        complete: false,
      }),
    );
    failpoint('merge.after-record');
    // The operation completes once the cascade has run: a crash before leaves it pending, and
    // recovery runs the cascade (a failing cascade still completes it, as the merge stands).
    let cascade: CascadeOutcome[];
    try {
      cascade = await reparentChildren(deps, repo, stream.id, input.actor?.id ?? null, 'parent_merged');
    } finally {
      await oplog.complete(outcome.opId);
    }
    return { merged: true, merge_commit: outcome.commit, buffer_head: outcome.commit, cascade };
  });
}

/** The stream's head, the buffer's, its merge computed ahead, and whether it has anything the buffer lacks. */
async function planStreamMerge(
  repoDir: string,
  branch: string,
  bufferBranch: string,
): Promise<{ source: string; bufferHead: string; empty: boolean; planned: PlannedMerge }> {
  const [source, bufferHead] = (await branchHeads(repoDir, [branch, bufferBranch])) as [string, string];
  const planned = await planMerge(repoDir, bufferHead, source);
  return { source, bufferHead, empty: planned.empty, planned };
}

interface CheckInput {
  repo: Repo;
  streamId: string;
  actor: Agent | null;
  /** The stream's head and the buffer's, read before the transaction. */
  source: string;
  bufferHead: string;
  /** Whether the stream's head is already contained in the buffer. */
  empty: boolean;
}

/** The first transaction: everything that decides whether the merge may happen. */
async function checkMergeable(deps: CoreDeps, db: Executor, input: CheckInput): Promise<Stream> {
  const { repo } = input;
  const { stream } = await assertMergeable(deps, db, {
    repo,
    stream: { id: input.streamId },
    actor: input.actor,
    assertHasWork: (stream) => {
      if (input.empty) {
        throw new GitSwarmError(
          'empty_stream',
          `Stream ${stream.name} has nothing that is not already on ${repo.buffer_branch}.`,
          {
            details: { stream_id: stream.id, head: input.source, buffer_head: input.bufferHead },
          },
        );
      }
    },
  });
  return stream;
}

export interface AssertMergeableInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  /** Who merges; null when a passed council proposal executes the merge (no permission or consensus check). */
  actor: Agent | null;
  /**
   * Throws empty_stream when the stream has nothing to merge. How that is known differs (a clone
   * asks git, the server looks at recorded commits), so the caller says; it runs after the
   * dependency check and before consensus.
   */
  assertHasWork?: (stream: Stream) => void | Promise<void>;
}

/**
 * The git-free merge checks, shared by the local merge and Mode B's merge approval: the stream is
 * this repository's and live, the actor may merge by the merge mode and the buffer's branch rule,
 * its parent stream is merged, it has work, and (for an agent, outside swarm mode) consensus is
 * reached. Throws stream_not_found, invalid_state, forbidden, dependency_unmerged, empty_stream
 * or no_consensus.
 */
export async function assertMergeable(
  deps: CoreDeps,
  db: Executor,
  input: AssertMergeableInput,
): Promise<{ stream: Stream; consensus: ConsensusResult | null }> {
  const { repo, actor } = input;
  const stream = await getStreamById(db, input.stream.id);
  if (stream.repo_id !== repo.id) {
    throw new GitSwarmError('stream_not_found', `No stream ${stream.id} in this repository.`);
  }
  if (stream.status === 'merged') {
    throw new GitSwarmError('invalid_state', `Stream ${stream.name} is already merged.`, {
      details: { stream_id: stream.id, status: stream.status },
    });
  }
  if (!isLiveStream(stream)) {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${stream.name} is ${stream.status}; it cannot be merged.`,
      {
        details: { stream_id: stream.id, status: stream.status },
      },
    );
  }
  const rule = await findBranchRule(db, repo.id, repo.buffer_branch);
  if (actor) {
    // Gated mode, or a maintainers_only rule on the buffer: only maintainers (maintain+) merge;
    // otherwise anyone who may write.
    const maintainersOnly = repo.merge_mode === 'gated' || rule?.merge_restriction === 'maintainers_only';
    await requireAction(deps, db, repo, actor, maintainersOnly ? 'merge' : 'write');
  }
  if (stream.parent_stream_id && stream.base_branch !== repo.buffer_branch) {
    const parent = await getStreamById(db, stream.parent_stream_id);
    if (parent.status !== 'merged') {
      throw new GitSwarmError(
        'dependency_unmerged',
        `Stream ${stream.name} depends on stream ${parent.name}, which is ${parent.status}; merge it first.`,
        {
          hint: `Merge the parent first: gitswarm merge ${parent.id}`,
          details: { stream_id: stream.id, parent_stream_id: parent.id, parent_status: parent.status },
        },
      );
    }
  }
  await input.assertHasWork?.(stream);
  // A council decision is the consensus; swarm mode needs none.
  if (!actor || repo.merge_mode === 'swarm') return { stream, consensus: null };
  const consensus = await evaluateConsensus(deps, db, repo, stream, rule);
  if (!consensus.reached) {
    throw new GitSwarmError(
      'no_consensus',
      `Stream ${stream.name} has no consensus (${consensus.reason}): ${consensus.approvals} approvals, ${consensus.rejections} change requests, ratio ${consensus.ratio.toFixed(2)} of ${consensus.threshold}.`,
      { hint: `See the numbers with: gitswarm consensus ${stream.id}`, details: { consensus } },
    );
  }
  return { stream, consensus };
}

function mergeMessage(repo: Repo, stream: Stream): string {
  return `Merge stream ${stream.name} into ${repo.buffer_branch}\n\nStream: ${stream.id}\n`;
}

export interface RecordMergeInput {
  repo: Repo;
  streamId: string;
  mergeCommit: string;
  agentId: string | null;
  trigger: MergeTrigger | 'recovery';
  opId: string;
  oplog: OpLog;
  /** false: the caller completes the operation itself, once the merge's cascade has run. */
  complete?: boolean;
}

/**
 * The second transaction: the merge row, the stream's status, the operation's completion, the
 * merge's consequences (hooks) and the activity, atomically. Idempotent per merge commit, so
 * crash recovery can call it for an operation whose record may or may not exist.
 */
export async function recordMerge(deps: CoreDeps, db: Executor, input: RecordMergeInput): Promise<void> {
  const { repo } = input;
  const existing = await db
    .selectFrom('gitswarm_merges')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('merge_commit', '=', input.mergeCommit)
    .executeTakeFirst();
  if (!existing) {
    const stream = await getStreamById(db, input.streamId);
    await db
      .insertInto('gitswarm_merges')
      .values({
        id: newId(),
        repo_id: repo.id,
        stream_id: stream.id,
        agent_id: input.agentId,
        merge_commit: input.mergeCommit,
        target_branch: repo.buffer_branch,
        merged_at: isoNow(deps.clock),
      })
      .execute();
    // Recovery may find a stream that moved on (abandoned meanwhile): the merge row still tells the truth.
    const merged = canTransition(stream.status, 'merged')
      ? await updateStream(deps, db, stream, { status: 'merged', conflict: null })
      : stream;
    await onStreamMerged(deps, db, {
      repo,
      stream: merged,
      mergeCommit: input.mergeCommit,
      actorId: input.agentId,
    });
    await recordActivity(deps, db, {
      event: 'stream.merged',
      repoId: repo.id,
      agentId: input.agentId,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        name: stream.name,
        merge_commit: input.mergeCommit,
        target_branch: repo.buffer_branch,
        trigger: input.trigger,
      },
    });
  }
  if (input.complete !== false) await input.oplog.complete(input.opId, db);
}
