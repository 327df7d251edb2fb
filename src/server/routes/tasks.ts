/**
 * Tasks and bounties (spec section 5, "Tasks / Bounties"): tasks, claims and the budget ledger.
 * Every rule (who may claim, review, cancel; reservations and payouts) is the core's: tasks.ts,
 * task-claims.ts, budget.ts. The claimant, reviewer and depositor are the API key's owner.
 */
import Type from 'typebox';
import { getRepo } from '../../core/repos/repos.js';
import { deposit, getBudget, listBudgetTransactions } from '../../core/tasks/budget.js';
import {
  abandonClaim,
  cancelTask,
  claimTask,
  createTask,
  getClaim,
  getTask,
  listClaims,
  listTaskClaims,
  listTasksPage,
  reviewClaim,
  submitClaim,
} from '../../core/tasks/tasks.js';
import { GitSwarmError } from '../../errors.js';
import type { ClaimStatus, Repo, Task, TaskClaim } from '../../store/index.js';
import { isUuid } from '../../util/ids.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import {
  Closed,
  errorResponses,
  Id,
  IdParams,
  NextCursor,
  Nullable,
  PageQuery,
  Timestamp,
} from '../schemas.js';
import type { App } from '../types.js';

export const TaskView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  number: Type.Integer(),
  title: Type.String(),
  description: Type.String(),
  status: Type.String(),
  priority: Type.String(),
  amount: Type.Integer(),
  labels: Type.Array(Type.String()),
  difficulty: Nullable(Type.String()),
  created_by: Nullable(Type.String()),
  assigned_to: Nullable(Type.String()),
  expires_at: Nullable(Timestamp),
  completed_at: Nullable(Timestamp),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const ClaimView = Closed({
  id: Type.String(),
  task_id: Type.String(),
  agent_id: Type.String(),
  stream_id: Nullable(Type.String()),
  status: Type.String(),
  submission_notes: Nullable(Type.String()),
  submitted_at: Nullable(Timestamp),
  reviewed_by: Nullable(Type.String()),
  reviewed_at: Nullable(Timestamp),
  review_notes: Nullable(Type.String()),
  payout_amount: Type.Integer(),
  claimed_at: Timestamp,
  agent_name: Type.Optional(Type.String()),
  task_number: Type.Optional(Type.Integer()),
  task_title: Type.Optional(Type.String()),
});

const BudgetView = Closed({
  repo_id: Type.String(),
  budget_id: Nullable(Type.String()),
  total_credits: Type.Integer(),
  available_credits: Type.Integer(),
  reserved_credits: Type.Integer(),
  paid_out_credits: Type.Integer(),
  max_bounty_per_issue: Type.Integer(),
});

const TransactionView = Closed({
  id: Type.String(),
  budget_id: Type.String(),
  amount: Type.Integer(),
  type: Type.String(),
  balance_after: Type.Integer(),
  description: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  agent_name: Type.Optional(Nullable(Type.String())),
  task_id: Nullable(Type.String()),
  created_at: Timestamp,
});

const Notes = Type.Optional(Nullable(Type.String({ maxLength: 10_000 })));
const CLAIM_STATUSES: readonly ClaimStatus[] = ['active', 'submitted', 'approved', 'rejected', 'abandoned'];

/** Tasks, claims, `GET /me/claims` and the budget. */
export async function taskRoutes(app: App): Promise<void> {
  const deps = app.deps;

  /** A task by its global id, with its repository (readable by the caller). */
  const loadTask = async (
    request: Parameters<typeof readableRepo>[1],
    id: string,
  ): Promise<{ task: Task; repo: Repo }> => {
    const task = isUuid(id)
      ? await deps.store.db.selectFrom('gitswarm_tasks').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!task) throw new GitSwarmError('task_not_found', `No task ${JSON.stringify(id)}.`);
    return { task, repo: await readableRepo(deps, request, task.repo_id) };
  };

  /** A claim's repository by the claim's global id. */
  const loadClaimRepo = async (request: Parameters<typeof readableRepo>[1], id: string): Promise<Repo> => {
    const row = isUuid(id)
      ? await deps.store.db
          .selectFrom('gitswarm_task_claims as c')
          .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
          .select('t.repo_id')
          .where('c.id', '=', id)
          .executeTakeFirst()
      : undefined;
    if (!row) throw new GitSwarmError('claim_not_found', `No claim ${JSON.stringify(id)}.`);
    return readableRepo(deps, request, row.repo_id);
  };

  app.post(
    '/repos/:id/tasks',
    {
      schema: {
        summary: 'Create a task, optionally with a bounty reserved from the budget',
        tags: ['tasks'],
        params: IdParams,
        body: Closed({
          title: Type.String({ minLength: 1, maxLength: 500 }),
          description: Type.Optional(Nullable(Type.String({ maxLength: 20_000 }))),
          priority: Type.Optional(
            Type.Union([
              Type.Literal('critical'),
              Type.Literal('high'),
              Type.Literal('medium'),
              Type.Literal('low'),
            ]),
          ),
          amount: Type.Optional(Type.Integer({ minimum: 0 })),
          labels: Type.Optional(Type.Array(Type.String({ maxLength: 50 }), { maxItems: 20 })),
          difficulty: Type.Optional(Nullable(Type.String({ maxLength: 20 }))),
          expires_at: Type.Optional(Nullable(Type.String({ format: 'date-time', maxLength: 40 }))),
        }),
        response: { 201: Closed({ task: TaskView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const body = request.body;
      const task = await createTask(deps, deps.store.db, {
        repo,
        actor,
        title: body.title,
        description: body.description,
        priority: body.priority,
        amount: body.amount,
        labels: body.labels,
        difficulty: body.difficulty,
        expiresAt: body.expires_at ? new Date(body.expires_at).toISOString() : body.expires_at,
      });
      reply.code(201);
      return { task };
    },
  );

  app.get(
    '/repos/:id/tasks',
    {
      schema: {
        summary:
          "List a repository's tasks (critical first, then newest), a page at a time (?limit, ?cursor)",
        tags: ['tasks'],
        params: IdParams,
        querystring: Closed({
          status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses' })),
          ...PageQuery,
        }),
        response: {
          200: Closed({ tasks: Type.Array(TaskView), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const status = request.query.status
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const repo = await readableRepo(deps, request, request.params.id);
      const page = await listTasksPage(deps.store.db, repo.id, { status }, { limit, cursor });
      return { tasks: page.rows, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/tasks/:id',
    {
      schema: {
        summary: 'Get a task with its claims',
        tags: ['tasks'],
        params: IdParams,
        response: {
          200: Closed({ task: TaskView, claims: Type.Array(ClaimView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { task } = await loadTask(request, request.params.id);
      return { task, claims: await listTaskClaims(deps.store.db, task.id) };
    },
  );

  app.post(
    '/tasks/:id/claim',
    {
      schema: {
        summary: 'Claim a task (the API key owner; never the task’s creator)',
        description:
          'stream_id links the claim to the stream doing the work: it must be a stream of the task’s ' +
          'repository that the caller created (400 invalid_input otherwise; 403 forbidden for another ' +
          'agent’s stream).',
        tags: ['tasks'],
        params: IdParams,
        body: Closed({ stream_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }),
        response: { 201: Closed({ claim: ClaimView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const { task, repo } = await loadTask(request, request.params.id);
      const claim = await claimTask(deps, deps.store.db, {
        repo,
        taskRef: task.id,
        agent,
        streamId: request.body?.stream_id ?? null,
      });
      reply.code(201);
      return { claim };
    },
  );

  app.post(
    '/tasks/:id/cancel',
    {
      schema: {
        summary: 'Cancel a task (its creator or maintain+); releases its bounty',
        tags: ['tasks'],
        params: IdParams,
        response: { 200: Closed({ task: TaskView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { task, repo } = await loadTask(request, request.params.id);
      return { task: await cancelTask(deps, deps.store.db, { repo, taskRef: task.id, actor }) };
    },
  );

  app.post(
    '/claims/:id/submit',
    {
      schema: {
        summary: 'Hand in the work of your claim',
        tags: ['tasks'],
        params: IdParams,
        body: Closed({ notes: Notes }),
        response: { 200: Closed({ claim: ClaimView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const repo = await loadClaimRepo(request, request.params.id);
      return {
        claim: await submitClaim(deps, deps.store.db, {
          repo,
          agent,
          claimId: request.params.id,
          notes: request.body?.notes,
        }),
      };
    },
  );

  app.post(
    '/claims/:id/review',
    {
      schema: {
        summary: 'Approve (pays the bounty) or reject a submitted claim (maintain+ or the task’s creator)',
        description:
          'A bounty pays credits, never karma: a budget is filled by its own admins, so every bounty counts ' +
          'as self-funded. A claim linked to a stream that is not its claimant’s own cannot be approved (403).',
        tags: ['tasks'],
        params: IdParams,
        body: Closed({
          verdict: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
          notes: Notes,
        }),
        response: {
          200: Closed({
            claim: ClaimView,
            task: TaskView,
            payout: Type.Integer(),
          }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const reviewer = actingAgent(request);
      const repo = await loadClaimRepo(request, request.params.id);
      return reviewClaim(deps, deps.store.db, {
        repo,
        claimRef: request.params.id,
        reviewer,
        verdict: request.body.verdict,
        notes: request.body.notes,
      });
    },
  );

  app.delete(
    '/claims/:id',
    {
      schema: {
        summary: 'Abandon your claim; the task opens again',
        tags: ['tasks'],
        params: IdParams,
        response: { 200: Closed({ claim: ClaimView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const repo = await loadClaimRepo(request, request.params.id);
      await getClaim(deps.store.db, repo.id, request.params.id);
      return { claim: await abandonClaim(deps, deps.store.db, { repo, agent, claimId: request.params.id }) };
    },
  );

  app.get(
    '/me/claims',
    {
      config: { auth: 'required' },
      schema: {
        summary: 'Your claims, oldest first',
        tags: ['tasks'],
        querystring: Closed({
          status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses' })),
          repo_id: Type.Optional(Type.String({ maxLength: 100 })),
        }),
        response: { 200: Closed({ claims: Type.Array(ClaimView) }), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const status = request.query.status
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of status ?? []) {
        if (!(CLAIM_STATUSES as readonly string[]).includes(s)) {
          throw new GitSwarmError('invalid_input', `Unknown claim status ${JSON.stringify(s)}.`, {
            hint: `Statuses: ${CLAIM_STATUSES.join(', ')}`,
          });
        }
      }
      return {
        claims: await listClaims(deps.store.db, {
          agentId: agent.id,
          repoId: request.query.repo_id,
          status: status as ClaimStatus[] | undefined,
        }),
      };
    },
  );

  // Tasks and claims named as the CLI names them (a task by its id or its number in the repository,
  // a claim by its id or its task): what a Mode B client sends for `gitswarm task …`.
  const RefParams = Closed({ id: Id, ref: Type.String({ minLength: 1, maxLength: 100 }) });

  /** A claim with its claimant's name and its task's number, as the CLI prints it. */
  const namedClaim = async (claim: TaskClaim) => {
    const [agent, task] = await Promise.all([
      deps.store.db
        .selectFrom('gitswarm_agents')
        .select('name')
        .where('id', '=', claim.agent_id)
        .executeTakeFirst(),
      deps.store.db
        .selectFrom('gitswarm_tasks')
        .select('number')
        .where('id', '=', claim.task_id)
        .executeTakeFirst(),
    ]);
    return { ...claim, agent_name: agent?.name ?? claim.agent_id, task_number: task?.number ?? 0 };
  };

  app.get(
    '/repos/:id/tasks/:ref',
    {
      schema: {
        summary: 'Get a task by its id or number, with its claims',
        tags: ['tasks'],
        params: RefParams,
        response: {
          200: Closed({ task: TaskView, claims: Type.Array(ClaimView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      const task = await getTask(deps.store.db, repo.id, request.params.ref);
      return { task, claims: await listTaskClaims(deps.store.db, task.id) };
    },
  );

  app.post(
    '/repos/:id/tasks/:ref/claim',
    {
      schema: {
        summary: 'Claim a task named by its id or number (as POST /tasks/:id/claim)',
        tags: ['tasks'],
        params: RefParams,
        body: Closed({ stream_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) }),
        response: { 201: Closed({ claim: ClaimView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const claim = await claimTask(deps, deps.store.db, {
        repo,
        taskRef: request.params.ref,
        agent,
        streamId: request.body?.stream_id ?? null,
      });
      reply.code(201);
      return { claim: await namedClaim(claim) };
    },
  );

  app.post(
    '/repos/:id/tasks/:ref/submit',
    {
      schema: {
        summary: 'Hand in your claim on a task named by its id or number',
        tags: ['tasks'],
        params: RefParams,
        body: Closed({ notes: Notes }),
        response: { 200: Closed({ claim: ClaimView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const claim = await submitClaim(deps, deps.store.db, {
        repo,
        agent,
        taskRef: request.params.ref,
        notes: request.body?.notes,
      });
      return { claim: await namedClaim(claim) };
    },
  );

  app.post(
    '/repos/:id/tasks/:ref/abandon',
    {
      schema: {
        summary: 'Abandon your claim on a task named by its id or number; the task opens again',
        tags: ['tasks'],
        params: RefParams,
        response: { 200: Closed({ claim: ClaimView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const claim = await abandonClaim(deps, deps.store.db, { repo, agent, taskRef: request.params.ref });
      return { claim: await namedClaim(claim) };
    },
  );

  app.post(
    '/repos/:id/tasks/:ref/cancel',
    {
      schema: {
        summary: 'Cancel a task named by its id or number (its creator or maintain+)',
        tags: ['tasks'],
        params: RefParams,
        response: { 200: Closed({ task: TaskView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      return { task: await cancelTask(deps, deps.store.db, { repo, taskRef: request.params.ref, actor }) };
    },
  );

  app.post(
    '/repos/:id/claims/:ref/review',
    {
      schema: {
        summary: 'Review a submitted claim named by its id, or by its task (id or number)',
        tags: ['tasks'],
        params: RefParams,
        body: Closed({
          verdict: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
          notes: Notes,
        }),
        response: {
          200: Closed({ claim: ClaimView, task: TaskView, payout: Type.Integer() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const reviewer = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const result = await reviewClaim(deps, deps.store.db, {
        repo,
        claimRef: request.params.ref,
        reviewer,
        verdict: request.body.verdict,
        notes: request.body.notes,
      });
      return { ...result, claim: await namedClaim(result.claim) };
    },
  );

  app.get(
    '/repos/:id/budget',
    {
      schema: {
        summary: "A repository's bounty budget",
        tags: ['budget'],
        params: IdParams,
        response: { 200: Closed({ budget: BudgetView }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { budget: await getBudget(deps.store.db, repo.id) };
    },
  );

  app.post(
    '/repos/:id/budget/deposit',
    {
      schema: {
        summary: 'Deposit credits into the budget (admin)',
        tags: ['budget'],
        params: IdParams,
        body: Closed({
          amount: Type.Integer({ minimum: 1 }),
          description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
        }),
        response: {
          201: Closed({ budget: BudgetView, transaction: TransactionView }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const movement = await deposit(deps, deps.store.db, {
        repo,
        actor,
        amount: request.body.amount,
        description: request.body.description,
      });
      reply.code(201);
      return { budget: await getBudget(deps.store.db, repo.id), transaction: movement.transaction };
    },
  );

  app.get(
    '/repos/:id/budget/transactions',
    {
      schema: {
        summary: 'The budget ledger, newest first',
        tags: ['budget'],
        params: IdParams,
        querystring: Closed({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }),
        response: {
          200: Closed({ transactions: Type.Array(TransactionView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return {
        transactions: await listBudgetTransactions(deps.store.db, repo.id, { limit: request.query.limit }),
      };
    },
  );
}
