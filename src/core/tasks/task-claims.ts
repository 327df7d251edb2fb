/**
 * Claims on tasks: an agent takes a task, links it to the stream doing the work, submits it and
 * a reviewer approves (completing the task and paying its bounty) or rejects it (the task opens
 * again). A task has at most one claim in progress (`active` or `submitted`) at a time, and its
 * creator cannot claim it. A claim links only to a stream of the task's repository that the
 * claimant authored ({@link assertClaimStream}); handing in and paying check it again.
 *
 * Claim states: `active` → `submitted` → `approved` | `rejected`; `active` or `submitted` →
 * `abandoned` (the claimant gives up, or the task is cancelled or expires).
 */
import { GitSwarmError } from '../../errors.js';
import type { Agent, ClaimStatus, Executor, Repo, Stream, Task, TaskClaim } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { isUuid, newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { inRepoTransaction } from '../repos/repo-transaction.js';
import { payBounty } from './budget.js';
import { canManageTask, findTask, getTask, isPastExpiry } from './tasks.js';

/** Claim states of work still in progress; a task has at most one claim in them. */
export const OPEN_CLAIM_STATUSES: readonly ClaimStatus[] = ['active', 'submitted'];
export const CLAIM_VERDICTS = ['approve', 'reject'] as const;
export type ClaimVerdict = (typeof CLAIM_VERDICTS)[number];
const MAX_NOTES_LENGTH = 10_000;

function checkNotes(notes: string | null | undefined): string | null {
  if (notes === undefined || notes === null || notes === '') return null;
  if (notes.length > MAX_NOTES_LENGTH) {
    throw new GitSwarmError('invalid_input', `Notes may be at most ${MAX_NOTES_LENGTH} characters.`);
  }
  return notes;
}

async function setTaskStatus(
  deps: CoreDeps,
  db: Executor,
  task: Task,
  status: Task['status'],
): Promise<Task> {
  const now = isoNow(deps.clock);
  return db
    .updateTable('gitswarm_tasks')
    .set({ status, updated_at: now, ...(status === 'completed' ? { completed_at: now } : {}) })
    .where('id', '=', task.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function findOpenClaim(db: Executor, taskId: string): Promise<TaskClaim | undefined> {
  return db
    .selectFrom('gitswarm_task_claims')
    .selectAll()
    .where('task_id', '=', taskId)
    .where('status', 'in', OPEN_CLAIM_STATUSES)
    .orderBy('claimed_at', 'desc')
    .executeTakeFirst();
}

function refuseExpired(deps: CoreDeps, task: Task): void {
  if (isPastExpiry(deps, task)) {
    throw new GitSwarmError('expired', `Task #${task.number} expired at ${task.expires_at}`, {
      details: { task_id: task.id, expires_at: task.expires_at },
    });
  }
}

async function agentName(db: Executor, agentId: string): Promise<string> {
  const row = await db
    .selectFrom('gitswarm_agents')
    .select('name')
    .where('id', '=', agentId)
    .executeTakeFirst();
  return row?.name ?? agentId;
}

/**
 * Why a claim of `agentId` may not link to the stream, or null when it may: the stream must be
 * one of the task's repository (`invalid_input` otherwise, alike for a stream of another
 * repository and one that does not exist) and its author must be the claimant (`forbidden`).
 */
async function claimStreamProblem(
  db: Executor,
  input: { repo: Pick<Repo, 'id' | 'name'>; agentId: string; streamId: string },
): Promise<GitSwarmError | null> {
  const stream = await db
    .selectFrom('gitswarm_streams')
    .select(['id', 'name', 'agent_id'])
    .where('id', '=', input.streamId)
    .where('repo_id', '=', input.repo.id)
    .executeTakeFirst();
  if (!stream) {
    return new GitSwarmError(
      'invalid_input',
      `No stream ${JSON.stringify(input.streamId)} in repository ${input.repo.name}; a claim links only to a stream of the task's repository.`,
      {
        hint: 'Give the id of your own stream in this repository (gitswarm workspace list).',
        details: { stream_id: input.streamId },
      },
    );
  }
  if (stream.agent_id !== input.agentId) {
    return new GitSwarmError(
      'forbidden',
      `Stream ${stream.name} is another agent's; a claim links only to the claimant's own stream.`,
      { hint: 'Link the claim to a stream you created.', details: { stream_id: stream.id } },
    );
  }
  return null;
}

/**
 * Throws unless the agent may link its claim to the stream: a stream of the repository that it
 * authored (see claimStreamProblem). Every path that links a claim and a stream calls this:
 * `POST /tasks/:id/claim {stream_id}`, `workspace create --task`, a stream a client reports with
 * its task.
 */
export async function assertClaimStream(
  db: Executor,
  input: { repo: Pick<Repo, 'id' | 'name'>; agent: Pick<Agent, 'id'>; streamId: string },
): Promise<void> {
  const problem = await claimStreamProblem(db, {
    repo: input.repo,
    agentId: input.agent.id,
    streamId: input.streamId,
  });
  if (problem) throw problem;
}

/** Inserts a claim after checking every claim rule, in the caller's transaction. */
async function insertClaim(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; task: Task; agent: Agent; streamId: string | null },
): Promise<TaskClaim> {
  const { repo, task, agent } = input;
  await requireAction(deps, db, repo, agent, 'write');
  if (task.created_by === agent.id) {
    throw new GitSwarmError(
      'forbidden',
      `Agent ${agent.name} created task #${task.number}; it cannot claim it.`,
      {
        hint: 'Another agent can claim it with: gitswarm task claim <task> --as <agent>',
        details: { task_id: task.id },
      },
    );
  }
  const open = await findOpenClaim(db, task.id);
  if (open || task.status !== 'open') {
    const holder = open ? ` by ${await agentName(db, open.agent_id)}` : '';
    throw new GitSwarmError(
      'invalid_state',
      `Task #${task.number} is ${task.status}${holder}; it cannot be claimed.`,
      {
        details: { task_id: task.id, status: task.status, ...(open ? { claim_id: open.id } : {}) },
      },
    );
  }
  refuseExpired(deps, task);
  if (input.streamId !== null) await assertClaimStream(db, { repo, agent, streamId: input.streamId });
  const claim = await db
    .insertInto('gitswarm_task_claims')
    .values({
      id: newId(),
      task_id: task.id,
      agent_id: agent.id,
      stream_id: input.streamId,
      status: 'active',
      claimed_at: isoNow(deps.clock),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await setTaskStatus(deps, db, task, 'claimed');
  await recordActivity(deps, db, {
    event: 'task.claimed',
    repoId: repo.id,
    agentId: agent.id,
    targetType: 'task',
    targetId: task.id,
    metadata: {
      number: task.number,
      claim_id: claim.id,
      ...(claim.stream_id ? { stream_id: claim.stream_id } : {}),
    },
  });
  return claim;
}

export interface ClaimTaskInput {
  repo: Repo;
  taskRef: string;
  agent: Agent;
  /** The stream doing the work, when already known. */
  streamId?: string | null;
}

/**
 * Claims an open task for an agent (write access). Refused: `forbidden` for the task's creator,
 * `invalid_state` when the task is not open (another claim holds it), `expired` past its expiry.
 */
export async function claimTask(deps: CoreDeps, db: Executor, input: ClaimTaskInput): Promise<TaskClaim> {
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    const task = await getTask(trx, input.repo.id, input.taskRef);
    return insertClaim(deps, trx, {
      repo: input.repo,
      task,
      agent: input.agent,
      streamId: input.streamId ?? null,
    });
  });
}

export interface LinkClaimInput {
  repo: Repo;
  taskRef: string;
  agent: Agent;
  streamId: string;
}

/**
 * Links the agent's claim in progress on the task to a stream; when the agent holds no claim on
 * it yet, claims it first (with every claim rule). Used by `workspace create --task`.
 */
export async function linkClaimToStream(
  deps: CoreDeps,
  db: Executor,
  input: LinkClaimInput,
): Promise<TaskClaim> {
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    const task = await getTask(trx, input.repo.id, input.taskRef);
    const open = await findOpenClaim(trx, task.id);
    if (!open || open.agent_id !== input.agent.id) {
      return insertClaim(deps, trx, { repo: input.repo, task, agent: input.agent, streamId: input.streamId });
    }
    await assertClaimStream(trx, { repo: input.repo, agent: input.agent, streamId: input.streamId });
    if (open.stream_id === input.streamId) return open;
    const claim = await trx
      .updateTable('gitswarm_task_claims')
      .set({ stream_id: input.streamId })
      .where('id', '=', open.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'task.linked',
      repoId: input.repo.id,
      agentId: input.agent.id,
      targetType: 'task',
      targetId: task.id,
      metadata: {
        number: task.number,
        claim_id: claim.id,
        stream_id: input.streamId,
        previous_stream_id: open.stream_id,
      },
    });
    return claim;
  });
}

export interface ClaimSelector {
  repo: Repo;
  agent: Agent;
  /** The task whose claim (by `agent`) is meant. */
  taskRef?: string;
  /** Or the claim itself. */
  claimId?: string;
}

/** The agent's claim in progress named by task or claim id; throws `claim_not_found`. */
async function getOwnOpenClaim(
  db: Executor,
  selector: ClaimSelector,
): Promise<{ claim: TaskClaim; task: Task }> {
  let claim: TaskClaim | undefined;
  let task: Task;
  if (selector.claimId !== undefined) {
    ({ claim, task } = await getClaim(db, selector.repo.id, selector.claimId));
  } else if (selector.taskRef !== undefined) {
    task = await getTask(db, selector.repo.id, selector.taskRef);
    claim = await findOpenClaim(db, task.id);
  } else {
    throw new Error('A claim selector needs taskRef or claimId');
  }
  if (!claim || claim.agent_id !== selector.agent.id || !OPEN_CLAIM_STATUSES.includes(claim.status)) {
    throw new GitSwarmError(
      'claim_not_found',
      `Agent ${selector.agent.name} holds no claim in progress on task #${task.number}.`,
      {
        hint: `Claim it first: gitswarm task claim ${task.number} --as ${selector.agent.name}`,
        details: { task_id: task.id },
      },
    );
  }
  return { claim, task };
}

/** Hands in the work of the agent's active claim: the claim and its task become `submitted`. */
export async function submitClaim(
  deps: CoreDeps,
  db: Executor,
  input: ClaimSelector & { notes?: string | null },
): Promise<TaskClaim> {
  const notes = checkNotes(input.notes);
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    const { claim, task } = await getOwnOpenClaim(trx, input);
    if (claim.status !== 'active') {
      throw new GitSwarmError(
        'invalid_state',
        `The claim on task #${task.number} is already ${claim.status}.`,
        {
          details: { claim_id: claim.id, status: claim.status },
        },
      );
    }
    refuseExpired(deps, task);
    if (claim.stream_id !== null) {
      await assertClaimStream(trx, { repo: input.repo, agent: input.agent, streamId: claim.stream_id });
    }
    return markSubmitted(deps, trx, { repoId: input.repo.id, task, claim, notes, auto: false });
  });
}

async function markSubmitted(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; task: Task; claim: TaskClaim; notes: string | null; auto: boolean },
): Promise<TaskClaim> {
  const { task, claim } = input;
  const submitted = await db
    .updateTable('gitswarm_task_claims')
    .set({ status: 'submitted', submission_notes: input.notes, submitted_at: isoNow(deps.clock) })
    .where('id', '=', claim.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await setTaskStatus(deps, db, task, 'submitted');
  await recordActivity(deps, db, {
    event: 'task.submitted',
    repoId: input.repoId,
    agentId: claim.agent_id,
    targetType: 'task',
    targetId: task.id,
    metadata: {
      number: task.number,
      claim_id: claim.id,
      ...(claim.stream_id ? { stream_id: claim.stream_id } : {}),
      ...(input.auto ? { auto: true } : {}),
    },
  });
  return submitted;
}

/** Gives up the agent's claim in progress (active or submitted); the task opens again. */
export async function abandonClaim(deps: CoreDeps, db: Executor, input: ClaimSelector): Promise<TaskClaim> {
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    const { claim, task } = await getOwnOpenClaim(trx, input);
    const abandoned = await trx
      .updateTable('gitswarm_task_claims')
      .set({ status: 'abandoned' })
      .where('id', '=', claim.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await setTaskStatus(deps, trx, task, 'open');
    await recordActivity(deps, trx, {
      event: 'task.abandoned',
      repoId: input.repo.id,
      agentId: input.agent.id,
      targetType: 'task',
      targetId: task.id,
      metadata: { number: task.number, claim_id: claim.id, previous_status: claim.status },
    });
    return abandoned;
  });
}

export interface ReviewClaimInput {
  repo: Repo;
  /** The claim's id, or a task (id or number) whose submitted claim is meant. */
  claimRef: string;
  reviewer: Agent;
  verdict: string;
  notes?: string | null;
}

export interface ReviewClaimResult {
  claim: TaskClaim;
  task: Task;
  /** Credits paid to the claimant (0 without a bounty or on rejection). */
  payout: number;
}

/**
 * Approves or rejects a submitted claim (maintain+ or the task's creator; never the claimant).
 * Approval completes the task and pays the bounty from its reservation; it earns no karma (a
 * budget's credits are its own admins' to give: karma.ts). A claim linked to a stream that is not
 * its claimant's own in this repository cannot be approved, only rejected. Rejection returns the
 * task to `open`.
 */
export async function reviewClaim(
  deps: CoreDeps,
  db: Executor,
  input: ReviewClaimInput,
): Promise<ReviewClaimResult> {
  const verdict = input.verdict;
  if (!(CLAIM_VERDICTS as readonly string[]).includes(verdict)) {
    throw new GitSwarmError(
      'invalid_input',
      `Unknown verdict ${JSON.stringify(verdict)}; use approve or reject.`,
    );
  }
  const notes = checkNotes(input.notes);
  const { repo, reviewer } = input;
  return inRepoTransaction(deps, db, repo.id, async (trx) => {
    const { claim, task } = await resolveClaimRef(trx, repo.id, input.claimRef);
    if (claim.status !== 'submitted') {
      throw new GitSwarmError(
        'invalid_state',
        `The claim on task #${task.number} is ${claim.status}; only submitted work is reviewed.`,
        {
          details: { claim_id: claim.id, status: claim.status },
        },
      );
    }
    if (claim.agent_id === reviewer.id) {
      throw new GitSwarmError(
        'self_review',
        `Agent ${reviewer.name} holds this claim; it cannot review it.`,
        {
          hint: "Ask the task's creator or a maintainer to review it.",
        },
      );
    }
    if (!(await canManageTask(deps, trx, repo, task, reviewer))) {
      throw new GitSwarmError(
        'forbidden',
        `Only the creator of task #${task.number} or a maintainer may review its claim.`,
        {
          details: { task_id: task.id },
        },
      );
    }
    const approved = verdict === 'approve';
    if (approved && claim.stream_id !== null) {
      const problem = await claimStreamProblem(trx, {
        repo,
        agentId: claim.agent_id,
        streamId: claim.stream_id,
      });
      if (problem) {
        throw new GitSwarmError(
          'forbidden',
          `The claim on task #${task.number} links stream ${claim.stream_id}, which is not its claimant's own stream in this repository; it cannot be approved or paid, only rejected.`,
          { details: { claim_id: claim.id, stream_id: claim.stream_id } },
        );
      }
    }
    const reviewed = await trx
      .updateTable('gitswarm_task_claims')
      .set({
        status: approved ? 'approved' : 'rejected',
        reviewed_by: reviewer.id,
        reviewed_at: isoNow(deps.clock),
        review_notes: notes,
        payout_amount: approved ? task.amount : 0,
      })
      .where('id', '=', claim.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const updatedTask = await setTaskStatus(deps, trx, task, approved ? 'completed' : 'open');
    await recordActivity(deps, trx, {
      event: approved ? 'task.approved' : 'task.rejected',
      repoId: repo.id,
      agentId: reviewer.id,
      targetType: 'task',
      targetId: task.id,
      metadata: {
        number: task.number,
        claim_id: claim.id,
        claimant_id: claim.agent_id,
        payout: reviewed.payout_amount,
      },
    });
    if (approved && task.amount > 0) {
      await payBounty(deps, trx, {
        repoId: repo.id,
        taskId: task.id,
        amount: task.amount,
        agentId: claim.agent_id,
        description: `Bounty of task #${task.number} paid`,
      });
    }
    return { claim: reviewed, task: updatedTask, payout: reviewed.payout_amount };
  });
}

/** Resolves a claim id, or a task whose claim in progress is meant; throws `claim_not_found`. */
async function resolveClaimRef(
  db: Executor,
  repoId: string,
  ref: string,
): Promise<{ claim: TaskClaim; task: Task }> {
  if (isUuid(ref.trim())) {
    const byId = await findClaim(db, repoId, ref.trim());
    if (byId) return byId;
  }
  const task = await findTask(db, repoId, ref);
  if (task) {
    const claim = await findOpenClaim(db, task.id);
    if (claim) return { claim, task };
    throw new GitSwarmError('claim_not_found', `Task #${task.number} has no claim in progress.`, {
      details: { task_id: task.id },
    });
  }
  throw new GitSwarmError('claim_not_found', `No claim or task ${JSON.stringify(ref)} in this repository.`, {
    hint: 'See the claims of a task with: gitswarm task show <task>',
  });
}

async function findClaim(
  db: Executor,
  repoId: string,
  claimId: string,
): Promise<{ claim: TaskClaim; task: Task } | undefined> {
  const claim = await db
    .selectFrom('gitswarm_task_claims')
    .selectAll()
    .where('id', '=', claimId.toLowerCase())
    .executeTakeFirst();
  if (!claim) return undefined;
  const task = await db
    .selectFrom('gitswarm_tasks')
    .selectAll()
    .where('id', '=', claim.task_id)
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  return task ? { claim, task } : undefined;
}

/** Returns a claim of the repository with its task; throws `claim_not_found`. */
export async function getClaim(
  db: Executor,
  repoId: string,
  claimId: string,
): Promise<{ claim: TaskClaim; task: Task }> {
  const found = isUuid(claimId) ? await findClaim(db, repoId, claimId) : undefined;
  if (!found)
    throw new GitSwarmError('claim_not_found', `No claim ${JSON.stringify(claimId)} in this repository.`);
  return found;
}

export type ListedClaim = TaskClaim & { agent_name: string; task_number: number; task_title: string };

/** The claims of one task, oldest first, with the claimant's name. */
export async function listTaskClaims(db: Executor, taskId: string): Promise<ListedClaim[]> {
  return listClaims(db, { taskId });
}

/** Claims filtered by repository, agent, task or status, oldest first (for `GET /me/claims`). */
export async function listClaims(
  db: Executor,
  filter: { repoId?: string; agentId?: string; taskId?: string; status?: readonly ClaimStatus[] },
): Promise<ListedClaim[]> {
  let q = db
    .selectFrom('gitswarm_task_claims as c')
    .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
    .innerJoin('gitswarm_agents as a', 'a.id', 'c.agent_id')
    .selectAll('c')
    .select(['a.name as agent_name', 't.number as task_number', 't.title as task_title']);
  if (filter.repoId) q = q.where('t.repo_id', '=', filter.repoId);
  if (filter.agentId) q = q.where('c.agent_id', '=', filter.agentId);
  if (filter.taskId) q = q.where('c.task_id', '=', filter.taskId);
  if (filter.status?.length) q = q.where('c.status', 'in', filter.status);
  return q.orderBy('c.claimed_at').orderBy('c.id').execute();
}

/**
 * Submits the active claims its author holds linked to a stream that just merged, in the caller's
 * (merge) transaction: merged work is handed in for review; the bounty is paid when a reviewer
 * approves. A claim by anyone else that names the stream is left alone.
 */
export async function submitClaimsOfMergedStream(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Pick<Repo, 'id'>; stream: Pick<Stream, 'id' | 'agent_id'> },
): Promise<TaskClaim[]> {
  const claims = await db
    .selectFrom('gitswarm_task_claims')
    .selectAll()
    .where('stream_id', '=', input.stream.id)
    .where('agent_id', '=', input.stream.agent_id)
    .where('status', '=', 'active')
    .execute();
  const submitted: TaskClaim[] = [];
  for (const claim of claims) {
    const task = await db
      .selectFrom('gitswarm_tasks')
      .selectAll()
      .where('id', '=', claim.task_id)
      .where('repo_id', '=', input.repo.id)
      .executeTakeFirst();
    if (task?.status !== 'claimed') continue;
    submitted.push(
      await markSubmitted(deps, db, {
        repoId: input.repo.id,
        task,
        claim,
        notes: `Stream ${input.stream.id} merged into the buffer.`,
        auto: true,
      }),
    );
  }
  return submitted;
}

/**
 * Approves a submitted claim on a critical task the stabilizer filed, for a green run that
 * contains the claim's merged stream (red-tasks.ts): the claim is approved and the task
 * completed, as a reviewer's approval would; such tasks carry no bounty. Caller's transaction.
 */
export async function approveClaimOnGreen(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; taskId: string; claimId: string; notes: string; stabilizationId: string },
): Promise<Task> {
  const task = await db
    .selectFrom('gitswarm_tasks')
    .selectAll()
    .where('id', '=', input.taskId)
    .executeTakeFirstOrThrow();
  const claim = await db
    .updateTable('gitswarm_task_claims')
    .set({
      status: 'approved',
      reviewed_by: null,
      reviewed_at: isoNow(deps.clock),
      review_notes: input.notes,
      payout_amount: 0,
    })
    .where('id', '=', input.claimId)
    .returningAll()
    .executeTakeFirstOrThrow();
  const completed = await setTaskStatus(deps, db, task, 'completed');
  await recordActivity(deps, db, {
    event: 'task.approved',
    repoId: input.repoId,
    agentId: null,
    targetType: 'task',
    targetId: task.id,
    metadata: {
      number: task.number,
      claim_id: claim.id,
      claimant_id: claim.agent_id,
      payout: 0,
      stabilization_id: input.stabilizationId,
    },
  });
  return completed;
}
