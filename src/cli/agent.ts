/**
 * `gitswarm agent register|list|show|suspend|reinstate`: agents, their role and karma in this
 * repository. Suspension here is the local store's (Mode A); on a server, its admins suspend over the API.
 */

import { setAgentSuspended } from '../core/agents/agent-admin.js';
import { findAgent, listAgents, registerAgent } from '../core/agents/agents.js';
import { requireAction, resolveAccess } from '../core/governance/access.js';
import { repoKarma } from '../core/governance/karma.js';
import { GitSwarmError } from '../errors.js';
import type { Agent, Executor } from '../store/index.js';
import { inTransaction } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { fields, type Style, safeText, table } from './output.js';

/** An agent as commands print it. */
export interface AgentView {
  id: string;
  name: string;
  description: string | null;
  /** Karma in this repository: what its rules (access gate, open-model weights) read. */
  karma: number;
  /** The sum over every repository of the store; shown only, no rule reads it. */
  total_karma: number;
  status: Agent['status'];
  is_human: boolean;
  /** Owner or maintainer of this repository; null for everyone else. */
  role: 'owner' | 'maintainer' | null;
  created_at: string;
}

/** Each agent's karma in the repository (absent: 0). */
async function karmaIn(db: Executor, repoId: string): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('gitswarm_repo_karma')
    .select(['agent_id', 'karma'])
    .where('repo_id', '=', repoId)
    .execute();
  return new Map(rows.map((row) => [row.agent_id, row.karma]));
}

async function roleOf(db: Executor, repoId: string, agentId: string): Promise<AgentView['role']> {
  const row = await db
    .selectFrom('gitswarm_maintainers')
    .select('role')
    .where('repo_id', '=', repoId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
  return row?.role ?? null;
}

function toView(agent: Agent, role: AgentView['role'], karma: number): AgentView {
  return {
    id: agent.id,
    name: agent.name,
    description: agent.description,
    karma,
    total_karma: agent.karma,
    status: agent.status,
    is_human: agent.is_human,
    role,
    created_at: agent.created_at,
  };
}

export interface RegisterAgentOptions {
  name: string;
  description?: string;
}

export interface RegisterAgentResult {
  agent: AgentView;
  /** Connected: the new key, shown this once (also saved in the credentials file). */
  api_key?: string;
  /** Connected: where the key was saved. */
  credentials?: string;
  /** Connected: the server and its repository (created by this register when `created_repo`). */
  server?: { url: string; repo_id: string | null; created_repo: boolean };
}

/**
 * Registers an agent in this repository; the first one becomes its owner. Connected, it registers
 * on the server (the first agent of the clone creates the server repository).
 */
export async function runRegisterAgent(
  opts: RegisterAgentOptions,
  deps: CommandDeps,
): Promise<RegisterAgentResult> {
  if (deps.remote) {
    const { registerAgentRemote } = await import('../remote/commands/agent.js');
    return registerAgentRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const agent = await registerAgent(core, {
    name: opts.name,
    description: opts.description,
    repoId: ctx.repo.id,
  });
  const db = core.store.db;
  return {
    agent: toView(agent, await roleOf(db, ctx.repo.id, agent.id), await repoKarma(db, ctx.repo.id, agent.id)),
  };
}

export function formatRegisterAgent(result: RegisterAgentResult, style: Style): string {
  const { agent } = result;
  const role = agent.role ? ` as ${agent.role}` : '';
  const lines = [`Registered agent ${style.bold(agent.name)}${role}: ${agent.id}`];
  if (result.server?.created_repo) {
    lines.push(`Created the repository on ${result.server.url}: ${result.server.repo_id}`);
  }
  if (result.api_key) {
    lines.push(`API key (shown once; saved in ${result.credentials}):`, `  ${result.api_key}`);
  }
  return lines.join('\n');
}

export interface LoginAgentResult {
  agent: { id: string; name: string };
  credentials: string;
  server: { url: string; repo_id: string | null; created_repo: boolean };
}

/** Connected only: saves an agent's key (checked with the server) in the credentials file. */
export async function runLoginAgent(opts: { agent: string }, deps: CommandDeps): Promise<LoginAgentResult> {
  if (!deps.remote) {
    throw new GitSwarmError(
      'invalid_state',
      'agent login saves a key for a server, and this clone is not connected to one.',
      {
        hint: 'Connect it with: gitswarm init --server URL (or pass --server URL)',
      },
    );
  }
  const { loginAgentRemote } = await import('../remote/commands/agent.js');
  return loginAgentRemote(opts, { ...deps, remote: deps.remote });
}

export function formatLoginAgent(result: LoginAgentResult, style: Style): string {
  const lines = [
    `Saved the API key of ${style.bold(result.agent.name)} (${result.agent.id}) in ${result.credentials}`,
  ];
  if (result.server.created_repo) {
    lines.push(`Created the repository on ${result.server.url}: ${result.server.repo_id}`);
  }
  return lines.join('\n');
}

export interface ListAgentsResult {
  agents: AgentView[];
}

/** Lists every agent with its role in this repository. */
export async function runListAgents(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ListAgentsResult> {
  if (deps.remote) {
    const { listAgentsRemote } = await import('../remote/commands/agent.js');
    return listAgentsRemote({ ...deps, remote: deps.remote });
  }
  const db = deps.core.store.db;
  const [agents, roles, karma] = await Promise.all([
    listAgents(db),
    db
      .selectFrom('gitswarm_maintainers')
      .select(['agent_id', 'role'])
      .where('repo_id', '=', deps.ctx.repo.id)
      .execute(),
    karmaIn(db, deps.ctx.repo.id),
  ]);
  const roleById = new Map(roles.map((r) => [r.agent_id, r.role]));
  return {
    agents: agents.map((agent) => toView(agent, roleById.get(agent.id) ?? null, karma.get(agent.id) ?? 0)),
  };
}

export function formatListAgents(result: ListAgentsResult, style: Style): string {
  if (result.agents.length === 0) return 'No agents yet. Register one with: gitswarm agent register NAME';
  // KARMA is karma in this repository; `agent show` and --json also give the total.
  return table(
    result.agents.map((a) => [a.name, a.role ?? '-', String(a.karma), safeText(a.description ?? '')]),
    ['NAME', 'ROLE', 'KARMA', 'DESCRIPTION'].map(style.dim),
  );
}

export interface ShowAgentOptions {
  agent: string;
}

export interface ShowAgentResult {
  agent: AgentView & { access: string; access_source: string };
}

async function agentNamed(db: Executor, ref: string): Promise<Agent> {
  const agent = await findAgent(db, ref);
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent named ${JSON.stringify(ref)}.`);
  return agent;
}

/** Shows one agent (suspended ones too), its role and its access level in this repository. */
export async function runShowAgent(opts: ShowAgentOptions, deps: CommandDeps): Promise<ShowAgentResult> {
  if (deps.remote) {
    const { showAgentRemote } = await import('../remote/commands/agent.js');
    return showAgentRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const db = core.store.db;
  const agent = await agentNamed(db, opts.agent);
  const access = await resolveAccess(core, db, ctx.repo, agent);
  return {
    agent: {
      ...toView(agent, await roleOf(db, ctx.repo.id, agent.id), await repoKarma(db, ctx.repo.id, agent.id)),
      access: access.level,
      access_source: access.source,
    },
  };
}

export function formatShowAgent(result: ShowAgentResult, style: Style): string {
  const { agent } = result;
  return fields([
    [style.dim('name'), agent.name],
    [style.dim('id'), agent.id],
    [style.dim('role'), agent.role],
    [style.dim('access'), `${agent.access} (${agent.access_source.replace('_', ' ')})`],
    [style.dim('karma'), `${agent.karma} in this repository (${agent.total_karma} in all)`],
    [style.dim('status'), agent.status],
    [style.dim('description'), agent.description === null ? null : safeText(agent.description)],
  ]);
}

export interface SuspendAgentOptions {
  agent: string;
  suspended: boolean;
}

export interface SuspendAgentResult {
  agent: AgentView;
}

/**
 * Suspends (or reinstates) an agent of the local store: it can no longer act (`--as` it fails with
 * `agent_suspended`). The acting agent needs admin access to this repository.
 */
export async function runSuspendAgent(
  opts: SuspendAgentOptions,
  deps: CommandDeps,
): Promise<SuspendAgentResult> {
  if (deps.remote) {
    // On a server, suspension is its admins' (GITSWARM_ADMINS): the server decides who may.
    const { suspendAgentRemote } = await import('../remote/commands/agent.js');
    return suspendAgentRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  await requireAction(core, core.store.db, ctx.repo, actor, 'settings');
  const agent = await agentNamed(core.store.db, opts.agent);
  if (opts.suspended && agent.id === actor.id) {
    throw new GitSwarmError('invalid_input', 'An admin does not suspend itself.');
  }
  const updated = await inTransaction(core.store.db, (trx) =>
    setAgentSuspended(core, trx, { agent, suspended: opts.suspended, actor }),
  );
  const db = core.store.db;
  return {
    agent: toView(
      updated,
      await roleOf(db, ctx.repo.id, updated.id),
      await repoKarma(db, ctx.repo.id, updated.id),
    ),
  };
}

export function formatSuspendAgent(result: SuspendAgentResult, style: Style): string {
  return `Agent ${style.bold(result.agent.name)} is ${result.agent.status}.`;
}
