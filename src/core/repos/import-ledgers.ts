/**
 * The two ledgers of an import, kept consistent with what was imported: karma rows must be ones
 * the imported events earn under core/governance/karma.ts's rules (a merged stream's author and approvers, a
 * reverted merge's take-back and penalty), and the budget's balances are recomputed from its
 * imported ledger, never taken from the client. So an import can neither mint karma nor credits
 * that its own history does not account for.
 */
import { sql } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import type { BudgetTransactionType, Executor, Repo } from '../../store/index.js';
import { MERGE_KARMA, REVERT_PENALTY, REVIEW_KARMA } from '../governance/karma.js';
import type { ImportContext } from './import-kinds.js';
import { invalidRow } from './import-kinds.js';
import type { KarmaImportRow } from './import-rows.js';

const AWARD = /^(reverted:)?(stream_merged|review_approved):(.+)$/;
const PENALTY = /^stream_reverted:(.+)$/;

interface StreamFacts {
  authorId: string | null;
  merged: boolean;
  reverted: boolean;
}

async function streamFacts(db: Executor, repoId: string, streamId: string): Promise<StreamFacts> {
  const stream = await db
    .selectFrom('gitswarm_streams')
    .select('agent_id')
    .where('id', '=', streamId)
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  const merges = await db
    .selectFrom('gitswarm_merges')
    .select('reverted_at')
    .where('stream_id', '=', streamId)
    .where('repo_id', '=', repoId)
    .execute();
  return {
    authorId: stream?.agent_id ?? null,
    merged: merges.length > 0,
    reverted: merges.some((merge) => merge.reverted_at !== null),
  };
}

async function approved(db: Executor, streamId: string, reviewerId: string): Promise<boolean> {
  const review = await db
    .selectFrom('gitswarm_stream_reviews')
    .select('id')
    .where('stream_id', '=', streamId)
    .where('reviewer_id', '=', reviewerId)
    .where('verdict', '=', 'approve')
    .executeTakeFirst();
  return review !== undefined;
}

/** Why the imported events do not earn this karma row, or null when they do. */
async function unearned(ctx: ImportContext, row: KarmaImportRow, agentId: string): Promise<string | null> {
  const award = AWARD.exec(row.reason);
  const penalty = PENALTY.exec(row.reason);
  const streamId = award?.[3] ?? penalty?.[1];
  if (streamId === undefined) return `reason ${JSON.stringify(row.reason)} is not one karma is earned by.`;
  const facts = await streamFacts(ctx.db, ctx.repo.id, streamId);
  if (facts.authorId === null) return `stream ${streamId} is not one of this import's streams.`;
  if (!facts.merged) return `stream ${streamId} has no imported merge.`;
  let expected: number;
  if (penalty || award?.[2] === 'stream_merged') {
    if (facts.authorId !== agentId) return `the agent is not the author of stream ${streamId}.`;
    expected = penalty ? REVERT_PENALTY : MERGE_KARMA;
  } else {
    if (!(await approved(ctx.db, streamId, agentId))) return `the agent did not approve stream ${streamId}.`;
    expected = REVIEW_KARMA;
  }
  const takesBack = award?.[1] !== undefined;
  if ((penalty || takesBack) && !facts.reverted) return `stream ${streamId}'s merge was not reverted.`;
  if (takesBack) expected = -expected;
  return row.amount === expected ? null : `the amount must be ${expected}, not ${row.amount}.`;
}

/** Refuses karma rows the imported events do not earn, or that repeat an award already imported. */
export async function checkKarmaRows(ctx: ImportContext, rows: readonly KarmaImportRow[]): Promise<void> {
  const seen = new Set<string>();
  for (const row of rows) {
    const agentId = ctx.agent(row.agent_id, 'agent_id');
    const why = await unearned(ctx, row, agentId);
    if (why) throw invalidRow('karma', row.id, why);
    const key = `${agentId} ${row.reason}`;
    const earlier = await ctx.db
      .selectFrom('gitswarm_review_karma_transactions')
      .select('id')
      .where('agent_id', '=', agentId)
      .where('repo_id', '=', ctx.repo.id)
      .where('reason', '=', row.reason)
      .where('id', '!=', row.id)
      .executeTakeFirst();
    if (earlier || seen.has(key)) throw invalidRow('karma', row.id, `${row.reason} was awarded already.`);
    seen.add(key);
  }
}

/**
 * Sets each agent's karma in the repository to the sum of its imported ledger rows there, and moves
 * its total over every repository by the same difference.
 */
export async function settleKarma(db: Executor, repo: Repo, agentIds: readonly string[], now: string) {
  for (const agentId of new Set(agentIds)) {
    const sum = await db
      .selectFrom('gitswarm_review_karma_transactions')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), sql<number>`0`).as('karma'))
      .where('agent_id', '=', agentId)
      .where('repo_id', '=', repo.id)
      .executeTakeFirstOrThrow();
    const karma = Number(sum.karma);
    const before = await db
      .selectFrom('gitswarm_repo_karma')
      .select('karma')
      .where('agent_id', '=', agentId)
      .where('repo_id', '=', repo.id)
      .executeTakeFirst();
    const change = karma - (before?.karma ?? 0);
    if (change === 0 && before) continue;
    await db
      .insertInto('gitswarm_repo_karma')
      .values({ agent_id: agentId, repo_id: repo.id, karma, updated_at: now })
      .onConflict((oc) => oc.columns(['agent_id', 'repo_id']).doUpdateSet({ karma, updated_at: now }))
      .execute();
    if (change !== 0) {
      await db
        .updateTable('gitswarm_agents')
        .set((eb) => ({ karma: eb('karma', '+', change), updated_at: now }))
        .where('id', '=', agentId)
        .execute();
    }
  }
}

/** What each movement does to total, reserved and paid-out credits, per credit (core/tasks/budget.ts). */
const MOVES: Record<BudgetTransactionType, { total: number; reserved: number; paid: number }> = {
  deposit: { total: 1, reserved: 0, paid: 0 },
  withdrawal: { total: -1, reserved: 0, paid: 0 },
  bounty_reserve: { total: 0, reserved: 1, paid: 0 },
  bounty_release: { total: 0, reserved: -1, paid: 0 },
  payout: { total: 0, reserved: -1, paid: 1 },
};

/**
 * Recomputes the repository's budget balances from its whole imported ledger; a ledger that
 * would leave a balance negative is refused.
 */
export async function settleBudget(db: Executor, repo: Repo, now: string): Promise<void> {
  const budget = await db
    .selectFrom('gitswarm_repo_budgets')
    .select('id')
    .where('repo_id', '=', repo.id)
    .executeTakeFirst();
  if (!budget) return;
  const rows = await db
    .selectFrom('gitswarm_budget_transactions')
    .select(['type', 'amount'])
    .where('budget_id', '=', budget.id)
    .execute();
  let total = 0;
  let reserved = 0;
  let paid = 0;
  for (const row of rows) {
    const move = MOVES[row.type];
    total += move.total * row.amount;
    reserved += move.reserved * row.amount;
    paid += move.paid * row.amount;
  }
  const available = total - reserved - paid;
  if (total < 0 || reserved < 0 || available < 0) {
    throw new GitSwarmError(
      'invalid_input',
      `The imported budget ledger does not balance (total ${total}, reserved ${reserved}, paid ${paid}).`,
    );
  }
  await db
    .updateTable('gitswarm_repo_budgets')
    .set({ total_credits: total, reserved_credits: reserved, available_credits: available, updated_at: now })
    .where('id', '=', budget.id)
    .execute();
}
