/**
 * Who may do what in a repository. Access resolves, first match wins: an unexpired explicit grant,
 * then the maintainer role (owner = admin, maintainer = maintain), then the repository's access
 * mode (public: write; karma_threshold: write when the agent's karma in this repository is at or
 * above min_karma, else read; allowlist: read; a private repository gives no access without a
 * grant or role). Karma earned in other repositories does not count (karma.ts).
 */

import { expressionBuilder } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import {
  type AccessLevel,
  type Agent,
  type Database,
  type Executor,
  queryTemplate,
  type Repo,
  type Stream,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';

export const ACCESS_LEVELS: readonly AccessLevel[] = ['none', 'read', 'write', 'maintain', 'admin'];

/** The access level each kind of action needs. */
export const ACTION_LEVELS = { read: 'read', write: 'write', merge: 'maintain', settings: 'admin' } as const;
export type Action = keyof typeof ACTION_LEVELS;

export function accessRank(level: AccessLevel): number {
  return ACCESS_LEVELS.indexOf(level);
}

export function isAccessLevel(value: string): value is Exclude<AccessLevel, 'none'> {
  return value !== 'none' && (ACCESS_LEVELS as readonly string[]).includes(value);
}

export interface ResolvedAccess {
  level: AccessLevel;
  source: 'grant' | 'owner' | 'maintainer' | 'repo_mode';
}

/**
 * The facts access rests on besides the repository: an unexpired grant, the maintainer role, the
 * agent's karma in the repository (null before its first change there).
 */
export interface AccessFacts {
  grant_level: Exclude<AccessLevel, 'none'> | null;
  maintainer_role: 'owner' | 'maintainer' | null;
  repo_karma: number | null;
}

/** Scalar subqueries for AccessFacts, to put in any select (one round trip for all of it). */
function accessFactColumns(repoId: string, agentId: string, now: string) {
  const eb = expressionBuilder<Database, never>();
  return [
    eb
      .selectFrom('gitswarm_repo_access')
      .select('access_level')
      .where('repo_id', '=', repoId)
      .where('agent_id', '=', agentId)
      .where((w) => w.or([w('expires_at', 'is', null), w('expires_at', '>', now)]))
      .as('grant_level'),
    eb
      .selectFrom('gitswarm_maintainers')
      .select('role')
      .where('repo_id', '=', repoId)
      .where('agent_id', '=', agentId)
      .as('maintainer_role'),
    eb
      .selectFrom('gitswarm_repo_karma')
      .select('karma')
      .where('repo_id', '=', repoId)
      .where('agent_id', '=', agentId)
      .as('repo_karma'),
  ] as const;
}

/** First match wins: the grant, the maintainer role, then the repository's mode. */
function decideAccess(repo: Repo, facts: AccessFacts): ResolvedAccess {
  if (facts.grant_level) return { level: facts.grant_level, source: 'grant' };
  if (facts.maintainer_role) {
    return facts.maintainer_role === 'owner'
      ? { level: 'admin', source: 'owner' }
      : { level: 'maintain', source: 'maintainer' };
  }
  if (repo.is_private) return { level: 'none', source: 'repo_mode' };
  switch (repo.agent_access) {
    case 'public':
      return { level: 'write', source: 'repo_mode' };
    case 'karma_threshold':
      return { level: (facts.repo_karma ?? 0) >= repo.min_karma ? 'write' : 'read', source: 'repo_mode' };
    case 'allowlist':
      return { level: 'read', source: 'repo_mode' };
  }
}

export async function resolveAccess(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  agent: Agent,
): Promise<ResolvedAccess> {
  const now = isoNow(deps.clock);
  const facts = await db.selectNoFrom(accessFactColumns(repo.id, agent.id, now)).executeTakeFirstOrThrow();
  return decideAccess(repo, facts);
}

/** The repository's row and the agent's access facts, compiled once per store. */
const repoAccess = queryTemplate(['repoId', 'agentId', 'now'], (db, { repoId, agentId, now }) =>
  db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .select(accessFactColumns(repoId, agentId, now))
    .where('id', '=', repoId),
);

/**
 * The repository, after checking that the agent may perform the action there: the row and the
 * facts its access rests on in one query (routes that act on a repository start with this).
 */
export async function getRepoForAction(
  deps: CoreDeps,
  db: Executor,
  repoId: string,
  agent: Agent,
  action: Action,
): Promise<{ repo: Repo; access: ResolvedAccess }> {
  const [row] = await repoAccess(db, repoAccessArgs(deps, repoId, agent));
  return decideRepoAction(repoId, agent, action, row);
}

/** The query getRepoForAction runs: the repository's row and the agent's access facts (batch.ts). */
export function repoAccessQuery(deps: CoreDeps, db: Executor, repoId: string, agent: Agent) {
  return repoAccess.bind(db, repoAccessArgs(deps, repoId, agent));
}

function repoAccessArgs(deps: CoreDeps, repoId: string, agent: Agent) {
  return { repoId, agentId: agent.id, now: isoNow(deps.clock) };
}

type RepoAccessRow = Repo & AccessFacts;

/** getRepoForAction's answer from repoAccessQuery's row (undefined: no such repository). */
export function decideRepoAction(
  repoId: string,
  agent: Agent,
  action: Action,
  row: RepoAccessRow | undefined,
): { repo: Repo; access: ResolvedAccess } {
  if (!row) throw new GitSwarmError('repo_not_found', `No repository with id ${repoId}`);
  const { grant_level, maintainer_role, repo_karma, ...repo } = row;
  const access = decideAccess(repo, { grant_level, maintainer_role, repo_karma });
  assertAllowed(repo, agent, access, action);
  return { repo, access };
}

/**
 * The stream read afresh and the agent's access to its repository checked, in one query: for
 * steps that re-read the stream under the repository's lock (every round trip there is held
 * against everyone else's writes to the repository).
 */
export async function getStreamForAction(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  streamId: string,
  agent: Agent,
  action: Action,
): Promise<{ stream: Stream; access: ResolvedAccess }> {
  const [row] = await streamAccess(db, streamAccessArgs(deps, repo, streamId, agent));
  return decideStreamAction(repo, streamId, agent, action, row);
}

/** The stream's row and the agent's access facts in its repository, compiled once per store. */
const streamAccess = queryTemplate(
  ['streamId', 'repoId', 'agentId', 'now'],
  (db, { streamId, repoId, agentId, now }) =>
    db
      .selectFrom('gitswarm_streams')
      .selectAll()
      .select(accessFactColumns(repoId, agentId, now))
      .where('id', '=', streamId),
);

/** The query getStreamForAction runs: the stream's row and the agent's access facts (batch.ts). */
export function streamAccessQuery(deps: CoreDeps, db: Executor, repo: Repo, streamId: string, agent: Agent) {
  return streamAccess.bind(db, streamAccessArgs(deps, repo, streamId, agent));
}

function streamAccessArgs(deps: CoreDeps, repo: Repo, streamId: string, agent: Agent) {
  return { streamId, repoId: repo.id, agentId: agent.id, now: isoNow(deps.clock) };
}

/**
 * getStreamForAction's answer from streamAccessQuery's row (undefined: no such stream), with the
 * facts it rests on (the agent's maintainer role and karma in the repository).
 */
export function decideStreamAction(
  repo: Repo,
  streamId: string,
  agent: Agent,
  action: Action,
  row: (Stream & AccessFacts) | undefined,
): { stream: Stream; access: ResolvedAccess; facts: AccessFacts } {
  if (!row) throw new GitSwarmError('stream_not_found', `No stream ${streamId}`);
  const { grant_level, maintainer_role, repo_karma, ...stream } = row;
  const facts = { grant_level, maintainer_role, repo_karma };
  const access = decideAccess(repo, facts);
  assertAllowed(repo, agent, access, action);
  return { stream, access, facts };
}

/**
 * Throws `forbidden` unless the agent may perform the action, and `invalid_state` for any action
 * above read on an archived repository; returns the resolved access.
 */
export async function requireAction(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  agent: Agent,
  action: Action,
): Promise<ResolvedAccess> {
  const access = await resolveAccess(deps, db, repo, agent);
  assertAllowed(repo, agent, access, action);
  return access;
}

/** The id of the stream's conflict task, when a maintainer filed one (stream metadata `conflict_task_id`). */
export function conflictTaskId(stream: Pick<Stream, 'metadata'>): string | null {
  const id = stream.metadata.conflict_task_id;
  return typeof id === 'string' ? id : null;
}

/**
 * Throws unless the agent may change a stream's work (its files, updates and commits in Mode C):
 * the stream's author with write access, any agent with maintain access or more, or the agent
 * holding the active claim on the stream's conflict task (docs/mode-c-conflicts.md) with write
 * access. `forbidden` otherwise, and `invalid_state` on an archived repository (as for any write).
 */
export async function requireStreamWrite(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  stream: Pick<Stream, 'id' | 'agent_id' | 'metadata'>,
  agent: Agent,
): Promise<ResolvedAccess> {
  const access = await resolveAccess(deps, db, repo, agent);
  if (stream.agent_id === agent.id) {
    assertAllowed(repo, agent, access, 'write');
    return access;
  }
  if (accessRank(access.level) >= accessRank('read')) assertNotArchived(repo, 'write');
  if (accessRank(access.level) >= accessRank(ACTION_LEVELS.merge)) return access;
  const taskId = conflictTaskId(stream);
  if (taskId !== null && accessRank(access.level) >= accessRank('write')) {
    const claim = await db
      .selectFrom('gitswarm_task_claims as c')
      .innerJoin('gitswarm_tasks as t', 't.id', 'c.task_id')
      .select('c.id')
      .where('c.task_id', '=', taskId)
      .where('c.agent_id', '=', agent.id)
      .where('c.status', '=', 'active')
      .where('t.status', '=', 'claimed')
      .where('t.repo_id', '=', repo.id)
      .executeTakeFirst();
    if (claim) return access;
  }
  throw new GitSwarmError(
    'forbidden',
    `Only the stream's author, an agent with maintain access${taskId !== null ? ' or the claimant of its conflict task' : ''} changes stream ${stream.id}; ${agent.name} has ${access.level} access.`,
    {
      hint:
        taskId !== null
          ? `Claim its conflict task first: POST /api/v1/tasks/${taskId}/claim`
          : 'Work in a stream of your own (POST /api/v1/repos/:id/streams), or ask its author.',
      details: {
        required: 'maintain',
        actual: access.level,
        stream_id: stream.id,
        ...(taskId !== null ? { conflict_task_id: taskId } : {}),
      },
    },
  );
}

/**
 * Throws `invalid_state` when the repository is archived: it takes no more changes, whoever acts
 * (an agent, or the council executing a proposal).
 */
export function assertNotArchived(repo: Repo, action: string): void {
  if (repo.status !== 'archived') return;
  throw new GitSwarmError('invalid_state', `Repository ${repo.name} is archived; it takes no more changes.`, {
    details: { repo_id: repo.id, status: repo.status, action },
  });
}

/** Throws unless `access` suffices for the action (see requireAction). */
function assertAllowed(repo: Repo, agent: Agent, access: ResolvedAccess, action: Action): void {
  const needed = ACTION_LEVELS[action];
  // Only someone who may read the repository learns that it is archived.
  if (needed !== 'read' && accessRank(access.level) >= accessRank('read')) assertNotArchived(repo, action);
  if (accessRank(access.level) < accessRank(needed)) {
    throw new GitSwarmError(
      'forbidden',
      `Agent ${agent.name} has ${access.level} access; this needs ${needed}.`,
      {
        hint: `An admin can grant it: gitswarm access grant ${agent.name} ${needed} --as <admin>`,
        details: { required: needed, actual: access.level },
      },
    );
  }
}

export interface GrantAccessInput {
  repo: Repo;
  actor: Agent;
  agent: Agent;
  level: Exclude<AccessLevel, 'none'>;
  expiresAt?: string;
}

export async function grantAccess(deps: CoreDeps, db: Executor, input: GrantAccessInput): Promise<void> {
  await requireAction(deps, db, input.repo, input.actor, 'settings');
  const now = isoNow(deps.clock);
  await db
    .insertInto('gitswarm_repo_access')
    .values({
      id: newId(),
      repo_id: input.repo.id,
      agent_id: input.agent.id,
      access_level: input.level,
      granted_by: input.actor.id,
      expires_at: input.expiresAt ?? null,
      created_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['repo_id', 'agent_id']).doUpdateSet({
        access_level: input.level,
        granted_by: input.actor.id,
        expires_at: input.expiresAt ?? null,
      }),
    )
    .execute();
  await recordActivity(deps, db, {
    event: 'access.granted',
    repoId: input.repo.id,
    agentId: input.actor.id,
    targetType: 'agent',
    targetId: input.agent.id,
    metadata: { agent: input.agent.name, level: input.level },
  });
}

export async function revokeAccess(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; actor: Agent; agent: Agent },
): Promise<void> {
  await requireAction(deps, db, input.repo, input.actor, 'settings');
  const result = await db
    .deleteFrom('gitswarm_repo_access')
    .where('repo_id', '=', input.repo.id)
    .where('agent_id', '=', input.agent.id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) {
    throw new GitSwarmError('not_found', `Agent ${input.agent.name} has no explicit access grant.`, {
      hint: 'List grants with: gitswarm access list',
    });
  }
  await recordActivity(deps, db, {
    event: 'access.revoked',
    repoId: input.repo.id,
    agentId: input.actor.id,
    targetType: 'agent',
    targetId: input.agent.id,
    metadata: { agent: input.agent.name },
  });
}

export async function listAccessGrants(db: Executor, repoId: string) {
  return db
    .selectFrom('gitswarm_repo_access as g')
    .innerJoin('gitswarm_agents as a', 'a.id', 'g.agent_id')
    .select([
      'g.agent_id',
      'a.name as agent_name',
      'g.access_level',
      'g.granted_by',
      'g.expires_at',
      'g.created_at',
    ])
    .where('g.repo_id', '=', repoId)
    .orderBy('g.created_at')
    .execute();
}
