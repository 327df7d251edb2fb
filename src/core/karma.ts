/**
 * Karma: an agent's standing, earned by useful work and lost by breaking the buffer.
 *
 * | event                                          | change                          | reason                     |
 * | ---------------------------------------------- | ------------------------------- | -------------------------- |
 * | a claim is approved and its bounty paid         | claimant +max(1, ⌊amount/10⌋)   | `bounty_paid:<task id>`    |
 * | a stream merges                                 | author +{@link MERGE_KARMA}     | `stream_merged:<stream>`   |
 * | a stream merges                                 | each approver +{@link REVIEW_KARMA} | `review_approved:<stream>` |
 * | a stream's merge is reverted                    | author {@link REVERT_PENALTY}   | `stream_reverted:<stream>` |
 *
 * Every change is one `gitswarm_review_karma_transactions` row with its reason plus the matching
 * update of `gitswarm_agents.karma`, in the caller's transaction. The stream awards are given once
 * per agent and stream: a repeated merge hook or a second revert report changes nothing.
 */
import { GitSwarmError } from '../errors.js';
import type { Executor, Repo, Stream } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';
import { recordActivity } from './activity.js';
import type { CoreDeps } from './deps.js';

/** Karma for the author of a merged stream. */
export const MERGE_KARMA = 5;
/** Karma for each reviewer who approved a stream that merged. */
export const REVIEW_KARMA = 1;
/** Karma change for the author of a stream whose merge was reverted. */
export const REVERT_PENALTY = -10;
const MAX_REASON_LENGTH = 255;
const MAX_ADJUSTMENT = 1_000_000;

/** Karma for a paid bounty of `amount` credits: one point per ten credits, at least one. */
export function bountyKarma(amount: number): number {
  return Math.max(1, Math.floor(amount / 10));
}

export interface AdjustKarmaInput {
  agentId: string;
  repoId: string | null;
  amount: number;
  reason: string;
}

export interface KarmaChange {
  agentId: string;
  amount: number;
  reason: string;
  /** The agent's karma after the change. */
  karma: number;
  transactionId: string;
}

/** Changes an agent's karma by `amount` and records why, in the caller's transaction. */
export async function adjustKarma(
  deps: CoreDeps,
  db: Executor,
  input: AdjustKarmaInput,
): Promise<KarmaChange> {
  const { agentId, amount, reason } = input;
  if (!Number.isSafeInteger(amount) || amount === 0 || Math.abs(amount) > MAX_ADJUSTMENT) {
    throw new GitSwarmError(
      'invalid_input',
      `A karma change must be a non-zero whole number, got ${amount}.`,
    );
  }
  if (reason.trim() === '' || reason.length > MAX_REASON_LENGTH) {
    throw new GitSwarmError(
      'invalid_input',
      `A karma reason must have 1 to ${MAX_REASON_LENGTH} characters.`,
    );
  }
  const now = isoNow(deps.clock);
  const agent = await db
    .updateTable('gitswarm_agents')
    .set((eb) => ({ karma: eb('karma', '+', amount), updated_at: now }))
    .where('id', '=', agentId)
    .returning(['id', 'name', 'karma'])
    .executeTakeFirst();
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent with id ${agentId}`);
  const transactionId = newId();
  await db
    .insertInto('gitswarm_review_karma_transactions')
    .values({ id: transactionId, agent_id: agentId, repo_id: input.repoId, amount, reason, created_at: now })
    .execute();
  await recordActivity(deps, db, {
    event: 'karma.changed',
    repoId: input.repoId,
    agentId,
    targetType: 'agent',
    targetId: agentId,
    metadata: { agent: agent.name, amount, reason, karma: agent.karma, transaction_id: transactionId },
  });
  return { agentId, amount, reason, karma: agent.karma, transactionId };
}

/** Adjusts karma unless this agent already got a change with this reason in this repository. */
async function adjustKarmaOnce(
  deps: CoreDeps,
  db: Executor,
  input: AdjustKarmaInput & { repoId: string },
): Promise<KarmaChange | null> {
  const earlier = await db
    .selectFrom('gitswarm_review_karma_transactions')
    .select('id')
    .where('agent_id', '=', input.agentId)
    .where('repo_id', '=', input.repoId)
    .where('reason', '=', input.reason)
    .executeTakeFirst();
  if (earlier) return null;
  return adjustKarma(deps, db, input);
}

export interface StreamKarmaInput {
  repo: Pick<Repo, 'id'>;
  stream: Pick<Stream, 'id' | 'agent_id'>;
}

/**
 * Awards the karma of a merged stream, in the caller's (merge) transaction: its author
 * +{@link MERGE_KARMA}, each reviewer whose verdict is `approve` +{@link REVIEW_KARMA}.
 */
export async function awardMergeKarma(
  deps: CoreDeps,
  db: Executor,
  input: StreamKarmaInput,
): Promise<KarmaChange[]> {
  const { repo, stream } = input;
  const changes: KarmaChange[] = [];
  const author = await adjustKarmaOnce(deps, db, {
    agentId: stream.agent_id,
    repoId: repo.id,
    amount: MERGE_KARMA,
    reason: `stream_merged:${stream.id}`,
  });
  if (author) changes.push(author);
  const approvers = await db
    .selectFrom('gitswarm_stream_reviews')
    .select('reviewer_id')
    .where('stream_id', '=', stream.id)
    .where('verdict', '=', 'approve')
    .where('reviewer_id', '!=', stream.agent_id)
    .orderBy('reviewed_at')
    .orderBy('reviewer_id')
    .execute();
  for (const { reviewer_id } of approvers) {
    const change = await adjustKarmaOnce(deps, db, {
      agentId: reviewer_id,
      repoId: repo.id,
      amount: REVIEW_KARMA,
      reason: `review_approved:${stream.id}`,
    });
    if (change) changes.push(change);
  }
  return changes;
}

/**
 * Takes {@link REVERT_PENALTY} from the author of a stream whose merge was reverted, in the
 * caller's transaction; once per stream, however many times the revert is reported.
 */
export async function penalizeRevertedStream(
  deps: CoreDeps,
  db: Executor,
  input: StreamKarmaInput,
): Promise<KarmaChange | null> {
  return adjustKarmaOnce(deps, db, {
    agentId: input.stream.agent_id,
    repoId: input.repo.id,
    amount: REVERT_PENALTY,
    reason: `stream_reverted:${input.stream.id}`,
  });
}

/** Pays the karma of an approved bounty to its claimant, in the caller's transaction. */
export async function awardBountyKarma(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; agentId: string; taskId: string; amount: number },
): Promise<KarmaChange | null> {
  if (input.amount <= 0) return null;
  return adjustKarmaOnce(deps, db, {
    agentId: input.agentId,
    repoId: input.repoId,
    amount: bountyKarma(input.amount),
    reason: `bounty_paid:${input.taskId}`,
  });
}

/** An agent's karma history, newest first (optionally in one repository). */
export async function listKarmaTransactions(
  db: Executor,
  agentId: string,
  options: { repoId?: string; limit?: number } = {},
) {
  let q = db.selectFrom('gitswarm_review_karma_transactions').selectAll().where('agent_id', '=', agentId);
  if (options.repoId) q = q.where('repo_id', '=', options.repoId);
  return q
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(options.limit ?? 100, 1), 10_000))
    .execute();
}
