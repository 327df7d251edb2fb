/**
 * The cheap pass every command makes after opening the repository: finish or roll back ref moves
 * a crashed process left pending (a failure stops the command: state must be whole first), then
 * run scheduled duties (expiries, elections; a failure is a warning). Both cost a few reads when
 * there is nothing to do.
 */
import type { CommandDeps } from './context.js';

interface FederationModule {
  recoverOperations(deps: CommandDeps['core'], repo: CommandDeps['ctx']['repo']): Promise<unknown>;
}

interface SchedulerModule {
  runScheduledDuties(deps: CommandDeps['core'], repo: CommandDeps['ctx']['repo']): Promise<unknown>;
}

/** Imports an optional module, or returns null while it does not exist yet. */
async function importOptional<T>(specifier: string): Promise<T | null> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return null;
    throw error;
  }
}

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
    const federation = await importOptional<FederationModule>('../core/federation.js');
    await federation?.recoverOperations(core, ctx.repo);
  }
  const scheduler = await importOptional<SchedulerModule>('../core/scheduler.js');
  try {
    await scheduler?.runScheduledDuties(core, ctx.repo);
  } catch (error) {
    // Overdue duties must not block the command the user asked for; they are retried next time.
    const message = error instanceof Error ? error.message : String(error);
    deps.io.stderr.write(`warning: scheduled duties failed: ${message}\n`);
  }
}
