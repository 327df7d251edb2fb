/** `gitswarm daemon status|stop` definitions (and the hidden `daemon run`, which is the server). */
import type { Command } from 'commander';
import { type CliSession, plainAction } from '../action.js';
import { output } from '../output.js';

export function registerDaemonCommands(program: Command, session: CliSession): void {
  const daemon = program
    .command('daemon')
    .description(
      "the repository's command server: commands run in one resident process (GITSWARM_NO_DAEMON=1 turns it off)",
    );
  daemon
    .command('status')
    .description('whether a command server runs for this repository: its pid, build, commands served')
    .action(
      plainAction(session, async (io) => {
        const m = await import('../daemon/control.js');
        return output(await m.daemonStatus(io), m.formatDaemonStatus);
      }),
    );
  daemon
    .command('stop')
    .description("stop this repository's command server (running commands finish first)")
    .action(
      plainAction(session, async (io) => {
        const m = await import('../daemon/control.js');
        return output(await m.stopDaemon(io), m.formatDaemonStop);
      }),
    );
  daemon
    .command('run', { hidden: true })
    .description(
      'be the command server of the repository around the working directory (started by the first command)',
    )
    .action(
      plainAction(session, async (io) => {
        const m = await import('../daemon/control.js');
        await m.runDaemonHere(io);
        return undefined;
      }),
    );
}
