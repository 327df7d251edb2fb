/** `gitswarm serve` definition. */
import type { Command } from 'commander';
import { type CliSession, plainAction } from '../action.js';
import { output } from '../output.js';
import type { ServeOptions } from '../serve.js';

export function registerServeCommand(program: Command, session: CliSession): void {
  program
    .command('serve')
    .description('run the HTTP API server (Mode B/C) until SIGINT or SIGTERM')
    .option('--port <port>', 'port to listen on (default: PORT, else 3000)')
    .option('--host <host>', 'address to listen on (default: HOST, else 127.0.0.1)')
    .option('--db <url>', 'postgres://… for PostgreSQL (default: DATABASE_URL, else SQLite in the data dir)')
    .option('--redis <url>', 'Redis for shared rate limits and events (default: REDIS_URL)')
    .option(
      '--data-dir <dir>',
      'where the SQLite file and server-held repositories live (default: GITSWARM_DATA_DIR, else ./.gitswarm-server)',
    )
    .option(
      '--max-worktrees <n>',
      'Mode C: live stream worktrees per repository (default: GITSWARM_MAX_WORKTREES, else 64)',
    )
    .option(
      '--allow-local-clone',
      'Mode C: clone_url and remote_url may be local paths or file:// URLs (default: GITSWARM_ALLOW_LOCAL_CLONE=1)',
    )
    .option(
      '--allow-unsandboxed',
      'run server stabilizations without bubblewrap where it is missing (default: GITSWARM_ALLOW_UNSANDBOXED=1; else refused)',
    )
    .action(
      plainAction<ServeOptions>(session, async (io, _args, opts) => {
        const m = await import('../serve.js');
        return output(await m.runServe(opts, { io }), m.formatServe);
      }),
    );
}
