/**
 * Streams over HTTP (spec section 5, "Streams").
 *
 * Mode B (a repository without `server_git`): the client creates streams, commits, merges and
 * pushes in its own clone; the server records each step and decides what governance decides
 * (reviews, consensus, may this merge now). The rules are the core's: remote-sync.ts, reviews.ts,
 * consensus.ts, streams.ts.
 *
 * Mode C (`server_git`, docs/mode-c.md): the server holds the git. Creating a stream makes its
 * branch and a server worktree; `POST /streams/:id/commits {message}` commits that worktree and
 * `POST /streams/:id/merge` merges, with the CLI's own core functions (src/hosting/hosted-streams.ts).
 * A body of one mode sent to a repository of the other is 400 `invalid_input`.
 *
 * The acting agent is always the API key's owner.
 *
 * Diffs need a clone: for a repository without a server-side path (every Mode B repository)
 * `GET /streams/:id/diff` answers 409 `invalid_state`; the client diffs locally.
 */
import { existsSync } from 'node:fs';
import Type from 'typebox';
import { getRepo } from '../../core/repos/repos.js';
import { evaluateConsensus } from '../../core/streams/consensus.js';
import { listReviewsWithStaleness, submitForReview, submitReview } from '../../core/streams/reviews.js';
import { BOARD_FORK_LIMIT, readStreamBoard } from '../../core/streams/stream-board.js';
import {
  getStreamById,
  getStreamRepo,
  listReadableStreamsPage,
  listStreamsPage,
} from '../../core/streams/streams.js';
import { decideReopen, recordReopenedStream } from '../../core/streams/workspace-reopen.js';
import { MAX_COMMIT_OBJECT_LENGTH } from '../../core/sync/commit-objects.js';
import {
  abandonStream,
  approveMerge,
  changeStreamStatus,
  listStreamCommits,
  recordCommit,
  recordRemoteMerge,
  recordRemoteRevert,
  recordStream,
  updateStreamMetadata,
} from '../../core/sync/remote-sync.js';
import { diffRange } from '../../engine/diff.js';
import { GitSwarmError } from '../../errors.js';
import {
  abandonHostedStream,
  commitHostedStream,
  createHostedStream,
  mergeHostedStream,
} from '../../hosting/hosted-streams.js';
import type { Repo, Stream, StreamStatus } from '../../store/index.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import {
  Closed,
  errorResponses,
  IdParams,
  Metadata,
  NextCursor,
  Nullable,
  PageQuery,
  Timestamp,
} from '../schemas.js';
import type { App } from '../types.js';

const STATUSES: readonly StreamStatus[] = [
  'active',
  'in_review',
  'conflicted',
  'merged',
  'abandoned',
  'reverted',
];
/** Streams per board column when `per_column` is not given. */
const BOARD_PER_COLUMN = 12;
const Sha = Type.String({ minLength: 40, maxLength: 64, pattern: '^[0-9a-f]+$' });

export const StreamView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  agent_id: Type.String(),
  name: Type.String(),
  branch: Type.String(),
  source: Type.String(),
  github_pr_number: Nullable(Type.Number()),
  github_pr_url: Nullable(Type.String()),
  status: Type.String(),
  review_status: Nullable(Type.String()),
  parent_stream_id: Nullable(Type.String()),
  base_branch: Nullable(Type.String()),
  base_commit: Nullable(Type.String()),
  task_id: Nullable(Type.String()),
  conflict: Nullable(
    Closed({
      operation: Type.String(),
      onto: Type.String(),
      paths: Type.Array(Type.String()),
      detected_at: Timestamp,
    }),
  ),
  merge_priority: Type.Number(),
  auto_revert_opt_out: Type.Boolean(),
  metadata: Metadata,
  created_at: Timestamp,
  updated_at: Timestamp,
});

const CommitView = Closed({
  id: Type.String(),
  stream_id: Type.String(),
  agent_id: Type.String(),
  commit_hash: Type.String(),
  change_id: Nullable(Type.String()),
  message: Nullable(Type.String()),
  created_at: Timestamp,
});

const ReviewView = Closed({
  id: Type.String(),
  stream_id: Type.String(),
  reviewer_id: Type.String(),
  reviewer_name: Type.Optional(Type.String()),
  review_block_id: Nullable(Type.String()),
  verdict: Type.String(),
  feedback: Nullable(Type.String()),
  is_human: Type.Boolean(),
  tested: Type.Boolean(),
  reviewed_at: Timestamp,
  head_commit: Nullable(Type.String({ description: 'The stream head the verdict was given on' })),
  diff_fingerprint: Nullable(Type.String({ description: "Patch-id of the stream's diff at that head" })),
  stale: Type.Boolean({ description: 'Given on code that has changed since (docs/reviews.md)' }),
});

export const ConsensusView = Closed({
  reached: Type.Boolean(),
  reason: Type.String(),
  model: Type.String(),
  approvals: Type.Number(),
  rejections: Type.Number(),
  threshold: Type.Number(),
  ratio: Type.Number(),
  min_reviews: Type.Number(),
  required_approvals: Type.Number(),
  rule_id: Nullable(Type.String()),
  stale_approvals: Type.Number({ description: 'Approvals given on code that has changed since' }),
  stale_rejections: Type.Number({ description: 'Change requests given on code that has changed since' }),
  stale_reviews: Type.String({ description: 'dismiss: stale verdicts do not count; keep: they do' }),
  head_commit: Nullable(Type.String({ description: 'The stream head the reviews were judged against' })),
});

const CreateStreamBody = Closed({
  id: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 36,
      description:
        'Mode B: the id the client gave the stream (required there; refused on a server_git repository)',
    }),
  ),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  branch: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Default stream/<id>' })),
  base_branch: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  base_commit: Type.Optional(Sha),
  depends_on: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'Parent stream id or name' }),
  ),
  task: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'Task id or number to link' }),
  ),
  from_stream: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'The stream (id, name or branch) whose head the client started the branch at: its commits carry over, ' +
        'the stream builds on the buffer (not with depends_on; a merged or reverted one is refused, 409)',
    }),
  ),
});

const ListStreamsQuery = Closed({
  status: Type.Optional(Type.String({ maxLength: 200, description: 'Comma-separated statuses' })),
  // A UUID, checked here: PostgreSQL refuses a malformed one where SQLite finds nothing.
  agent_id: Type.Optional(Type.String({ format: 'uuid', maxLength: 36 })),
  ...PageQuery,
});

const BoardQuery = Closed({
  per_column: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100, description: 'Newest streams per column (default 12)' }),
  ),
});

/** A board card: the stream and its author's name. */
const BoardStreamView = Closed({ ...StreamView.properties, agent_name: Type.String() });

const BoardView = Closed({
  columns: Type.Array(
    Closed({
      status: Type.String(),
      count: Type.Number({ description: 'Streams of this status in the repository' }),
      streams: Type.Array(BoardStreamView, { description: 'The newest, newest first, at most per_column' }),
    }),
  ),
  consensus: Type.Record(Type.String(), ConsensusView, {
    description:
      'By stream id: the consensus of the open streams (active, in review, conflicted) in the columns',
  }),
  forks: Type.Array(
    Closed({
      parent_id: Type.String(),
      parent_name: Type.String(),
      parent_status: Type.String(),
      child_id: Type.String(),
      child_name: Type.String(),
      child_status: Type.String(),
    }),
    { description: `Streams built on another, newest first, at most ${BOARD_FORK_LIMIT}` },
  ),
  forks_truncated: Type.Boolean({ description: 'More fork edges exist than were returned' }),
});

const PatchStreamBody = Closed({
  status: Type.Optional(
    Type.Union([
      Type.Literal('active'),
      Type.Literal('in_review'),
      Type.Literal('conflicted'),
      Type.Literal('merged'),
      Type.Literal('abandoned'),
      Type.Literal('reverted'),
    ]),
  ),
  merge_commit: Type.Optional(Sha),
  commit_object: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_COMMIT_OBJECT_LENGTH,
      description:
        'With merged: the merge commit’s raw object, the output of git cat-file commit <merge_commit>',
    }),
  ),
  offline: Type.Optional(
    Type.Boolean({
      description:
        'With merged: the client merged while the server was unreachable (offline_merges allow); a missing consensus is recorded as a dispute (stream.merge_disputed and a critical task) instead of refused',
    }),
  ),
  revert_commit: Type.Optional(Sha),
  conflict: Type.Optional(
    Closed({
      paths: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 10_000 }),
      onto: Type.Optional(Sha),
      operation: Type.Optional(
        Type.Union([Type.Literal('merge'), Type.Literal('rebase')], {
          description:
            'What found it: a merge into the buffer (default) or a rebase onto a moved parent or buffer (a cascade)',
        }),
      ),
    }),
  ),
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
  metadata: Type.Optional(Metadata),
});

const StreamResponse = Closed({ stream: StreamView });

const RecordedCommitResponse = Closed(
  { commit: CommitView, stream: StreamView, created: Type.Boolean() },
  { description: 'Mode B: the commit recorded' },
);

const CascadeOutcomeView = Closed({
  stream_id: Type.String(),
  outcome: Type.Union([
    Type.Literal('rebased'),
    Type.Literal('up_to_date'),
    Type.Literal('conflicted'),
    Type.Literal('deferred'),
  ]),
  head: Type.Optional(Type.String()),
  onto: Type.Optional(Type.String()),
  paths: Type.Optional(Type.Array(Type.String())),
  reason: Type.Optional(Type.String()),
});

const ServerCommitResponse = Closed(
  {
    commit: Sha,
    change_id: Type.String({ description: 'The Change-Id trailer of the commit' }),
    stream_id: Type.String(),
    merged: Type.Boolean({ description: 'Swarm mode: the commit was merged into the buffer' }),
    buffer_head: Type.Optional(Sha),
    cascade: Type.Array(CascadeOutcomeView, {
      description: 'What happened to the streams built on this one',
    }),
  },
  { description: "Mode C: the commit the server made in the stream's worktree" },
);

const ServerMergeResponse = Closed(
  {
    merged: Type.Literal(true),
    merge_commit: Sha,
    buffer_head: Sha,
    stream_id: Type.String(),
  },
  { description: 'Mode C: the server merged the stream into the buffer' },
);

const MergeApprovalResponse = Closed(
  {
    approved: Type.Literal(true),
    stream_id: Type.String(),
    branch: Type.String(),
    buffer_branch: Type.String(),
    buffer_head: Nullable(
      Type.String({ description: 'Merge onto this commit (the buffer head as last reported)' }),
    ),
    head_commit: Nullable(
      Type.String({
        description: 'Merge this commit (the stream head approved, its newest recorded)',
      }),
    ),
    consensus: Nullable(ConsensusView),
  },
  { description: 'Mode B: the merge may happen in the client’s clone' },
);

function parseStatuses(value: string | undefined): StreamStatus[] | undefined {
  if (value === undefined || value === '') return undefined;
  const statuses = value.split(',').map((s) => s.trim());
  for (const status of statuses) {
    if (!(STATUSES as readonly string[]).includes(status)) {
      throw new GitSwarmError('invalid_input', `Unknown stream status ${JSON.stringify(status)}.`, {
        hint: `Statuses: ${STATUSES.join(', ')}`,
      });
    }
  }
  return statuses as StreamStatus[];
}

/** Streams, commits, reviews, consensus and the merge decision. */
export async function streamRoutes(app: App): Promise<void> {
  const deps = app.deps;

  /** The stream and its repository, if the caller may read them. */
  const loadStream = async (
    request: Parameters<typeof readableRepo>[1],
    id: string,
  ): Promise<{ stream: Stream; repo: Repo }> => {
    const stream = await getStreamById(deps.store.db, id);
    const repo = await readableRepo(deps, request, stream.repo_id);
    return { stream, repo };
  };

  /**
   * The stream and its repository for a write: the core function the route calls checks the
   * actor's access itself (read to review, write to commit, author or maintain+ for the rest), so
   * the read check is not made twice.
   */
  const loadStreamForWrite = async (id: string): Promise<{ stream: Stream; repo: Repo }> => {
    const stream = await getStreamById(deps.store.db, id);
    return { stream, repo: await getRepo(deps.store.db, stream.repo_id) };
  };

  app.post(
    '/repos/:id/streams',
    {
      schema: {
        summary: 'Create a stream (Mode C) or record one the client created in its clone (Mode B)',
        description:
          'Mode B: give the id the client chose (its branch is stream/<id>; without one the server picks it); retrying with the same id, name and ' +
          'agent returns the recorded stream with 200. Mode C (server_git): give no id, branch, base_branch or ' +
          'base_commit; the server creates the branch from the buffer head (or depends_on’s head) and a worktree ' +
          'for it (409 worktree_limit at the cap). The author is the API key owner.',
        tags: ['streams'],
        params: IdParams,
        body: CreateStreamBody,
        response: {
          201: Closed({ stream: StreamView, created: Type.Boolean() }),
          200: Closed({ stream: StreamView, created: Type.Boolean() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const body = request.body;
      if (repo.server_git) {
        const clientFields = (['id', 'branch', 'base_branch', 'base_commit'] as const).filter(
          (field) => body[field] !== undefined,
        );
        if (clientFields.length > 0) {
          throw new GitSwarmError(
            'invalid_input',
            `The server holds this repository's git (server_git): it makes the branch itself; leave out ${clientFields.join(', ')}.`,
            { hint: 'Send {name?, task?, depends_on?} only.' },
          );
        }
        const stream = await createHostedStream(deps, app.hosting, {
          repo,
          agent,
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.task !== undefined ? { taskRef: body.task } : {}),
          ...(body.depends_on !== undefined ? { dependsOn: body.depends_on } : {}),
        });
        reply.code(201);
        return { stream, created: true };
      }
      const result = await recordStream(deps, {
        repo,
        agent,
        id: body.id,
        name: body.name,
        branch: body.branch,
        baseBranch: body.base_branch,
        baseCommit: body.base_commit,
        dependsOn: body.depends_on,
        taskRef: body.task,
        fromStream: body.from_stream,
      });
      reply.code(result.created ? 201 : 200);
      return result;
    },
  );

  app.get(
    '/repos/:id/streams',
    {
      schema: {
        summary: "List a repository's streams, oldest first, a page at a time (?limit, ?cursor)",
        tags: ['streams'],
        params: IdParams,
        querystring: ListStreamsQuery,
        response: {
          200: Closed({ streams: Type.Array(StreamView), next_cursor: NextCursor }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { query } = request;
      const filter = { status: parseStatuses(query.status), agentId: query.agent_id };
      if (request.agent) {
        // The access check and the page in one round trip.
        const { page } = await listReadableStreamsPage(deps, {
          repoId: request.params.id,
          agent: request.agent,
          query: filter,
          page: { limit: query.limit, cursor: query.cursor },
        });
        return { streams: page.rows, next_cursor: page.nextCursor };
      }
      const repo = await readableRepo(deps, request, request.params.id);
      const page = await listStreamsPage(deps.store.db, repo.id, filter, {
        limit: query.limit,
        cursor: query.cursor,
      });
      return { streams: page.rows, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/repos/:id/board',
    {
      schema: {
        summary:
          "A repository's streams board in one request: per column (active, in review, conflicted, merged, " +
          'reverted) the count and the newest streams, the consensus of the open ones, and the fork edges',
        tags: ['streams'],
        params: IdParams,
        querystring: BoardQuery,
        response: {
          200: BoardView,
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      const board = await readStreamBoard(deps, deps.store.db, repo, {
        perColumn: request.query.per_column ?? BOARD_PER_COLUMN,
      });
      return { ...board, consensus: Object.fromEntries(board.consensus) };
    },
  );

  app.get(
    '/streams/:id',
    {
      schema: {
        summary: 'Get a stream',
        tags: ['streams'],
        params: IdParams,
        response: { 200: StreamResponse, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => ({ stream: (await loadStream(request, request.params.id)).stream }),
  );

  app.patch(
    '/streams/:id',
    {
      schema: {
        summary: 'Update a stream: report its status (state machine) or change its metadata',
        description:
          'status merged + merge_commit + commit_object records the merge the client made after POST ' +
          '/streams/:id/merge approved it: reported by the stream’s author or maintain+ (403), the approval ' +
          'checks run again, and the commit object must hash to merge_commit with two parents, the first the ' +
          'buffer head as last reported, the second the stream’s newest recorded commit (409 commit_mismatch). ' +
          'reverted + revert_commit records a revert (maintain+); ' +
          'in_review submits for review; conflicted + conflict.paths reports a conflict; active withdraws or ' +
          'resumes; abandoned abandons. Transitions outside the state machine are 409 invalid_state.',
        tags: ['streams'],
        params: IdParams,
        body: PatchStreamBody,
        response: { 200: StreamResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      const body = request.body;
      if ((body.merge_commit !== undefined || body.commit_object !== undefined) && body.status !== 'merged') {
        throw new GitSwarmError('invalid_input', 'merge_commit and commit_object go with status "merged".');
      }
      if (body.offline !== undefined && body.status !== 'merged') {
        throw new GitSwarmError('invalid_input', 'offline goes with status "merged".');
      }
      if (body.revert_commit !== undefined && body.status !== 'reverted') {
        throw new GitSwarmError('invalid_input', 'revert_commit goes with status "reverted".');
      }
      if (body.conflict !== undefined && body.status !== 'conflicted') {
        throw new GitSwarmError('invalid_input', 'conflict goes with status "conflicted".');
      }
      if (body.status === undefined && body.metadata === undefined) {
        throw new GitSwarmError('invalid_input', 'Nothing to change: give status or metadata.');
      }
      if (
        repo.server_git &&
        (body.status === 'merged' || body.status === 'reverted' || body.status === 'conflicted')
      ) {
        throw new GitSwarmError(
          'invalid_input',
          `The server holds this repository's git (server_git): a client does not report "${body.status}"; the server's git decides it.`,
          { hint: 'Merge with POST /api/v1/streams/:id/merge.' },
        );
      }
      let current = stream;
      switch (body.status) {
        case undefined:
          break;
        case 'merged':
          if (!body.merge_commit || !body.commit_object) {
            throw new GitSwarmError(
              'invalid_input',
              'Reporting a merge needs merge_commit and commit_object.',
              {
                hint: 'commit_object is the output of: git cat-file commit <merge_commit>',
              },
            );
          }
          current = (
            await recordRemoteMerge(deps, {
              repo,
              stream,
              actor,
              mergeCommit: body.merge_commit,
              commitObject: body.commit_object,
              offline: body.offline === true,
            })
          ).stream;
          break;
        case 'reverted':
          if (!body.revert_commit) {
            throw new GitSwarmError('invalid_input', 'Reporting a revert needs revert_commit.');
          }
          current = (
            await recordRemoteRevert(deps, {
              repo,
              stream,
              actor,
              revertCommit: body.revert_commit,
              reason: body.reason,
            })
          ).stream;
          break;
        case 'in_review':
          current = await submitForReview(deps, { repo, stream, actor });
          break;
        case 'abandoned':
          current = repo.server_git
            ? await abandonHostedStream(deps, app.hosting, { repo, stream, actor, reason: body.reason })
            : await abandonStream(deps, { repo, stream, actor, reason: body.reason });
          break;
        case 'active':
        case 'conflicted':
          current = await changeStreamStatus(deps, {
            repo,
            stream,
            actor,
            status: body.status,
            conflict: body.conflict,
          });
          break;
      }
      if (body.metadata !== undefined) {
        current = await updateStreamMetadata(deps, { repo, stream: current, actor, metadata: body.metadata });
      }
      return { stream: current };
    },
  );

  app.delete(
    '/streams/:id',
    {
      schema: {
        summary: 'Abandon a stream (its author or a maintainer)',
        description:
          'Mode C (server_git): its server worktree goes too (uncommitted changes with it), and streams built on it are replayed onto the buffer.',
        tags: ['streams'],
        params: IdParams,
        body: Closed({ reason: Type.Optional(Type.String({ maxLength: 2000 })) }),
        response: { 200: StreamResponse, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      const reason = request.body?.reason;
      return {
        stream: repo.server_git
          ? await abandonHostedStream(deps, app.hosting, { repo, stream, actor, reason })
          : await abandonStream(deps, { repo, stream, actor, reason }),
      };
    },
  );

  app.post(
    '/streams/:id/commits',
    {
      schema: {
        summary:
          'Commit the stream’s server worktree (Mode C) or record a commit made in the client’s clone (Mode B)',
        description:
          'Mode C (server_git): {message} commits everything in the stream’s server worktree with a Change-Id, ' +
          'as gitswarm commit does (a deferred rebase finishes, dependent streams cascade, and in swarm mode ' +
          'the stream merges into the buffer): 201 {commit, change_id, stream_id, merged, buffer_head?, cascade}. ' +
          'Its author or a maintainer (maintain+); 409 nothing_to_commit, conflict (swarm merge: committed, not ' +
          'merged), worktree_limit, invalid_state. Mode B: {commit, change_id?, message?} records a commit the ' +
          'client made (metadata only; the author only): 201 new, 200 already recorded.',
        tags: ['streams'],
        params: IdParams,
        body: Closed({
          commit: Type.Optional(Sha),
          change_id: Type.Optional(Type.String({ minLength: 41, maxLength: 41, pattern: '^I[0-9a-f]{40}$' })),
          message: Type.Optional(Type.String({ maxLength: 20_000 })),
        }),
        response: {
          201: Type.Union([RecordedCommitResponse, ServerCommitResponse]),
          200: RecordedCommitResponse,
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      const body = request.body;
      if (repo.server_git) {
        if (body.commit !== undefined || body.change_id !== undefined || body.message === undefined) {
          throw new GitSwarmError(
            'invalid_input',
            "The server holds this repository's git (server_git): send {message} and the server commits the stream's worktree.",
            {
              hint: 'Write files first (PUT /api/v1/streams/:id/files/<path>), then POST {"message": "..."}.',
            },
          );
        }
        const result = await commitHostedStream(deps, app.hosting, {
          repo,
          stream,
          agent,
          message: body.message,
        });
        reply.code(201);
        return result;
      }
      if (body.commit === undefined) {
        throw new GitSwarmError(
          'invalid_input',
          'This repository is Mode B (the server holds no git): report the commit you made in your clone with {commit, change_id?, message?}.',
        );
      }
      const result = await recordCommit(deps, {
        repo,
        stream,
        agent,
        commit: body.commit,
        changeId: request.body.change_id,
        message: request.body.message,
      });
      reply.code(result.created ? 201 : 200);
      return result;
    },
  );

  app.get(
    '/streams/:id/commits',
    {
      schema: {
        summary: "A stream's recorded commits, oldest first",
        tags: ['streams'],
        params: IdParams,
        response: { 200: Closed({ commits: Type.Array(CommitView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const { stream } = await loadStream(request, request.params.id);
      return { commits: await listStreamCommits(deps.store.db, stream.id) };
    },
  );

  for (const [path, stat] of [
    ['/streams/:id/diff', true],
    ['/streams/:id/diff/full', false],
  ] as const) {
    app.get(
      path,
      {
        schema: {
          summary: stat
            ? 'Diff summary against the buffer (needs a server clone)'
            : 'Full diff against the buffer',
          description:
            'Only where the server holds a clone of the repository; a Mode B repository has none: 409 invalid_state.',
          tags: ['streams'],
          params: IdParams,
          response: {
            200: Closed({ base: Type.String(), head: Type.String(), diff: Type.String() }),
            ...errorResponses(401, 403, 404, 409),
          },
        },
      },
      async (request) => {
        const { stream, repo } = await loadStream(request, request.params.id);
        if (!repo.path || !existsSync(repo.path)) {
          throw new GitSwarmError(
            'invalid_state',
            'The server holds no clone of this repository (Mode B); diff in your clone.',
            {
              hint: `Run: gitswarm diff ${stream.id}`,
              httpHint: `Diff in your clone: git diff ${repo.buffer_branch}...${stream.branch} (or gitswarm diff ${stream.id} there).`,
            },
          );
        }
        const base = repo.buffer_branch;
        return { base, head: stream.branch, diff: await diffRange(repo.path, base, stream.branch, { stat }) };
      },
    );
  }

  app.post(
    '/streams/:id/submit',
    {
      schema: {
        summary: 'Submit a stream for review (its author)',
        tags: ['reviews'],
        params: IdParams,
        response: { 200: StreamResponse, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      return { stream: await submitForReview(deps, { repo, stream, actor }) };
    },
  );

  app.post(
    '/streams/:id/reviews',
    {
      schema: {
        summary: 'Review a stream as the API key owner (never its author); returns the consensus after it',
        tags: ['reviews'],
        params: IdParams,
        body: Closed({
          verdict: Type.Union([
            Type.Literal('approve'),
            Type.Literal('request_changes'),
            Type.Literal('comment'),
          ]),
          feedback: Type.Optional(Nullable(Type.String({ maxLength: 10_000 }))),
          tested: Type.Optional(Type.Boolean()),
        }),
        response: {
          201: Closed({ review: ReviewView, consensus: ConsensusView, stream: StreamView }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const reviewer = actingAgent(request);
      // The stream itself is read under the repository's lock, with the reviewer's access.
      const repo = await getStreamRepo(deps.store.db, request.params.id);
      const result = await submitReview(deps, {
        repo,
        stream: { id: request.params.id },
        reviewer,
        verdict: request.body.verdict,
        feedback: request.body.feedback,
        tested: request.body.tested,
      });
      reply.code(201);
      return result;
    },
  );

  app.get(
    '/streams/:id/reviews',
    {
      schema: {
        summary:
          "A stream's reviews, oldest verdict first, a page at a time (?limit, ?cursor), each marked stale when given on code that has changed since",
        tags: ['reviews'],
        params: IdParams,
        querystring: Closed(PageQuery),
        response: {
          200: Closed({
            reviews: Type.Array(ReviewView),
            head_commit: Nullable(Type.String()),
            stale: Type.Number({ description: 'How many reviews of this page are stale' }),
            stale_reviews: Type.String(),
            next_cursor: NextCursor,
          }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const { stream, repo } = await loadStream(request, request.params.id);
      const { limit, cursor } = request.query;
      return listReviewsWithStaleness(deps, deps.store.db, repo, stream, { limit, cursor });
    },
  );

  app.get(
    '/streams/:id/consensus',
    {
      schema: {
        summary: 'Consensus status of a stream, with the numbers behind it',
        tags: ['reviews'],
        params: IdParams,
        response: {
          200: Closed({ stream_id: Type.String(), consensus: ConsensusView }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { stream, repo } = await loadStream(request, request.params.id);
      return { stream_id: stream.id, consensus: await evaluateConsensus(deps, deps.store.db, repo, stream) };
    },
  );

  app.post(
    '/streams/:id/merge',
    {
      schema: {
        summary: 'Merge a stream into the buffer (Mode C) or ask whether it may merge (Mode B)',
        description:
          'Mode C (server_git): the same checks as gitswarm merge (state, permission per merge mode, consensus, ' +
          'dependencies), then the server merges (no-ff, worktree-free): {merged: true, merge_commit, buffer_head, ' +
          'stream_id}; 409 no_consensus | conflict (details.paths; the stream is marked conflicted) | ' +
          'dependency_unmerged | empty_stream | invalid_state, or 403 forbidden. Mode B: runs the merge checks (live stream, permission by merge mode, parent merged, commits recorded, ' +
          'consensus outside swarm mode). Approved: {approved: true, buffer_branch, buffer_head, head_commit}; ' +
          'the client merges head_commit onto buffer_head (git merge --no-ff), pushes, and reports it with ' +
          'PATCH /streams/:id {status: "merged", merge_commit, commit_object}. Refused: 409 ' +
          'no_consensus | dependency_unmerged | empty_stream | invalid_state, or 403.',
        tags: ['streams'],
        params: IdParams,
        body: Closed({}),
        response: {
          200: Type.Union([ServerMergeResponse, MergeApprovalResponse]),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      if (repo.server_git) {
        const merged = await mergeHostedStream(deps, app.hosting, { repo, stream, actor });
        return {
          merged: true as const,
          merge_commit: merged.merge_commit,
          buffer_head: merged.buffer_head,
          stream_id: stream.id,
        };
      }
      return approveMerge(deps, { repo, stream, actor });
    },
  );
  const RevertedMergeView = Closed({ merge_commit: Type.String(), revert_commit: Type.String() });

  app.post(
    '/streams/:id/reopen/decision',
    {
      schema: {
        summary: 'Ask to reopen a reverted stream (Mode B, before the clone does the git)',
        description:
          'The checks of workspace reopen (write access, the stream’s author, a reverted stream with a ' +
          'reverted merge); nothing recorded. Answers the merges to re-apply, newest revert first: the ' +
          'client writes a revert of each revert commit on the buffer head in that order, pushes the new ' +
          'branch and reports it with POST /streams/:id/reopen.',
        tags: ['streams'],
        params: IdParams,
        body: Closed({}),
        response: {
          200: Closed({
            stream_id: Type.String(),
            buffer_branch: Type.String(),
            reverted: Type.Array(RevertedMergeView),
            name: Type.String({ description: 'The name the new stream gets (unless taken meanwhile)' }),
            task_id: Nullable(Type.String()),
            task_number: Nullable(Type.Number()),
          }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const agent = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      return decideReopen(deps, { repo, agent, stream });
    },
  );

  app.post(
    '/streams/:id/reopen',
    {
      schema: {
        summary: 'Record the reopen of a reverted stream a client made (Mode B)',
        description:
          'The new stream (the client’s id, its branch pushed) starts at base_commit (the buffer head) with ' +
          'the reverted change re-applied: reapplied names, newest revert first, each reverted merge, its ' +
          'revert and the commit that undoes it. The checks of reopen run again; the re-applied merges must ' +
          'be exactly the stream’s reverted ones (409 commit_mismatch). The new stream is marked ' +
          'reopened_from, its commits recorded, and linked to the critical task of the red. Retrying with ' +
          'the same id returns the recorded stream with 200.',
        tags: ['streams'],
        params: IdParams,
        body: Closed({
          id: Type.String({ minLength: 1, maxLength: 36, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
          branch: Type.Optional(
            Type.String({ minLength: 1, maxLength: 200, description: 'Default stream/<id>' }),
          ),
          base_commit: Sha,
          reapplied: Type.Array(Closed({ merge_commit: Sha, revert_commit: Sha, commit: Sha }), {
            minItems: 1,
            maxItems: 1000,
          }),
        }),
        response: {
          201: Closed({
            stream: StreamView,
            reopened_from: StreamView,
            task_id: Nullable(Type.String()),
            task_number: Nullable(Type.Number()),
            created: Type.Boolean(),
          }),
          200: Closed({
            stream: StreamView,
            reopened_from: StreamView,
            task_id: Nullable(Type.String()),
            task_number: Nullable(Type.Number()),
            created: Type.Boolean(),
          }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const { stream, repo } = await loadStreamForWrite(request.params.id);
      const body = request.body;
      const result = await recordReopenedStream(deps, {
        repo,
        agent,
        stream,
        id: body.id,
        ...(body.branch !== undefined ? { branch: body.branch } : {}),
        baseCommit: body.base_commit,
        reapplied: body.reapplied,
      });
      reply.code(result.created ? 201 : 200);
      return result;
    },
  );
}
