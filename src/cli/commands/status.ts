/** `gitswarm status` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerStatusCommand(program: Command, session: CliSession): void {
  program
    .command('status')
    .description(
      'repository settings, buffer vs main, agents at work (workspaces), active streams, merge queue, last stabilization',
    )
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../status.js');
          return output(await m.runStatus({}, deps), m.formatStatus);
        },
        { remote: true },
      ),
    );
}
