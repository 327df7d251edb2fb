/** `gitswarm stabilize` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerStabilizeCommand(program: Command, session: CliSession): void {
  program
    .command('stabilize')
    .description(
      'run the stabilize command on the buffer head: green tags (and may promote), red bisects and reverts',
    )
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../stabilize.js');
          const result = await m.runStabilize(deps);
          return output(result, m.formatStabilize, result.result === 'red' ? 1 : 0);
        },
        { remote: true },
      ),
    );
}
