import { assertValidName } from '../engine/names.js';
import { GitSwarmError } from '../errors.js';
import { type Agent, type Executor, inTransaction, toJson } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { isUuid, newId } from '../util/ids.js';
import { recordActivity } from './activity.js';
import type { CoreDeps } from './deps.js';

export interface RegisterAgentInput {
  name: string;
  description?: string;
  isHuman?: boolean;
  /** SHA-256 of the agent's API key (server registrations). */
  apiKeyHash?: string;
  /** The repository the agent registers in; the first agent of a repository becomes its owner. */
  repoId?: string;
}

/** Registers an agent; in a repository without maintainers it becomes the owner. */
export async function registerAgent(deps: CoreDeps, input: RegisterAgentInput): Promise<Agent> {
  assertValidName('agent', input.name);
  if (input.description !== undefined && input.description.length > 2000) {
    throw new GitSwarmError('invalid_input', 'An agent description may be at most 2000 characters.');
  }
  return inTransaction(deps.store.db, async (trx) => {
    const existing = await trx
      .selectFrom('gitswarm_agents')
      .select('id')
      .where('name', '=', input.name)
      .executeTakeFirst();
    if (existing) {
      throw new GitSwarmError('already_exists', `An agent named ${input.name} already exists.`, {
        hint: `Act as it with --as ${input.name}, or choose another name.`,
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
        description: input.description ?? null,
        api_key_hash: input.apiKeyHash ?? null,
        is_human: input.isHuman ?? false,
        metadata: toJson({}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
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

/** Finds an agent by id or name. */
export async function findAgent(db: Executor, idOrName: string): Promise<Agent | undefined> {
  const q = db.selectFrom('gitswarm_agents').selectAll();
  return (
    isUuid(idOrName) ? q.where('id', '=', idOrName) : q.where('name', '=', idOrName)
  ).executeTakeFirst();
}

/** Returns the agent named by id or name, or throws `agent_not_found`. */
export async function getAgent(db: Executor, idOrName: string): Promise<Agent> {
  const agent = await findAgent(db, idOrName);
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent named ${JSON.stringify(idOrName)}.`);
  if (agent.status !== 'active') {
    throw new GitSwarmError('forbidden', `Agent ${agent.name} is ${agent.status}.`);
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
