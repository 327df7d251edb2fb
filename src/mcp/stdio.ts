/**
 * `gitswarm mcp [--as AGENT]`: the MCP server of one agent on stdio, in the repository it starts
 * in. Each tool call opens the command context exactly as a CLI command does (`openRepoContext`,
 * housekeeping), so a connected clone (Mode B) goes through the server as the CLI does and a
 * local repository (Mode A) uses the core. Nothing but MCP messages goes to stdout; the commands'
 * lines for people go to stderr, or become progress notifications.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { type CommandDeps, findActor, openRepoContext } from '../cli/context.js';
import type { CliIO } from '../cli/io.js';
import { GitSwarmError } from '../errors.js';
import { type CallSinks, createMcpServer, type McpBackend } from './server.js';

export interface McpStdioOptions {
  as?: string;
  server?: string;
  apiKey?: string;
}

/** A CliIO for one call: stdout is never written (it carries MCP), stderr goes to `sinks`. */
function callIO(io: CliIO, sinks: CallSinks): CliIO {
  return {
    stdout: { write: () => {} },
    stderr: { write: (text) => sinks.progress(text) },
    isTTY: false,
    color: false,
    cwd: io.cwd,
    env: io.env,
    signal: io.signal,
  };
}

/**
 * The backend of a stdio server: the repository around `io.cwd`, the agent named by `--as`
 * (else GITSWARM_AGENT, else the worktree owner). Checks both once at start-up so a wrong name
 * fails before the client connects.
 */
export async function openStdioBackend(io: CliIO, options: McpStdioOptions): Promise<StdioBackend> {
  // One context for the server's life (the store stays open, as in a long-lived agent process);
  // each call gets its own io and the repository row as it is now (settings change meanwhile).
  const context = await openRepoContext({
    io: callIO(io, { progress: () => {} }),
    as: options.as,
    server: options.server,
    apiKey: options.apiKey,
  });
  let agent: { id: string; name: string };
  try {
    agent = await identify(context);
  } catch (error) {
    await context.close();
    throw error;
  }
  return {
    agent,
    async withDeps(sinks, fn) {
      const { getRepo } = await import('../core/repos/repos.js');
      const repo = await getRepo(context.core.store.db, context.ctx.repo.id);
      const deps: CommandDeps = {
        io: callIO(io, sinks),
        core: context.core,
        ctx: { ...context.ctx, repo },
        ...(context.remote ? { remote: context.remote } : {}),
      };
      const { runHousekeeping } = await import('../cli/housekeeping.js');
      await runHousekeeping(deps);
      return fn(deps);
    },
    close: () => context.close(),
  };
}

/** A stdio backend holds the repository's store open until closed. */
export interface StdioBackend extends McpBackend {
  close(): Promise<void>;
}

/** Who the server acts as: the local agent, or (connected) the one the server knows by the key. */
async function identify(deps: CommandDeps): Promise<{ id: string; name: string }> {
  if (deps.remote) {
    const name = deps.ctx.agentRef ?? deps.remote.connection.agentRef;
    if (!name) throw required();
    return { id: name, name };
  }
  const actor = await findActor(deps);
  if (!actor) throw required();
  return { id: actor.id, name: actor.name };
}

function required(): GitSwarmError {
  return new GitSwarmError('agent_required', 'gitswarm mcp serves one agent; name it.', {
    hint: 'Run: gitswarm mcp --as AGENT (or set GITSWARM_AGENT); one MCP server per agent.',
  });
}

/** Serves MCP on this process's stdin and stdout until the client closes them. */
export async function runMcpStdio(io: CliIO, options: McpStdioOptions): Promise<void> {
  const backend = await openStdioBackend(io, options);
  const pollMs = Number(io.env.GITSWARM_MCP_POLL_MS ?? 1000);
  const server = createMcpServer(backend, { pollMs: Number.isFinite(pollMs) ? pollMs : 1000 });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.mcp.connect(transport);
  io.stderr.write(`gitswarm mcp: serving agent ${backend.agent.name} on stdio\n`);
  await closed;
  await server.close();
  await backend.close();
}
