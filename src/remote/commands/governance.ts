/**
 * Maintainers, access grants, settings (`config`), stage and budget on a connected clone: each a
 * plain call of the server's API answering in the Mode A command's shape. The server decides who
 * may change what; the client only converts the command line's text into the API's JSON.
 */
import type { AccessChangeResult, ListAccessResult } from '../../cli/access.js';
import type { BudgetHistoryResult, DepositResult, ShowBudgetResult } from '../../cli/budget.js';
import type { ConfigResult } from '../../cli/config.js';
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type { ChangeMaintainerResult, ListMaintainersResult } from '../../cli/maintainer.js';
import type { AdvanceStageResult, StageResult } from '../../cli/stage.js';
import {
  isRepoSettingKey,
  parseRepoSettings,
  REPO_SETTINGS,
  type RepoSettingKey,
  repoSetting,
} from '../../core/repos/repo-settings.js';
import { GitSwarmError } from '../../errors.js';
import type { Repo } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import type { ServerAgent } from './agent.js';

export type Connected = CommandDeps & { remote: RemoteDeps };

const enc = encodeURIComponent;

/** The agent a command names, as the server knows it (`agent_not_found` when it does not). */
export async function serverAgent(remote: RemoteDeps, ref: string): Promise<ServerAgent> {
  return (await remote.client.get<{ agent: ServerAgent }>(`/agents/${enc(ref)}`)).agent;
}

// --- maintainers -------------------------------------------------------------------------------

export async function listMaintainersRemote(deps: Connected): Promise<ListMaintainersResult> {
  const { remote } = deps;
  return remote.client.get<ListMaintainersResult>(`/repos/${remote.repoId()}/maintainers`);
}

export async function changeMaintainerRemote(
  opts: { agent: string; add: boolean },
  deps: Connected,
): Promise<ChangeMaintainerResult> {
  const { remote } = deps;
  const repoId = remote.repoId();
  await remoteActor(remote);
  const agent = await serverAgent(remote, opts.agent);
  if (opts.add) {
    await remote.client.post(
      `/repos/${repoId}/maintainers`,
      { agent_id: agent.id },
      { idempotencyKey: true },
    );
  } else {
    await remote.client.delete(`/repos/${repoId}/maintainers/${enc(agent.id)}`);
  }
  return { maintainer: { agent_id: agent.id, agent_name: agent.name, role: opts.add ? 'maintainer' : null } };
}

// --- access grants -----------------------------------------------------------------------------

export async function listAccessRemote(deps: Connected): Promise<ListAccessResult> {
  const { remote } = deps;
  return remote.client.get<ListAccessResult>(`/repos/${remote.repoId()}/access`);
}

export async function changeAccessRemote(
  opts: { agent: string; level: string | null },
  deps: Connected,
): Promise<AccessChangeResult> {
  const { remote } = deps;
  const repoId = remote.repoId();
  await remoteActor(remote);
  const agent = await serverAgent(remote, opts.agent);
  if (opts.level) {
    await remote.client.post(
      `/repos/${repoId}/access`,
      { agent_id: agent.id, access_level: opts.level },
      { idempotencyKey: true },
    );
  } else {
    await remote.client.delete(`/repos/${repoId}/access/${enc(agent.id)}`);
  }
  return {
    access: {
      agent_id: agent.id,
      agent_name: agent.name,
      level: opts.level as AccessChangeResult['access']['level'],
    },
  };
}

// --- settings ----------------------------------------------------------------------------------

async function serverRepo(remote: RemoteDeps): Promise<Repo> {
  return (await remote.client.get<{ repo: Repo }>(`/repos/${remote.repoId()}`)).repo;
}

function assertKey(key: string): RepoSettingKey {
  if (!isRepoSettingKey(key)) {
    throw new GitSwarmError('invalid_input', `Unknown setting ${JSON.stringify(key)}.`, {
      hint: `Settings: ${Object.keys(REPO_SETTINGS).join(', ')}`,
    });
  }
  return key;
}

/** Reads the server repository's settings, or sets one (the server checks who may and what is valid). */
export async function configRemote(
  opts: { key?: string; value?: string },
  deps: Connected,
): Promise<ConfigResult> {
  const { remote } = deps;
  const repo = await serverRepo(remote);
  if (opts.key === undefined) {
    const settings = {} as Record<RepoSettingKey, unknown>;
    for (const key of Object.keys(REPO_SETTINGS) as RepoSettingKey[]) settings[key] = repoSetting(repo, key);
    return { settings };
  }
  const key = assertKey(opts.key);
  const previous = repoSetting(repo, key);
  if (opts.value === undefined) return { key, value: previous };
  await remoteActor(remote);
  // The command line gives text; the API takes typed JSON. The core's own parser converts it (the
  // server validates again and decides).
  const changes = parseRepoSettings({ [key]: opts.value }) as Record<string, unknown>;
  const { repo: updated } = await remote.client.patch<{ repo: Repo }>(`/repos/${repo.id}`, changes, {
    idempotencyKey: true,
  });
  const after = repoSetting(updated, key);
  return { key, value: after, previous, changed: JSON.stringify(after) !== JSON.stringify(previous) };
}

// --- stage -------------------------------------------------------------------------------------

export async function stageRemote(deps: Connected): Promise<StageResult> {
  const { remote } = deps;
  return (await remote.client.get<{ stage: StageResult }>(`/repos/${remote.repoId()}/stage`)).stage;
}

export async function advanceStageRemote(
  opts: { force?: string },
  deps: Connected,
): Promise<AdvanceStageResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const answer = await remote.client.post<{ from: string; to: string; forced: boolean }>(
    `/repos/${remote.repoId()}/stage/advance`,
    opts.force === undefined ? {} : { force: opts.force },
    { idempotencyKey: true },
  );
  return {
    stage: {
      from: answer.from as AdvanceStageResult['stage']['from'],
      to: answer.to as AdvanceStageResult['stage']['to'],
      forced: answer.forced,
    },
  };
}

// --- budget ------------------------------------------------------------------------------------

export async function showBudgetRemote(deps: Connected): Promise<ShowBudgetResult> {
  const { remote } = deps;
  return remote.client.get<ShowBudgetResult>(`/repos/${remote.repoId()}/budget`);
}

export async function depositRemote(
  opts: { amount: number; description?: string },
  deps: Connected,
): Promise<DepositResult> {
  const { remote } = deps;
  const actor = await remoteActor(remote);
  const answer = await remote.client.post<DepositResult>(
    `/repos/${remote.repoId()}/budget/deposit`,
    { amount: opts.amount, ...(opts.description === undefined ? {} : { description: opts.description }) },
    { idempotencyKey: true },
  );
  return { budget: answer.budget, transaction: { ...answer.transaction, agent_name: actor.name } };
}

export async function budgetHistoryRemote(
  opts: { limit?: number },
  deps: Connected,
): Promise<BudgetHistoryResult> {
  const { remote } = deps;
  return remote.client.get<BudgetHistoryResult>(`/repos/${remote.repoId()}/budget/transactions`, {
    limit: opts.limit,
  });
}
