/** `gitswarm sync [--drop ID]` definition (the server comes from the global --server or the config). */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerSyncCommand(program: Command, session: CliSession): void {
  program
    .command('sync')
    .description(
      'Mode B: send what was queued while the server was down, then pull what changed (safe to repeat); on a Mode A repository with --server URL, migrate it to that server and connect this clone',
    )
    .option('--drop <id>', 'remove one outbox entry (its id, first characters of it, or its number)')
    .action(
      repoAction<{ drop?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../sync.js');
          return output(await m.runSync({ drop: opts.drop }, deps), m.formatSync);
        },
        { remote: true },
      ),
    );
}
