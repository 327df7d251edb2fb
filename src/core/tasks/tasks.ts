/**
 * Tasks and bounties: work items of a repository, each with a short per-repository `number`
 * (1, 2, 3, …), a priority and an optional bounty reserved from the repository budget.
 *
 * Task states: `open` → `claimed` (one agent's claim) → `submitted` (work handed in) →
 * `completed` (a reviewer approved; the bounty is paid). A rejected or abandoned claim returns
 * the task to `open`. `open`, `claimed` and `submitted` tasks can be `cancelled` (creator or
 * maintain+); `open` and `claimed` tasks past `expires_at` become `expired` on the next
 * {@link expireTasks} pass. Cancelling and expiry release the bounty's reservation.
 *
 * Claims live in task-claims.ts and are re-exported here.
 *
 * Every function that reads, decides and writes takes `db`: given a transaction it runs inside it
 * (the caller holds the repository lock); given the store's root executor it opens its own
 * transaction under the repository lock.
 */
import type { ExpressionBuilder } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  type Repo,
  type Task,
  type TaskClaim,
  type TaskPriority,
  type TaskStatus,
  toJson,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { isUuid, newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction, resolveAccess } from '../governance/access.js';
import { type KeysetKey, keysetPage, orderByKeys, type Page, type PageRequest } from '../pagination.js';
import { inRepoTransaction } from '../repos/repo-transaction.js';
import { releaseBounty, reserveBounty } from './budget.js';

export {
  abandonClaim,
  approveClaimOnGreen,
  claimTask,
  getClaim,
  linkClaimToStream,
  listClaims,
  listTaskClaims,
  reviewClaim,
  submitClaim,
  submitClaimsOfMergedStream,
} from './task-claims.js';

export const TASK_PRIORITIES: readonly TaskPriority[] = ['critical', 'high', 'medium', 'low'];
export const TASK_STATUSES: readonly TaskStatus[] = [
  'open',
  'claimed',
  'submitted',
  'completed',
  'cancelled',
  'expired',
];
/** Task states that still accept work (and hold a bounty reservation). */
export const LIVE_TASK_STATUSES: readonly TaskStatus[] = ['open', 'claimed', 'submitted'];

const MAX_TITLE_LENGTH = 500;
const MAX_DESCRIPTION_LENGTH = 20_000;
const MAX_LABELS = 20;
const MAX_LABEL_LENGTH = 50;
const MAX_DIFFICULTY_LENGTH = 20;
/** The largest bounty a task may carry, whatever the budget allows (32-bit integer columns). */
export const MAX_TASK_AMOUNT = 1_000_000_000;

export function isTaskPriority(value: string): value is TaskPriority {
  return (TASK_PRIORITIES as readonly string[]).includes(value);
}

export function isTaskStatus(value: string): value is TaskStatus {
  return (TASK_STATUSES as readonly string[]).includes(value);
}

export interface CreateTaskInput {
  repo: Repo;
  /** Who creates the task (write access needed). */
  actor: Agent;
  title: string;
  description?: string | null;
  priority?: string;
  /** Bounty in budget credits; 0 (the default) is a task without a bounty. */
  amount?: number;
  labels?: readonly string[];
  difficulty?: string | null;
  /** ISO 8601 time after which an unfinished task expires; must lie in the future. */
  expiresAt?: string | null;
  /** The agent the task is meant for (an id); anyone with write access may still claim it. */
  assignedTo?: string | null;
}

interface TaskValues {
  title: string;
  description: string;
  priority: TaskPriority;
  amount: number;
  labels: string[];
  difficulty: string | null;
  expiresAt: string | null;
}

function invalid(message: string, details?: Record<string, unknown>): GitSwarmError {
  return new GitSwarmError('invalid_input', message, details ? { details } : {});
}

/** Checks and normalises what a task is created with; throws `invalid_input`. */
function validateTaskValues(deps: CoreDeps, input: Omit<CreateTaskInput, 'repo' | 'actor'>): TaskValues {
  const title = input.title.trim();
  if (title === '' || title.length > MAX_TITLE_LENGTH) {
    throw invalid(`A task title must have 1 to ${MAX_TITLE_LENGTH} characters.`);
  }
  const description = input.description ?? '';
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalid(`A task description may be at most ${MAX_DESCRIPTION_LENGTH} characters.`);
  }
  const priority = input.priority ?? 'medium';
  if (!isTaskPriority(priority)) {
    throw invalid(`Unknown priority ${JSON.stringify(priority)}; use one of: ${TASK_PRIORITIES.join(', ')}.`);
  }
  const amount = input.amount ?? 0;
  if (!Number.isSafeInteger(amount) || amount < 0 || amount > MAX_TASK_AMOUNT) {
    throw invalid(`A bounty amount must be a whole number from 0 to ${MAX_TASK_AMOUNT}.`, { amount });
  }
  const labels = [...new Set((input.labels ?? []).map((label) => label.trim()).filter((l) => l !== ''))];
  if (labels.length > MAX_LABELS || labels.some((label) => label.length > MAX_LABEL_LENGTH)) {
    throw invalid(`A task may have at most ${MAX_LABELS} labels of at most ${MAX_LABEL_LENGTH} characters.`);
  }
  const difficulty = input.difficulty?.trim() || null;
  if (difficulty !== null && difficulty.length > MAX_DIFFICULTY_LENGTH) {
    throw invalid(`A difficulty may be at most ${MAX_DIFFICULTY_LENGTH} characters.`);
  }
  let expiresAt: string | null = null;
  if (input.expiresAt) {
    const time = Date.parse(input.expiresAt);
    if (Number.isNaN(time)) {
      throw invalid(
        `Cannot read ${JSON.stringify(input.expiresAt)} as a time; use ISO 8601, e.g. 2026-05-01T12:00:00Z.`,
      );
    }
    if (time <= deps.clock.now().getTime()) {
      throw invalid(`The expiry time ${input.expiresAt} is not in the future.`);
    }
    expiresAt = new Date(time).toISOString();
  }
  return { title, description, priority, amount, labels, difficulty, expiresAt };
}

async function nextTaskNumber(db: Executor, repoId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_tasks')
    .select((eb) => eb.fn.max<number | null>('number').as('max'))
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

/** Inserts a task with its number, activity and bounty reservation, in the caller's transaction. */
async function insertTask(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; values: TaskValues; createdBy: string | null; assignedTo: string | null },
): Promise<Task> {
  const { values } = input;
  const now = isoNow(deps.clock);
  const task = await db
    .insertInto('gitswarm_tasks')
    .values({
      id: newId(),
      repo_id: input.repoId,
      number: await nextTaskNumber(db, input.repoId),
      title: values.title,
      description: values.description,
      priority: values.priority,
      amount: values.amount,
      labels: toJson(values.labels),
      difficulty: values.difficulty,
      created_by: input.createdBy,
      assigned_to: input.assignedTo,
      expires_at: values.expiresAt,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'task.created',
    repoId: input.repoId,
    agentId: input.createdBy,
    targetType: 'task',
    targetId: task.id,
    metadata: {
      number: task.number,
      title: task.title,
      priority: task.priority,
      amount: task.amount,
      ...(task.assigned_to ? { assigned_to: task.assigned_to } : {}),
    },
  });
  if (task.amount > 0) {
    await reserveBounty(deps, db, {
      repoId: input.repoId,
      taskId: task.id,
      amount: task.amount,
      agentId: input.createdBy,
      description: `Bounty for task #${task.number}`,
    });
  }
  return task;
}

/**
 * Creates a task (write access); with `amount` > 0 its bounty is reserved from the budget in the
 * same transaction: `invalid_input` above `max_bounty_per_issue`, `insufficient_budget` when too
 * few credits are available.
 */
export async function createTask(deps: CoreDeps, db: Executor, input: CreateTaskInput): Promise<Task> {
  const values = validateTaskValues(deps, input);
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    await requireAction(deps, trx, input.repo, input.actor, 'write');
    return insertTask(deps, trx, {
      repoId: input.repo.id,
      values,
      createdBy: input.actor.id,
      assignedTo: input.assignedTo ?? null,
    });
  });
}

export interface FileCriticalTaskInput {
  repo: Repo;
  title: string;
  description: string;
  /** The agent the task is assigned to (usually the author of a reverted stream). */
  assigneeId?: string;
  /** The same, as an agent row (either this or `assigneeId`). */
  assignee?: Pick<Agent, 'id'>;
  /** Who files it; null or absent when the system does (stabilization). */
  createdBy?: string | null;
}

/**
 * Files a `critical` task assigned to an agent, without a bounty or permission check: the system's
 * way (stabilization after a red build) to hand a repair to the author who broke the buffer.
 */
export async function fileCriticalTask(
  deps: CoreDeps,
  db: Executor,
  input: FileCriticalTaskInput,
): Promise<Task> {
  const assigneeId = input.assigneeId ?? input.assignee?.id;
  if (!assigneeId) throw new Error('fileCriticalTask needs assigneeId or assignee');
  const values = validateTaskValues(deps, {
    title: input.title.slice(0, MAX_TITLE_LENGTH),
    description: input.description.slice(0, MAX_DESCRIPTION_LENGTH),
    priority: 'critical',
  });
  return inRepoTransaction(deps, db, input.repo.id, (trx) =>
    insertTask(deps, trx, {
      repoId: input.repo.id,
      values,
      createdBy: input.createdBy ?? null,
      assignedTo: assigneeId,
    }),
  );
}

/** Finds a task of the repository by id or by its short number (`3` or `#3`). */
export async function findTask(db: Executor, repoId: string, ref: string): Promise<Task | undefined> {
  const trimmed = ref.trim();
  const q = db.selectFrom('gitswarm_tasks').selectAll().where('repo_id', '=', repoId);
  if (isUuid(trimmed)) return q.where('id', '=', trimmed.toLowerCase()).executeTakeFirst();
  const number = /^#?(\d{1,9})$/.exec(trimmed)?.[1];
  if (number === undefined) return undefined;
  return q.where('number', '=', Number(number)).executeTakeFirst();
}

/** Returns the task named by id or number, or throws `task_not_found`. */
export async function getTask(db: Executor, repoId: string, ref: string): Promise<Task> {
  const task = await findTask(db, repoId, ref);
  if (!task) throw new GitSwarmError('task_not_found', `No task ${JSON.stringify(ref)} in this repository.`);
  return task;
}

export interface ListTasksQuery {
  status?: string | readonly string[];
  limit?: number;
}

function tasksQuery(db: Executor, repoId: string, query: ListTasksQuery) {
  const statuses =
    query.status === undefined ? [] : typeof query.status === 'string' ? [query.status] : query.status;
  for (const status of statuses) {
    if (!isTaskStatus(status)) {
      throw invalid(
        `Unknown task status ${JSON.stringify(status)}; use one of: ${TASK_STATUSES.join(', ')}.`,
      );
    }
  }
  let q = db.selectFrom('gitswarm_tasks').selectAll().where('repo_id', '=', repoId);
  if (statuses.length > 0) q = q.where('status', 'in', statuses as TaskStatus[]);
  return q;
}

const PRIORITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 } as const;

/** Critical first: the rank the task lists sort by (anything unknown ranks with low). */
// biome-ignore lint/suspicious/noExplicitAny: used on the tasks table's queries only
const priorityRank = (eb: ExpressionBuilder<any, any>) =>
  eb
    .case()
    .when('priority', '=', 'critical')
    .then(PRIORITY_RANK.critical)
    .when('priority', '=', 'high')
    .then(PRIORITY_RANK.high)
    .when('priority', '=', 'medium')
    .then(PRIORITY_RANK.medium)
    .else(PRIORITY_RANK.low)
    .end();

const TASK_KEYS: readonly KeysetKey<Task>[] = [
  {
    by: priorityRank,
    direction: 'asc',
    type: 'number',
    value: (t) => PRIORITY_RANK[t.priority as keyof typeof PRIORITY_RANK] ?? PRIORITY_RANK.low,
  },
  { by: 'created_at', direction: 'desc', type: 'string', value: (t) => t.created_at },
  { by: 'number', direction: 'desc', type: 'number', value: (t) => t.number },
];

/** Lists the repository's tasks: by priority (critical first), then newest first. */
export async function listTasks(db: Executor, repoId: string, query: ListTasksQuery = {}): Promise<Task[]> {
  return orderByKeys(tasksQuery(db, repoId, query), TASK_KEYS)
    .limit(Math.min(Math.max(query.limit ?? 500, 1), 10_000))
    .execute();
}

/** One page of the repository's tasks, in listTasks' order (pagination.ts). */
export function listTasksPage(
  db: Executor,
  repoId: string,
  query: Omit<ListTasksQuery, 'limit'>,
  page: PageRequest,
): Promise<Page<Task>> {
  return keysetPage(tasksQuery(db, repoId, query), TASK_KEYS, page);
}

/**
 * Closes the task's claims still in progress (active or submitted) as abandoned, in the caller's
 * transaction; used when the task itself ends (cancelled, expired).
 */
async function closeOpenClaims(deps: CoreDeps, db: Executor, task: Task, note: string): Promise<TaskClaim[]> {
  return db
    .updateTable('gitswarm_task_claims')
    .set({ status: 'abandoned', review_notes: note, reviewed_at: isoNow(deps.clock) })
    .where('task_id', '=', task.id)
    .where('status', 'in', ['active', 'submitted'])
    .returningAll()
    .execute();
}

/** Moves a task to a final state, closing claims and releasing its bounty; caller's transaction. */
async function endTask(
  deps: CoreDeps,
  db: Executor,
  input: { task: Task; status: 'cancelled' | 'expired'; agentId: string | null },
): Promise<Task> {
  const { task, status, agentId } = input;
  const closed = await closeOpenClaims(
    deps,
    db,
    task,
    status === 'cancelled' ? 'Task cancelled.' : 'Task expired.',
  );
  const updated = await db
    .updateTable('gitswarm_tasks')
    .set({ status, updated_at: isoNow(deps.clock) })
    .where('id', '=', task.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: status === 'cancelled' ? 'task.cancelled' : 'task.expired',
    repoId: task.repo_id,
    agentId,
    targetType: 'task',
    targetId: task.id,
    metadata: {
      number: task.number,
      previous_status: task.status,
      amount: task.amount,
      closed_claims: closed.map((claim) => claim.id),
    },
  });
  if (task.amount > 0) {
    await releaseBounty(deps, db, {
      repoId: task.repo_id,
      taskId: task.id,
      amount: task.amount,
      agentId,
      description: `Bounty of task #${task.number} released (${status})`,
    });
  }
  return updated;
}

/** Whether the agent may act on the task as its owner: its creator, or maintain+ on the repository. */
export async function canManageTask(deps: CoreDeps, db: Executor, repo: Repo, task: Task, agent: Agent) {
  if (task.created_by === agent.id) return true;
  const access = await resolveAccess(deps, db, repo, agent);
  return access.level === 'maintain' || access.level === 'admin';
}

/** Cancels a task that is not finished (its creator or maintain+), releasing its bounty. */
export async function cancelTask(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; taskRef: string; actor: Agent },
): Promise<Task> {
  return inRepoTransaction(deps, db, input.repo.id, async (trx) => {
    const task = await getTask(trx, input.repo.id, input.taskRef);
    if (!(await canManageTask(deps, trx, input.repo, task, input.actor))) {
      throw new GitSwarmError(
        'forbidden',
        `Only the creator of task #${task.number} or a maintainer may cancel it.`,
        { details: { task_id: task.id } },
      );
    }
    if (!LIVE_TASK_STATUSES.includes(task.status)) {
      throw new GitSwarmError(
        'invalid_state',
        `Task #${task.number} is ${task.status}; it cannot be cancelled.`,
        {
          details: { task_id: task.id, status: task.status },
        },
      );
    }
    return endTask(deps, trx, { task, status: 'cancelled', agentId: input.actor.id });
  });
}

/**
 * Expires every `open` or `claimed` task of the repository whose `expires_at` has passed:
 * claims in progress are closed and bounty reservations released. Returns the expired tasks.
 * Cheap when nothing is due; meant to run from the scheduled-duties pass.
 */
export async function expireTasks(deps: CoreDeps, db: Executor, repo: Pick<Repo, 'id'>): Promise<Task[]> {
  const now = isoNow(deps.clock);
  const due = (q: Executor) =>
    q
      .selectFrom('gitswarm_tasks')
      .selectAll()
      .where('repo_id', '=', repo.id)
      .where('status', 'in', ['open', 'claimed'])
      .where('expires_at', 'is not', null)
      .where('expires_at', '<=', now)
      .orderBy('number')
      .execute();
  if (!db.isTransaction && (await due(db)).length === 0) return [];
  return inRepoTransaction(deps, db, repo.id, async (trx) => {
    const expired: Task[] = [];
    for (const task of await due(trx)) {
      expired.push(await endTask(deps, trx, { task, status: 'expired', agentId: null }));
    }
    return expired;
  });
}

/** Whether a task's expiry time has passed (whether or not an expiry pass has run). */
export function isPastExpiry(deps: CoreDeps, task: Pick<Task, 'expires_at'>): boolean {
  return task.expires_at !== null && task.expires_at <= isoNow(deps.clock);
}
