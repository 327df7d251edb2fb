/**
 * Pull requests of a linked GitHub repository as streams (spec section 7): opened or reopened → a
 * stream record (`source: github_pr`, the PR's number and URL, its head branch as the stream's
 * branch, its base as the stream's base, the author's agent as the stream's author) in review;
 * synchronize → the new head recorded as the stream's newest commit, so earlier verdicts go stale
 * as for any Mode B stream (core/streams/review-freshness.ts); closed and merged into the buffer → the
 * merge recorded as a reported one is (core/streams/stream-merge.ts recordMerge: metrics, karma, stage,
 * reviewer stats, the buffer head), disputed when consensus was not reached; closed unmerged →
 * abandoned. GitHub has already checked who may push, merge or close; the governance rules of
 * what those facts mean are the core's.
 */
import { recordActivity } from '../core/activity/activity.js';
import { findAgent } from '../core/agents/agents.js';
import type { CoreDeps } from '../core/deps.js';
import { getRepo } from '../core/repos/repos.js';
import { evaluateConsensus } from '../core/streams/consensus.js';
import { submitForReview } from '../core/streams/reviews.js';
import { reparentOntoBuffer } from '../core/streams/stream-cascade.js';
import { recordMerge } from '../core/streams/stream-merge.js';
import { insertStreamRecord } from '../core/streams/stream-records.js';
import { getStreamById, isLiveStream, updateStream } from '../core/streams/streams.js';
import { recordMergeDispute } from '../core/sync/offline-merges.js';
import { abandonStream, recordReportedMove } from '../core/sync/remote-sync.js';
import { getReportedBufferHead, setReportedBufferHead } from '../core/sync/reported-buffer.js';
import { isObjectId } from '../engine/names.js';
import { isGitSwarmError } from '../errors.js';
import {
  type Agent,
  type Executor,
  lockedTransaction,
  type Repo,
  type Stream,
  withRepoLock,
} from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId, newStreamId } from '../util/ids.js';
import { agentForGitHubUser, type GitHubUser } from './users.js';

/** The parts of GitHub's pull request object read here. */
export interface PullRequest {
  number: number;
  html_url: string;
  title: string;
  state: string;
  draft?: boolean;
  merged?: boolean;
  merge_commit_sha?: string | null;
  merged_by?: GitHubUser | null;
  user: GitHubUser;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
}

/** The newest stream of a pull request (a reopened PR may have an abandoned one before it). */
export async function findPullRequestStream(
  db: Executor,
  repoId: string,
  number: number,
): Promise<Stream | undefined> {
  return db
    .selectFrom('gitswarm_streams')
    .selectAll()
    .where('repo_id', '=', repoId)
    .where('github_pr_number', '=', number)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
}

/** Records the PR's head as the stream's newest commit (once per commit); `stream.committed`. */
async function recordPullRequestHead(
  deps: CoreDeps,
  trx: Executor,
  stream: Stream,
  pr: PullRequest,
): Promise<boolean> {
  if (!isObjectId(pr.head.sha)) return false;
  const known = await trx
    .selectFrom('gitswarm_stream_commits')
    .select('id')
    .where('stream_id', '=', stream.id)
    .where('commit_hash', '=', pr.head.sha)
    .executeTakeFirst();
  if (known) return false;
  await trx
    .insertInto('gitswarm_stream_commits')
    .values({
      id: newId(),
      stream_id: stream.id,
      agent_id: stream.agent_id,
      commit_hash: pr.head.sha,
      change_id: null,
      message: null,
      created_at: isoNow(deps.clock),
    })
    .execute();
  await recordActivity(deps, trx, {
    event: 'stream.committed',
    repoId: stream.repo_id,
    agentId: stream.agent_id,
    targetType: 'stream',
    targetId: stream.id,
    metadata: { commit: pr.head.sha, change_id: null, subject: null, github_pr_number: pr.number },
  });
  return true;
}

/**
 * The stream of an open pull request: the live one recorded before, or a new one (a PR opened,
 * reopened after its stream was abandoned, or first seen through a review). Returns whether it
 * was created.
 */
export async function openPullRequestStream(
  deps: CoreDeps,
  repo: Repo,
  pr: PullRequest,
): Promise<{ stream: Stream; created: boolean }> {
  const author = await agentForGitHubUser(deps, pr.user);
  return lockedTransaction(deps.store, repo.id, async (trx) => {
    const current = await getRepo(trx, repo.id);
    const existing = await findPullRequestStream(trx, current.id, pr.number);
    if (existing && isLiveStream(existing)) {
      await recordPullRequestHead(deps, trx, existing, pr);
      return { stream: existing, created: false };
    }
    const id = newStreamId();
    const record = async (name: string, branch: string) =>
      insertStreamRecord(deps, trx, {
        repo: current,
        agent: author,
        id,
        name,
        branch,
        source: 'github_pr',
        parent: null,
        baseBranch: pr.base.ref,
        baseCommit: isObjectId(pr.base.sha) ? pr.base.sha : null,
        eventMetadata: {
          source: 'github_pr',
          github_pr_number: pr.number,
          github_pr_url: pr.html_url,
          head_ref: pr.head.ref,
          ...(existing ? { reopened_from: existing.id } : {}),
        },
      });
    let stream: Stream;
    try {
      stream = await record(`pr-${pr.number}`, pr.head.ref);
    } catch (error) {
      // A head branch named like the buffer, a live stream's branch or a reserved name (a fork's
      // `main`), or a stream already called pr-N: the PR gets names of its own.
      if (!isGitSwarmError(error, 'invalid_name') && !isGitSwarmError(error, 'already_exists')) throw error;
      stream = await record(`pr-${pr.number}-${id.slice(0, 6)}`, `github/pr-${pr.number}-${id.slice(0, 6)}`);
    }
    await trx
      .updateTable('gitswarm_streams')
      .set({ github_pr_number: pr.number, github_pr_url: pr.html_url })
      .where('id', '=', id)
      .execute();
    stream = await getStreamById(trx, id);
    await recordPullRequestHead(deps, trx, stream, pr);
    if (!pr.draft) {
      stream = await updateStream(deps, trx, stream, { status: 'in_review', review_status: 'in_review' });
      await recordActivity(deps, trx, {
        event: 'stream.submitted',
        repoId: current.id,
        agentId: author.id,
        targetType: 'stream',
        targetId: id,
        metadata: { name: stream.name, github_pr_number: pr.number },
      });
    }
    return { stream, created: true };
  });
}

/** synchronize: the PR's new head recorded on its live stream. */
export async function recordPullRequestSync(deps: CoreDeps, repo: Repo, pr: PullRequest): Promise<string> {
  return lockedTransaction(deps.store, repo.id, async (trx) => {
    const stream = await findPullRequestStream(trx, repo.id, pr.number);
    if (!stream || !isLiveStream(stream)) return `ignored: no live stream for pull request #${pr.number}`;
    return (await recordPullRequestHead(deps, trx, stream, pr))
      ? 'handled'
      : 'ignored: head already recorded';
  });
}

/** ready_for_review: a draft's stream put up for review by its author, as `gitswarm review` would. */
export async function recordPullRequestReady(deps: CoreDeps, repo: Repo, pr: PullRequest): Promise<string> {
  const stream = await findPullRequestStream(deps.store.db, repo.id, pr.number);
  if (!stream || !isLiveStream(stream)) return `ignored: no live stream for pull request #${pr.number}`;
  if (stream.status === 'in_review') return 'ignored: already in review';
  const author = await findAgent(deps.store.db, stream.agent_id);
  if (!author) throw new Error(`Stream ${stream.id} has no author.`);
  await submitForReview(deps, { repo, stream, actor: author });
  return 'handled';
}

/** closed: merged into the buffer → the merge recorded; closed unmerged → the stream abandoned. */
export async function recordPullRequestClosed(
  deps: CoreDeps,
  repo: Repo,
  pr: PullRequest,
  sender: GitHubUser | undefined,
): Promise<string> {
  const stream = await findPullRequestStream(deps.store.db, repo.id, pr.number);
  if (!stream || !isLiveStream(stream)) return `ignored: no live stream for pull request #${pr.number}`;
  if (!pr.merged) {
    // As its author: GitHub has decided who may close the pull request.
    const author = await findAgent(deps.store.db, stream.agent_id);
    if (!author) throw new Error(`Stream ${stream.id} has no author.`);
    await abandonStream(deps, {
      repo,
      stream,
      actor: author,
      reason: `Pull request #${pr.number} closed on GitHub${sender ? ` by ${sender.login}` : ''}.`,
    });
    return 'handled';
  }
  const mergeCommit = pr.merge_commit_sha ?? '';
  if (!isObjectId(mergeCommit)) return 'ignored: merged without a merge commit';
  if (pr.base.ref !== repo.buffer_branch) {
    return `ignored: merged into ${pr.base.ref}, not the buffer ${repo.buffer_branch}`;
  }
  const merger = await agentForGitHubUser(deps, pr.merged_by ?? sender ?? pr.user);
  await recordGitHubMerge(deps, repo, stream, mergeCommit, merger);
  return 'handled';
}

/**
 * Records a merge made on GitHub as a client's reported merge is recorded (remote-sync.ts): the
 * operation log's move of the buffer, recordMerge (merge row, status, hooks, `stream.merged`),
 * the buffer head, the dependents rebuilt on the buffer; and, when consensus was not reached
 * (outside swarm mode), a dispute for people to settle, as for an offline merge.
 */
async function recordGitHubMerge(
  deps: CoreDeps,
  found: Repo,
  stream: Stream,
  mergeCommit: string,
  merger: Agent,
): Promise<void> {
  await withRepoLock(deps.store, found.id, async () => {
    const db = deps.store.db;
    const repo = await getRepo(db, found.id);
    const already = await db
      .selectFrom('gitswarm_merges')
      .select('id')
      .where('repo_id', '=', repo.id)
      .where('merge_commit', '=', mergeCommit)
      .executeTakeFirst();
    if (already) return;
    await recordReportedMove(
      deps,
      repo.id,
      {
        ref: `refs/heads/${repo.buffer_branch}`,
        old: await getReportedBufferHead(db, repo.id),
        new: mergeCommit,
        kind: 'merge',
        description: `Merge stream ${stream.name} into ${repo.buffer_branch} on GitHub`,
        streamId: stream.id,
        agentId: merger.id,
      },
      async (trx, opId, oplog) => {
        const consensus = await evaluateConsensus(deps, trx, repo, await getStreamById(trx, stream.id));
        await recordMerge(deps, trx, {
          repo,
          streamId: stream.id,
          mergeCommit,
          agentId: merger.id,
          trigger: 'agent',
          opId,
          oplog,
        });
        await setReportedBufferHead(deps, trx, { repoId: repo.id, commit: mergeCommit, agentId: merger.id });
        await reparentOntoBuffer(deps, trx, repo, stream.id, merger.id, 'parent_merged');
        if (!consensus.reached && repo.merge_mode !== 'swarm') {
          await recordMergeDispute(deps, trx, {
            repo,
            stream: await getStreamById(trx, stream.id),
            actor: merger,
            mergeCommit,
            dispute: { reason: `Merged on GitHub without consensus (${consensus.reason}).`, consensus },
          });
        }
      },
    );
  });
}
