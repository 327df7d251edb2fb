/**
 * `gitswarm maintainer add|remove|list`: the repository's owner and maintainers. Changes need an
 * admin (`--as`).
 */
import { getAgent } from '../core/agents/agents.js';
import { addMaintainer, listMaintainers, removeMaintainer } from '../core/governance/maintainers.js';
import { lockedTransaction } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { type Style, table } from './output.js';

export interface ChangeMaintainerOptions {
  agent: string;
}

export interface ChangeMaintainerResult {
  maintainer: { agent_id: string; agent_name: string; role: 'maintainer' | null };
}

/** Makes an agent a maintainer (admin only). */
export async function runAddMaintainer(
  opts: ChangeMaintainerOptions,
  deps: CommandDeps,
): Promise<ChangeMaintainerResult> {
  if (deps.remote) {
    const { changeMaintainerRemote } = await import('../remote/commands/governance.js');
    return changeMaintainerRemote({ agent: opts.agent, add: true }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  const agent = await getAgent(core.store.db, opts.agent);
  await lockedTransaction(core.store, ctx.repo.id, (trx) =>
    addMaintainer(core, trx, { repo: ctx.repo, actor, agent }),
  );
  return { maintainer: { agent_id: agent.id, agent_name: agent.name, role: 'maintainer' } };
}

/** Removes a maintainer (admin only; never the owner). */
export async function runRemoveMaintainer(
  opts: ChangeMaintainerOptions,
  deps: CommandDeps,
): Promise<ChangeMaintainerResult> {
  if (deps.remote) {
    const { changeMaintainerRemote } = await import('../remote/commands/governance.js');
    return changeMaintainerRemote({ agent: opts.agent, add: false }, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  const agent = await getAgent(core.store.db, opts.agent);
  await lockedTransaction(core.store, ctx.repo.id, (trx) =>
    removeMaintainer(core, trx, { repo: ctx.repo, actor, agent }),
  );
  return { maintainer: { agent_id: agent.id, agent_name: agent.name, role: null } };
}

export function formatChangeMaintainer(result: ChangeMaintainerResult, style: Style): string {
  const { maintainer } = result;
  return maintainer.role
    ? `${style.bold(maintainer.agent_name)} is now a maintainer.`
    : `${style.bold(maintainer.agent_name)} is no longer a maintainer.`;
}

export interface ListMaintainersResult {
  maintainers: { agent_id: string; agent_name: string; role: 'owner' | 'maintainer'; created_at: string }[];
}

export async function runListMaintainers(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ListMaintainersResult> {
  if (deps.remote) {
    const { listMaintainersRemote } = await import('../remote/commands/governance.js');
    return listMaintainersRemote({ ...deps, remote: deps.remote });
  }
  return { maintainers: await listMaintainers(deps.core.store.db, deps.ctx.repo.id) };
}

export function formatListMaintainers(result: ListMaintainersResult, style: Style): string {
  if (result.maintainers.length === 0) return 'No maintainers. The first registered agent becomes the owner.';
  return table(
    result.maintainers.map((m) => [m.agent_name, m.role, m.created_at]),
    ['AGENT', 'ROLE', 'SINCE'].map(style.dim),
  );
}
