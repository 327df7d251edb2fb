/**
 * A new stream's record, alike for a stream made here with its worktree (workspaces.ts) and one a
 * client made in its own clone (remote-sync.ts): the checks on its name and parent, the row, the
 * link to a claimed task, and the `stream.created` event.
 */
import { sql } from 'kysely';
import { assertValidBranch } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, type Repo, type Stream, toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { linkClaimToStream } from '../tasks/tasks.js';
import { getStream, isLiveStream, LIVE_STREAM_STATUSES } from './streams.js';

/** Throws already_exists when a live stream of the repository has the name. */
export async function assertStreamNameFree(
  db: Executor,
  repoId: string,
  name: string,
  hint = 'Choose another name.',
): Promise<void> {
  const taken = await db
    .selectFrom('gitswarm_streams')
    .select('id')
    .where('repo_id', '=', repoId)
    .where('name', '=', name)
    .where('status', 'in', LIVE_STREAM_STATUSES)
    .executeTakeFirst();
  if (taken) {
    throw new GitSwarmError('already_exists', `A stream named ${name} is already in progress.`, {
      hint,
      details: { stream_id: taken.id },
    });
  }
}

/** Names git resolves specially: a stream branch called so would shadow or confuse them. */
const SPECIAL_REFS = new Set([
  'HEAD',
  'FETCH_HEAD',
  'ORIG_HEAD',
  'MERGE_HEAD',
  'CHERRY_PICK_HEAD',
  'REVERT_HEAD',
  'BISECT_HEAD',
  'AUTO_MERGE',
]);
/** First path segments git's ref lookup reads as a ref namespace (`heads/main` finds main). */
const REF_NAMESPACES = new Set(['refs', 'heads', 'tags', 'remotes']);

/** Whether two branch names collide: equal, or one a directory of the other (git cannot hold both). */
function branchesCollide(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
}

/**
 * Throws unless a new stream of the repository may take the branch: a valid name that is not a
 * full ref, a ref namespace or one of git's special names (HEAD…), does not collide with the
 * buffer or the promote target, and no live stream's branch collides with it. Compared without
 * case, since clients on case-insensitive file systems cannot tell `Main` from `main`.
 */
export async function assertStreamBranchFree(db: Executor, repo: Repo, branch: string): Promise<void> {
  assertValidBranch(branch);
  const segments = branch.split('/');
  if (SPECIAL_REFS.has(branch.toUpperCase()) || REF_NAMESPACES.has((segments[0] ?? '').toLowerCase())) {
    throw new GitSwarmError('invalid_name', `The branch name ${JSON.stringify(branch)} is reserved.`, {
      hint: 'Give the short branch name, not a full ref or a special name such as HEAD; the default is stream/<id>.',
    });
  }
  for (const [what, reserved] of [
    ['buffer branch', repo.buffer_branch],
    ['promote target', repo.promote_target],
  ] as const) {
    if (branchesCollide(branch, reserved)) {
      throw new GitSwarmError(
        'invalid_name',
        `The branch ${JSON.stringify(branch)} collides with the repository's ${what} ${reserved}.`,
        { hint: 'A stream works on its own branch; the default is stream/<id>.' },
      );
    }
  }
  // The live branches equal to this one, above it (its directories) or below it.
  const lowered = branch.toLowerCase();
  const above = segments.slice(0, -1).map((_, i) =>
    segments
      .slice(0, i + 1)
      .join('/')
      .toLowerCase(),
  );
  const taken = await db
    .selectFrom('gitswarm_streams')
    .select(['id', 'branch'])
    .where('repo_id', '=', repo.id)
    .where('status', 'in', LIVE_STREAM_STATUSES)
    .where((w) =>
      w.or([
        w(sql`lower(branch)`, 'in', [lowered, ...above]),
        w(sql`substr(lower(branch), 1, ${lowered.length + 1})`, '=', `${lowered}/`),
      ]),
    )
    .executeTakeFirst();
  if (taken) {
    throw new GitSwarmError(
      'already_exists',
      `The branch ${JSON.stringify(branch)} collides with the branch ${taken.branch} of a live stream.`,
      {
        hint: 'Give the stream its own branch; the default is stream/<id>.',
        details: { stream_id: taken.id },
      },
    );
  }
}

/** The stream a new one depends on; it must be live (a merged or abandoned one is no base). */
export async function getLiveParent(
  db: Executor,
  repoId: string,
  ref: string,
  hint = 'build on the buffer instead',
): Promise<Stream> {
  const parent = await getStream(db, repoId, ref);
  if (!isLiveStream(parent)) {
    throw new GitSwarmError('invalid_state', `Stream ${parent.name} is ${parent.status}; ${hint}.`, {
      details: { parent_stream_id: parent.id, status: parent.status },
    });
  }
  return parent;
}

/**
 * The stream a new one starts from (`workspace create --from-stream`): the new stream's branch
 * begins at its head, so its commits carry over (to continue another agent's or an abandoned
 * stream's work), while the new stream builds on the buffer and waits for nothing (unlike
 * `--depends-on`). A merged or reverted stream's commits are on the buffer already: refused.
 */
export async function getFromStream(
  db: Executor,
  repoId: string,
  ref: string,
  dependsOn: string | undefined,
): Promise<Stream> {
  if (dependsOn !== undefined) {
    throw new GitSwarmError(
      'invalid_input',
      'A stream starts from another stream or depends on one, not both.',
      {
        hint: 'Leave out --depends-on (or --from-stream).',
      },
    );
  }
  const source = await getStream(db, repoId, ref);
  if (source.status === 'merged' || source.status === 'reverted') {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${source.name} is ${source.status}; its commits are on the buffer already.`,
      {
        hint:
          source.status === 'reverted'
            ? 'Its author goes on with it: gitswarm workspace reopen'
            : 'Build on the buffer instead (leave out --from-stream).',
        details: { from_stream_id: source.id, status: source.status },
      },
    );
  }
  return source;
}

export interface NewStreamRecord {
  repo: Repo;
  agent: Agent;
  id: string;
  name: string;
  branch: string;
  source?: Stream['source'];
  parent: Stream | null;
  baseBranch: string;
  baseCommit: string | null;
  /** Link the agent's claim on this task (id or number) to the stream, claiming it if need be. */
  taskRef?: string;
  /** Added to the `stream.created` event. */
  eventMetadata?: Record<string, unknown>;
  /** The stream this one starts from (`--from-stream`): kept as `metadata.from_stream`. */
  fromStream?: Stream | null;
}

/** Inserts the stream in the caller's transaction, links its task, records `stream.created`. */
export async function insertStreamRecord(
  deps: CoreDeps,
  trx: Executor,
  input: NewStreamRecord,
): Promise<Stream> {
  const { repo, agent, id } = input;
  await assertStreamBranchFree(trx, repo, input.branch);
  const now = isoNow(deps.clock);
  let stream = await trx
    .insertInto('gitswarm_streams')
    .values({
      id,
      repo_id: repo.id,
      agent_id: agent.id,
      name: input.name,
      branch: input.branch,
      source: input.source ?? 'cli',
      status: 'active',
      parent_stream_id: input.parent?.id ?? null,
      base_branch: input.baseBranch,
      base_commit: input.baseCommit,
      metadata: toJson(input.fromStream ? { from_stream: input.fromStream.id } : {}),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (input.taskRef !== undefined) {
    const claim = await linkClaimToStream(deps, trx, { repo, taskRef: input.taskRef, agent, streamId: id });
    stream = await trx
      .updateTable('gitswarm_streams')
      .set({ task_id: claim.task_id })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  await recordActivity(deps, trx, {
    event: 'stream.created',
    repoId: repo.id,
    agentId: agent.id,
    targetType: 'stream',
    targetId: id,
    metadata: {
      name: input.name,
      branch: input.branch,
      base_branch: input.baseBranch,
      base_commit: input.baseCommit,
      parent_stream_id: input.parent?.id ?? null,
      task_id: stream.task_id,
      ...(input.fromStream ? { from_stream: input.fromStream.id } : {}),
      ...input.eventMetadata,
    },
  });
  return stream;
}
