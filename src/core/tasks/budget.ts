/**
 * The repository budget that pays bounties, and its ledger.
 *
 * Only the repository's admins deposit, and a deposit costs them nothing (there are no wallets):
 * credits are the repository's own promise to its contributors. So a bounty paid from the budget
 * is self-funded and earns no karma (karma.ts, docs/governance.md); it moves credits only.
 *
 * A budget (one `gitswarm_repo_budgets` row per repository, created on its first movement) holds:
 * - `total_credits`: every credit ever deposited (less withdrawals);
 * - `available_credits`: credits free to back a new bounty;
 * - `reserved_credits`: credits held for the bounties of tasks not yet completed;
 * - paid out: credits paid to claimants, the sum of the ledger's `payout` rows (no column).
 *
 * Invariant, after any sequence of movements: `total = available + reserved + paid_out`.
 *
 * Every movement writes one `gitswarm_budget_transactions` row in the same transaction as the
 * balance change it records. `amount` is the (positive) number of credits moved; `type` says
 * between which balances; `balance_after` is the budget's available credits after the movement.
 *
 * | type             | total | available | reserved | paid out |
 * | ---------------- | ----- | --------- | -------- | -------- |
 * | `deposit`        | +a    | +a        |          |          |
 * | `bounty_reserve` |       | −a        | +a       |          |
 * | `bounty_release` |       | +a        | −a       |          |
 * | `payout`         |       |           | −a       | +a       |
 */
import { sql } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import type {
  Agent,
  BudgetTransaction,
  BudgetTransactionType,
  Executor,
  Repo,
  RepoBudget,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { EventName } from '../activity/event-names.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { inRepoTransaction } from '../repos/repo-transaction.js';

/** The default cap on one task's bounty (the column default of `max_bounty_per_issue`). */
export const DEFAULT_MAX_BOUNTY_PER_ISSUE = 1000;
/** The largest single deposit. */
export const MAX_DEPOSIT = 1_000_000_000;
/** The largest total a budget may hold: the credit columns are 32-bit integers on PostgreSQL. */
export const MAX_TOTAL_CREDITS = 2_000_000_000;
const MAX_DESCRIPTION_LENGTH = 500;

/** A repository's budget as shown to users; a repository without a budget row shows zeros. */
export interface BudgetView {
  repo_id: string;
  budget_id: string | null;
  total_credits: number;
  available_credits: number;
  reserved_credits: number;
  paid_out_credits: number;
  max_bounty_per_issue: number;
}

type MovementType = Exclude<BudgetTransactionType, 'withdrawal'>;

/** How each movement type changes the three stored balances, per credit moved. */
const EFFECTS: Record<
  MovementType,
  { total: number; available: number; reserved: number; event: EventName }
> = {
  deposit: { total: 1, available: 1, reserved: 0, event: 'budget.deposited' },
  bounty_reserve: { total: 0, available: -1, reserved: 1, event: 'bounty.reserved' },
  bounty_release: { total: 0, available: 1, reserved: -1, event: 'bounty.released' },
  payout: { total: 0, available: 0, reserved: -1, event: 'bounty.paid' },
};

async function findBudgetRow(db: Executor, repoId: string): Promise<RepoBudget | undefined> {
  return db.selectFrom('gitswarm_repo_budgets').selectAll().where('repo_id', '=', repoId).executeTakeFirst();
}

async function sumPaidOut(db: Executor, budgetId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_budget_transactions')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), sql<number>`0`).as('paid'))
    .where('budget_id', '=', budgetId)
    .where('type', '=', 'payout')
    .executeTakeFirstOrThrow();
  return Number(row.paid);
}

/** Returns the repository's budget (zeros when nothing was ever deposited). */
export async function getBudget(db: Executor, repoId: string): Promise<BudgetView> {
  const row = await findBudgetRow(db, repoId);
  if (!row) {
    return {
      repo_id: repoId,
      budget_id: null,
      total_credits: 0,
      available_credits: 0,
      reserved_credits: 0,
      paid_out_credits: 0,
      max_bounty_per_issue: DEFAULT_MAX_BOUNTY_PER_ISSUE,
    };
  }
  return {
    repo_id: repoId,
    budget_id: row.id,
    total_credits: row.total_credits,
    available_credits: row.available_credits,
    reserved_credits: row.reserved_credits,
    paid_out_credits: await sumPaidOut(db, row.id),
    max_bounty_per_issue: row.max_bounty_per_issue,
  };
}

/** Returns the repository's budget row, creating it (empty) on first use. */
async function ensureBudgetRow(deps: CoreDeps, db: Executor, repoId: string): Promise<RepoBudget> {
  const existing = await findBudgetRow(db, repoId);
  if (existing) return existing;
  const now = isoNow(deps.clock);
  await db
    .insertInto('gitswarm_repo_budgets')
    .values({ id: newId(), repo_id: repoId, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('repo_id').doNothing())
    .execute();
  const created = await findBudgetRow(db, repoId);
  if (!created) throw new Error(`The budget of repository ${repoId} could not be created`);
  return created;
}

interface MovementInput {
  repoId: string;
  type: MovementType;
  amount: number;
  agentId: string | null;
  taskId?: string | null;
  description?: string | null;
}

export interface BudgetMovement {
  budget: RepoBudget;
  transaction: BudgetTransaction;
}

/**
 * Moves credits between balances and writes the ledger row and activity for it, all through the
 * caller's executor. The balance update is guarded in SQL, so a balance can never go negative:
 * `insufficient_budget` when available credits are short for a reservation.
 */
async function moveCredits(deps: CoreDeps, db: Executor, input: MovementInput): Promise<BudgetMovement> {
  const { amount, type } = input;
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new Error(`A budget movement needs a positive whole amount, got ${amount}`);
  }
  const effect = EFFECTS[type];
  const before = await ensureBudgetRow(deps, db, input.repoId);
  const now = isoNow(deps.clock);
  let update = db
    .updateTable('gitswarm_repo_budgets')
    .set((eb) => ({
      total_credits: eb('total_credits', '+', effect.total * amount),
      available_credits: eb('available_credits', '+', effect.available * amount),
      reserved_credits: eb('reserved_credits', '+', effect.reserved * amount),
      updated_at: now,
    }))
    .where('id', '=', before.id);
  if (effect.available < 0) update = update.where('available_credits', '>=', amount);
  if (effect.reserved < 0) update = update.where('reserved_credits', '>=', amount);
  const budget = await update.returningAll().executeTakeFirst();
  if (!budget) {
    if (type === 'bounty_reserve') {
      throw new GitSwarmError(
        'insufficient_budget',
        `The budget has ${before.available_credits} available credits; the bounty needs ${amount}.`,
        { details: { available: before.available_credits, required: amount } },
      );
    }
    throw new Error(
      `Budget ${before.id} holds ${before.reserved_credits} reserved credits; ${type} needs ${amount}`,
    );
  }
  const transaction: BudgetTransaction = {
    id: newId(),
    budget_id: budget.id,
    amount,
    type,
    balance_after: budget.available_credits,
    description: input.description ?? null,
    agent_id: input.agentId,
    task_id: input.taskId ?? null,
    created_at: now,
  };
  await db.insertInto('gitswarm_budget_transactions').values(transaction).execute();
  await recordActivity(deps, db, {
    event: effect.event,
    repoId: input.repoId,
    agentId: input.agentId,
    targetType: input.taskId ? 'task' : 'budget',
    targetId: input.taskId ?? budget.id,
    metadata: {
      transaction_id: transaction.id,
      amount,
      balance_after: transaction.balance_after,
      reserved_after: budget.reserved_credits,
      total_after: budget.total_credits,
    },
  });
  return { budget, transaction };
}

export interface DepositInput {
  repo: Repo;
  actor: Agent;
  amount: number;
  description?: string | null;
}

/**
 * Deposits credits into the repository's budget (admin+: the owner or an agent granted admin).
 * Takes the repository lock unless `db` is the caller's transaction.
 */
export async function deposit(deps: CoreDeps, db: Executor, input: DepositInput): Promise<BudgetMovement> {
  const { amount } = input;
  if (!Number.isSafeInteger(amount) || amount <= 0 || amount > MAX_DEPOSIT) {
    throw new GitSwarmError('invalid_input', `A deposit must be a whole number from 1 to ${MAX_DEPOSIT}.`, {
      details: { amount },
    });
  }
  const description = input.description ?? null;
  if (description !== null && description.length > MAX_DESCRIPTION_LENGTH) {
    throw new GitSwarmError(
      'invalid_input',
      `A deposit description may be at most ${MAX_DESCRIPTION_LENGTH} characters.`,
    );
  }
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    await requireAction(deps, trx, input.repo, input.actor, 'settings');
    const current = await findBudgetRow(trx, input.repo.id);
    if ((current?.total_credits ?? 0) + amount > MAX_TOTAL_CREDITS) {
      throw new GitSwarmError(
        'invalid_input',
        `A budget may hold at most ${MAX_TOTAL_CREDITS} credits in total; it holds ${current?.total_credits ?? 0}.`,
      );
    }
    return moveCredits(deps, trx, {
      repoId: input.repo.id,
      type: 'deposit',
      amount,
      agentId: input.actor.id,
      description,
    });
  });
}

export interface BountyMovementInput {
  repoId: string;
  taskId: string;
  amount: number;
  /** Who caused the movement (task creator, canceller, reviewer); null for the system. */
  agentId: string | null;
  description?: string;
}

/**
 * Reserves a task's bounty from the available credits, in the caller's transaction. Throws
 * `invalid_input` when the amount exceeds `max_bounty_per_issue` and `insufficient_budget` when
 * too few credits are available.
 */
export async function reserveBounty(
  deps: CoreDeps,
  db: Executor,
  input: BountyMovementInput,
): Promise<BudgetMovement> {
  const budget = await getBudget(db, input.repoId);
  if (input.amount > budget.max_bounty_per_issue) {
    throw new GitSwarmError(
      'invalid_input',
      `A bounty may be at most ${budget.max_bounty_per_issue} credits in this repository; got ${input.amount}.`,
      { details: { amount: input.amount, max_bounty_per_issue: budget.max_bounty_per_issue } },
    );
  }
  if (budget.available_credits < input.amount) {
    throw new GitSwarmError(
      'insufficient_budget',
      `The budget has ${budget.available_credits} available credits; the bounty needs ${input.amount}.`,
      { details: { available: budget.available_credits, required: input.amount } },
    );
  }
  return moveCredits(deps, db, { ...input, type: 'bounty_reserve' });
}

/** Returns a reserved bounty to the available credits (task cancelled or expired), in the caller's transaction. */
export async function releaseBounty(
  deps: CoreDeps,
  db: Executor,
  input: BountyMovementInput,
): Promise<BudgetMovement> {
  return moveCredits(deps, db, { ...input, type: 'bounty_release' });
}

/** Pays a reserved bounty out to its claimant (claim approved), in the caller's transaction. */
export async function payBounty(
  deps: CoreDeps,
  db: Executor,
  input: BountyMovementInput,
): Promise<BudgetMovement> {
  return moveCredits(deps, db, { ...input, type: 'payout' });
}

export interface ListedBudgetTransaction extends BudgetTransaction {
  agent_name: string | null;
}

/** The budget's ledger, newest first. */
export async function listBudgetTransactions(
  db: Executor,
  repoId: string,
  options: { limit?: number } = {},
): Promise<ListedBudgetTransaction[]> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 10_000);
  return db
    .selectFrom('gitswarm_budget_transactions as t')
    .innerJoin('gitswarm_repo_budgets as b', 'b.id', 't.budget_id')
    .leftJoin('gitswarm_agents as a', 'a.id', 't.agent_id')
    .selectAll('t')
    .select('a.name as agent_name')
    .where('b.repo_id', '=', repoId)
    .orderBy('t.created_at', 'desc')
    .orderBy('t.id', 'desc')
    .limit(limit)
    .execute();
}
