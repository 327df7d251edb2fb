/** `gitswarm config` definition. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerConfigCommand(program: Command, session: CliSession): void {
  program
    .command('config')
    .description('list settings, read one, or set one (setting needs --as an admin)')
    .argument('[key]', 'setting name, e.g. merge_mode, consensus_threshold, stabilize_command')
    .argument('[value]', 'new value')
    .action(
      repoAction(
        session,
        async (deps, [key, value]) => {
          const m = await import('../config.js');
          return output(await m.runConfig({ key, value }, deps), m.formatConfig);
        },
        { remote: true },
      ),
    );
}
