/** `gitswarm mcp` definition. */
import type { Command } from 'commander';
import { type CliSession, plainAction } from '../action.js';

export function registerMcpCommand(program: Command, session: CliSession): void {
  program
    .command('mcp')
    .description(
      'run the MCP server of one agent on stdio (for Claude Code, Codex, Cursor, …): the commands as tools',
    )
    .action(
      plainAction(session, async (io, _args, opts) => {
        const { runMcpStdio } = await import('../../mcp/stdio.js');
        await runMcpStdio(io, { as: opts.as, server: opts.server, apiKey: opts.apiKey });
        return undefined;
      }),
    );
}
