/** `gitswarm stage …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerStageCommands(program: Command, session: CliSession): void {
  const stage = program.command('stage').description('the repository lifecycle stage and its eligibility');

  stage
    .command('show', { isDefault: true })
    .description('the stage, its metrics and what the next stage needs (the default)')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../stage.js');
          return output(await m.runStage({}, deps), m.formatStage);
        },
        { remote: true },
      ),
    );

  stage
    .command('advance')
    .description('advance one eligible step, or set any stage with --force (needs --as an admin)')
    .option('--force <stage>', 'seed | growth | established | mature, regardless of the metrics')
    .action(
      repoAction<{ force?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../stage.js');
          return output(await m.runAdvanceStage({ force: opts.force }, deps), m.formatAdvanceStage);
        },
        { remote: true },
      ),
    );
}
