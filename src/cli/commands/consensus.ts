/** `gitswarm consensus` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerConsensusCommand(program: Command, session: CliSession): void {
  program
    .command('consensus')
    .description('whether a stream has consensus to merge, with the numbers behind it')
    .argument('<stream>', 'stream id, name or branch')
    .action(
      repoAction(
        session,
        async (deps, [stream]) => {
          const m = await import('../consensus.js');
          return output(await m.runConsensus({ stream: stream! }, deps), m.formatConsensus);
        },
        { remote: true },
      ),
    );
}
