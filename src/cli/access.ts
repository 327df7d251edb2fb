/**
 * `gitswarm access grant|revoke|list`: explicit access grants (read, write, maintain, admin),
 * which win over roles and the repository's access mode. Changes need an admin (`--as`).
 */

import { getAgent } from '../core/agents/agents.js';
import {
  ACCESS_LEVELS,
  grantAccess,
  isAccessLevel,
  listAccessGrants,
  revokeAccess,
} from '../core/governance/access.js';
import { GitSwarmError } from '../errors.js';
import { type AccessLevel, lockedTransaction } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { type Style, table } from './output.js';

export interface GrantAccessOptions {
  agent: string;
  level: string;
}

export interface AccessChangeResult {
  access: { agent_id: string; agent_name: string; level: AccessLevel | null };
}

/** Grants (or changes) an agent's explicit access level. */
export async function runGrantAccess(
  opts: GrantAccessOptions,
  deps: CommandDeps,
): Promise<AccessChangeResult> {
  const { core, ctx } = deps;
  const level = opts.level;
  if (!isAccessLevel(level)) {
    throw new GitSwarmError('invalid_input', `Unknown access level ${JSON.stringify(level)}.`, {
      hint: `Use one of: ${ACCESS_LEVELS.filter((l) => l !== 'none').join(', ')}`,
    });
  }
  if (deps.remote) {
    const { changeAccessRemote } = await import('../remote/commands/governance.js');
    return changeAccessRemote({ agent: opts.agent, level }, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const agent = await getAgent(core.store.db, opts.agent);
  await lockedTransaction(core.store, ctx.repo.id, (trx) =>
    grantAccess(core, trx, { repo: ctx.repo, actor, agent, level }),
  );
  return { access: { agent_id: agent.id, agent_name: agent.name, level } };
}

export interface RevokeAccessOptions {
  agent: string;
}

/** Removes an agent's explicit grant (its role and the repository's mode then apply). */
export async function runRevokeAccess(
  opts: RevokeAccessOptions,
  deps: CommandDeps,
): Promise<AccessChangeResult> {
  if (deps.remote) {
    const { changeAccessRemote } = await import('../remote/commands/governance.js');
    return changeAccessRemote({ agent: opts.agent, level: null }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  const agent = await getAgent(core.store.db, opts.agent);
  await lockedTransaction(core.store, ctx.repo.id, (trx) =>
    revokeAccess(core, trx, { repo: ctx.repo, actor, agent }),
  );
  return { access: { agent_id: agent.id, agent_name: agent.name, level: null } };
}

export function formatAccessChange(result: AccessChangeResult, style: Style): string {
  const { access } = result;
  return access.level
    ? `Granted ${access.level} access to ${style.bold(access.agent_name)}.`
    : `Revoked the access grant of ${style.bold(access.agent_name)}.`;
}

export interface ListAccessResult {
  grants: Awaited<ReturnType<typeof listAccessGrants>>;
}

export async function runListAccess(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ListAccessResult> {
  if (deps.remote) {
    const { listAccessRemote } = await import('../remote/commands/governance.js');
    return listAccessRemote({ ...deps, remote: deps.remote });
  }
  return { grants: await listAccessGrants(deps.core.store.db, deps.ctx.repo.id) };
}

export function formatListAccess(result: ListAccessResult, style: Style): string {
  if (result.grants.length === 0) return 'No explicit access grants.';
  return table(
    result.grants.map((g) => [g.agent_name, g.access_level, g.expires_at ?? 'never']),
    ['AGENT', 'LEVEL', 'EXPIRES'].map(style.dim),
  );
}
