/**
 * `gitswarm task …` on a connected clone: the server's task routes, named as the CLI names tasks
 * (id or number) and claims (id, or the task whose submitted claim is meant); the answers are
 * printed in Mode A's shapes. The server decides who may claim, review, cancel and what is paid.
 */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type {
  ClaimResult,
  ClaimView,
  CreateTaskOptions,
  ListTasksResult,
  ReviewClaimResult,
  ShowTaskResult,
  TaskResult,
} from '../../cli/task.js';
import { taskView } from '../../cli/task.js';
import type { Task, TaskClaim } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import { getAllPages } from '../pages.js';
import type { ServerAgent } from './agent.js';

type Connected = CommandDeps & { remote: RemoteDeps };
type ServerClaim = TaskClaim & { agent_name?: string; task_number?: number };

const enc = encodeURIComponent;

/** Names of agents by id (one call: the agent list). */
async function agentNames(remote: RemoteDeps): Promise<Map<string, string>> {
  const { agents } = await remote.client.get<{ agents: ServerAgent[] }>('/agents');
  return new Map(agents.map((agent) => [agent.id, agent.name]));
}

function claimView(claim: ServerClaim, names: ReadonlyMap<string, string>, taskNumber?: number): ClaimView {
  return {
    id: claim.id,
    task_id: claim.task_id,
    task_number: claim.task_number ?? taskNumber ?? 0,
    agent_id: claim.agent_id,
    agent_name: claim.agent_name ?? names.get(claim.agent_id) ?? claim.agent_id,
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

export async function createTaskRemote(
  opts: Omit<CreateTaskOptions, 'amount'> & { amount?: number },
  deps: Connected,
): Promise<TaskResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const body: Record<string, unknown> = { title: opts.title };
  if (opts.description !== undefined) body.description = opts.description;
  if (opts.priority !== undefined) body.priority = opts.priority;
  if (opts.amount !== undefined) body.amount = opts.amount;
  if (opts.labels !== undefined) body.labels = opts.labels.split(',');
  if (opts.difficulty !== undefined) body.difficulty = opts.difficulty;
  if (opts.expires !== undefined) body.expires_at = opts.expires;
  const { task } = await remote.client.post<{ task: Task }>(`/repos/${remote.repoId()}/tasks`, body, {
    idempotencyKey: true,
  });
  return { task: taskView(task, await agentNames(remote)) };
}

export async function listTasksRemote(opts: { status?: string }, deps: Connected): Promise<ListTasksResult> {
  const { remote } = deps;
  const [tasks, names] = await Promise.all([
    getAllPages<Task>(remote.client, `/repos/${remote.repoId()}/tasks`, 'tasks', { status: opts.status }),
    agentNames(remote),
  ]);
  return { tasks: tasks.map((task) => taskView(task, names)) };
}

export async function showTaskRemote(opts: { task: string }, deps: Connected): Promise<ShowTaskResult> {
  const { remote } = deps;
  const [{ task, claims }, names] = await Promise.all([
    remote.client.get<{ task: Task; claims: ServerClaim[] }>(
      `/repos/${remote.repoId()}/tasks/${enc(opts.task)}`,
    ),
    agentNames(remote),
  ]);
  return {
    task: { ...taskView(task, names), claims: claims.map((claim) => claimView(claim, names, task.number)) },
  };
}

/** claim | submit | abandon: the key owner's claim on a task. */
export async function claimActionRemote(
  opts: { task: string; action: 'claim' | 'submit' | 'abandon'; notes?: string },
  deps: Connected,
): Promise<ClaimResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const body = opts.action === 'submit' && opts.notes !== undefined ? { notes: opts.notes } : {};
  const { claim } = await remote.client.post<{ claim: ServerClaim }>(
    `/repos/${remote.repoId()}/tasks/${enc(opts.task)}/${opts.action}`,
    body,
    { idempotencyKey: true },
  );
  return { claim: claimView(claim, new Map()) };
}

export async function reviewClaimRemote(
  opts: { claim: string; verdict: string; notes?: string },
  deps: Connected,
): Promise<ReviewClaimResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const answer = await remote.client.post<{ claim: ServerClaim; task: Task; payout: number }>(
    `/repos/${remote.repoId()}/claims/${enc(opts.claim)}/review`,
    { verdict: opts.verdict, ...(opts.notes === undefined ? {} : { notes: opts.notes }) },
    { idempotencyKey: true },
  );
  const names = await agentNames(remote);
  return {
    claim: claimView(answer.claim, names, answer.task.number),
    task: taskView(answer.task, names),
    payout: answer.payout,
  };
}

export async function cancelTaskRemote(opts: { task: string }, deps: Connected): Promise<TaskResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const { task } = await remote.client.post<{ task: Task }>(
    `/repos/${remote.repoId()}/tasks/${enc(opts.task)}/cancel`,
    {},
    { idempotencyKey: true },
  );
  return { task: taskView(task, await agentNames(remote)) };
}
