/**
 * Karma: an agent's standing in one repository, earned there by merged, not-reverted work and
 * accurate reviews, and lost there by breaking the buffer.
 *
 * Karma is per repository. What a repository's rules read (the `karma_threshold` access gate in
 * access.ts, `open`-model review weights in consensus.ts) is the agent's karma in that repository,
 * {@link repoKarma}: karma earned elsewhere opens nothing here. `gitswarm_agents.karma` is the
 * sum over every repository (plus ledger rows from before karma had a repository), shown on the
 * agent's profile; no rule reads it.
 *
 * | event                 | change, in the stream's repository                      | reason                         |
 * | --------------------- | ------------------------------------------------------- | ------------------------------ |
 * | a stream merges       | author +{@link MERGE_KARMA}                             | `stream_merged:<stream>`       |
 * | a stream merges       | each approver +{@link REVIEW_KARMA}                     | `review_approved:<stream>`     |
 * | its merge is reverted | what the merge earned is taken back (author, approvers) | `reverted:<reason taken back>` |
 * | its merge is reverted | author {@link REVERT_PENALTY}                           | `stream_reverted:<stream>`     |
 *
 * A paid bounty earns no karma: a repository's budget is filled by its own admins at no cost to
 * them, so every bounty counts as self-funded (docs/governance.md). The bounty's work earns karma
 * the ordinary way, when its stream merges.
 *
 * Every change is one `gitswarm_review_karma_transactions` row with its repository and reason,
 * plus the matching update of `gitswarm_repo_karma` and of the agent's total, in the caller's
 * transaction. Awards are given once per agent, repository and reason: a repeated merge hook or a
 * second revert report changes nothing.
 */
import { GitSwarmError } from '../../errors.js';
import type { Executor, Repo, Stream } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';

/** Karma for the author of a merged stream. */
export const MERGE_KARMA = 5;
/** Karma for each reviewer who approved a stream that merged. */
export const REVIEW_KARMA = 1;
/** Karma change for the author of a stream whose merge was reverted, on top of losing MERGE_KARMA. */
export const REVERT_PENALTY = -10;
const MAX_REASON_LENGTH = 255;
const MAX_ADJUSTMENT = 1_000_000;

export interface AdjustKarmaInput {
  agentId: string;
  /**
   * The repository the karma is earned or lost in. Null only for a change that belongs to no
   * repository: it counts in the agent's total alone, which no rule reads (no product path makes one).
   */
  repoId: string | null;
  amount: number;
  reason: string;
}

export interface KarmaChange {
  agentId: string;
  repoId: string | null;
  amount: number;
  reason: string;
  /** The agent's karma in the repository after the change (its total when repoId is null). */
  karma: number;
  /** The agent's total over every repository after the change. */
  totalKarma: number;
  transactionId: string;
}

/** Changes an agent's karma in a repository by `amount` and records why, in the caller's transaction. */
export async function adjustKarma(
  deps: CoreDeps,
  db: Executor,
  input: AdjustKarmaInput,
): Promise<KarmaChange> {
  const { agentId, repoId, amount, reason } = input;
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
  let karma = agent.karma;
  if (repoId !== null) {
    const row = await db
      .insertInto('gitswarm_repo_karma')
      .values({ agent_id: agentId, repo_id: repoId, karma: amount, updated_at: now })
      .onConflict((oc) =>
        oc.columns(['agent_id', 'repo_id']).doUpdateSet((eb) => ({
          karma: eb('gitswarm_repo_karma.karma', '+', amount),
          updated_at: now,
        })),
      )
      .returning('karma')
      .executeTakeFirstOrThrow();
    karma = row.karma;
  }
  const transactionId = newId();
  await db
    .insertInto('gitswarm_review_karma_transactions')
    .values({ id: transactionId, agent_id: agentId, repo_id: repoId, amount, reason, created_at: now })
    .execute();
  await recordActivity(deps, db, {
    event: 'karma.changed',
    repoId,
    agentId,
    targetType: 'agent',
    targetId: agentId,
    metadata: {
      agent: agent.name,
      amount,
      reason,
      karma,
      total_karma: agent.karma,
      transaction_id: transactionId,
    },
  });
  return { agentId, repoId, amount, reason, karma, totalKarma: agent.karma, transactionId };
}

/** The agent's karma in the repository: what that repository's rules read (0 before any change). */
export async function repoKarma(db: Executor, repoId: string, agentId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_repo_karma')
    .select('karma')
    .where('agent_id', '=', agentId)
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  return row?.karma ?? 0;
}

export interface AgentKarma {
  /** The sum over every repository (and ledger rows from before karma had one); no rule reads it. */
  total: number;
  /** Karma in each repository where the agent has any, highest first. */
  repositories: { repo_id: string; repo_name: string; karma: number }[];
}

/** An agent's karma: the total and the figure in each repository. */
export async function agentKarma(db: Executor, agentId: string): Promise<AgentKarma> {
  const agent = await db
    .selectFrom('gitswarm_agents')
    .select('karma')
    .where('id', '=', agentId)
    .executeTakeFirst();
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent with id ${agentId}`);
  const repositories = await db
    .selectFrom('gitswarm_repo_karma as k')
    .innerJoin('gitswarm_repos as r', 'r.id', 'k.repo_id')
    .select(['k.repo_id', 'r.name as repo_name', 'k.karma'])
    .where('k.agent_id', '=', agentId)
    .orderBy('k.karma', 'desc')
    .orderBy('r.name')
    .execute();
  return { total: agent.karma, repositories };
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
 * The reasons under which a stream's merge earned karma in its repository: the author's and the
 * approvers' awards, and the bounty karma of claims linked to it (paid before bounties stopped
 * earning karma; the ledger still holds it).
 */
async function mergeEarningReasons(db: Executor, input: StreamKarmaInput): Promise<string[]> {
  const claimed = await db
    .selectFrom('gitswarm_task_claims as c')
    .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
    .select('t.id')
    .where('c.stream_id', '=', input.stream.id)
    .where('c.agent_id', '=', input.stream.agent_id)
    .where('t.repo_id', '=', input.repo.id)
    .where('c.status', '=', 'approved')
    .execute();
  return [
    `stream_merged:${input.stream.id}`,
    `review_approved:${input.stream.id}`,
    ...claimed.map((task) => `bounty_paid:${task.id}`),
  ];
}

/**
 * A stream's merge was reverted, in the caller's transaction: what the merge earned in the
 * repository is taken back from each agent who earned it (`reverted:<reason>`), and its author
 * loses {@link REVERT_PENALTY} more. Once per agent and reason, however many times the revert is
 * reported.
 */
export async function penalizeRevertedStream(
  deps: CoreDeps,
  db: Executor,
  input: StreamKarmaInput,
): Promise<KarmaChange[]> {
  const earned = await db
    .selectFrom('gitswarm_review_karma_transactions')
    .select(['agent_id', 'reason', (eb) => eb.fn.sum<number | string>('amount').as('earned')])
    .where('repo_id', '=', input.repo.id)
    .where('reason', 'in', await mergeEarningReasons(db, input))
    .groupBy(['agent_id', 'reason'])
    .orderBy('reason')
    .orderBy('agent_id')
    .execute();
  const changes: KarmaChange[] = [];
  for (const row of earned) {
    const amount = Number(row.earned);
    if (amount <= 0) continue;
    const change = await adjustKarmaOnce(deps, db, {
      agentId: row.agent_id,
      repoId: input.repo.id,
      amount: -amount,
      reason: `reverted:${row.reason}`,
    });
    if (change) changes.push(change);
  }
  const penalty = await adjustKarmaOnce(deps, db, {
    agentId: input.stream.agent_id,
    repoId: input.repo.id,
    amount: REVERT_PENALTY,
    reason: `stream_reverted:${input.stream.id}`,
  });
  if (penalty) changes.push(penalty);
  return changes;
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
