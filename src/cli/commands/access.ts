/** `gitswarm access …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerAccessCommands(program: Command, session: CliSession): void {
  const access = program.command('access').description('explicit access grants');

  access
    .command('grant')
    .description('grant an agent read, write, maintain or admin access (needs --as an admin)')
    .argument('<agent>', 'agent name or id')
    .argument('<level>', 'read | write | maintain | admin')
    .action(
      repoAction(
        session,
        async (deps, [agent, level]) => {
          const m = await import('../access.js');
          return output(await m.runGrantAccess({ agent: agent!, level: level! }, deps), m.formatAccessChange);
        },
        { remote: true },
      ),
    );

  access
    .command('revoke')
    .description("remove an agent's explicit grant (needs --as an admin)")
    .argument('<agent>', 'agent name or id')
    .action(
      repoAction(
        session,
        async (deps, [agent]) => {
          const m = await import('../access.js');
          return output(await m.runRevokeAccess({ agent: agent! }, deps), m.formatAccessChange);
        },
        { remote: true },
      ),
    );

  access
    .command('list')
    .description('list explicit grants')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../access.js');
          return output(await m.runListAccess({}, deps), m.formatListAccess);
        },
        { remote: true },
      ),
    );
}
