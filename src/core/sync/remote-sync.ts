/**
 * Mode B: the server is the authority for governance while each client does its git work locally
 * and pushes to a shared remote. The server holds no clone, so these functions record what a
 * client reports (a stream it created, a commit, the merge it made once the server approved it, a
 * stabilization result, a promotion) and decide what only governance may decide (may this stream
 * merge now?) with the same rules as the local path (access.ts, consensus.ts, streams.ts, the
 * merge and revert hooks, assertPromotable).
 *
 * Every report is idempotent on its natural key (stream id, commit hash, merge commit, promoted
 * commit), so a client may retry any call. Ref moves a client reports are logged in the operation
 * log like local ones (begun and completed with the record), so history has one shape.
 */

import { assertValidBranch, assertValidName, isObjectId } from '../../engine/names.js';
import { OpLog, type RefMove } from '../../engine/oplog.js';
import { GitSwarmError, isGitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  lockedTransaction,
  type Repo,
  type Stabilization,
  type StabilizationResult,
  type Stream,
  toJson,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId, newStreamId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { accessRank, requireAction, resolveAccess } from '../governance/access.js';
import { isMaintainer } from '../governance/maintainers.js';
import { getRepo } from '../repos/repos.js';
import { assertPromotable, recordPromotion } from '../stabilization/buffer-promotion.js';
import { findOpenRedTask } from '../stabilization/red-tasks.js';
import { decideAutoRevert } from '../stabilization/revert-decision.js';
import type { ConsensusResult } from '../streams/consensus.js';
import { reparentOntoBuffer } from '../streams/stream-cascade.js';
import { assertMergeable, recordMerge } from '../streams/stream-merge.js';
import {
  assertStreamNameFree,
  getFromStream,
  getLiveParent,
  insertStreamRecord,
} from '../streams/stream-records.js';
import { recordRevert } from '../streams/stream-revert.js';
import {
  assertTransition,
  getStreamById,
  isLiveStream,
  refreshStream,
  updateStream,
} from '../streams/streams.js';
import { fileCriticalTask } from '../tasks/tasks.js';
import { type VerifiedCommit, verifyCommitObject } from './commit-objects.js';
import { type MergeDispute, offlineMergesAllowed, recordMergeDispute } from './offline-merges.js';
import { getReportedBufferHead, isKnownBufferCommit, setReportedBufferHead } from './reported-buffer.js';

const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,35}$/;
const CHANGE_ID = /^I[0-9a-f]{40}$/;
const MAX_MESSAGE_LENGTH = 20_000;
export const STABILIZATION_RESULTS: readonly StabilizationResult[] = ['green', 'red', 'flaky', 'error'];

function assertObjectId(what: string, value: string): string {
  if (!isObjectId(value)) {
    throw new GitSwarmError('invalid_input', `The ${what} must be a full commit id (40 or 64 hex digits).`);
  }
  return value;
}

function assertStreamOfRepo(repo: Repo, stream: Stream): void {
  if (stream.repo_id !== repo.id) {
    throw new GitSwarmError('stream_not_found', `No stream ${stream.id} in this repository.`);
  }
}

export interface RecordStreamInput {
  repo: Repo;
  agent: Agent;
  /** The id the client gave the stream (its branch is `stream/<id>`); default: a new one. */
  id?: string;
  name?: string;
  branch?: string;
  /** Build on another stream (id, name or branch) instead of the buffer. */
  dependsOn?: string;
  baseBranch?: string;
  baseCommit?: string;
  /** Link the agent's claim on this task (id or number) to the stream, claiming it if need be. */
  taskRef?: string;
  /** The stream whose head the client started the branch at (`--from-stream`), building on the buffer. */
  fromStream?: string;
}

/**
 * Records a stream a client created in its own clone. Retrying with the same id by the same
 * agent returns the recorded stream (`created: false`); another agent's id is `already_exists`.
 */
export async function recordStream(
  deps: CoreDeps,
  input: RecordStreamInput,
): Promise<{ stream: Stream; created: boolean }> {
  const { agent } = input;
  const id = input.id ?? newStreamId();
  if (!STREAM_ID.test(id)) {
    throw new GitSwarmError('invalid_name', `Invalid stream id ${JSON.stringify(id)}.`, {
      hint: 'A stream id is 1-36 letters, digits, ".", "_" or "-", starting with a letter or digit.',
    });
  }
  const name = input.name ?? `${agent.name.slice(0, 90)}-${id.slice(0, 6)}`;
  assertValidName('stream', name);
  const branch = assertValidBranch(input.branch ?? `stream/${id}`);
  if (input.baseBranch !== undefined) assertValidBranch(input.baseBranch);
  if (input.baseCommit !== undefined) assertObjectId('base commit', input.baseCommit);
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    await requireAction(deps, trx, repo, agent, 'write');
    const existing = await trx
      .selectFrom('gitswarm_streams')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (existing) {
      if (existing.repo_id === repo.id && existing.agent_id === agent.id && existing.name === name) {
        return { stream: existing, created: false };
      }
      throw new GitSwarmError('already_exists', `A stream with id ${id} already exists.`, {
        details: { stream_id: id },
      });
    }
    await assertStreamNameFree(trx, repo.id, name);
    const parent = input.dependsOn === undefined ? null : await getLiveParent(trx, repo.id, input.dependsOn);
    const from =
      input.fromStream === undefined
        ? null
        : await getFromStream(trx, repo.id, input.fromStream, input.dependsOn);
    // A stream builds on the buffer or on its parent's branch; the record says which, not the client.
    const baseBranch = parent ? parent.branch : repo.buffer_branch;
    if (input.baseBranch !== undefined && input.baseBranch !== baseBranch) {
      throw new GitSwarmError(
        'invalid_input',
        `Stream ${name} builds on ${baseBranch}, not ${JSON.stringify(input.baseBranch)}.`,
        { hint: 'Leave out base_branch, or build on another stream with depends_on.' },
      );
    }
    const stream = await insertStreamRecord(deps, trx, {
      repo,
      agent,
      id,
      name,
      branch,
      parent,
      baseBranch,
      baseCommit: input.baseCommit ?? null,
      fromStream: from,
      ...(input.taskRef !== undefined ? { taskRef: input.taskRef } : {}),
      eventMetadata: { reported: true },
    });
    return { stream, created: true };
  });
}

export interface RecordCommitInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  agent: Agent;
  commit: string;
  changeId?: string;
  message?: string;
}

/** Records a commit the stream's author made locally (metadata only); idempotent per commit. */
export async function recordCommit(deps: CoreDeps, input: RecordCommitInput) {
  const { agent } = input;
  assertObjectId('commit', input.commit);
  if (input.changeId !== undefined && !CHANGE_ID.test(input.changeId)) {
    throw new GitSwarmError('invalid_input', 'A Change-Id is "I" and 40 lowercase hex digits.');
  }
  const message = input.message ?? null;
  if (message !== null && message.length > MAX_MESSAGE_LENGTH) {
    throw new GitSwarmError(
      'invalid_input',
      `A commit message may be at most ${MAX_MESSAGE_LENGTH} characters.`,
    );
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    const stream = await getStreamById(trx, input.stream.id);
    assertStreamOfRepo(repo, stream);
    if (stream.agent_id !== agent.id) {
      throw new GitSwarmError(
        'forbidden',
        `Only the stream's author records commits on stream ${stream.id}.`,
      );
    }
    await requireAction(deps, trx, repo, agent, 'write');
    const existing = await trx
      .selectFrom('gitswarm_stream_commits')
      .selectAll()
      .where('stream_id', '=', stream.id)
      .where('commit_hash', '=', input.commit)
      .executeTakeFirst();
    if (existing) return { commit: existing, stream, created: false };
    // In swarm mode a merged stream takes further commits (each merges at once).
    const continuesSwarm = stream.status === 'merged' && repo.merge_mode === 'swarm';
    if (!isLiveStream(stream) && !continuesSwarm) {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${stream.name} is ${stream.status}; it takes no more commits.`,
        {
          details: { stream_id: stream.id, status: stream.status },
        },
      );
    }
    const row = await trx
      .insertInto('gitswarm_stream_commits')
      .values({
        id: newId(),
        stream_id: stream.id,
        agent_id: agent.id,
        commit_hash: input.commit,
        change_id: input.changeId ?? null,
        message,
        created_at: isoNow(deps.clock),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const updated = continuesSwarm ? await updateStream(deps, trx, stream, { status: 'active' }) : stream;
    await recordActivity(deps, trx, {
      event: 'stream.committed',
      repoId: repo.id,
      agentId: agent.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: {
        commit: input.commit,
        change_id: input.changeId ?? null,
        subject: message?.split('\n')[0] ?? null,
        reported: true,
      },
    });
    return { commit: row, stream: updated, created: true };
  });
}

export interface MergeApprovalInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
}

/**
 * Throws unless the actor may merge the stream into the buffer now: stream-merge's
 * assertMergeable (live, permission by merge mode, parent merged, consensus) with "has work"
 * meaning recorded commits, since the server has no clone to ask git.
 */
export async function assertMergeApproved(
  deps: CoreDeps,
  db: Executor,
  input: MergeApprovalInput,
): Promise<{ stream: Stream; consensus: ConsensusResult | null }> {
  return assertMergeable(deps, db, {
    repo: input.repo,
    stream: input.stream,
    actor: input.actor,
    assertHasWork: async (stream) => {
      const commit = await db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('stream_id', '=', stream.id)
        .executeTakeFirst();
      if (!commit) {
        throw new GitSwarmError('empty_stream', `Stream ${stream.name} has no recorded commits.`, {
          hint: 'Record the commits first: POST /api/v1/streams/:id/commits',
          details: { stream_id: stream.id },
        });
      }
    },
  });
}

/**
 * The merge decision (spec 3.1 Mode B step 8): approved, where to merge, and the two commits the
 * reported merge must have as parents (the buffer head as last reported, null before the first
 * reported merge, and the approved stream head), or a refusal.
 */
export async function approveMerge(deps: CoreDeps, input: MergeApprovalInput) {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    const { stream, consensus } = await assertMergeApproved(deps, trx, { ...input, repo });
    return {
      approved: true as const,
      stream_id: stream.id,
      branch: stream.branch,
      buffer_branch: repo.buffer_branch,
      buffer_head: await getReportedBufferHead(trx, repo.id),
      head_commit: (await approvedHeads(trx, stream, consensus !== null))[0] ?? null,
      consensus,
    };
  });
}

export interface RecordRemoteMergeInput extends MergeApprovalInput {
  mergeCommit: string;
  /**
   * The merge commit's raw object (`git cat-file commit <merge>`): it hashes to mergeCommit, so
   * its parents are the commit's own and tie it to the approved head and the buffer head.
   */
  commitObject: string;
  /**
   * Made while the server was unreachable (offline_merges allow): a missing consensus is recorded as
   * a dispute instead of refused (core/sync/offline-merges.ts). Ignored where offline merges are refused.
   */
  offline?: boolean;
}

/**
 * Records the merge a client made after approval (PATCH status merged + merge_commit +
 * commit_object): reported by the stream's author or a maintainer (maintain+), the same approval
 * checks again, the commit tied to what the server recorded (assertMergeTiesToHistory), then the
 * merge row with its parents, status, hooks (karma, stage, reviewer stats, task claims), the new
 * buffer head and activity, atomically. Reporting the same merge commit again changes nothing.
 */
export async function recordRemoteMerge(deps: CoreDeps, input: RecordRemoteMergeInput) {
  const commit = verifyCommitObject(input.mergeCommit, input.commitObject);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const db = deps.store.db;
    const repo = await getRepo(db, input.repo.id);
    const reported = await getStreamById(db, input.stream.id);
    assertStreamOfRepo(repo, reported);
    await assertMayReportMerge(deps, db, repo, reported, input.actor);
    const already = await db
      .selectFrom('gitswarm_merges')
      .select(['stream_id'])
      .where('repo_id', '=', repo.id)
      .where('merge_commit', '=', input.mergeCommit)
      .executeTakeFirst();
    if (already) {
      if (already.stream_id !== reported.id) {
        throw new GitSwarmError(
          'already_exists',
          `Merge commit ${input.mergeCommit} is recorded for another stream.`,
        );
      }
      return {
        stream: await getStreamById(db, reported.id),
        merge_commit: input.mergeCommit,
        created: false,
      };
    }
    const offline = input.offline === true && offlineMergesAllowed(repo);
    const { stream } = await inTransaction(db, (trx) =>
      checkReportedMerge(deps, trx, { ...input, repo }, commit, offline),
    );
    const [baseCommit, headCommit] = commit.parents as [string, string];
    await recordReportedMove(
      deps,
      repo.id,
      {
        ref: `refs/heads/${repo.buffer_branch}`,
        old: baseCommit,
        new: input.mergeCommit,
        kind: 'merge',
        description: `Merge stream ${stream.name} into ${repo.buffer_branch}`,
        streamId: stream.id,
        agentId: input.actor.id,
      },
      async (trx, opId, oplog) => {
        const { dispute } = await checkReportedMerge(deps, trx, { ...input, repo }, commit, offline);
        await recordMerge(deps, trx, {
          repo,
          streamId: stream.id,
          mergeCommit: input.mergeCommit,
          agentId: input.actor.id,
          trigger: 'agent',
          opId,
          oplog,
        });
        await trx
          .updateTable('gitswarm_merges')
          .set({ base_commit: baseCommit, head_commit: headCommit })
          .where('repo_id', '=', repo.id)
          .where('merge_commit', '=', input.mergeCommit)
          .execute();
        await setReportedBufferHead(deps, trx, {
          repoId: repo.id,
          commit: input.mergeCommit,
          agentId: input.actor.id,
        });
        // As a local merge does: the streams built on this one now build on the buffer (the
        // clones holding them replay them onto the merge, remote/cascade.ts).
        await reparentOntoBuffer(deps, trx, repo, stream.id, input.actor.id, 'parent_merged');
        if (dispute) {
          const merged = await getStreamById(trx, stream.id);
          await recordMergeDispute(deps, trx, {
            repo,
            stream: merged,
            actor: input.actor,
            mergeCommit: input.mergeCommit,
            dispute,
          });
        }
      },
    );
    return {
      stream: await getStreamById(db, stream.id),
      merge_commit: input.mergeCommit,
      created: true,
    };
  });
}

/**
 * The checks of a reported merge: approval (assertMergeApproved) and the commit tying to the
 * approved history. For an offline merge where they are allowed, a missing consensus or an
 * unreviewed head is returned as a dispute (then the commit must still merge the stream's newest
 * recorded commit onto the buffer head); every other refusal stands.
 */
async function checkReportedMerge(
  deps: CoreDeps,
  db: Executor,
  input: MergeApprovalInput,
  commit: VerifiedCommit,
  offline: boolean,
): Promise<{ stream: Stream; dispute: MergeDispute | null }> {
  let approved: Awaited<ReturnType<typeof assertMergeApproved>>;
  try {
    approved = await assertMergeApproved(deps, db, input);
  } catch (error) {
    if (!offline || !isGitSwarmError(error, 'no_consensus')) throw error;
    const stream = await getStreamById(db, input.stream.id);
    await assertMergeTiesToHistory(db, input.repo, stream, commit, false);
    const consensus = (error.details?.consensus ?? null) as ConsensusResult | null;
    return { stream, dispute: { reason: error.message, consensus } };
  }
  try {
    await assertMergeTiesToHistory(db, input.repo, approved.stream, commit, approved.consensus !== null);
    return { stream: approved.stream, dispute: null };
  } catch (error) {
    if (!offline || !isGitSwarmError(error, 'commit_mismatch') || error.details?.unreviewed !== true)
      throw error;
    await assertMergeTiesToHistory(db, input.repo, approved.stream, commit, false);
    return { stream: approved.stream, dispute: { reason: error.message, consensus: approved.consensus } };
  }
}

/** A merge is reported by the stream's author, or by a maintainer (maintain+) who merged it. */
async function assertMayReportMerge(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  stream: Stream,
  actor: Agent,
): Promise<void> {
  if (stream.agent_id === actor.id) return;
  const access = await resolveAccess(deps, db, repo, actor);
  if (accessRank(access.level) < accessRank('maintain')) {
    throw new GitSwarmError(
      'forbidden',
      `Only the author of stream ${stream.name} or a maintainer (maintain+) reports its merge.`,
      { details: { stream_id: stream.id, required: 'maintain', actual: access.level } },
    );
  }
}

/**
 * The reported merge is this stream's approved merge onto the buffer as the server knows it: two
 * parents, the second the stream's approved head (approvedHeads), the first the buffer head last
 * reported (before the first reported merge the server knows no head, and takes the first parent
 * as the buffer's). Throws commit_mismatch.
 */
async function assertMergeTiesToHistory(
  db: Executor,
  repo: Repo,
  stream: Stream,
  commit: VerifiedCommit,
  reviewed: boolean,
): Promise<void> {
  const [first, second] = commit.parents;
  if (commit.parents.length !== 2 || first === undefined || second === undefined) {
    throw new GitSwarmError(
      'commit_mismatch',
      `Commit ${commit.id} has ${commit.parents.length} parents; a merge into ${repo.buffer_branch} has two (git merge --no-ff).`,
      { details: { commit: commit.id, parents: commit.parents } },
    );
  }
  const heads = await approvedHeads(db, stream, reviewed);
  if (!heads.includes(second)) {
    throw new GitSwarmError(
      'commit_mismatch',
      `Commit ${commit.id} does not merge the approved head of stream ${stream.name}.`,
      {
        hint: 'Merge the stream head the server recorded (POST /streams/:id/commits), or record the newer commit and get it approved.',
        details: { commit: commit.id, second_parent: second, approved_head: heads[0] ?? null },
      },
    );
  }
  const bufferHead = await getReportedBufferHead(db, repo.id);
  if (bufferHead !== null && first !== bufferHead) {
    throw new GitSwarmError(
      'commit_mismatch',
      `Commit ${commit.id} is not made on ${repo.buffer_branch} as last reported (${bufferHead}).`,
      {
        hint: `Fetch ${repo.buffer_branch}, merge the stream onto its head, push, then report that merge.`,
        details: { commit: commit.id, first_parent: first, buffer_head: bufferHead },
      },
    );
  }
}

/**
 * The stream's approved head: its newest recorded commit (several only when recorded in the same
 * instant). Where consensus decides the merge (`reviewed`), an approval must be given after that
 * commit was recorded: a commit recorded after the last approval was not reviewed, and merging it
 * is refused (commit_mismatch) until someone approves again.
 */
async function approvedHeads(db: Executor, stream: Stream, reviewed: boolean): Promise<string[]> {
  const commits = await db
    .selectFrom('gitswarm_stream_commits')
    .select(['commit_hash', 'created_at'])
    .where('stream_id', '=', stream.id)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(10)
    .execute();
  const newest = commits[0]?.created_at;
  const heads = commits.filter((c) => c.created_at === newest).map((c) => c.commit_hash);
  if (reviewed && newest !== undefined) {
    const approval = await db
      .selectFrom('gitswarm_stream_reviews')
      .select('id')
      .where('stream_id', '=', stream.id)
      .where('verdict', '=', 'approve')
      .where('reviewed_at', '>=', newest)
      .executeTakeFirst();
    if (!approval) {
      throw new GitSwarmError(
        'commit_mismatch',
        `Stream ${stream.name}'s head ${heads[0]} was recorded after its last approval; it has not been reviewed.`,
        {
          hint: 'Ask a reviewer to approve the stream as it is now.',
          details: { head_commit: heads[0] ?? null, unreviewed: true },
        },
      );
    }
  }
  return heads;
}

export interface RecordRemoteRevertInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
  revertCommit: string;
  /** Which merge was reverted; default: the stream's latest unreverted merge. */
  mergeCommit?: string;
  reason?: string;
}

/** Records a revert of a stream's merge made by a client (maintain+); idempotent per merge. */
export async function recordRemoteRevert(deps: CoreDeps, input: RecordRemoteRevertInput) {
  assertObjectId('revert commit', input.revertCommit);
  if (input.mergeCommit !== undefined) assertObjectId('merge commit', input.mergeCommit);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const stream = await getStreamById(deps.store.db, input.stream.id);
    assertStreamOfRepo(repo, stream);
    await requireAction(deps, deps.store.db, repo, input.actor, 'merge');
    let q = deps.store.db
      .selectFrom('gitswarm_merges')
      .selectAll()
      .where('repo_id', '=', repo.id)
      .where('stream_id', '=', stream.id);
    if (input.mergeCommit !== undefined) q = q.where('merge_commit', '=', input.mergeCommit);
    const merges = await q.orderBy('merged_at', 'desc').orderBy('id', 'desc').execute();
    const done = merges.find((m) => m.revert_commit === input.revertCommit);
    if (done)
      return { stream, merge_commit: done.merge_commit, revert_commit: input.revertCommit, created: false };
    const merge = merges.find((m) => m.reverted_at === null);
    if (!merge) {
      throw new GitSwarmError('invalid_state', `Stream ${stream.name} has no unreverted merge to revert.`, {
        details: { stream_id: stream.id, status: stream.status },
      });
    }
    await recordReportedMove(
      deps,
      repo.id,
      {
        ref: `refs/heads/${merge.target_branch}`,
        old:
          merge.target_branch === repo.buffer_branch
            ? await getReportedBufferHead(deps.store.db, repo.id)
            : null,
        new: input.revertCommit,
        kind: 'revert',
        description: `Revert stream ${stream.name} on ${merge.target_branch}`,
        streamId: stream.id,
        agentId: input.actor.id,
      },
      async (trx, opId, oplog) => {
        await recordRevert(deps, trx, {
          repo,
          streamId: stream.id,
          mergeCommit: merge.merge_commit,
          revertCommit: input.revertCommit,
          agentId: input.actor.id,
          reason: input.reason ?? null,
          opId,
          oplog,
        });
        // The revert was made on the buffer's head: the next merge is made on it.
        if (merge.target_branch === repo.buffer_branch) {
          await setReportedBufferHead(deps, trx, {
            repoId: repo.id,
            commit: input.revertCommit,
            agentId: input.actor.id,
          });
        }
      },
    );
    return {
      stream: await getStreamById(deps.store.db, stream.id),
      merge_commit: merge.merge_commit,
      revert_commit: input.revertCommit,
      created: true,
    };
  });
}

export interface ChangeStreamStatusInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
  status: 'active' | 'conflicted';
  /**
   * For `conflicted`: the paths git could not merge, onto which commit, and whether a merge into
   * the buffer (default) or a rebase onto a moved parent or buffer (a cascade) found it.
   */
  conflict?: { paths: string[]; onto?: string; operation?: 'merge' | 'rebase' };
}

/**
 * The author reports a conflict found by its local merge or rebase (`conflicted`), or takes the
 * stream back to work (`active`: withdrawn from review, or the conflict resolved).
 */
export async function changeStreamStatus(deps: CoreDeps, input: ChangeStreamStatusInput): Promise<Stream> {
  if (input.status === 'conflicted') {
    const paths = input.conflict?.paths ?? [];
    if (paths.length === 0 || paths.length > 10_000 || paths.some((p) => p.length === 0 || p.length > 4096)) {
      throw new GitSwarmError('invalid_input', 'A conflict names 1-10000 conflicting paths.');
    }
    if (input.conflict?.onto !== undefined) assertObjectId('conflict base', input.conflict.onto);
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    const stream = await refreshStream(trx, input.stream);
    assertStreamOfRepo(repo, stream);
    if (stream.agent_id !== input.actor.id) {
      throw new GitSwarmError(
        'forbidden',
        `Only the stream's author changes the status of stream ${stream.id}.`,
      );
    }
    if (stream.status === input.status) return stream;
    assertTransition(stream, input.status);
    if (input.status === 'conflicted') {
      const conflict = {
        operation: input.conflict?.operation ?? 'merge',
        onto: input.conflict?.onto ?? '',
        paths: input.conflict?.paths ?? [],
        detected_at: isoNow(deps.clock),
      };
      const updated = await updateStream(deps, trx, stream, { status: 'conflicted', conflict });
      await recordActivity(deps, trx, {
        event: 'stream.conflicted',
        repoId: repo.id,
        agentId: input.actor.id,
        targetType: 'stream',
        targetId: stream.id,
        metadata: {
          operation: conflict.operation,
          onto: conflict.onto,
          paths: conflict.paths,
          reported: true,
        },
      });
      return updated;
    }
    const updated = await updateStream(deps, trx, stream, {
      status: 'active',
      conflict: null,
      ...(stream.status === 'in_review' ? { review_status: null } : {}),
    });
    await recordActivity(deps, trx, {
      event: 'stream.updated',
      repoId: repo.id,
      agentId: input.actor.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: { status: 'active', previous_status: stream.status },
    });
    return updated;
  });
}

export interface AbandonStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
  reason?: string;
}

/** Abandons a live stream: its author, or a maintainer (maintain+). */
export async function abandonStream(deps: CoreDeps, input: AbandonStreamInput): Promise<Stream> {
  if (input.reason !== undefined && input.reason.length > 2000) {
    throw new GitSwarmError('invalid_input', 'A reason may be at most 2000 characters.');
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    const stream = await refreshStream(trx, input.stream);
    assertStreamOfRepo(repo, stream);
    if (stream.agent_id !== input.actor.id) await requireAction(deps, trx, repo, input.actor, 'merge');
    if (stream.status === 'abandoned') return stream;
    assertTransition(stream, 'abandoned');
    const updated = await updateStream(deps, trx, stream, { status: 'abandoned' });
    await recordActivity(deps, trx, {
      event: 'stream.abandoned',
      repoId: repo.id,
      agentId: input.actor.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: { name: stream.name, reason: input.reason ?? null },
    });
    // The clients rebase the children's branches; the record says what they build on now.
    await reparentOntoBuffer(deps, trx, repo, stream.id, input.actor.id, 'parent_abandoned');
    return updated;
  });
}

/** Replaces a stream's metadata (its author or a maintainer). */
export async function updateStreamMetadata(
  deps: CoreDeps,
  input: { repo: Repo; stream: Pick<Stream, 'id'>; actor: Agent; metadata: Record<string, unknown> },
): Promise<Stream> {
  if (JSON.stringify(input.metadata).length > 64 * 1024) {
    throw new GitSwarmError('invalid_input', 'Stream metadata may be at most 64 KiB of JSON.');
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    const stream = await refreshStream(trx, input.stream);
    assertStreamOfRepo(repo, stream);
    if (stream.agent_id !== input.actor.id && !(await isMaintainer(trx, repo.id, input.actor.id))) {
      throw new GitSwarmError(
        'forbidden',
        `Only the stream's author or a maintainer changes stream ${stream.id}.`,
      );
    }
    const updated = await updateStream(deps, trx, stream, { metadata: input.metadata });
    await recordActivity(deps, trx, {
      event: 'stream.updated',
      repoId: repo.id,
      agentId: input.actor.id,
      targetType: 'stream',
      targetId: stream.id,
      metadata: { changed: ['metadata'] },
    });
    return updated;
  });
}

/** The largest duration_ms the store holds (a 32-bit integer column on both dialects). */
export const MAX_DURATION_MS = 2_147_483_647;

export interface RecordStabilizationInput {
  repo: Repo;
  actor: Agent;
  result: StabilizationResult;
  tag?: string;
  /** The commit the tests ran on: the recorded buffer head or a buffer commit the server knows. */
  bufferCommit: string;
  /** A red result's candidate culprit: the stream whose merge the reporter blames. */
  breakingStreamId?: string;
  /** With red: a commit the same run found passing (the culprit merge's first parent). */
  passingCommit?: string;
  durationMs?: number;
  details?: Record<string, unknown>;
}

export interface CulpritVerdict {
  stream_id: string;
  /** confirmed: the evidence is recorded (a task is filed); suspected: a candidate only. */
  status: 'confirmed' | 'suspected';
  /** Why it stays a suspicion (null when confirmed). */
  reason: string | null;
}

/**
 * Records a stabilization a client ran on the buffer. Only maintain+ reports results (a CI runner
 * is given a maintain grant), and the tested commit must be one the server knows on the buffer
 * (unknown_commit otherwise), so an untested or made-up commit cannot be recorded green. Answers
 * whether the buffer should now be promoted (green and auto_promote_on_green); the promotion is
 * reported separately and checked then. A red result's breaking stream is a candidate: only when
 * the evidence is recorded (the failing commit is that stream's merge, whose first parent passed,
 * in this report or a recorded green) is a critical task filed for its author (one open task per
 * stream); otherwise the red is recorded with the culprit `suspected`.
 */
export async function recordStabilization(
  deps: CoreDeps,
  input: RecordStabilizationInput,
): Promise<{
  stabilization: Stabilization;
  promote: boolean;
  task_id: string | null;
  culprit: CulpritVerdict | null;
  /** Red with a confirmed culprit: whether the reporter should revert its merge, and why (not). */
  revert: boolean;
  revert_decision: Awaited<ReturnType<typeof decideAutoRevert>> | null;
}> {
  if (!STABILIZATION_RESULTS.includes(input.result)) {
    throw new GitSwarmError('invalid_input', `Unknown result ${JSON.stringify(input.result)}.`);
  }
  if (input.tag !== undefined) assertValidBranch(input.tag);
  assertObjectId('buffer commit', input.bufferCommit);
  if (input.passingCommit !== undefined) {
    assertObjectId('passing commit', input.passingCommit);
    if (input.result !== 'red') {
      throw new GitSwarmError('invalid_input', 'passing_commit is evidence for a red result only.');
    }
  }
  if (input.breakingStreamId !== undefined && input.result !== 'red') {
    throw new GitSwarmError('invalid_input', 'breaking_stream_id goes with a red result only.');
  }
  if (
    input.durationMs !== undefined &&
    (!Number.isInteger(input.durationMs) || input.durationMs < 0 || input.durationMs > MAX_DURATION_MS)
  ) {
    throw new GitSwarmError('invalid_input', `duration_ms is an integer from 0 to ${MAX_DURATION_MS}.`);
  }
  if (input.details !== undefined && JSON.stringify(input.details).length > 64 * 1024) {
    throw new GitSwarmError('invalid_input', 'Stabilization details may be at most 64 KiB of JSON.');
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    await requireAction(deps, trx, repo, input.actor, 'merge');
    if (!(await isKnownBufferCommit(trx, repo, input.bufferCommit))) {
      throw new GitSwarmError(
        'unknown_commit',
        `Commit ${input.bufferCommit} is not a ${repo.buffer_branch} commit the server has recorded.`,
        {
          hint: `Test the buffer head as last reported (a reported merge or revert), or report that merge first.`,
          details: { commit: input.bufferCommit, buffer_head: await getReportedBufferHead(trx, repo.id) },
        },
      );
    }
    const candidate =
      input.breakingStreamId === undefined ? undefined : await getStreamById(trx, input.breakingStreamId);
    if (candidate) assertStreamOfRepo(repo, candidate);
    const culprit = candidate
      ? await judgeCulprit(trx, repo, candidate, input.bufferCommit, input.passingCommit)
      : null;
    const confirmed = culprit?.status === 'confirmed' ? candidate : undefined;
    const taskId = confirmed
      ? await redTaskFor(deps, trx, repo, confirmed, input.actor, input.details ?? {})
      : null;
    // The reporter reverts the confirmed culprit's merge itself (it has the clone) when the rule
    // says so; an approved revert counts toward the daily cap of automatic reverts.
    const revertDecision = confirmed
      ? await decideAutoRevert(deps, trx, {
          repo,
          stream: confirmed,
          merge: await trx
            .selectFrom('gitswarm_merges')
            .select('reverted_at')
            .where('repo_id', '=', repo.id)
            .where('stream_id', '=', confirmed.id)
            .where('merge_commit', '=', input.bufferCommit)
            .executeTakeFirstOrThrow(),
        })
      : null;
    const row: Stabilization = {
      id: newId(),
      repo_id: repo.id,
      result: input.result,
      tag: input.tag ?? null,
      buffer_commit: input.bufferCommit,
      breaking_stream_id: confirmed?.id ?? null,
      duration_ms: input.durationMs ?? null,
      log_path: null,
      details: {
        ...input.details,
        reported: true,
        ...(culprit ? { culprit } : {}),
        ...(input.passingCommit ? { passing_commit: input.passingCommit } : {}),
        ...(taskId ? { task_id: taskId } : {}),
        ...(revertDecision
          ? { revert_decision: revertDecision, auto_reverted: revertDecision === 'revert' }
          : {}),
      },
      stabilized_at: isoNow(deps.clock),
    };
    await trx
      .insertInto('gitswarm_stabilizations')
      .values({ ...row, details: toJson(row.details) })
      .execute();
    await recordActivity(deps, trx, {
      event: 'buffer.stabilized',
      repoId: repo.id,
      agentId: input.actor.id,
      targetType: 'stabilization',
      targetId: row.id,
      metadata: {
        result: row.result,
        buffer_commit: row.buffer_commit,
        tag: row.tag,
        breaking_stream_id: row.breaking_stream_id,
        culprit,
        duration_ms: row.duration_ms,
        reported: true,
      },
    });
    return {
      stabilization: row,
      promote: row.result === 'green' && repo.auto_promote_on_green,
      task_id: taskId,
      culprit,
      revert: revertDecision === 'revert',
      revert_decision: revertDecision,
    };
  });
}

/**
 * Whether the reporter's evidence against the candidate is recorded: the failing commit is the
 * candidate's recorded merge, and that merge's first parent passed (named in this report, or a
 * green stabilization recorded for it). Bisection gives exactly this pair.
 */
async function judgeCulprit(
  db: Executor,
  repo: Repo,
  stream: Stream,
  failing: string,
  passing: string | undefined,
): Promise<CulpritVerdict> {
  const suspected = (reason: string): CulpritVerdict => ({
    stream_id: stream.id,
    status: 'suspected',
    reason,
  });
  const merge = await db
    .selectFrom('gitswarm_merges')
    .select(['base_commit'])
    .where('repo_id', '=', repo.id)
    .where('stream_id', '=', stream.id)
    .where('target_branch', '=', repo.buffer_branch)
    .where('merge_commit', '=', failing)
    .executeTakeFirst();
  if (!merge) return suspected(`the failing commit is not a recorded merge of stream ${stream.name}`);
  if (merge.base_commit === null) return suspected("the merge's first parent is not recorded");
  if (passing === merge.base_commit) return { stream_id: stream.id, status: 'confirmed', reason: null };
  const green = await db
    .selectFrom('gitswarm_stabilizations')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('result', '=', 'green')
    .where('buffer_commit', '=', merge.base_commit)
    .executeTakeFirst();
  if (green) return { stream_id: stream.id, status: 'confirmed', reason: null };
  return suspected(
    passing === undefined
      ? "no passing result is recorded for the merge's first parent"
      : "the passing commit is not the merge's first parent",
  );
}

/** The live critical task already filed for this culprit (findOpenRedTask), or a new one for its author. */
async function redTaskFor(
  deps: CoreDeps,
  trx: Executor,
  repo: Repo,
  stream: Stream,
  reporter: Agent,
  details: Record<string, unknown>,
): Promise<string> {
  const known = await findOpenRedTask(trx, repo, { streamId: stream.id });
  if (known) return known.id;
  const text = (key: string) => (typeof details[key] === 'string' ? (details[key] as string) : undefined);
  const command = text('command');
  const excerpt = text('log_excerpt');
  const task = await fileCriticalTask(deps, trx, {
    repo,
    title: `Fix red build: stream ${stream.name} broke the buffer${command ? ` (${command})` : ''}`,
    description: [
      `${reporter.name} reports the stabilize command red on ${repo.buffer_branch} and blames the merge of stream ${stream.name} (${stream.id}).`,
      ...(command ? ['', `Command: ${command}`] : []),
      ...(excerpt ? ['', 'Output:', '```', excerpt, '```'] : []),
    ].join('\n'),
    assigneeId: stream.agent_id,
    createdBy: null,
  });
  return task.id;
}

export interface RecordRemotePromotionInput {
  repo: Repo;
  actor: Agent;
  fromCommit?: string | null;
  toCommit: string;
  trigger?: 'manual' | 'auto';
}

/**
 * Records a promotion a client made (fast-forwarding the promote target to a buffer commit), after
 * the promotion rules (assertPromotable: maintain+, stage). When the repository has a stabilize
 * command, the commit must have a recorded green stabilization (`not_green` otherwise): main only
 * receives tested code. Reporting the same target commit again changes nothing.
 */
export async function recordRemotePromotion(deps: CoreDeps, input: RecordRemotePromotionInput) {
  assertObjectId('promoted commit', input.toCommit);
  if (input.fromCommit) assertObjectId('previous commit', input.fromCommit);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const db = deps.store.db;
    await assertRemotePromotable(deps, db, repo, input, { green: false });
    const existing = await db
      .selectFrom('gitswarm_promotions')
      .selectAll()
      .where('repo_id', '=', repo.id)
      .where('to_branch', '=', repo.promote_target)
      .where('to_commit', '=', input.toCommit)
      .executeTakeFirst();
    if (existing) return { promotion: existing, created: false };
    await assertRemotePromotable(deps, db, repo, input, { rules: false });
    await recordReportedMove(
      deps,
      repo.id,
      {
        ref: `refs/heads/${repo.promote_target}`,
        old: input.fromCommit ?? null,
        new: input.toCommit,
        kind: 'promote',
        description: `Promote ${repo.buffer_branch} to ${repo.promote_target}`,
        agentId: input.actor.id,
      },
      (trx, opId, oplog) =>
        recordPromotion(deps, trx, {
          repo,
          fromCommit: input.fromCommit ?? null,
          toCommit: input.toCommit,
          trigger: input.trigger ?? 'manual',
          agentId: input.actor.id,
          opId,
          oplog,
        }),
    );
    const promotion = await db
      .selectFrom('gitswarm_promotions')
      .selectAll()
      .where('repo_id', '=', repo.id)
      .where('to_branch', '=', repo.promote_target)
      .where('to_commit', '=', input.toCommit)
      .executeTakeFirstOrThrow();
    return { promotion, created: true };
  });
}

/**
 * The promotion decision a connected clone asks before it pushes the promote target (POST
 * /repos/:id/promote/decision): the same checks as the report (assertRemotePromotable), nothing
 * recorded. Approved, the clone fast-forwards the target by compare-and-swap, then reports.
 */
export async function approvePromotion(deps: CoreDeps, input: RecordRemotePromotionInput) {
  assertObjectId('promoted commit', input.toCommit);
  if (input.fromCommit) assertObjectId('previous commit', input.fromCommit);
  const repo = await getRepo(deps.store.db, input.repo.id);
  await assertRemotePromotable(deps, deps.store.db, repo, input, {});
  return {
    approved: true as const,
    from_branch: repo.buffer_branch,
    to_branch: repo.promote_target,
    from_commit: input.fromCommit ?? null,
    to_commit: input.toCommit,
  };
}

/**
 * The rules of a reported promotion: the promotion rules (assertPromotable: maintain+, stage)
 * and, when the repository has a stabilize command, a recorded green stabilization of the
 * commit (`not_green`): main only receives tested code.
 */
async function assertRemotePromotable(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  input: RecordRemotePromotionInput,
  which: { rules?: boolean; green?: boolean },
): Promise<void> {
  if (which.rules !== false) {
    await assertPromotable(deps, db, {
      repo,
      actor: input.actor,
      bufferHead: input.toCommit,
      targetHead: input.fromCommit ?? null,
      force: false,
      // A reported automatic promotion counts as one only where the repository promotes on green
      // (its commit is then checked green below); otherwise a client could name itself automation.
      trigger:
        input.trigger === 'auto' && repo.auto_promote_on_green && repo.stabilize_command?.trim()
          ? 'auto'
          : 'manual',
    });
  }
  if (which.green === false || !repo.stabilize_command?.trim()) return;
  const green = await db
    .selectFrom('gitswarm_stabilizations')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('result', '=', 'green')
    .where('buffer_commit', '=', input.toCommit)
    .executeTakeFirst();
  if (!green) {
    throw new GitSwarmError('not_green', `Commit ${input.toCommit} has no green stabilization recorded.`, {
      hint: 'Record the green stabilization first: POST /api/v1/repos/:id/stabilize',
      details: { commit: input.toCommit },
    });
  }
}

/** Promotions of a repository, newest first. */
export async function listPromotions(db: Executor, repoId: string, options: { limit?: number } = {}) {
  return db
    .selectFrom('gitswarm_promotions')
    .selectAll()
    .where('repo_id', '=', repoId)
    .orderBy('promoted_at', 'desc')
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(options.limit ?? 50, 1), 1000))
    .execute();
}

/** Recorded commits of a stream, oldest first. */
export async function listStreamCommits(db: Executor, streamId: string) {
  return db
    .selectFrom('gitswarm_stream_commits')
    .selectAll()
    .where('stream_id', '=', streamId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/**
 * Records a ref move a client made in its clone as our own moves are: the operation's intent
 * (marked reported, `(made by the client)`), then `record` in one transaction that completes it.
 * When recording fails the intent is withdrawn, so no half-recorded move stays behind. Also used
 * for moves GitHub reports (src/github/).
 */
export async function recordReportedMove<T>(
  deps: CoreDeps,
  repoId: string,
  move: Omit<RefMove, 'metadata'>,
  record: (trx: Executor, opId: string, oplog: OpLog) => Promise<T>,
): Promise<T> {
  const oplog = new OpLog(deps.store, repoId, deps.clock);
  const opId = await oplog.begin({
    ...move,
    description: `${move.description} (made by the client)`,
    metadata: { reported: true },
  });
  try {
    return await inTransaction(deps.store.db, (trx) => record(trx, opId, oplog));
  } catch (error) {
    await oplog.abort(opId);
    throw error;
  }
}
