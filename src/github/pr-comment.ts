/**
 * The one consensus comment GitSwarm keeps on a linked pull request: created the first time, its id
 * kept (gitswarm_github_pr_comments), and edited in place on every later event, never a new
 * comment per event. The row is claimed before the comment is created, so two server instances
 * hearing the same event do not both create one: the loser finds the claim and edits later.
 */

import type { CoreDeps } from '../core/deps.js';
import type { ConsensusResult } from '../core/streams/consensus.js';
import type { Repo, Stream } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import type { GitHubClient } from './client.js';
import { consensusNumbers, consensusStatus } from './statuses.js';

/** Marks the comment as GitSwarm's (for people, and for tools that look for it). */
export const COMMENT_MARKER = '<!-- gitswarm:consensus -->';

/** How long a claim may stand without a comment id before another instance takes it over. */
const STALE_CLAIM_MS = 2 * 60_000;

/** Another instance is creating the comment: edit it on the next try. */
export class CommentClaimedError extends Error {
  constructor(repoId: string, prNumber: number) {
    super(`The consensus comment of ${repoId}#${prNumber} is being created elsewhere.`);
    this.name = 'CommentClaimedError';
  }
}

/** The comment's text: the stream's state, consensus, its numbers and the head they were judged on. */
export function consensusCommentBody(
  stream: Pick<Stream, 'id' | 'name' | 'status'>,
  consensus: ConsensusResult,
  merge?: { merge_commit: string; target_branch: string } | null,
): string {
  const status = consensusStatus(stream, consensus);
  const verdict =
    stream.status === 'merged'
      ? `**Merged** into \`${merge?.target_branch ?? 'the buffer'}\`${merge ? ` as ${merge.merge_commit.slice(0, 12)}` : ''}.`
      : stream.status === 'reverted'
        ? '**Merge reverted** (see the stabilization that caused it).'
        : stream.status === 'abandoned'
          ? '**Abandoned.**'
          : consensus.reached
            ? '**Consensus reached**: this stream may merge.'
            : `**Waiting for consensus** (${consensus.reason.replaceAll('_', ' ')}).`;
  const lines = [
    COMMENT_MARKER,
    '### GitSwarm consensus',
    '',
    verdict,
    '',
    '| | |',
    '|---|---|',
    `| Model | ${consensus.model} |`,
    `| Approvals | ${consensus.approvals} |`,
    `| Changes requested | ${consensus.rejections} |`,
    `| ${consensus.model === 'open' ? 'Weighted ratio' : 'Ratio'} | ${consensus.ratio.toFixed(2)} (threshold ${consensus.threshold.toFixed(2)}) |`,
  ];
  if (consensus.required_approvals > 0)
    lines.push(`| Approvals required | ${consensus.required_approvals} |`);
  if (consensus.stale_approvals + consensus.stale_rejections > 0) {
    lines.push(
      `| Stale reviews (${consensus.stale_reviews}) | ${consensus.stale_approvals} approvals, ${consensus.stale_rejections} changes requested |`,
    );
  }
  if (consensus.head_commit) lines.push(`| Judged on | ${consensus.head_commit.slice(0, 12)} |`);
  lines.push(
    '',
    `GitSwarm stream \`${stream.id}\` (${stream.name}): ${status.state}; ${consensusNumbers(consensus)}.`,
  );
  return lines.join('\n');
}

/**
 * Creates the pull request's consensus comment, or edits the one already made. A comment deleted
 * on GitHub (404 on edit) is created again.
 */
export async function upsertPrComment(
  deps: CoreDeps,
  client: GitHubClient,
  input: { repo: Pick<Repo, 'id' | 'github_full_name'>; prNumber: number; body: string },
): Promise<{ commentId: number; created: boolean }> {
  const { repo, prNumber, body } = input;
  const fullName = repo.github_full_name;
  if (!fullName) throw new Error(`repository ${repo.id} is not linked to GitHub`);
  const db = deps.store.db;
  const row = await db
    .selectFrom('gitswarm_github_pr_comments')
    .select(['comment_id', 'updated_at'])
    .where('repo_id', '=', repo.id)
    .where('pr_number', '=', prNumber)
    .executeTakeFirst();
  if (row?.comment_id != null) {
    try {
      await client.repoRequest(fullName, 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
        comment_id: row.comment_id,
        body,
      });
      return { commentId: row.comment_id, created: false };
    } catch (error) {
      if ((error as { status?: number }).status !== 404) throw error;
      // Deleted on GitHub: release the row and make a new one below.
      await db
        .updateTable('gitswarm_github_pr_comments')
        .set({ comment_id: null, updated_at: isoNow(deps.clock) })
        .where('repo_id', '=', repo.id)
        .where('pr_number', '=', prNumber)
        .execute();
      return createComment(deps, client, { fullName, repoId: repo.id, prNumber, body, claimed: true });
    }
  }
  if (row) {
    // A claim older than this was left by an instance that stopped mid-way: take it over.
    if (Date.parse(isoNow(deps.clock)) - Date.parse(row.updated_at) < STALE_CLAIM_MS) {
      throw new CommentClaimedError(repo.id, prNumber);
    }
    const taken = await db
      .updateTable('gitswarm_github_pr_comments')
      .set({ updated_at: isoNow(deps.clock) })
      .where('repo_id', '=', repo.id)
      .where('pr_number', '=', prNumber)
      .where('comment_id', 'is', null)
      .where('updated_at', '=', row.updated_at)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) throw new CommentClaimedError(repo.id, prNumber);
    return createComment(deps, client, { fullName, repoId: repo.id, prNumber, body, claimed: true });
  }
  const claim = await db
    .insertInto('gitswarm_github_pr_comments')
    .values({ repo_id: repo.id, pr_number: prNumber, comment_id: null, updated_at: isoNow(deps.clock) })
    .onConflict((oc) => oc.columns(['repo_id', 'pr_number']).doNothing())
    .executeTakeFirst();
  if (Number(claim.numInsertedOrUpdatedRows ?? 0) === 0) throw new CommentClaimedError(repo.id, prNumber);
  return createComment(deps, client, { fullName, repoId: repo.id, prNumber, body, claimed: true });
}

async function createComment(
  deps: CoreDeps,
  client: GitHubClient,
  input: { fullName: string; repoId: string; prNumber: number; body: string; claimed: true },
): Promise<{ commentId: number; created: boolean }> {
  const db = deps.store.db;
  try {
    const answer = await client.repoRequest<{ id: number }>(
      input.fullName,
      'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
      { issue_number: input.prNumber, body: input.body },
    );
    await db
      .updateTable('gitswarm_github_pr_comments')
      .set({ comment_id: answer.data.id, updated_at: isoNow(deps.clock) })
      .where('repo_id', '=', input.repoId)
      .where('pr_number', '=', input.prNumber)
      .execute();
    return { commentId: answer.data.id, created: true };
  } catch (error) {
    // Not created: give the claim up so the next try creates it.
    await db
      .deleteFrom('gitswarm_github_pr_comments')
      .where('repo_id', '=', input.repoId)
      .where('pr_number', '=', input.prNumber)
      .where('comment_id', 'is', null)
      .execute();
    throw error;
  }
}
