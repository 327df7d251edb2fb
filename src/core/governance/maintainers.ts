import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor, Repo } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from './access.js';

export interface MaintainerChange {
  repo: Repo;
  /** Who asks; null when a passed council proposal executes it. */
  actor: Agent | null;
  agent: Agent;
}

function findMaintainerRow(db: Executor, repoId: string, agentId: string) {
  return db
    .selectFrom('gitswarm_maintainers')
    .select('role')
    .where('repo_id', '=', repoId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
}

function recordChange(
  deps: CoreDeps,
  db: Executor,
  event: 'maintainer.added' | 'maintainer.removed',
  input: MaintainerChange,
): Promise<unknown> {
  return recordActivity(deps, db, {
    event,
    repoId: input.repo.id,
    agentId: input.actor?.id ?? null,
    targetType: 'agent',
    targetId: input.agent.id,
    metadata: { agent: input.agent.name },
  });
}

/** Adds a maintainer (admin+, or a council decision). */
export async function addMaintainer(deps: CoreDeps, db: Executor, input: MaintainerChange): Promise<void> {
  if (input.actor) await requireAction(deps, db, input.repo, input.actor, 'settings');
  const existing = await findMaintainerRow(db, input.repo.id, input.agent.id);
  if (existing) {
    throw new GitSwarmError(
      'already_exists',
      `Agent ${input.agent.name} is already ${existing.role} of this repository.`,
    );
  }
  await db
    .insertInto('gitswarm_maintainers')
    .values({
      id: newId(),
      repo_id: input.repo.id,
      agent_id: input.agent.id,
      role: 'maintainer',
      added_by: input.actor?.id ?? null,
      created_at: isoNow(deps.clock),
    })
    .execute();
  await recordChange(deps, db, 'maintainer.added', input);
}

/** Removes a maintainer (admin+, or a council decision); the owner role cannot be removed. */
export async function removeMaintainer(deps: CoreDeps, db: Executor, input: MaintainerChange): Promise<void> {
  if (input.actor) await requireAction(deps, db, input.repo, input.actor, 'settings');
  const existing = await findMaintainerRow(db, input.repo.id, input.agent.id);
  if (!existing) {
    throw new GitSwarmError('not_found', `Agent ${input.agent.name} is not a maintainer.`, {
      hint: 'List maintainers with: gitswarm maintainer list',
    });
  }
  if (existing.role === 'owner') {
    throw new GitSwarmError(
      'forbidden',
      `Agent ${input.agent.name} is the owner; the owner cannot be removed.`,
    );
  }
  await db
    .deleteFrom('gitswarm_maintainers')
    .where('repo_id', '=', input.repo.id)
    .where('agent_id', '=', input.agent.id)
    .execute();
  await recordChange(deps, db, 'maintainer.removed', input);
}

export async function listMaintainers(db: Executor, repoId: string) {
  return db
    .selectFrom('gitswarm_maintainers as m')
    .innerJoin('gitswarm_agents as a', 'a.id', 'm.agent_id')
    .select(['m.agent_id', 'a.name as agent_name', 'm.role', 'm.created_at'])
    .where('m.repo_id', '=', repoId)
    .orderBy('m.created_at')
    .execute();
}

/** Whether the agent is the owner or a maintainer. */
export async function isMaintainer(db: Executor, repoId: string, agentId: string): Promise<boolean> {
  return (await findMaintainerRow(db, repoId, agentId)) !== undefined;
}
