/**
 * Who is more than an agent on this server. Server admins (`GITSWARM_ADMINS`) make invites,
 * suspend and reinstate agents, and revoke or reissue their keys; trusted agents
 * (`GITSWARM_TRUSTED_AGENTS`) get the larger rate-limit tier, as admins do. Both lists name agents
 * by id or by name (names compared whatever their case). Nothing an agent can earn (karma) makes
 * it either: the operator decides.
 */
import { foldAgentName } from '../engine/names.js';
import type { Agent } from '../store/index.js';
import { isUuid } from '../util/ids.js';

export interface ServerRoleLists {
  /** Agent ids or names of the server's admins. */
  admins?: readonly string[];
  /** Agent ids or names that get the trusted rate-limit tier. */
  trusted?: readonly string[];
}

export interface ServerRoles {
  isAdmin(agent: Agent | null): boolean;
  isTrusted(agent: Agent | null): boolean;
}

function matcher(entries: readonly string[] = []): (agent: Agent | null) => boolean {
  const ids = new Set(entries.filter(isUuid).map((id) => id.toLowerCase()));
  const names = new Set(entries.filter((entry) => !isUuid(entry)).map(foldAgentName));
  return (agent) =>
    agent !== null && (ids.has(agent.id.toLowerCase()) || names.has(foldAgentName(agent.name)));
}

export function serverRoles(lists: ServerRoleLists = {}): ServerRoles {
  const isAdmin = matcher(lists.admins);
  const listedTrusted = matcher(lists.trusted);
  return { isAdmin, isTrusted: (agent) => isAdmin(agent) || listedTrusted(agent) };
}

/** A comma- or space-separated list from an environment variable. */
export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\s,]+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}
