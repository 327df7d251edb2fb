/** `gitswarm maintainer …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerMaintainerCommands(program: Command, session: CliSession): void {
  const maintainer = program.command('maintainer').description('the repository owner and maintainers');

  maintainer
    .command('add')
    .description('make an agent a maintainer (needs --as an admin)')
    .argument('<agent>', 'agent name or id')
    .action(
      repoAction(
        session,
        async (deps, [agent]) => {
          const m = await import('../maintainer.js');
          return output(await m.runAddMaintainer({ agent: agent! }, deps), m.formatChangeMaintainer);
        },
        { remote: true },
      ),
    );

  maintainer
    .command('remove')
    .description('remove a maintainer (needs --as an admin; never the owner)')
    .argument('<agent>', 'agent name or id')
    .action(
      repoAction(
        session,
        async (deps, [agent]) => {
          const m = await import('../maintainer.js');
          return output(await m.runRemoveMaintainer({ agent: agent! }, deps), m.formatChangeMaintainer);
        },
        { remote: true },
      ),
    );

  maintainer
    .command('list')
    .description('list the owner and maintainers')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../maintainer.js');
          return output(await m.runListMaintainers({}, deps), m.formatListMaintainers);
        },
        { remote: true },
      ),
    );
}
