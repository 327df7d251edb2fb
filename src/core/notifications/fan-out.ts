/**
 * Who is notified of an event (each rule here, once):
 * - never the agent that caused it, nor an agent that is not active;
 * - an agent whose filter names event types gets those types, in repositories it may read;
 * - an empty filter means the agent's own events: events about it, about a stream it authored or a
 *   task it created or is assigned, and events in repositories where it holds a role or a grant
 *   (owner, maintainer, explicit access) — not every event of every public repository;
 * - `agent.*` events go only to their subject (the agent the event is about);
 * - at most one delivery per target URL: agents sharing a webhook URL are one target, and the
 *   agent with the smallest id among them receives it (the same choice on every instance).
 */
import type { ActivityEntry, Agent, Executor, Repo } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import { resolveAccess } from '../governance/access.js';

export interface WebhookPreference {
  agent_id: string;
  webhook_url: string;
  webhook_secret: string;
  events: string[];
}

/** The agents a stream or task event is "about" besides the one that caused it. */
async function subjectAgents(db: Executor, event: ActivityEntry): Promise<Set<string>> {
  const subjects = new Set<string>();
  if (event.target_type === 'agent' && event.target_id) subjects.add(event.target_id);
  if (event.target_type === 'stream' && event.target_id) {
    const stream = await db
      .selectFrom('gitswarm_streams')
      .select('agent_id')
      .where('id', '=', event.target_id)
      .executeTakeFirst();
    if (stream) subjects.add(stream.agent_id);
  }
  if (event.target_type === 'task' && event.target_id) {
    const task = await db
      .selectFrom('gitswarm_tasks')
      .select(['created_by', 'assigned_to'])
      .where('id', '=', event.target_id)
      .executeTakeFirst();
    if (task?.created_by) subjects.add(task.created_by);
    if (task?.assigned_to) subjects.add(task.assigned_to);
  }
  return subjects;
}

/** Whether the agent may hear about the event, and whether it is one of the agent's own. */
async function standing(
  deps: CoreDeps,
  db: Executor,
  repo: Repo | undefined,
  agent: Agent,
  subjects: Set<string>,
): Promise<{ mayRead: boolean; own: boolean }> {
  const isSubject = subjects.has(agent.id);
  if (!repo) return { mayRead: true, own: isSubject };
  const access = await resolveAccess(deps, db, repo, agent);
  if (access.level === 'none') return { mayRead: false, own: false };
  return { mayRead: true, own: isSubject || access.source !== 'repo_mode' };
}

/** The preferences that receive `event`, one per target URL (see the module comment). */
export async function recipientsOf(
  deps: CoreDeps,
  db: Executor,
  event: ActivityEntry,
  preferences: readonly WebhookPreference[],
): Promise<WebhookPreference[]> {
  const isAgentEvent = event.event_type.startsWith('agent.');
  let candidates = preferences.filter(
    (p) =>
      p.agent_id !== event.agent_id &&
      (p.events.length === 0 || p.events.includes(event.event_type)) &&
      (!isAgentEvent || (event.target_type === 'agent' && event.target_id === p.agent_id)),
  );
  if (candidates.length === 0) return [];
  const agents = new Map(
    (
      await db
        .selectFrom('gitswarm_agents')
        .selectAll()
        .where(
          'id',
          'in',
          candidates.map((p) => p.agent_id),
        )
        .where('status', '=', 'active')
        .execute()
    ).map((agent) => [agent.id, agent]),
  );
  candidates = candidates.filter((p) => agents.has(p.agent_id));
  if (candidates.length === 0) return [];
  const repo = event.repo_id
    ? await db.selectFrom('gitswarm_repos').selectAll().where('id', '=', event.repo_id).executeTakeFirst()
    : undefined;
  if (event.repo_id && !repo) return [];
  const subjects = await subjectAgents(db, event);
  const byUrl = new Map<string, WebhookPreference>();
  for (const preference of [...candidates].sort((a, b) => (a.agent_id < b.agent_id ? -1 : 1))) {
    if (byUrl.has(preference.webhook_url)) continue;
    const { mayRead, own } = await standing(
      deps,
      db,
      repo,
      agents.get(preference.agent_id) as Agent,
      subjects,
    );
    if (!mayRead || (preference.events.length === 0 && !own)) continue;
    byUrl.set(preference.webhook_url, preference);
  }
  return [...byUrl.values()];
}
