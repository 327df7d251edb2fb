import { assertValidAgentName, foldAgentName } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, inTransaction, toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { isUuid, newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { admitRegistration, type RegistrationMode } from './invites.js';

export interface RegisterAgentInput {
  name: string;
  description?: string;
  isHuman?: boolean;
  /** SHA-256 of the agent's API key (server registrations). */
  apiKeyHash?: string;
  /** The repository the agent registers in; the first agent of a repository becomes its owner. */
  repoId?: string;
  /** A server's registration mode and the invite code given (server registrations). */
  admission?: { mode: RegistrationMode; code?: string };
}

/** Registers an agent; in a repository without maintainers it becomes the owner. */
export async function registerAgent(deps: CoreDeps, input: RegisterAgentInput): Promise<Agent> {
  assertValidAgentName(input.name);
  if (input.description !== undefined && input.description.length > 2000) {
    throw new GitSwarmError('invalid_input', 'An agent description may be at most 2000 characters.');
  }
  if (input.admission?.mode === 'closed') {
    await admitRegistration(deps, deps.store.db, { ...input.admission, agentId: '' });
  }
  return inTransaction(deps.store.db, async (trx) => {
    const folded = foldAgentName(input.name);
    const existing = await trx
      .selectFrom('gitswarm_agents')
      .select('name')
      .where((eb) => eb.or([eb('name', '=', input.name), eb('name_folded', '=', folded)]))
      .executeTakeFirst();
    if (existing) {
      throw new GitSwarmError('already_exists', `An agent named ${existing.name} already exists.`, {
        hint:
          existing.name === input.name
            ? `Act as it with --as ${input.name}, or choose another name.`
            : 'Names differing only by case are the same name; choose another.',
        httpHint:
          'Choose another name; the existing agent acts with the API key it was given when it registered.',
      });
    }
    const now = isoNow(deps.clock);
    const agent = await trx
      .insertInto('gitswarm_agents')
      .values({
        id: newId(),
        name: input.name,
        name_folded: folded,
        description: input.description ?? null,
        api_key_hash: input.apiKeyHash ?? null,
        is_human: input.isHuman ?? false,
        metadata: toJson({}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (input.admission) await admitRegistration(deps, trx, { ...input.admission, agentId: agent.id });
    let role: 'owner' | undefined;
    if (input.repoId) {
      const anyMaintainer = await trx
        .selectFrom('gitswarm_maintainers')
        .select('id')
        .where('repo_id', '=', input.repoId)
        .executeTakeFirst();
      if (!anyMaintainer) {
        await trx
          .insertInto('gitswarm_maintainers')
          .values({ id: newId(), repo_id: input.repoId, agent_id: agent.id, role: 'owner', created_at: now })
          .execute();
        role = 'owner';
      }
    }
    await recordActivity(deps, trx, {
      event: 'agent.registered',
      repoId: input.repoId ?? null,
      agentId: agent.id,
      targetType: 'agent',
      targetId: agent.id,
      metadata: { name: agent.name, ...(role ? { role } : {}) },
    });
    return agent;
  });
}

/**
 * Finds an agent by id or name. A name matches exactly first, else whatever its case (agent names
 * cannot be UUID-shaped, so an id-shaped reference is always an id).
 */
export async function findAgent(db: Executor, idOrName: string): Promise<Agent | undefined> {
  const q = db.selectFrom('gitswarm_agents').selectAll();
  if (isUuid(idOrName)) return q.where('id', '=', idOrName).executeTakeFirst();
  return (
    (await q.where('name', '=', idOrName).executeTakeFirst()) ??
    (await q.where('name_folded', '=', foldAgentName(idOrName)).executeTakeFirst())
  );
}

/** Returns the agent named by id or name, or throws `agent_not_found`. */
export async function getAgent(db: Executor, idOrName: string): Promise<Agent> {
  const agent = await findAgent(db, idOrName);
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent named ${JSON.stringify(idOrName)}.`);
  assertAgentActive(agent);
  return agent;
}

/** Throws `agent_suspended` unless the agent is active. */
export function assertAgentActive(agent: Agent): Agent {
  if (agent.status !== 'active') {
    throw new GitSwarmError('agent_suspended', `Agent ${agent.name} is ${agent.status}.`);
  }
  return agent;
}

export async function getAgentByKeyHash(db: Executor, apiKeyHash: string): Promise<Agent | undefined> {
  return db
    .selectFrom('gitswarm_agents')
    .selectAll()
    .where('api_key_hash', '=', apiKeyHash)
    .executeTakeFirst();
}

export async function listAgents(db: Executor): Promise<Agent[]> {
  return db.selectFrom('gitswarm_agents').selectAll().orderBy('created_at').orderBy('name').execute();
}
