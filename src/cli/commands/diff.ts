/** `gitswarm diff` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerDiffCommand(program: Command, session: CliSession): void {
  program
    .command('diff')
    .description("a stream's changes against the buffer")
    .argument('<stream>', 'stream id, name or branch')
    .option('--stat', 'a summary of changed files instead of the patch')
    .action(
      repoAction<{ stat?: boolean }>(
        session,
        async (deps, [stream], opts) => {
          const m = await import('../diff.js');
          return output(await m.runDiff({ stream: stream!, stat: opts.stat }, deps), m.formatDiff);
        },
        { remote: true },
      ),
    );
}
