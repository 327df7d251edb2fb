/**
 * GitHub users as agents: a GitHub user id maps to an agent (gitswarm_github_user_mappings); a user
 * seen for the first time gets an agent of its own, named `gh-<login>`, human unless GitHub says it
 * is a bot, with no API key (it acts only through GitHub). An operator maps a GitHub user to an
 * existing agent by setting the mapping's agent_id.
 */
import { findAgent, registerAgent } from '../core/agents/agents.js';
import type { CoreDeps } from '../core/deps.js';
import { isGitSwarmError } from '../errors.js';
import type { Agent } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';

/** The parts of GitHub's user object read here. */
export interface GitHubUser {
  id: number;
  login: string;
  type?: string;
}

/** The agent a GitHub user is mapped to, or undefined before it was first seen. */
export async function findMappedAgent(deps: CoreDeps, user: GitHubUser): Promise<Agent | undefined> {
  const mapping = await deps.store.db
    .selectFrom('gitswarm_github_user_mappings')
    .select('agent_id')
    .where('github_user_id', '=', user.id)
    .executeTakeFirst();
  return mapping?.agent_id ? findAgent(deps.store.db, mapping.agent_id) : undefined;
}

/** The agent of a GitHub user, creating it (and its mapping) the first time the user is seen. */
export async function agentForGitHubUser(deps: CoreDeps, user: GitHubUser): Promise<Agent> {
  const mapped = await findMappedAgent(deps, user);
  if (mapped) return mapped;
  const base = `gh-${user.login}`.slice(0, 90);
  let agent: Agent | undefined;
  for (const name of [base, `${base}-${user.id}`]) {
    try {
      agent = await registerAgent(deps, {
        name,
        description: `GitHub user ${user.login} (id ${user.id})`,
        isHuman: user.type !== 'Bot',
      });
      break;
    } catch (error) {
      if (!isGitSwarmError(error, 'already_exists')) throw error;
    }
  }
  if (!agent) throw new Error(`No free agent name for GitHub user ${user.login} (${user.id}).`);
  await deps.store.db
    .insertInto('gitswarm_github_user_mappings')
    .values({
      id: newId(),
      github_user_id: user.id,
      github_username: user.login.slice(0, 100),
      agent_id: agent.id,
      created_at: isoNow(deps.clock),
    })
    .onConflict((oc) => oc.column('github_user_id').doNothing())
    .execute();
  // Another delivery may have mapped the user first: its agent wins.
  return (await findMappedAgent(deps, user)) ?? agent;
}
