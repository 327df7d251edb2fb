/**
 * The MCP contract table of spec/cli.md ("MCP: gitswarm mcp"), written out once for the tests:
 * each tool's name, its arguments (required ones without `?`) and the annotations it must carry.
 */
export interface ContractTool {
  name: string;
  required: string[];
  optional: string[];
  readOnly: boolean;
  destructive: boolean;
  idempotent: boolean;
}

const tool = (
  name: string,
  args: string[],
  hints: { readOnly?: boolean; destructive?: boolean; idempotent?: boolean },
): ContractTool => ({
  name,
  required: args.filter((a) => !a.endsWith('?')),
  optional: args.filter((a) => a.endsWith('?')).map((a) => a.slice(0, -1)),
  readOnly: hints.readOnly ?? false,
  destructive: hints.destructive ?? false,
  idempotent: hints.idempotent ?? hints.readOnly ?? false,
});

const READ = { readOnly: true };

export const CONTRACT_TOOLS: readonly ContractTool[] = [
  tool('status', [], READ),
  tool('agent_list', [], READ),
  tool('workspace_create', ['name?', 'task?', 'depends_on?'], {}),
  tool('workspace_list', [], READ),
  tool('workspace_destroy', ['abandon?'], { destructive: true }),
  tool('commit', ['message'], {}),
  tool('review_request', ['stream'], { idempotent: true }),
  tool('review_submit', ['stream', 'verdict', 'feedback?', 'tested?'], { idempotent: true }),
  tool('review_list', ['stream'], READ),
  tool('consensus', ['stream'], READ),
  tool('diff', ['stream', 'stat?'], READ),
  tool('merge', ['stream'], {}),
  tool('stabilize', [], { destructive: true }),
  tool('promote', [], { idempotent: true }),
  tool('task_list', ['status?'], READ),
  tool('task_show', ['task'], READ),
  tool('task_create', ['title', 'description?', 'priority?', 'amount?', 'labels?'], {}),
  tool('task_claim', ['task'], {}),
  tool('task_submit', ['task', 'notes?'], {}),
  tool('activity', ['limit?'], READ),
];
