/**
 * Stabilization and promotion. Mode B (spec 3.1 steps 9-10, section 6.3): the client or a CI
 * runner runs the tests on the buffer and fast-forwards main in its clone; the server records
 * both, answers whether to promote, and checks the promotion rules (core remote-sync.ts,
 * buffer-promotion.ts). Mode C (server-held repositories): `POST /repos/:id/stabilize {}` queues
 * a server run (hosting/stabilize-jobs.ts), `GET …/stabilize/runs/:runId` shows it, and
 * `POST /repos/:id/promote {}` promotes on the server, green-gated as `gitswarm promote`.
 */
import Type from 'typebox';
import { getRepo } from '../../core/repos/repos.js';
import { promoteBuffer } from '../../core/stabilization/buffer-promotion.js';
import { listStabilizations } from '../../core/stabilization/stabilization.js';
import {
  approvePromotion,
  listPromotions,
  MAX_DURATION_MS,
  recordRemotePromotion,
  recordStabilization,
} from '../../core/sync/remote-sync.js';
import { getReportedBufferHead, setBufferHead } from '../../core/sync/reported-buffer.js';
import { GitSwarmError } from '../../errors.js';
import { enqueueStabilizeRun, getStabilizeRun } from '../../hosting/stabilize-jobs.js';
import type { Repo, StabilizeRun } from '../../store/index.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import { Closed, errorResponses, IdParams, Metadata, Nullable, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

const Sha = Type.String({ minLength: 40, maxLength: 64, pattern: '^[0-9a-f]+$' });

const StabilizationView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  result: Type.String(),
  tag: Nullable(Type.String()),
  buffer_commit: Nullable(Type.String()),
  breaking_stream_id: Nullable(Type.String()),
  duration_ms: Nullable(Type.Number()),
  log_path: Nullable(Type.String()),
  details: Metadata,
  stabilized_at: Timestamp,
});

const PromotionView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  from_branch: Type.String(),
  to_branch: Type.String(),
  from_commit: Nullable(Type.String()),
  to_commit: Nullable(Type.String()),
  triggered_by: Nullable(Type.String()),
  agent_id: Nullable(Type.String()),
  promoted_at: Timestamp,
});

const PromoteBody = Closed({
  from: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  to: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  from_commit: Type.Optional(Nullable(Sha)),
  to_commit: Sha,
  trigger: Type.Optional(Type.Union([Type.Literal('manual'), Type.Literal('auto')])),
});

/** from and to, when a promotion names them, are the buffer and the promote target. */
function assertPromotionBranches(
  repo: Pick<Repo, 'buffer_branch' | 'promote_target'>,
  body: { from?: string; to?: string },
): void {
  if (body.from !== undefined && body.from !== repo.buffer_branch) {
    throw new GitSwarmError('invalid_input', `Promotions go from the buffer branch ${repo.buffer_branch}.`);
  }
  if (body.to !== undefined && body.to !== repo.promote_target) {
    throw new GitSwarmError('invalid_input', `Promotions go to the promote target ${repo.promote_target}.`);
  }
}

/**
 * One body for both modes (a JSON body stays closed to unknown fields): without `result` it starts
 * a server run (Mode C); with it, it is a Mode B report and needs `buffer_commit`.
 */
const StabilizeBody = Closed({
  result: Type.Optional(
    Type.Union([Type.Literal('green'), Type.Literal('red'), Type.Literal('flaky'), Type.Literal('error')], {
      description: 'Mode B: the result of a run the client made; leave out to start a server run (Mode C)',
    }),
  ),
  tag: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  buffer_commit: Type.Optional(Sha),
  breaking_stream_id: Type.Optional(Type.String({ minLength: 1, maxLength: 36 })),
  passing_commit: Type.Optional(Sha),
  duration_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DURATION_MS })),
  details: Type.Optional(Metadata),
});

const RunStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('green'),
  Type.Literal('red'),
  Type.Literal('flaky'),
  Type.Literal('error'),
]);

const StabilizeRunView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  status: RunStatus,
  buffer_commit: Nullable(
    Type.String({ description: 'The buffer commit tested (known once the run started)' }),
  ),
  tag: Nullable(Type.String({ description: 'Green: the tag made on buffer_commit' })),
  breaking_stream_id: Nullable(Type.String({ description: 'Red: the stream whose merge bisection blames' })),
  reverted: Type.Boolean({ description: 'Red: whether the culprit’s merge was reverted on the buffer' }),
  task_id: Nullable(Type.String({ description: 'Red: the critical task filed (or already open) for it' })),
  stabilization_id: Nullable(
    Type.String({ description: 'The stabilization record (see /stabilize/history)' }),
  ),
  log_tail: Type.String({ description: 'The last 16 KiB of the run’s progress and output' }),
  error: Nullable(Type.String({ description: 'Error: why the run could not judge the code' })),
  attempts: Type.Integer({ description: 'Starts of the run (more than one: a server died mid-run)' }),
  requested_by: Nullable(Type.String()),
  created_at: Timestamp,
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
});

function runView(run: StabilizeRun) {
  return {
    id: run.id,
    repo_id: run.repo_id,
    status: run.status,
    buffer_commit: run.buffer_commit,
    tag: run.tag,
    breaking_stream_id: run.breaking_stream_id,
    reverted: run.reverted,
    task_id: run.task_id,
    stabilization_id: run.stabilization_id,
    log_tail: run.log_tail,
    error: run.error,
    attempts: run.attempts,
    requested_by: run.requested_by,
    created_at: run.created_at,
    started_at: run.started_at,
    finished_at: run.finished_at,
  };
}

/** Mode B: what the client did (to_commit required); Mode C: {} or {force}. */
const PromoteRouteBody = Closed({
  ...PromoteBody.properties,
  to_commit: Type.Optional(Sha),
  force: Type.Optional(
    Type.Boolean({
      description: 'Mode C: promote the buffer head even past the newest green commit (admin)',
    }),
  ),
});

const MODE_B_STABILIZE_FIELDS = [
  'tag',
  'buffer_commit',
  'breaking_stream_id',
  'passing_commit',
  'duration_ms',
  'details',
] as const;
const MODE_B_PROMOTE_FIELDS = ['from', 'to', 'from_commit', 'to_commit', 'trigger'] as const;

const HistoryQuery = Closed({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) });

/** POST /repos/:id/stabilize, /promote and their histories. */
export async function stabilizationRoutes(app: App): Promise<void> {
  const deps = app.deps;

  app.post(
    '/repos/:id/stabilize',
    {
      schema: {
        summary: 'Start a server stabilization run (Mode C, {}) or record a result (Mode B, {result, …})',
        description:
          'Mode C (a repository the server holds, body {}): queues a run of the stabilize command on the buffer ' +
          'head in the server’s sandbox (write access, as gitswarm stabilize): 202 {run} with status queued; ' +
          'while a run is queued or running, another request answers 200 with that run. 409 invalid_state ' +
          'without a stabilize command; 503 sandbox_unavailable when the server has no sandbox and was not ' +
          'started with --allow-unsandboxed. Follow the run with GET /repos/:id/stabilize/runs/:runId or the ' +
          'stabilize.progress events on the WebSocket. ' +
          'Mode B (body with result): only maintain+ (a maintainer, or a CI runner given a maintain grant) reports results, and ' +
          'buffer_commit must be the buffer head as last reported or a buffer commit the server recorded ' +
          '(409 unknown_commit). Answers promote: true when the result is green and the repository ' +
          'auto-promotes on green. A red result’s breaking_stream_id is a candidate: a critical task is filed ' +
          'for that stream’s author (task_id; one open task per stream) only when the evidence is recorded ' +
          '(buffer_commit is that stream’s merge commit and its first parent passed: passing_commit in this ' +
          'report, or a recorded green); otherwise culprit.status is suspected and no task is filed.',
        tags: ['stabilization'],
        params: IdParams,
        body: StabilizeBody,
        response: {
          201: Closed({
            stabilization: StabilizationView,
            promote: Type.Boolean(),
            task_id: Nullable(Type.String()),
            culprit: Nullable(
              Closed({
                stream_id: Type.String(),
                status: Type.Union([Type.Literal('confirmed'), Type.Literal('suspected')]),
                reason: Nullable(Type.String()),
              }),
            ),
            revert: Type.Boolean({
              description:
                "Red, culprit confirmed: revert its merge (push the revert, then PATCH the stream 'reverted')",
            }),
            revert_decision: Nullable(
              Type.String({
                description: 'revert | already_reverted | auto_revert_off | opted_out | daily_limit',
              }),
            ),
          }),
          202: Closed({ run: StabilizeRunView }),
          200: Closed({ run: StabilizeRunView }),
          ...errorResponses(400, 401, 403, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const body = request.body;
      if (body.result === undefined) {
        const extra = MODE_B_STABILIZE_FIELDS.filter((field) => body[field] !== undefined);
        if (extra.length > 0) {
          throw new GitSwarmError('invalid_input', `A report needs result (it has ${extra.join(', ')}).`, {
            hint: 'Send {} to start a server run, or {result, buffer_commit, …} to report one.',
          });
        }
        const { run, created } = await enqueueStabilizeRun(deps, {
          repo,
          actor,
          allowUnsandboxed: app.hosting.allowUnsandboxed,
          searchPath: app.hosting.stabilizeRuns.searchPath,
        });
        if (created) app.stabilizeRunner?.kick();
        reply.code(created ? 202 : 200);
        return { run: runView(run) };
      }
      if (body.buffer_commit === undefined) {
        throw new GitSwarmError(
          'invalid_input',
          'A result must name the buffer commit it tested (buffer_commit).',
        );
      }
      const result = await recordStabilization(deps, {
        repo,
        actor,
        result: body.result,
        tag: body.tag,
        bufferCommit: body.buffer_commit,
        breakingStreamId: body.breaking_stream_id,
        passingCommit: body.passing_commit,
        durationMs: body.duration_ms,
        details: body.details,
      });
      reply.code(201);
      return result;
    },
  );

  app.get(
    '/repos/:id/stabilize/runs/:runId',
    {
      schema: {
        summary: 'A server stabilization run (Mode C): status, verdict and the tail of its log',
        tags: ['stabilization'],
        params: Closed({ id: IdParams.properties.id, runId: IdParams.properties.id }),
        response: {
          200: Closed({ run: StabilizeRunView }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { run: runView(await getStabilizeRun(deps.store.db, repo.id, request.params.runId)) };
    },
  );

  app.get(
    '/repos/:id/stabilize/history',
    {
      schema: {
        summary: 'Stabilization history, newest first',
        tags: ['stabilization'],
        params: IdParams,
        querystring: HistoryQuery,
        response: {
          200: Closed({ stabilizations: Type.Array(StabilizationView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return {
        stabilizations: await listStabilizations(deps.store.db, repo.id, { limit: request.query.limit }),
      };
    },
  );

  app.post(
    '/repos/:id/promote',
    {
      schema: {
        summary: 'Promote the buffer on the server (Mode C, {}) or record a promotion (Mode B; maintain+)',
        description:
          'Mode C (a repository the server holds, body {} or {force}): fast-forwards the promote target to the ' +
          'newest green commit on the buffer, as gitswarm promote does (maintain+; 409 not_green before any ' +
          'green; force, admin only, takes the buffer head): {promoted, from_commit, to_commit}. ' +
          'Mode B: from and to, when given, must be the repository’s buffer branch and promote target. With a stabilize ' +
          'command configured, to_commit needs a recorded green stabilization (409 not_green).',
        tags: ['stabilization'],
        params: IdParams,
        body: PromoteRouteBody,
        response: {
          201: Closed({ promotion: PromotionView, created: Type.Boolean() }),
          200: Type.Union([
            Closed({ promotion: PromotionView, created: Type.Boolean() }),
            Closed({
              promoted: Type.Boolean(),
              from_commit: Nullable(Type.String()),
              to_commit: Type.String(),
            }),
          ]),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const body = request.body;
      if (repo.server_git) {
        const reported = MODE_B_PROMOTE_FIELDS.filter((field) => body[field] !== undefined);
        if (reported.length > 0) {
          throw new GitSwarmError(
            'invalid_input',
            `The server promotes the repositories it holds itself (no ${reported.join(', ')}).`,
            { hint: 'Send {} (or {"force": true} as an admin).' },
          );
        }
        const force = body.force === true;
        // The promotion's buffer.promoted event is what pushes main to the upstream (remote_url).
        return promoteBuffer(deps, { repo, actor, trigger: 'manual', force });
      }
      const toCommit = body.to_commit;
      if (toCommit === undefined || body.force !== undefined) {
        throw new GitSwarmError(
          'invalid_input',
          toCommit === undefined
            ? 'A promotion report needs to_commit.'
            : 'force is for repositories the server holds; a report states what was done.',
          { hint: 'Send the commit the promote target was moved to: {"to_commit": "<sha>"}.' },
        );
      }
      assertPromotionBranches(repo, body);
      const result = await recordRemotePromotion(deps, {
        repo,
        actor,
        fromCommit: body.from_commit,
        toCommit,
        trigger: body.trigger,
      });
      reply.code(result.created ? 201 : 200);
      return result;
    },
  );

  app.post(
    '/repos/:id/promote/decision',
    {
      schema: {
        summary: 'Ask whether a promotion may happen now (Mode B promotion decision; maintain+)',
        description:
          'The checks of POST /repos/:id/promote (promotion rules, stage, a recorded green for to_commit when ' +
          'the repository has a stabilize command), nothing recorded. Approved, the client fast-forwards the ' +
          'promote target by a compare-and-swap push, then reports it with POST /repos/:id/promote. Refused: ' +
          '403, or 409 not_green.',
        tags: ['stabilization'],
        params: IdParams,
        body: PromoteBody,
        response: {
          200: Closed({
            approved: Type.Literal(true),
            from_branch: Type.String(),
            to_branch: Type.String(),
            from_commit: Nullable(Type.String()),
            to_commit: Type.String(),
          }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const body = request.body;
      assertPromotionBranches(repo, body);
      return approvePromotion(deps, {
        repo,
        actor,
        fromCommit: body.from_commit,
        toCommit: body.to_commit,
        trigger: body.trigger,
      });
    },
  );

  app.get(
    '/repos/:id/buffer-head',
    {
      schema: {
        summary: 'The buffer head as last reported (Mode B): reported merges are made on it',
        tags: ['stabilization'],
        params: IdParams,
        response: {
          200: Closed({ buffer_branch: Type.String(), buffer_head: Nullable(Type.String()) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return {
        buffer_branch: repo.buffer_branch,
        buffer_head: await getReportedBufferHead(deps.store.db, repo.id),
      };
    },
  );

  app.put(
    '/repos/:id/buffer-head',
    {
      schema: {
        summary: 'Record the buffer head after it moved outside the reports (admin)',
        description:
          'For a buffer pushed to without a report: merges are then checked against this head. previous is ' +
          'the head the caller read from GET /repos/:id/buffer-head (null: none); another is 409 ref_moved.',
        tags: ['stabilization'],
        params: IdParams,
        body: Closed({ commit: Sha, previous: Nullable(Sha) }),
        response: {
          200: Closed({ buffer_head: Type.String() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      return setBufferHead(deps, {
        repo,
        actor,
        commit: request.body.commit,
        previous: request.body.previous,
      });
    },
  );

  app.get(
    '/repos/:id/promote/history',
    {
      schema: {
        summary: 'Promotion history, newest first',
        tags: ['stabilization'],
        params: IdParams,
        querystring: HistoryQuery,
        response: {
          200: Closed({ promotions: Type.Array(PromotionView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { promotions: await listPromotions(deps.store.db, repo.id, { limit: request.query.limit }) };
    },
  );
}
