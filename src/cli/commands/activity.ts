/** `gitswarm activity` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { createStyle, output } from '../output.js';

export function registerActivityCommand(program: Command, session: CliSession): void {
  program
    .command('activity')
    .description('the activity log (--follow keeps printing new entries until Ctrl-C)')
    .option('--limit <n>', 'how many recent entries (default 20)')
    .option('--follow', 'poll for new entries every 500 ms')
    .action(
      repoAction<{ limit?: string; follow?: boolean }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../activity.js');
          if (opts.follow) await m.prepareFollow(deps);
          const result = await m.runActivity({ limit: opts.limit }, deps);
          if (!opts.follow) return output(result, m.formatActivity);
          const { io } = deps;
          const style = createStyle(io.color);
          const emit = (entries: typeof result.activity) => {
            if (session.json) for (const entry of entries) io.stdout.write(`${JSON.stringify(entry)}\n`);
            else if (entries.length > 0) io.stdout.write(`${m.formatActivityEntries(entries, style)}\n`);
          };
          if (session.json) io.stdout.write(`${JSON.stringify(result)}\n`);
          else emit(result.activity);
          await m.followActivity(deps, result.activity, emit);
          return undefined;
        },
        { remote: true },
      ),
    );
}
