/** `gitswarm merge` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerMergeCommand(program: Command, session: CliSession): void {
  program
    .command('merge')
    .description('merge a stream into the buffer once consensus and dependencies allow')
    .argument('<stream>', 'stream id, name or branch')
    .action(
      repoAction(
        session,
        async (deps, [stream]) => {
          const m = await import('../merge.js');
          return output(await m.runMerge({ stream: stream! }, deps), m.formatMerge);
        },
        { remote: true },
      ),
    );
}
