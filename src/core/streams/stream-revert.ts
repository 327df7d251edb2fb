/**
 * Reverting a merged stream on the buffer (stabilization's auto-revert, or a council decision):
 * a worktree-free revert of its merge commit, the merge marked reverted, consequences by hook.
 */
import { OpLog } from '../../engine/oplog.js';
import { revertMerge } from '../../engine/revert.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Merge,
  type Repo,
  type Stream,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { failpoint } from '../../util/failpoints.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from '../repos/repos.js';
import { assertCheckoutsClean, syncCheckouts } from './checked-out-branches.js';
import { branchHead } from './stream-cascade.js';
import { onStreamReverted } from './stream-hooks.js';
import { getStreamById, updateStream } from './streams.js';
import { actorIdentity, repoRoot } from './workspace-paths.js';

export interface RevertStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  /** Who reverts (maintain+); null for stabilization's auto-revert or a council decision. */
  actor: Agent | null;
  reason: string;
  /** Which of the stream's merges (swarm streams merge once per commit); default: its latest unreverted one. */
  mergeCommit?: string;
  /** The red buffer commit that condemned the merge (stabilization), named in the subject. */
  redAt?: string;
}

export type RevertStreamResult =
  | { reverted: true; revert_commit: string; merge_commit: string }
  | { reverted: false; conflict_paths: string[]; merge_commit: string };

/** Reverts a stream's merge on the buffer; a conflict is a result and then nothing changes. */
export async function revertStream(deps: CoreDeps, input: RevertStreamInput): Promise<RevertStreamResult> {
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const stream = await getStreamById(deps.store.db, input.stream.id);
    if (input.actor) await requireAction(deps, deps.store.db, repo, input.actor, 'merge');
    const merge = await findRevertableMerge(deps.store.db, repo, stream, input.mergeCommit);
    const repoDir = repoRoot(repo);
    const checkouts = await assertCheckoutsClean(repoDir, merge.target_branch);
    const headBefore = await branchHead(repoDir, merge.target_branch);
    failpoint('revert.after-check');
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    const outcome = await revertMerge(repoDir, {
      branch: merge.target_branch,
      mergeCommit: merge.merge_commit,
      message: revertMessage({
        stream,
        mergeCommit: merge.merge_commit,
        reason: input.reason,
        redAt: input.redAt,
      }),
      author: actorIdentity(input.actor),
      oplog,
      streamId: stream.id,
      agentId: input.actor?.id ?? null,
    });
    if (outcome.kind === 'conflicted') {
      return { reverted: false, conflict_paths: outcome.paths, merge_commit: merge.merge_commit };
    }
    // Checkouts follow the branch before the record completes the operation (see mergeStream).
    // The revert is the only commit on top of the head read above: the lock keeps others out.
    await syncCheckouts(checkouts, headBefore, outcome.commit);
    failpoint('revert.after-checkout-sync');
    await inTransaction(deps.store.db, (trx) =>
      recordRevert(deps, trx, {
        repo,
        streamId: stream.id,
        mergeCommit: merge.merge_commit,
        revertCommit: outcome.commit,
        agentId: input.actor?.id ?? null,
        reason: input.reason,
        opId: outcome.opId,
        oplog,
      }),
    );
    failpoint('revert.after-record');
    return { reverted: true, revert_commit: outcome.commit, merge_commit: merge.merge_commit };
  });
}

/**
 * The revert commit's message: the subject names the one merge it undoes (a swarm stream merges
 * once per commit), and the red commit that condemned it.
 */
export function revertMessage(input: {
  stream: Pick<Stream, 'id' | 'name'>;
  mergeCommit: string;
  reason: string;
  redAt?: string | undefined;
}): string {
  const red = input.redAt ? ` (red at ${input.redAt.slice(0, 12)})` : '';
  return [
    `Revert merge ${input.mergeCommit.slice(0, 12)} of stream ${input.stream.name}${red}`,
    '',
    `This reverts merge ${input.mergeCommit}.`,
    `Reason: ${input.reason}`,
    `Stream: ${input.stream.id}`,
    '',
  ].join('\n');
}

async function findRevertableMerge(
  db: Executor,
  repo: Repo,
  stream: Stream,
  mergeCommit: string | undefined,
): Promise<Merge> {
  let q = db
    .selectFrom('gitswarm_merges')
    .selectAll()
    .where('repo_id', '=', repo.id)
    .where('stream_id', '=', stream.id)
    .where('reverted_at', 'is', null);
  if (mergeCommit !== undefined) q = q.where('merge_commit', '=', mergeCommit);
  const merge = await q.orderBy('merged_at', 'desc').orderBy('id', 'desc').executeTakeFirst();
  if (!merge) {
    throw new GitSwarmError(
      'invalid_state',
      mergeCommit
        ? `Stream ${stream.name} has no unreverted merge ${mergeCommit}`
        : `Stream ${stream.name} is ${stream.status} and has no merge to revert.`,
      { details: { stream_id: stream.id, status: stream.status } },
    );
  }
  return merge;
}

export interface RecordRevertInput {
  repo: Repo;
  streamId: string;
  mergeCommit: string;
  revertCommit: string;
  agentId: string | null;
  reason: string | null;
  opId: string;
  oplog: OpLog;
  recovered?: boolean;
}

/**
 * Marks the merge reverted, the stream reverted (when it is merged), runs the revert hooks and
 * completes the operation, atomically; idempotent per merge (crash recovery calls it too).
 */
export async function recordRevert(deps: CoreDeps, db: Executor, input: RecordRevertInput): Promise<void> {
  const { repo } = input;
  const merge = await db
    .selectFrom('gitswarm_merges')
    .selectAll()
    .where('repo_id', '=', repo.id)
    .where('stream_id', '=', input.streamId)
    .where('merge_commit', '=', input.mergeCommit)
    .executeTakeFirst();
  if (merge && merge.reverted_at === null) {
    await db
      .updateTable('gitswarm_merges')
      .set({ reverted_at: isoNow(deps.clock), revert_commit: input.revertCommit })
      .where('id', '=', merge.id)
      .execute();
    const stream = await getStreamById(db, input.streamId);
    // A swarm stream may have moved on (a newer commit) since this merge; its status stays then.
    const reverted =
      stream.status === 'merged' ? await updateStream(deps, db, stream, { status: 'reverted' }) : stream;
    await onStreamReverted(deps, db, { repo, stream: reverted, revertCommit: input.revertCommit });
    await recordActivity(deps, db, {
      event: 'stream.reverted',
      repoId: repo.id,
      agentId: input.agentId,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        name: stream.name,
        merge_commit: input.mergeCommit,
        revert_commit: input.revertCommit,
        reason: input.reason,
        ...(input.recovered ? { recovered: true } : {}),
      },
    });
  }
  await input.oplog.complete(input.opId, db);
}
