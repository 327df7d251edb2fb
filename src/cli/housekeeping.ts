/**
 * The cheap pass every command makes after opening the repository: finish or roll back ref moves
 * a crashed process left pending (a failure stops the command: state must be whole first), then
 * run scheduled duties (expiries, elections; a failure is a warning). Both cost a few reads when
 * there is nothing to do, and recovery's modules load only when an operation is pending.
 */
import type { CommandDeps } from './context.js';

/** Recovers pending operations and runs scheduled duties for the command's repository. */
export async function runHousekeeping(deps: CommandDeps): Promise<void> {
  const { core, ctx } = deps;
  const pending = await core.store.db
    .selectFrom('gitswarm_operations')
    .select('id')
    .where('repo_id', '=', ctx.repo.id)
    .where('status', '=', 'pending')
    .limit(1)
    .executeTakeFirst();
  if (pending) {
    const { recoverOperations } = await import('../core/recovery.js');
    await recoverOperations(core, ctx.repo);
  }
  const { runScheduledDuties } = await import('../core/scheduler.js');
  try {
    await runScheduledDuties(core, ctx.repo);
  } catch (error) {
    // Overdue duties must not block the command the user asked for; they are retried next time.
    const message = error instanceof Error ? error.message : String(error);
    deps.io.stderr.write(`warning: scheduled duties failed: ${message}\n`);
  }
}
