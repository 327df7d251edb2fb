/**
 * Conflicts an HTTP agent can resolve (Mode C, repositories with `server_git`; docs/mode-c-conflicts.md):
 * - `GET /streams/:id/conflicts`: the conflict as data, base/ours/theirs of each path (read access);
 * - `POST /streams/:id/update`: the stream's base merged into its server worktree, committed when
 *   clean, conflict markers left in the files otherwise (the stream's writers);
 * - `POST /streams/:id/conflicts/task`: a maintainer turns the unresolved conflict into a task whose
 *   claimant may then write the stream's files and commit.
 * The rules are the core's: stream-conflicts.ts and access.ts (requireStreamWrite).
 */
import Type from 'typebox';
import type { CoreDeps } from '../../core/deps.js';
import { requireStreamWrite } from '../../core/governance/access.js';
import { getRepo } from '../../core/repos/repos.js';
import {
  fileConflictTask,
  readStreamConflicts,
  updateStreamFromBase,
} from '../../core/streams/stream-conflicts.js';
import { getStreamById } from '../../core/streams/streams.js';
import { assertServerGit } from '../../hosting/hosted-streams.js';
import { streamWorktree } from '../../hosting/stream-worktrees.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import { Closed, errorResponses, IdParams, Nullable, Timestamp } from '../schemas.js';
import type { App } from '../types.js';
import { StreamView } from './streams.js';
import { TaskView } from './tasks.js';

const Side = Type.Union([Type.Literal('base'), Type.Literal('ours'), Type.Literal('theirs')]);
const PerSide = <T extends Type.TSchema>(schema: T) =>
  Closed({ base: Nullable(schema), ours: Nullable(schema), theirs: Nullable(schema) });

const ConflictFileView = Closed({
  path: Type.String(),
  encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')], {
    description: 'utf8 when every side present is valid UTF-8; else every side is base64',
  }),
  base: Nullable(Type.String({ description: 'The merge base’s content; null when it lacks the file' })),
  ours: Nullable(Type.String({ description: 'The stream’s content; null when it lacks (deleted) the file' })),
  theirs: Nullable(
    Type.String({
      description: 'The content of what the stream merges with (buffer or parent); null when absent',
    }),
  ),
  modes: PerSide(Type.String()),
  sizes: PerSide(Type.Integer()),
  omitted: Type.Array(Side, {
    description: 'Sides present in git but left out (null above) for size (1 MiB a side, 8 MiB a response)',
  }),
});

const ConflictsResponse = Closed({
  stream_id: Type.String(),
  status: Type.String(),
  head: Type.String({ description: 'The stream’s head: the `ours` side' }),
  onto: Type.String({ description: 'The head the stream merges with: the `theirs` side' }),
  onto_branch: Type.String({ description: 'The buffer, or the live parent stream’s branch' }),
  recorded: Nullable(
    Closed({
      operation: Type.String(),
      onto: Type.String(),
      paths: Type.Array(Type.String()),
      detected_at: Timestamp,
    }),
  ),
  paths: Type.Array(ConflictFileView),
});

const UpdateResponse = Closed({
  stream_id: Type.String(),
  outcome: Type.Union([
    Type.Literal('up_to_date'),
    Type.Literal('fast_forward'),
    Type.Literal('merged'),
    Type.Literal('conflicted'),
  ]),
  status: Type.String(),
  head: Type.String(),
  onto: Type.String(),
  onto_branch: Type.String(),
  commit: Type.Optional(Type.String({ description: 'The merge commit (outcome merged)' })),
  change_id: Type.Optional(Type.String()),
  paths: Type.Optional(
    Type.Array(Type.String(), {
      description: 'Conflicted paths (outcome conflicted): their files hold markers',
    }),
  ),
});

const ConflictTaskBody = Closed({
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  description: Type.Optional(Type.String({ maxLength: 20_000 })),
  priority: Type.Optional(
    Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')]),
  ),
  amount: Type.Optional(Type.Integer({ minimum: 0, description: 'Bounty in budget credits' })),
  assignee: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'The agent asked to resolve it (id or name)' }),
  ),
});

export async function conflictRoutes(app: App): Promise<void> {
  const deps: CoreDeps = app.deps;

  app.get(
    '/streams/:id/conflicts',
    {
      schema: {
        summary: 'A stream’s conflicts as data: base, ours and theirs of each conflicted path',
        description:
          'Computed now between the stream’s head (ours) and its base’s head (theirs: the buffer, or the live ' +
          'parent stream). Empty paths when they merge cleanly. Read access; server_git repositories only.',
        tags: ['streams'],
        params: IdParams,
        response: { 200: ConflictsResponse, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const stream = await getStreamById(deps.store.db, request.params.id);
      const repo = await readableRepo(deps, request, stream.repo_id);
      assertServerGit(repo);
      return readStreamConflicts(deps, { repo, stream });
    },
  );

  app.post(
    '/streams/:id/update',
    {
      schema: {
        summary: 'Bring the stream’s base (buffer or parent) into its server worktree',
        description:
          'A clean merge is committed at once (with a Change-Id): outcome merged (or fast_forward, up_to_date). ' +
          'A conflicted one leaves conflict markers in the files and the stream conflicted: outcome conflicted ' +
          'with paths. Write the resolved files and POST /streams/:id/commits to clear it. The stream’s author, ' +
          'a maintainer, or the claimant of its conflict task; 409 worktree_dirty with uncommitted changes.',
        tags: ['streams'],
        params: IdParams,
        body: Type.Optional(Closed({})),
        response: { 200: UpdateResponse, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const found = await getStreamById(deps.store.db, request.params.id);
      const repo = await getRepo(deps.store.db, found.repo_id);
      assertServerGit(repo);
      // Refuse before a worktree is made for someone who may not use it.
      await requireStreamWrite(deps, deps.store.db, repo, found, actor);
      const worktree = await streamWorktree(deps, app.hosting, repo, found);
      return updateStreamFromBase(deps, { repo, stream: found, actor, worktree });
    },
  );

  app.post(
    '/streams/:id/conflicts/task',
    {
      schema: {
        summary: 'Turn the stream’s unresolved conflict into a task for another agent (maintain+)',
        description:
          'The task names the stream and its conflicted paths, and the stream records it ' +
          '(metadata.conflict_task_id). While an agent holds the task’s active claim it may update the ' +
          'stream, write its files and commit, as the author may. 409 invalid_state when the stream is not ' +
          'conflicted or already has a live conflict task.',
        tags: ['streams', 'tasks'],
        params: IdParams,
        body: Type.Optional(ConflictTaskBody),
        response: {
          201: Closed({ task: TaskView, stream: StreamView }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const stream = await getStreamById(deps.store.db, request.params.id);
      const repo = await getRepo(deps.store.db, stream.repo_id);
      assertServerGit(repo);
      const body = request.body ?? {};
      const result = await fileConflictTask(deps, {
        repo,
        stream,
        actor,
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.priority !== undefined ? { priority: body.priority } : {}),
        ...(body.amount !== undefined ? { amount: body.amount } : {}),
        ...(body.assignee !== undefined ? { assignee: body.assignee } : {}),
      });
      reply.code(201);
      return result;
    },
  );
}
