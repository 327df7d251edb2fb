/** `gitswarm budget …` definitions; `budget` alone shows the budget. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerBudgetCommands(program: Command, session: CliSession): void {
  const budget = program.command('budget').description('the repository budget that pays bounties');

  budget
    .command('show', { isDefault: true })
    .description('total, available, reserved and paid-out credits (the default)')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../budget.js');
          return output(await m.runShowBudget({}, deps), m.formatShowBudget);
        },
        { remote: true },
      ),
    );

  budget
    .command('deposit')
    .description('deposit credits (needs --as an admin)')
    .argument('<amount>', 'whole number of credits')
    .option('--desc <text>', 'what the deposit is for')
    .action(
      repoAction<{ desc?: string }>(
        session,
        async (deps, [amount], opts) => {
          const m = await import('../budget.js');
          return output(
            await m.runDeposit({ amount: amount!, description: opts.desc }, deps),
            m.formatDeposit,
          );
        },
        { remote: true },
      ),
    );

  budget
    .command('history')
    .description('the ledger of deposits, reservations, releases and payouts, newest first')
    .option('--limit <n>', 'at most this many rows (default 100)')
    .action(
      repoAction<{ limit?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../budget.js');
          return output(await m.runBudgetHistory({ limit: opts.limit }, deps), m.formatBudgetHistory);
        },
        { remote: true },
      ),
    );
}
