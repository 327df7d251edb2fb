/** Agent names for links: one list per page, reloaded when an agent registers or changes. */
import { api } from './api.js';
import { useResource } from './hooks.js';
import type { Agent } from './types.js';

/** Until the list arrives: always the same empty map (a new one each render would draw the page again). */
const NONE = new Map<string, Agent>();

export function useAgents(): Map<string, Agent> {
  const state = useResource(
    async () => new Map((await api<{ agents: Agent[] }>('/agents')).agents.map((agent) => [agent.id, agent])),
    [],
    (event) => event.event_type === 'agent.registered' || event.event_type === 'agent.updated',
  );
  return state.data ?? NONE;
}
