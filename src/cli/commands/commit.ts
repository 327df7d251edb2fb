/** `gitswarm commit` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerCommitCommand(program: Command, session: CliSession): void {
  program
    .command('commit')
    .description('commit everything in your worktree (with a Change-Id); swarm mode also merges it')
    .requiredOption('-m, --message <message>', 'commit message')
    .action(
      repoAction<{ message: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../commit.js');
          return output(await m.runCommit({ message: opts.message }, deps), m.formatCommit);
        },
        { remote: true },
      ),
    );
}
