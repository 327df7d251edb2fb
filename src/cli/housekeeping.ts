/**
 * The cheap pass every command makes after opening the repository: finish or roll back ref moves
 * a crashed process left pending (a failure stops the command: state must be whole first), then
 * run scheduled duties (expiries, elections; a failure is a warning). When nothing is pending or
 * due this is one query, and the modules that recover or do duties load only when needed.
 */
import { findDueWork, runScheduledDuties } from '../core/activity/scheduler.js';
import { isoNow } from '../util/clock.js';
import type { CommandDeps } from './context.js';

/** Recovers pending operations and runs scheduled duties for the command's repository. */
export async function runHousekeeping(deps: CommandDeps): Promise<void> {
  const { core, ctx } = deps;
  const due = await findDueWork(core.store.db, ctx.repo.id, isoNow(core.clock));
  if (due.operations) {
    const { recoverOperations } = await import('../core/streams/recovery.js');
    await recoverOperations(core, ctx.repo);
  }
  if (!due.council && !due.tasks) return;
  try {
    await runScheduledDuties(core, ctx.repo, due);
  } catch (error) {
    // Overdue duties must not block the command the user asked for; they are retried next time.
    const message = error instanceof Error ? error.message : String(error);
    deps.io.stderr.write(`warning: scheduled duties failed: ${message}\n`);
  }
}
