/** `gitswarm promote` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerPromoteCommand(program: Command, session: CliSession): void {
  program
    .command('promote')
    .description('fast-forward the promote target (main) to the buffer head')
    .option('--force', 'promote even where the rules would refuse (admin)')
    .action(
      repoAction<{ force?: boolean }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../promote.js');
          return output(await m.runPromote({ force: opts.force }, deps), m.formatPromote);
        },
        { remote: true },
      ),
    );
}
