/** `gitswarm init` definition. */
import type { Command } from 'commander';
import { type CliSession, plainAction } from '../action.js';
import type { InitOptions } from '../init.js';
import { output } from '../output.js';

export function registerInitCommand(program: Command, session: CliSession): void {
  program
    .command('init')
    .description('set up GitSwarm in this git repository (creates .gitswarm/ and the buffer branch)')
    .option('--name <name>', 'repository name (default: the directory name)')
    .option('--model <model>', 'ownership model: solo | guild | open')
    .option('--mode <mode>', 'merge mode: swarm | review | gated')
    .option('--buffer <branch>', 'branch streams merge into (default: buffer)')
    .option('--main <branch>', 'branch the buffer is promoted to (default: main, else the current branch)')
    .option('--stabilize-cmd <command>', 'test command run by gitswarm stabilize')
    .option('--threshold <ratio>', 'consensus threshold, 0-1')
    .option('--min-reviews <n>', 'reviews needed before consensus (guild)')
    .option('--repo <repo>', 'Mode B (with --server): join this server repository, by id or name')
    .option('--remote <name>', 'Mode B (with --server): the git remote the clones share (default: origin)')
    .action(
      plainAction<InitOptions>(session, async (io, _args, opts) => {
        const m = await import('../init.js');
        return output(await m.runInit(opts, { io }), m.formatInit);
      }),
    );
}
