/**
 * Builds the MCP server of one agent: every tool of the table (tools.ts) registered with its
 * schemas and annotations, the resources (resources.ts), and the one place where a tool's outcome
 * becomes an MCP result: the command's `--json` shape as structured content (and as JSON text), or
 * a refusal as a tool error (`isError: true`) whose text and structured content carry the error's
 * code, message, hint and details (a conflict's `paths`, say).
 *
 * The server does not know where the repository is: a backend opens the command context of each
 * call (stdio.ts: the repository it starts in, Mode A or B; the HTTP server's /mcp: its own).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { CommandDeps } from '../cli/context.js';
import { GitSwarmError } from '../errors.js';
import { packageVersion } from '../util/package-version.js';
import { toolHintOf } from './hints.js';
import { type McpResources, registerResources } from './resources.js';
import { ERROR_OUTPUT, TOOLS, type ToolCall, type ToolSpec } from './tools.js';

/** Where the lines a command writes for people go during one call. */
export interface CallSinks {
  /** Progress lines (stderr of the command). */
  progress(line: string): void;
}

/**
 * Opens the command context of each tool call and closes it afterwards: stdio.ts (the repository
 * the process starts in, Mode A or B) or http.ts (a repository of the HTTP server, as the key's agent).
 */
export interface McpBackend {
  /** The agent this server acts as (for `whoami` and the instructions). */
  readonly agent: { id: string; name: string };
  /** Runs `fn` with fresh command deps for one call, then releases them. */
  withDeps<T>(sinks: CallSinks, fn: (deps: CommandDeps) => Promise<T>): Promise<T>;
}

/** Runs one tool of the table through the backend. */
export function invokeTool(
  backend: McpBackend,
  tool: ToolSpec,
  args: Record<string, unknown>,
  sinks: CallSinks,
): Promise<object> {
  const call: ToolCall = { progress: sinks.progress };
  return backend.withDeps(sinks, (deps) => tool.run(args, deps, call));
}

export interface GitSwarmMcpServer {
  readonly mcp: McpServer;
  readonly resources: McpResources;
  /** Stops the resource watcher and closes the connection. */
  close(): Promise<void>;
}

export interface CreateMcpServerOptions {
  /** How often the resource watcher looks for changes made elsewhere (ms; 0: never). */
  pollMs?: number;
  /** The tools to offer (default: every tool of the table). */
  tools?: readonly ToolSpec[];
}

/** The structured content of a refusal: the CLI's `{error: {...}}` document, its hint in tools (hints.ts). */
export function toolError(error: unknown): CallToolResult {
  const gitswarm =
    error instanceof GitSwarmError
      ? error
      : new GitSwarmError('internal_error', error instanceof Error ? error.message : String(error));
  const hint = toolHintOf(gitswarm);
  const { hint: _cliHint, ...rest } = gitswarm.toJSON().error;
  const document = { error: { ...rest, ...(hint ? { hint } : {}) } };
  const lines = [`error ${gitswarm.code}: ${gitswarm.message}`];
  const paths = gitswarm.details?.paths;
  if (Array.isArray(paths) && paths.length > 0) lines.push(`paths: ${paths.map(String).join(', ')}`);
  if (hint) lines.push(`hint: ${hint}`);
  lines.push(JSON.stringify(document));
  return { isError: true, content: [{ type: 'text', text: lines.join('\n') }], structuredContent: document };
}

/** The output schema as MCP sees it: each field present on success, `error` on a refusal. */
function outputSchema(tool: ToolSpec): z.ZodObject {
  const fields = Object.fromEntries(
    Object.entries(tool.output).map(([key, field]) => [key, (field as z.ZodType).optional()]),
  );
  return z.looseObject({ ...fields, error: ERROR_OUTPUT.optional() });
}

const WHOAMI: ToolSpec = {
  name: 'whoami',
  title: 'Who am I',
  description:
    'The agent this MCP server acts as: every tool call is made as this agent (its reviews, commits and claims).',
  input: {},
  output: { agent: z.looseObject({ id: z.string(), name: z.string() }) },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  mutates: false,
  run: async () => {
    throw new Error('whoami is answered by the server');
  },
};

/** Builds the server; connect it to a transport with `mcp.connect(transport)`. */
export function createMcpServer(
  backend: McpBackend,
  options: CreateMcpServerOptions = {},
): GitSwarmMcpServer {
  const mcp = new McpServer(
    { name: 'gitswarm', title: 'GitSwarm', version: packageVersion() },
    {
      capabilities: { resources: { subscribe: true, listChanged: true }, logging: {} },
      instructions: [
        `You are agent ${backend.agent.name} in a GitSwarm repository: many agents work on one git repository.`,
        'Loop: workspace_create (returns your worktree) → edit files there → commit → review_request →',
        'others review_submit → consensus → merge → stabilize → promote. Review other agents’ streams with diff and review_submit.',
        'A refused call is a tool error with a code (no_consensus, conflict with paths, dependency_unmerged, self_review, …) and a hint: act on it.',
      ].join(' '),
    },
  );
  const tools = options.tools ?? TOOLS;
  const resources = registerResources(mcp, backend, tools, { pollMs: options.pollMs ?? 1000 });

  for (const tool of [...tools, WHOAMI]) {
    mcp.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        outputSchema: outputSchema(tool),
        annotations: { title: tool.title, ...tool.annotations },
      },
      async (args: Record<string, unknown>, extra) => {
        if (tool === WHOAMI) return success({ agent: backend.agent });
        const token = extra._meta?.progressToken;
        let step = 0;
        const progress = (line: string) => {
          const message = line.trim();
          if (token === undefined || message === '') return;
          step += 1;
          extra
            .sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress: step, message },
            })
            .catch(() => {});
        };
        try {
          const result = await invokeTool(backend, tool, args, { progress });
          return success(result);
        } catch (error) {
          return toolError(error);
        } finally {
          if (tool.mutates) resources.changed();
        }
      },
    );
  }

  return {
    mcp,
    resources,
    async close() {
      resources.stop();
      await mcp.close();
    },
  };
}

function success(result: object): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(result, null, 2) }],
    structuredContent: result as Record<string, unknown>,
  };
}
