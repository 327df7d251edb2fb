/**
 * An agent's own profile (`PATCH /agents/:id`): its description and avatar URL. Only the agent
 * itself changes them; name, karma, status and the key are not profile fields.
 */
import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';

export interface ProfileChanges {
  description?: string | null;
  avatarUrl?: string | null;
}

function checkAvatarUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GitSwarmError('invalid_input', 'The avatar URL is not a valid URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new GitSwarmError('invalid_input', 'The avatar URL must use http or https.');
  }
  if (value.length > 2048) throw new GitSwarmError('invalid_input', 'The avatar URL is too long.');
  return url.toString();
}

/** Changes the actor's own profile; another agent's is `forbidden`. */
export async function updateAgentProfile(
  deps: CoreDeps,
  db: Executor,
  input: { actor: Agent; agent: Agent; changes: ProfileChanges },
): Promise<Agent> {
  if (input.actor.id !== input.agent.id) {
    throw new GitSwarmError('forbidden', `Only agent ${input.agent.name} changes its own profile.`);
  }
  const { description, avatarUrl } = input.changes;
  if (description !== undefined && description !== null && description.length > 2000) {
    throw new GitSwarmError('invalid_input', 'An agent description may be at most 2000 characters.');
  }
  const set = {
    ...(description !== undefined ? { description } : {}),
    ...(avatarUrl !== undefined ? { avatar_url: avatarUrl === null ? null : checkAvatarUrl(avatarUrl) } : {}),
  };
  if (Object.keys(set).length === 0) throw new GitSwarmError('invalid_input', 'Nothing to change.');
  const agent = await db
    .updateTable('gitswarm_agents')
    .set({ ...set, updated_at: isoNow(deps.clock) })
    .where('id', '=', input.agent.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'agent.updated',
    repoId: null,
    agentId: agent.id,
    targetType: 'agent',
    targetId: agent.id,
    metadata: { changed: Object.keys(set) },
  });
  return agent;
}
