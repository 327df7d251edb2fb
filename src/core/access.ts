/**
 * Who may do what in a repository. Access resolves, first match wins: an unexpired explicit grant,
 * then the maintainer role (owner = admin, maintainer = maintain), then the repository's access
 * mode (public: write; karma_threshold: write at or above min_karma, else read; allowlist: read;
 * a private repository gives no access without a grant or role).
 */
import { GitSwarmError } from '../errors.js';
import type { AccessLevel, Agent, Executor, Repo } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';
import { recordActivity } from './activity.js';
import type { CoreDeps } from './deps.js';

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

export async function resolveAccess(
  deps: CoreDeps,
  db: Executor,
  repo: Repo,
  agent: Agent,
): Promise<ResolvedAccess> {
  const now = isoNow(deps.clock);
  // One round trip for both: an unexpired explicit grant, then the maintainer role.
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .selectFrom('gitswarm_repo_access')
        .select('access_level')
        .where('repo_id', '=', repo.id)
        .where('agent_id', '=', agent.id)
        .where((w) => w.or([w('expires_at', 'is', null), w('expires_at', '>', now)]))
        .as('grant_level'),
      eb
        .selectFrom('gitswarm_maintainers')
        .select('role')
        .where('repo_id', '=', repo.id)
        .where('agent_id', '=', agent.id)
        .as('maintainer_role'),
    ])
    .executeTakeFirstOrThrow();
  if (row.grant_level) return { level: row.grant_level, source: 'grant' };
  if (row.maintainer_role) {
    return row.maintainer_role === 'owner'
      ? { level: 'admin', source: 'owner' }
      : { level: 'maintain', source: 'maintainer' };
  }
  if (repo.is_private) return { level: 'none', source: 'repo_mode' };
  switch (repo.agent_access) {
    case 'public':
      return { level: 'write', source: 'repo_mode' };
    case 'karma_threshold':
      return { level: agent.karma >= repo.min_karma ? 'write' : 'read', source: 'repo_mode' };
    case 'allowlist':
      return { level: 'read', source: 'repo_mode' };
  }
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
  const needed = ACTION_LEVELS[action];
  // Only someone who may read the repository learns that it is archived.
  if (repo.status === 'archived' && needed !== 'read' && accessRank(access.level) >= accessRank('read')) {
    throw new GitSwarmError(
      'invalid_state',
      `Repository ${repo.name} is archived; it takes no more changes.`,
      {
        details: { repo_id: repo.id, status: repo.status, action },
      },
    );
  }
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
  return access;
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
