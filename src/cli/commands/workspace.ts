/** `gitswarm workspace …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerWorkspaceCommands(program: Command, session: CliSession): void {
  const workspace = program.command('workspace').description("agents' streams and their worktrees");

  workspace
    .command('create')
    .description(
      'start a stream from the buffer head (or another stream) with a worktree at .worktrees/<agent>/',
    )
    .option('--name <name>', 'stream name (default: the agent name and a short suffix)')
    .option('--task <task>', 'link your claim on this task (id or number) to the stream')
    .option('--depends-on <stream>', 'build on another stream instead of the buffer')
    .option(
      '--from-stream <stream>',
      "start at another stream's head (its commits carried over), building on the buffer",
    )
    .option(
      '--from-pr <number>',
      "connected clone: start at the head of a GitHub pull request's stream, building on the buffer",
    )
    .action(
      repoAction<{ name?: string; task?: string; dependsOn?: string; fromStream?: string; fromPr?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../workspace.js');
          const result = await m.runCreateWorkspace(
            {
              name: opts.name,
              task: opts.task,
              dependsOn: opts.dependsOn,
              fromStream: opts.fromStream,
              fromPr: opts.fromPr,
            },
            deps,
          );
          return output(result, m.formatCreateWorkspace);
        },
        { remote: true },
      ),
    );

  workspace
    .command('list')
    .description('list worktrees and their streams')
    .option('--limit <n>', 'list at most this many, oldest first (default 100)')
    .action(
      repoAction<{ limit?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../workspace.js');
          return output(await m.runListWorkspaces({ limit: opts.limit }, deps), m.formatListWorkspaces);
        },
        { remote: true },
      ),
    );

  workspace
    .command('destroy')
    .description('remove your worktree (the stream is kept unless --abandon)')
    .option('--abandon', 'also abandon the stream, discarding uncommitted changes')
    .action(
      repoAction<{ abandon?: boolean }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../workspace.js');
          return output(
            await m.runDestroyWorkspace({ abandon: opts.abandon }, deps),
            m.formatDestroyWorkspace,
          );
        },
        { remote: true },
      ),
    );

  workspace
    .command('reopen [stream]')
    .description(
      'go on from your reverted stream: a new stream from the buffer with the change re-applied and your uncommitted work',
    )
    .action(
      repoAction<Record<string, never>>(
        session,
        async (deps, args) => {
          const m = await import('../workspace.js');
          const stream = args[0] as string | undefined;
          return output(
            await m.runReopenWorkspace(stream !== undefined ? { stream } : {}, deps),
            m.formatReopenWorkspace,
          );
        },
        { remote: true },
      ),
    );
}
