/** Activity: the live feed of every readable repository, filterable by event and by agent. */
import { useMemo, useState } from 'preact/hooks';
import { useAgents } from '../agents.js';
import { api, withQuery } from '../api.js';
import type { Rendered } from '../components.js';
import { AgentLink, Loaded, Time } from '../components.js';
import { useLiveEvents, useResource } from '../hooks.js';
import { html } from '../html.js';
import { useTitle } from '../title.js';
import type { ActivityEvent, Agent } from '../types.js';

/** What an event did, in a few words (its name says the rest). */
function detail(event: ActivityEvent, streams?: Map<string, string>): (Rendered | string)[] {
  const m = (event.metadata ?? {}) as Record<string, string | number | undefined>;
  const parts: Rendered[] = [];
  if (event.target_type === 'stream' && event.target_id) {
    const name = streams?.get(event.target_id) ?? m.name ?? event.target_id.slice(0, 8);
    parts.push(html`<a href=${`/streams/${event.target_id}`}>${name}</a>`);
  }
  if (m.verdict) parts.push(html`<span class=${`verdict verdict-${m.verdict}`}>${m.verdict}</span>`);
  if (m.result) parts.push(html`<span>${m.result}</span>`);
  if (m.title) parts.push(html`<span>${m.title}</span>`);
  if (typeof m.amount === 'number' && event.event_type.startsWith('karma')) {
    parts.push(html`<span>${m.amount > 0 ? '+' : ''}${m.amount} karma (${m.reason})</span>`);
  } else if (typeof m.amount === 'number') parts.push(html`<span>${m.amount} credits</span>`);
  return parts.flatMap((part, index) => (index === 0 ? [part] : [' · ', part]));
}

/** A list of activity events, newest first. */
export interface ActivityListProps {
  events: readonly ActivityEvent[];
  agents: Map<string, Agent>;
  streams?: Map<string, string>;
}

export function ActivityList({ events, agents, streams }: ActivityListProps): Rendered {
  if (events.length === 0) return html`<p class="muted">Nothing yet.</p>`;
  return html`<ol class="feed">
    ${events.map(
      (event) => html`<li key=${event.id} data-event=${event.event_type}>
      <span class="feed-time"><${Time} at=${event.created_at} /></span>
      <code class="feed-type">${event.event_type}</code>
      <${AgentLink} id=${event.agent_id} agents=${agents} />
      <span class="feed-detail">${detail(event, streams)}</span>
    </li>`,
    )}
  </ol>`;
}

const FEED_LIMIT = 200;

export function ActivityPage() {
  useTitle('Activity');
  const agents = useAgents();
  const repoFilter = new URLSearchParams(location.search).get('repo');
  const [eventType, setEventType] = useState('');
  const [agentId, setAgentId] = useState('');
  const state = useResource(
    async () =>
      (
        await api<{ activity: ActivityEvent[] }>(
          withQuery(repoFilter ? `/repos/${repoFilter}/activity` : '/activity', { limit: FEED_LIMIT }),
        )
      ).activity,
    [repoFilter],
    () => false,
  );
  const live = useLiveEvents((event) => !repoFilter || event.repo_id === repoFilter);
  const all = useMemo(() => {
    const seen = new Set<string>();
    return [...live, ...(state.data ?? [])].filter((event) => !seen.has(event.id) && seen.add(event.id));
  }, [live, state.data]);
  const types = useMemo(() => [...new Set(all.map((e) => e.event_type))].sort(), [all]);
  const actors = useMemo(
    () => [...new Set(all.map((e) => e.agent_id).filter((id): id is string => Boolean(id)))],
    [all],
  );
  const shown = all.filter(
    (event) => (!eventType || event.event_type === eventType) && (!agentId || event.agent_id === agentId),
  );
  return html`<h1>Activity</h1>
    <form class="filters" onSubmit=${(e: SubmitEvent) => e.preventDefault()}>
      <label for="filter-event">Event</label><select id="filter-event" value=${eventType} onChange=${(e: Event) => setEventType((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">all events</option>
        ${types.map((type) => html`<option key=${type} value=${type}>${type}</option>`)}
      </select>
      <label for="filter-agent">Agent</label><select id="filter-agent" value=${agentId} onChange=${(e: Event) => setAgentId((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">all agents</option>
        ${actors.map((id) => html`<option key=${id} value=${id}>${agents.get(id)?.name ?? id.slice(0, 8)}</option>`)}
      </select>
      <span class="muted">${shown.length} shown</span>
    </form>
    <${Loaded} state=${state} render=${() => html`<div class="feed-box"><${ActivityList} events=${shown.slice(0, 500)} agents=${agents} /></div>`} />`;
}
