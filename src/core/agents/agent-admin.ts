/**
 * An agent's standing on a server: its API key (rotated or revoked) and suspension. The server
 * decides who may ask (the agent itself for its own key, a server admin for the rest); these
 * functions make the change and announce it as `agent.updated`, on which every server instance
 * forgets the keys it had resolved, so an old key or a suspended agent is refused at once.
 */
import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';

async function announce(deps: CoreDeps, db: Executor, agent: Agent, actor: Agent | null, change: string) {
  await recordActivity(deps, db, {
    event: 'agent.updated',
    repoId: null,
    agentId: actor?.id ?? agent.id,
    targetType: 'agent',
    targetId: agent.id,
    metadata: { changed: [change] },
  });
}

export interface ReplaceKeyInput {
  agent: Agent;
  /** The hash the agent's key has now: the change applies only if no one changed it meanwhile. */
  currentHash: string | null;
  /** The new key's hash, or null to revoke (the agent then has no key until an admin issues one). */
  newHash: string | null;
  /** Who asks: the agent itself or a server admin. */
  actor: Agent | null;
}

/** Replaces (or removes) an agent's API key hash; the old key stops working with this commit. */
export async function replaceAgentKey(deps: CoreDeps, db: Executor, input: ReplaceKeyInput): Promise<Agent> {
  const query = db
    .updateTable('gitswarm_agents')
    .set({ api_key_hash: input.newHash, updated_at: isoNow(deps.clock) })
    .where('id', '=', input.agent.id);
  const updated = await (input.currentHash === null
    ? query.where('api_key_hash', 'is', null)
    : query.where('api_key_hash', '=', input.currentHash)
  )
    .returningAll()
    .executeTakeFirst();
  if (!updated) {
    throw new GitSwarmError('invalid_state', `The key of agent ${input.agent.name} changed meanwhile.`, {
      hint: 'Read the agent again and retry.',
    });
  }
  await announce(deps, db, updated, input.actor, input.newHash ? 'api_key' : 'api_key_revoked');
  return updated;
}

/** Suspends an agent (its key then gets 403 `agent_suspended`) or reinstates it. */
export async function setAgentSuspended(
  deps: CoreDeps,
  db: Executor,
  input: { agent: Agent; suspended: boolean; actor: Agent | null },
): Promise<Agent> {
  const status = input.suspended ? 'suspended' : 'active';
  const updated = await db
    .updateTable('gitswarm_agents')
    .set({ status, updated_at: isoNow(deps.clock) })
    .where('id', '=', input.agent.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  if (input.agent.status !== status) await announce(deps, db, updated, input.actor, 'status');
  return updated;
}
