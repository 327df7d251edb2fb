/**
 * `gitswarm budget`, `budget deposit N`, `budget history`: the repository budget that pays
 * bounties, and its ledger (each row: the credits moved and the available credits after).
 */
import {
  type BudgetView,
  deposit,
  getBudget,
  type ListedBudgetTransaction,
  listBudgetTransactions,
} from '../core/tasks/budget.js';
import { type CommandDeps, requireActor } from './context.js';
import { usageError } from './errors.js';
import { fields, type Style, safeText, table } from './output.js';

export interface ShowBudgetResult {
  budget: BudgetView;
}

/** Shows the budget: total, available, reserved, paid out, and the cap on one bounty. */
export async function runShowBudget(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ShowBudgetResult> {
  if (deps.remote) {
    const { showBudgetRemote } = await import('../remote/commands/governance.js');
    return showBudgetRemote({ ...deps, remote: deps.remote });
  }
  return { budget: await getBudget(deps.core.store.db, deps.ctx.repo.id) };
}

export function formatShowBudget(result: ShowBudgetResult, style: Style): string {
  const { budget } = result;
  const key = style.dim;
  const text = fields([
    [key('total'), budget.total_credits],
    [key('available'), budget.available_credits],
    [key('reserved'), budget.reserved_credits],
    [key('paid out'), budget.paid_out_credits],
    [key('max bounty'), budget.max_bounty_per_issue],
  ]);
  return budget.total_credits === 0
    ? `${text}\nNo credits yet. An admin deposits with: gitswarm budget deposit N --as <admin>`
    : text;
}

export interface DepositOptions {
  amount: string;
  description?: string;
}

export interface DepositResult {
  budget: BudgetView;
  transaction: ListedBudgetTransaction;
}

/** Deposits credits (admin). */
export async function runDeposit(opts: DepositOptions, deps: CommandDeps): Promise<DepositResult> {
  const { core, ctx } = deps;
  if (!/^\d{1,10}$/.test(opts.amount.trim())) {
    throw usageError(`A deposit is a whole number of credits, got ${JSON.stringify(opts.amount)}.`);
  }
  if (deps.remote) {
    const { depositRemote } = await import('../remote/commands/governance.js');
    const amount = Number(opts.amount.trim());
    return depositRemote({ amount, description: opts.description }, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const movement = await deposit(core, core.store.db, {
    repo: ctx.repo,
    actor,
    amount: Number(opts.amount.trim()),
    description: opts.description,
  });
  return {
    budget: await getBudget(core.store.db, ctx.repo.id),
    transaction: { ...movement.transaction, agent_name: actor.name },
  };
}

export function formatDeposit(result: DepositResult, style: Style): string {
  const { transaction, budget } = result;
  return `Deposited ${style.bold(String(transaction.amount))} credits; ${budget.available_credits} available.`;
}

export interface BudgetHistoryResult {
  transactions: ListedBudgetTransaction[];
}

/** The ledger, newest first. */
export async function runBudgetHistory(
  opts: { limit?: string },
  deps: CommandDeps,
): Promise<BudgetHistoryResult> {
  let limit: number | undefined;
  if (opts.limit !== undefined) {
    if (!/^\d{1,5}$/.test(opts.limit) || Number(opts.limit) === 0) {
      throw usageError(`--limit takes a positive whole number, got ${JSON.stringify(opts.limit)}.`);
    }
    limit = Number(opts.limit);
  }
  if (deps.remote) {
    const { budgetHistoryRemote } = await import('../remote/commands/governance.js');
    return budgetHistoryRemote({ limit }, { ...deps, remote: deps.remote });
  }
  return { transactions: await listBudgetTransactions(deps.core.store.db, deps.ctx.repo.id, { limit }) };
}

const SIGNS: Record<ListedBudgetTransaction['type'], string> = {
  deposit: '+',
  withdrawal: '-',
  bounty_reserve: '-',
  bounty_release: '+',
  payout: '',
};

export function formatBudgetHistory(result: BudgetHistoryResult, style: Style): string {
  if (result.transactions.length === 0) return 'No budget movements yet.';
  return table(
    result.transactions.map((t) => [
      t.created_at,
      t.type,
      `${SIGNS[t.type]}${t.amount}`,
      String(t.balance_after),
      t.agent_name ?? '-',
      safeText(t.description ?? ''),
    ]),
    ['TIME', 'TYPE', 'AMOUNT', 'AVAILABLE', 'AGENT', 'DESCRIPTION'].map(style.dim),
  );
}
