/**
 * The MCP tool table: one row per tool of the contract (spec/cli.md, "MCP"), each naming the
 * `run…` function of the matching CLI command. Those functions already route a connected clone
 * (Mode B) to the server and a local repository (Mode A) to the core, so a tool is the command:
 * same rules, same `--json` shape (returned as structured content), same errors (returned as tool
 * errors by server.ts). Descriptions are written for a model: what the tool does, when to use it,
 * what to do next.
 */
import * as z from 'zod';
import type { CommandDeps } from '../cli/context.js';

/** The four hints MCP clients read to decide whether to ask before calling. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** What a tool call may use besides its arguments. */
export interface ToolCall {
  /** Reports one step of a long operation (MCP progress, when the client asked for it). */
  progress(message: string): void;
}

/** One tool: its contract, its schemas and the command it runs. */
export interface ToolSpec {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** Zod fields of the arguments (a raw shape; the SDK turns it into JSON Schema). */
  readonly input: z.ZodRawShape;
  /** Zod fields of the structured result (the command's `--json` shape). */
  readonly output: z.ZodRawShape;
  readonly annotations: ToolAnnotations;
  /** Changes state: resources are re-checked after it (notifications). */
  readonly mutates: boolean;
  /**
   * Needs no clone: the command's local (Mode A) path works on the server's own store, so the
   * HTTP server offers the tool at /mcp for repositories whose git lives in clones (Mode B).
   */
  readonly server?: true;
  readonly run: (args: Record<string, unknown>, deps: CommandDeps, call: ToolCall) => Promise<object>;
}

const READ: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
};
const WRITE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
};

const stream = z
  .string()
  .min(1)
  .describe(
    'The stream: its id, its name, or its branch (stream/<id>), as workspace_create or status shows it.',
  );
const task = z.string().min(1).describe('The task: its id, or its number as task_list shows it (e.g. "3").');

const streamView = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    branch: z.string(),
    base_branch: z.string().nullable(),
    parent_stream_id: z.string().nullable(),
    status: z.string(),
    review_status: z.string().nullable(),
  })
  .describe('A stream (a branch with its own worktree)');
const consensusView = z
  .looseObject({
    reached: z.boolean(),
    reason: z.string(),
    approvals: z.number(),
    rejections: z.number(),
    threshold: z.number(),
    ratio: z.number(),
    min_reviews: z.number(),
  })
  .describe('Whether the stream may merge, and the numbers behind it');
const taskView = z.looseObject({
  id: z.string(),
  number: z.number(),
  title: z.string(),
  status: z.string(),
  priority: z.string(),
  amount: z.number(),
});
const claimView = z.looseObject({
  id: z.string(),
  task_id: z.string(),
  agent_id: z.string(),
  status: z.string(),
});

/** A refusal's structured content (every output schema admits it: see server.ts). */
export const ERROR_OUTPUT = z
  .looseObject({
    code: z.string().describe('Stable error code to branch on: no_consensus, conflict, self_review, …'),
    message: z.string(),
    hint: z.string().optional().describe('The next step'),
  })
  .describe('Present only when the call was refused (isError: true); then no other field is.');

function text(value: unknown): string | undefined {
  return value === undefined ? undefined : String(value);
}

/**
 * Every tool, in the order of the contract table. `run` lazily loads the command module, as the
 * CLI's definitions do.
 */
export const TOOLS: readonly ToolSpec[] = [
  {
    name: 'status',
    title: 'Repository status',
    description:
      'The repository at a glance: settings (merge_mode review/swarm/gated), buffer and main heads, who works on which stream, live streams with their review state, the merge queue (ready = consensus reached) and the last stabilization. Call it first to orient yourself, and after a refusal to see why.',
    input: {},
    output: {
      repo: z.looseObject({ id: z.string(), name: z.string(), merge_mode: z.string() }),
      buffer_head: z.string().nullable(),
      main_head: z.string().nullable(),
      workspaces: z.array(z.looseObject({})),
      streams: z.array(z.looseObject({ id: z.string(), status: z.string() })),
      queue: z.array(z.looseObject({ stream_id: z.string(), ready: z.boolean() })),
      last_stabilization: z.looseObject({}).nullable(),
    },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (_args, deps) => (await import('../cli/status.js')).runStatus({}, deps),
  },
  {
    name: 'agent_list',
    title: 'List agents',
    description:
      'Every agent with its role in this repository (owner, maintainer or none) and karma. Use it to find reviewers other than yourself.',
    input: {},
    output: { agents: z.array(z.looseObject({ id: z.string(), name: z.string() })) },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (_args, deps) => (await import('../cli/agent.js')).runListAgents({}, deps),
  },
  {
    name: 'workspace_create',
    title: 'Create your workspace',
    description:
      'Start a stream of work: a new branch from the buffer head (or from the stream it depends on) with its own worktree directory, returned as `worktree`. Write your files there (that directory is yours), then call commit. One live workspace per agent.',
    input: {
      name: z.string().min(1).optional().describe('A short name for the stream (default: generated)'),
      task: task.optional().describe('The task this work is for (id or number); links the stream to it'),
      depends_on: stream
        .optional()
        .describe('Build on another stream not yet merged: branch from it; it must merge first'),
    },
    output: { stream: streamView, worktree: z.string().describe('Absolute path: write your files here') },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) =>
      (await import('../cli/workspace.js')).runCreateWorkspace(
        { name: text(args.name), task: text(args.task), dependsOn: text(args.depends_on) },
        deps,
      ),
  },
  {
    name: 'workspace_list',
    title: 'List workspaces',
    description: 'The live workspaces: each agent, its stream, the stream status and the worktree path.',
    input: {},
    output: { workspaces: z.array(z.looseObject({ agent_name: z.string(), stream_id: z.string() })) },
    annotations: READ,
    mutates: false,
    run: async (_args, deps) => (await import('../cli/workspace.js')).runListWorkspaces({}, deps),
  },
  {
    name: 'workspace_destroy',
    title: 'Remove your workspace',
    description:
      'Remove your worktree directory (uncommitted changes in it are lost). The stream stays and can still be reviewed and merged, unless abandon is true: then the stream is abandoned for good. Use when your work is merged, or to give up.',
    input: { abandon: z.boolean().optional().describe('Also abandon the stream (it will never merge)') },
    output: { stream_id: z.string(), worktree: z.string(), abandoned: z.boolean() },
    annotations: { ...WRITE, destructiveHint: true },
    mutates: true,
    run: async (args, deps) =>
      (await import('../cli/workspace.js')).runDestroyWorkspace({ abandon: args.abandon === true }, deps),
  },
  {
    name: 'commit',
    title: 'Commit your work',
    description:
      'Stage everything in your worktree and commit it on your stream (with a Change-Id). In swarm mode the stream also merges into the buffer at once (merged: true); in review mode, next call review_request. Refused with nothing_to_commit when the worktree has no change.',
    input: { message: z.string().min(1).describe('The commit message: what changed and why') },
    output: {
      commit: z.string(),
      change_id: z.string(),
      stream_id: z.string(),
      merged: z.boolean().describe('The commit is on the buffer already (swarm mode)'),
      buffer_head: z.string().optional(),
    },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) =>
      (await import('../cli/commit.js')).runCommit({ message: text(args.message) }, deps),
  },
  {
    name: 'review_request',
    title: 'Put a stream up for review',
    description:
      'Ask for review of your stream (after committing). Other agents then call review_submit on it; when consensus is reached, call merge. You cannot review your own stream.',
    input: { stream },
    output: { stream: streamView },
    annotations: { ...WRITE, idempotentHint: true },
    mutates: true,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/review.js')).runSubmitReview({ stream: String(args.stream) }, deps),
  },
  {
    name: 'review_submit',
    title: 'Review a stream',
    description:
      "Record your verdict on another agent's stream: approve, request_changes or comment. Read it first with diff. Your latest verdict replaces an earlier one. Returns the stream's consensus after your vote; refused with self_review on your own stream.",
    input: {
      stream,
      verdict: z.enum(['approve', 'request_changes', 'comment']).describe('Your verdict'),
      feedback: z.string().optional().describe('What you found; required in spirit for request_changes'),
      tested: z.boolean().optional().describe('You ran the code (weighs more in some repositories)'),
    },
    output: {
      review: z.looseObject({ stream_id: z.string(), reviewer_id: z.string(), verdict: z.string() }),
      consensus: consensusView,
    },
    annotations: { ...WRITE, idempotentHint: true },
    mutates: true,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/review.js')).runSubmitReview(
        {
          stream: String(args.stream),
          verdict: String(args.verdict),
          feedback: text(args.feedback),
          tested: args.tested === true,
        },
        deps,
      ),
  },
  {
    name: 'review_list',
    title: "A stream's reviews",
    description:
      'The reviews of a stream: reviewer, verdict, feedback, and whether each is stale (given on code that changed since).',
    input: { stream },
    output: { stream_id: z.string(), reviews: z.array(z.looseObject({ verdict: z.string() })) },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/review.js')).runListReviews({ stream: String(args.stream) }, deps),
  },
  {
    name: 'consensus',
    title: 'Consensus on a stream',
    description:
      'Whether a stream may merge (reached) and why not (reason), with approvals, rejections, ratio and threshold. Check it before merge.',
    input: { stream },
    output: { stream_id: z.string(), ...consensusView.shape },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/consensus.js')).runConsensus({ stream: String(args.stream) }, deps),
  },
  {
    name: 'diff',
    title: "A stream's diff",
    description:
      "The stream's changes against the buffer (git diff buffer...stream), and the files it touches. Read it before review_submit.",
    input: { stream, stat: z.boolean().optional().describe('A diffstat instead of the full patch') },
    output: {
      stream_id: z.string(),
      base: z.string(),
      head: z.string(),
      files: z.array(z.string()),
      diff: z.string(),
    },
    annotations: READ,
    mutates: false,
    run: async (args, deps) =>
      (await import('../cli/diff.js')).runDiff(
        { stream: String(args.stream), stat: args.stat === true },
        deps,
      ),
  },
  {
    name: 'merge',
    title: 'Merge a stream into the buffer',
    description:
      'Check consensus and dependencies, then merge the stream into the buffer branch. Refusals come back as tool errors with a code: no_consensus (get more reviews), conflict (details.paths lists the files; update your stream and commit again), dependency_unmerged (merge the stream it depends on first), forbidden. After merging, stabilize tests the buffer.',
    input: { stream },
    output: {
      merged: z.literal(true),
      stream_id: z.string(),
      merge_commit: z.string(),
      buffer_head: z.string(),
    },
    annotations: WRITE,
    mutates: true,
    run: async (args, deps) =>
      (await import('../cli/merge.js')).runMerge({ stream: String(args.stream) }, deps),
  },
  {
    name: 'stabilize',
    title: 'Test the buffer',
    description:
      "Run the repository's stabilize command (its tests) on the buffer head in a sandbox. green: tagged green/<time> (and promoted if the repository says so). red: bisects the merges since the last green, may revert the breaking one and files a critical task for its author. Long: reports each run and bisection step as progress. Next after green: promote.",
    input: {},
    output: {
      result: z.enum(['green', 'red', 'flaky']),
      tag: z.string().optional(),
      buffer_commit: z.string(),
      breaking_stream_id: z.string().nullable().optional(),
      reverted: z.boolean().optional(),
      task_id: z.string().nullable().optional(),
      runs: z.number(),
    },
    annotations: { ...WRITE, destructiveHint: true },
    mutates: true,
    run: async (_args, deps, call) => {
      const { runStabilize } = await import('../cli/stabilize.js');
      return runStabilize({ ...deps, io: { ...deps.io, stderr: { write: (line) => call.progress(line) } } });
    },
  },
  {
    name: 'promote',
    title: 'Promote the buffer to main',
    description:
      'Fast-forward main (the promote target) to the buffer head. Refused with not_green unless the buffer head passed stabilize. Promoting again when main is already there changes nothing (promoted: false).',
    input: {},
    output: { promoted: z.boolean(), from_commit: z.string().nullable(), to_commit: z.string() },
    annotations: { ...WRITE, idempotentHint: true },
    mutates: true,
    run: async (_args, deps) => (await import('../cli/promote.js')).runPromote({}, deps),
  },
  {
    name: 'task_list',
    title: 'List tasks',
    description: 'Tasks and bounties, critical first. Pick an open one, then task_claim it.',
    input: {
      status: z
        .string()
        .optional()
        .describe(
          'Only these statuses, comma-separated: open, claimed, submitted, completed, cancelled, expired',
        ),
    },
    output: { tasks: z.array(taskView) },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/task.js')).runListTasks({ status: text(args.status) }, deps),
  },
  {
    name: 'task_show',
    title: 'Show a task',
    description: 'One task with its description and claims.',
    input: { task },
    output: { task: taskView.extend({ claims: z.array(z.looseObject({})) }) },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/task.js')).runShowTask({ task: String(args.task) }, deps),
  },
  {
    name: 'task_create',
    title: 'Create a task',
    description:
      'File a task for others (or yourself). amount > 0 makes it a bounty reserved from the repository budget (refused with insufficient_budget when short).',
    input: {
      title: z.string().min(1).describe('What needs doing, in one line'),
      description: z.string().optional().describe('Details: context, acceptance criteria'),
      priority: z.enum(['critical', 'high', 'medium', 'low']).optional().describe('Default medium'),
      amount: z.number().int().min(0).optional().describe('Bounty in credits (default 0)'),
      labels: z.array(z.string()).optional().describe('Labels'),
    },
    output: { task: taskView },
    annotations: WRITE,
    mutates: true,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/task.js')).runCreateTask(
        {
          title: String(args.title),
          description: text(args.description),
          priority: text(args.priority),
          amount: text(args.amount),
          labels: Array.isArray(args.labels) ? args.labels.join(',') : undefined,
        },
        deps,
      ),
  },
  {
    name: 'task_claim',
    title: 'Claim a task',
    description: 'Claim an open task for yourself, then workspace_create with task set to it.',
    input: { task },
    output: { claim: claimView },
    annotations: WRITE,
    mutates: true,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/task.js')).runClaimTask({ task: String(args.task) }, deps),
  },
  {
    name: 'task_submit',
    title: 'Hand in a task',
    description:
      "Hand in your work on a claimed task for the task creator's review (approval pays any bounty).",
    input: { task, notes: z.string().optional().describe('What you did, for the reviewer') },
    output: { claim: claimView },
    annotations: WRITE,
    mutates: true,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/task.js')).runSubmitClaim(
        { task: String(args.task), notes: text(args.notes) },
        deps,
      ),
  },
  {
    name: 'activity',
    title: 'Activity log',
    description:
      'The latest events of the repository, oldest first (streams created, reviews, merges, stabilizations, tasks). Use it to see what other agents did.',
    input: { limit: z.number().int().min(1).max(1000).optional().describe('How many entries (default 20)') },
    output: {
      activity: z.array(z.looseObject({ id: z.string(), event_type: z.string(), created_at: z.string() })),
    },
    annotations: READ,
    mutates: false,
    server: true,
    run: async (args, deps) =>
      (await import('../cli/activity.js')).runActivity({ limit: text(args.limit) }, deps),
  },
];

/** The tool of this name (undefined when there is none). */
export function findTool(name: string): ToolSpec | undefined {
  return TOOLS.find((tool) => tool.name === name);
}
