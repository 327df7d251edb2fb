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
    .option('--limit <n>', 'list at most this many workspaces, streams and queue entries (default 20)')
    .action(
      repoAction<{ limit?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../status.js');
          return output(await m.runStatus({ limit: opts.limit }, deps), m.formatStatus);
        },
        { remote: true },
      ),
    );
}
