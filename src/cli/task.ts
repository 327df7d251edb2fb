/**
 * `gitswarm task create|list|show|claim|submit|review|abandon|cancel`: tasks and bounties. A TASK
 * argument is the task's id or its short number (`3` or `#3`); a CLAIM is the claim's id or the
 * task whose submitted claim is meant.
 */

import type { ListedClaim } from '../core/tasks/task-claims.js';
import {
  abandonClaim,
  cancelTask,
  claimTask,
  createTask,
  getTask,
  listTaskClaims,
  listTasks,
  reviewClaim,
  submitClaim,
} from '../core/tasks/tasks.js';
import type { Executor, Task, TaskClaim } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { usageError } from './errors.js';
import { fields, type Style, safeText, table } from './output.js';

/** A task as commands print it (the `--json` minimum: id, number, title, status, priority, amount). */
export interface TaskView {
  id: string;
  number: number;
  title: string;
  status: Task['status'];
  priority: Task['priority'];
  amount: number;
  description: string;
  labels: string[];
  difficulty: string | null;
  created_by: string | null;
  created_by_name: string | null;
  assigned_to: string | null;
  assigned_to_name: string | null;
  expires_at: string | null;
  completed_at: string | null;
  created_at: string;
}

/** A claim as commands print it (the `--json` minimum: id, task_id, agent_id, status). */
export interface ClaimView {
  id: string;
  task_id: string;
  task_number: number;
  agent_id: string;
  agent_name: string;
  status: TaskClaim['status'];
  stream_id: string | null;
  submission_notes: string | null;
  submitted_at: string | null;
  reviewed_by: string | null;
  reviewed_at: string | null;
  review_notes: string | null;
  payout_amount: number;
  claimed_at: string;
}

async function agentNames(db: Executor, ids: readonly (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom('gitswarm_agents')
    .select(['id', 'name'])
    .where('id', 'in', wanted)
    .execute();
  return new Map(rows.map((row) => [row.id, row.name]));
}

async function toTaskViews(db: Executor, tasks: readonly Task[]): Promise<TaskView[]> {
  const names = await agentNames(
    db,
    tasks.flatMap((t) => [t.created_by, t.assigned_to]),
  );
  return tasks.map((task) => taskView(task, names));
}

/** A task as the commands show it, with its creator's and assignee's names (both modes). */
export function taskView(task: Task, names: ReadonlyMap<string, string>): TaskView {
  return {
    id: task.id,
    number: task.number,
    title: task.title,
    status: task.status,
    priority: task.priority,
    amount: task.amount,
    description: task.description,
    labels: task.labels,
    difficulty: task.difficulty,
    created_by: task.created_by,
    created_by_name: task.created_by ? (names.get(task.created_by) ?? null) : null,
    assigned_to: task.assigned_to,
    assigned_to_name: task.assigned_to ? (names.get(task.assigned_to) ?? null) : null,
    expires_at: task.expires_at,
    completed_at: task.completed_at,
    created_at: task.created_at,
  };
}

async function toTaskView(db: Executor, task: Task): Promise<TaskView> {
  const [view] = await toTaskViews(db, [task]);
  if (!view) throw new Error(`No view for task ${task.id}`);
  return view;
}

function toClaimView(claim: TaskClaim, agentName: string, taskNumber: number): ClaimView {
  return {
    id: claim.id,
    task_id: claim.task_id,
    task_number: taskNumber,
    agent_id: claim.agent_id,
    agent_name: agentName,
    status: claim.status,
    stream_id: claim.stream_id,
    submission_notes: claim.submission_notes,
    submitted_at: claim.submitted_at,
    reviewed_by: claim.reviewed_by,
    reviewed_at: claim.reviewed_at,
    review_notes: claim.review_notes,
    payout_amount: claim.payout_amount,
    claimed_at: claim.claimed_at,
  };
}

/** The claim's view, looking up its claimant's name and its task's number. */
async function claimView(db: Executor, claim: TaskClaim): Promise<ClaimView> {
  const names = await agentNames(db, [claim.agent_id]);
  const task = await db
    .selectFrom('gitswarm_tasks')
    .select('number')
    .where('id', '=', claim.task_id)
    .executeTakeFirstOrThrow();
  return toClaimView(claim, names.get(claim.agent_id) ?? claim.agent_id, task.number);
}

/** Parses a whole number of credits given on the command line; usage error otherwise. */
export function parseCredits(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value.trim())) {
    throw usageError(`${flag} takes a whole number of credits, got ${JSON.stringify(value)}.`);
  }
  return Number(value.trim());
}

function bounty(amount: number): string {
  return amount > 0 ? `${amount} credits` : '-';
}

export interface CreateTaskOptions {
  title: string;
  description?: string;
  priority?: string;
  amount?: string;
  labels?: string;
  difficulty?: string;
  expires?: string;
}

export interface TaskResult {
  task: TaskView;
}

/** Creates a task; a bounty (`--amount` > 0) is reserved from the budget. */
export async function runCreateTask(opts: CreateTaskOptions, deps: CommandDeps): Promise<TaskResult> {
  const { core, ctx } = deps;
  const amount = parseCredits('--amount', opts.amount);
  if (deps.remote) {
    const { createTaskRemote } = await import('../remote/commands/task.js');
    return createTaskRemote({ ...opts, amount }, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const task = await createTask(core, core.store.db, {
    repo: ctx.repo,
    actor,
    title: opts.title,
    description: opts.description,
    priority: opts.priority,
    amount,
    labels: opts.labels?.split(','),
    difficulty: opts.difficulty,
    expiresAt: opts.expires,
  });
  return { task: await toTaskView(core.store.db, task) };
}

export function formatCreateTask(result: TaskResult, style: Style): string {
  const { task } = result;
  const paid = task.amount > 0 ? `, bounty ${task.amount} credits reserved` : '';
  return `Created task ${style.bold(`#${task.number}`)} ${safeText(task.title)} (${task.priority}${paid}).\nClaim it with: gitswarm task claim ${task.number} --as <agent>`;
}

export interface ListTasksResult {
  tasks: TaskView[];
}

/** Lists tasks: critical first, then by priority, newest first. */
export async function runListTasks(opts: { status?: string }, deps: CommandDeps): Promise<ListTasksResult> {
  if (deps.remote) {
    const { listTasksRemote } = await import('../remote/commands/task.js');
    return listTasksRemote(opts, { ...deps, remote: deps.remote });
  }
  const db = deps.core.store.db;
  const status = opts.status?.split(',').map((s) => s.trim());
  return { tasks: await toTaskViews(db, await listTasks(db, deps.ctx.repo.id, { status })) };
}

function colourStatus(status: Task['status'], style: Style): string {
  if (status === 'open') return style.green(status);
  if (status === 'completed') return style.dim(status);
  if (status === 'cancelled' || status === 'expired') return style.dim(status);
  return style.yellow(status);
}

export function formatListTasks(result: ListTasksResult, style: Style): string {
  if (result.tasks.length === 0) return 'No tasks. Create one with: gitswarm task create TITLE --as <agent>';
  return table(
    result.tasks.map((t) => [
      `#${t.number}`,
      t.priority === 'critical' ? style.red(t.priority) : t.priority,
      colourStatus(t.status, style),
      bounty(t.amount),
      safeText(t.title),
    ]),
    ['TASK', 'PRIORITY', 'STATUS', 'BOUNTY', 'TITLE'].map(style.dim),
  );
}

export interface ShowTaskResult {
  task: TaskView & { claims: ClaimView[] };
}

/** Shows one task and every claim on it. */
export async function runShowTask(opts: { task: string }, deps: CommandDeps): Promise<ShowTaskResult> {
  if (deps.remote) {
    const { showTaskRemote } = await import('../remote/commands/task.js');
    return showTaskRemote(opts, { ...deps, remote: deps.remote });
  }
  const db = deps.core.store.db;
  const task = await getTask(db, deps.ctx.repo.id, opts.task);
  const claims = await listTaskClaims(db, task.id);
  return {
    task: {
      ...(await toTaskView(db, task)),
      claims: claims.map((claim: ListedClaim) => toClaimView(claim, claim.agent_name, claim.task_number)),
    },
  };
}

export function formatShowTask(result: ShowTaskResult, style: Style): string {
  const { task } = result;
  const key = style.dim;
  const lines = [
    fields([
      [key('task'), `#${task.number}`],
      [key('id'), task.id],
      [key('title'), safeText(task.title)],
      [key('status'), task.status],
      [key('priority'), task.priority],
      [key('bounty'), bounty(task.amount)],
      [key('labels'), task.labels.length > 0 ? safeText(task.labels.join(', ')) : null],
      [key('difficulty'), task.difficulty === null ? null : safeText(task.difficulty)],
      [key('created by'), task.created_by_name ?? (task.created_by ? task.created_by : 'system')],
      [key('assigned to'), task.assigned_to_name],
      [key('expires'), task.expires_at],
      [key('created'), task.created_at],
      [key('completed'), task.completed_at],
    ]),
  ];
  if (task.description !== '') lines.push('', safeText(task.description));
  if (task.claims.length > 0) {
    lines.push(
      '',
      table(
        task.claims.map((c) => [c.id, c.agent_name, c.status, c.stream_id ?? '-', c.claimed_at]),
        ['CLAIM', 'AGENT', 'STATUS', 'STREAM', 'CLAIMED'].map(style.dim),
      ),
    );
  }
  return lines.join('\n');
}

export interface ClaimResult {
  claim: ClaimView;
}

/** Claims a task for the acting agent. */
export async function runClaimTask(opts: { task: string }, deps: CommandDeps): Promise<ClaimResult> {
  if (deps.remote) {
    const { claimActionRemote } = await import('../remote/commands/task.js');
    return claimActionRemote({ task: opts.task, action: 'claim' }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const agent = await requireActor(deps);
  const claim = await claimTask(core, core.store.db, { repo: ctx.repo, taskRef: opts.task, agent });
  return { claim: await claimView(core.store.db, claim) };
}

export function formatClaimTask(result: ClaimResult, style: Style): string {
  const { claim } = result;
  return `${style.bold(claim.agent_name)} claimed task #${claim.task_number} (claim ${claim.id})\nWork on it with: gitswarm workspace create --task ${claim.task_number} --as ${claim.agent_name}`;
}

/** Hands in the acting agent's work on a task. */
export async function runSubmitClaim(
  opts: { task: string; notes?: string },
  deps: CommandDeps,
): Promise<ClaimResult> {
  if (deps.remote) {
    const { claimActionRemote } = await import('../remote/commands/task.js');
    return claimActionRemote({ ...opts, action: 'submit' }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const agent = await requireActor(deps);
  const claim = await submitClaim(core, core.store.db, {
    repo: ctx.repo,
    agent,
    taskRef: opts.task,
    notes: opts.notes,
  });
  return { claim: await claimView(core.store.db, claim) };
}

export function formatSubmitClaim(result: ClaimResult, style: Style): string {
  const { claim } = result;
  return `${style.bold(claim.agent_name)} submitted task #${claim.task_number} for review.\nThe task's creator or a maintainer reviews it with: gitswarm task review ${claim.task_number} approve|reject --as <agent>`;
}

export interface ReviewClaimResult {
  claim: ClaimView;
  task: TaskView;
  payout: number;
}

/** Approves (pays the bounty) or rejects (reopens the task) a submitted claim. */
export async function runReviewClaim(
  opts: { claim: string; verdict: string; notes?: string },
  deps: CommandDeps,
): Promise<ReviewClaimResult> {
  if (deps.remote) {
    const { reviewClaimRemote } = await import('../remote/commands/task.js');
    return reviewClaimRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const reviewer = await requireActor(deps);
  const result = await reviewClaim(core, core.store.db, {
    repo: ctx.repo,
    claimRef: opts.claim,
    reviewer,
    verdict: opts.verdict,
    notes: opts.notes,
  });
  const db = core.store.db;
  return {
    claim: await claimView(db, result.claim),
    task: await toTaskView(db, result.task),
    payout: result.payout,
  };
}

export function formatReviewClaim(result: ReviewClaimResult, style: Style): string {
  const { claim, task } = result;
  if (claim.status === 'rejected') {
    return `Rejected ${style.bold(claim.agent_name)}'s work on task #${task.number}; the task is open again.`;
  }
  const paid = result.payout > 0 ? ` Paid ${result.payout} credits to ${style.bold(claim.agent_name)}.` : '';
  return `Approved ${style.bold(claim.agent_name)}'s work; task #${task.number} is completed.${paid}`;
}

/** Gives up the acting agent's claim on a task. */
export async function runAbandonClaim(opts: { task: string }, deps: CommandDeps): Promise<ClaimResult> {
  if (deps.remote) {
    const { claimActionRemote } = await import('../remote/commands/task.js');
    return claimActionRemote({ task: opts.task, action: 'abandon' }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const agent = await requireActor(deps);
  const claim = await abandonClaim(core, core.store.db, { repo: ctx.repo, agent, taskRef: opts.task });
  return { claim: await claimView(core.store.db, claim) };
}

export function formatAbandonClaim(result: ClaimResult, style: Style): string {
  const { claim } = result;
  return `${style.bold(claim.agent_name)} gave up the claim on task #${claim.task_number}; it is open again.`;
}

/** Cancels a task (its creator or a maintainer); its bounty returns to the budget. */
export async function runCancelTask(opts: { task: string }, deps: CommandDeps): Promise<TaskResult> {
  if (deps.remote) {
    const { cancelTaskRemote } = await import('../remote/commands/task.js');
    return cancelTaskRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  const task = await cancelTask(core, core.store.db, { repo: ctx.repo, taskRef: opts.task, actor });
  return { task: await toTaskView(core.store.db, task) };
}

export function formatCancelTask(result: TaskResult, style: Style): string {
  const { task } = result;
  const released = task.amount > 0 ? ` Released ${task.amount} credits to the budget.` : '';
  return `Cancelled task ${style.bold(`#${task.number}`)}.${released}`;
}
