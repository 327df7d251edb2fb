/**
 * `agent register|login|list|show` on a connected clone: agents live on the server. Registering
 * saves the new key in the user's credentials file (printed once); the first agent of a clone
 * whose server repository does not exist yet creates it and becomes its owner.
 */
import type { AgentView } from '../../cli/agent.js';
import { writeConfigFile } from '../../cli/config-file.js';
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { GitSwarmError, isGitSwarmError } from '../../errors.js';
import type { GitSwarmClient } from '../client.js';
import { createServerRepo } from '../connect.js';
import { assertCredentialsOutside, findStoredKey, saveStoredKey } from '../credentials.js';
import { claimServerRepo } from '../repo-claim.js';

/** An agent as the server's API shows it. */
export interface ServerAgent {
  id: string;
  name: string;
  description: string | null;
  karma: number;
  is_human: boolean;
  status: AgentView['status'];
  created_at: string;
}

interface Maintainer {
  agent_id: string;
  role: 'owner' | 'maintainer';
}

type Connected = CommandDeps & { remote: RemoteDeps };

/** The server repository this clone names, after `repoId` is known. */
export interface ServerRepoResult {
  url: string;
  repo_id: string | null;
  /** This command created the server repository (the agent is its owner). */
  created_repo: boolean;
}

async function roles(client: GitSwarmClient, repoId: string): Promise<Map<string, Maintainer['role']>> {
  const { maintainers } = await client.get<{ maintainers: Maintainer[] }>(`/repos/${repoId}/maintainers`);
  return new Map(maintainers.map((row) => [row.agent_id, row.role]));
}

async function karmaIn(client: GitSwarmClient, repoId: string, agentId: string): Promise<number> {
  const { repositories } = await client.get<{ repositories: { repo_id: string; karma: number }[] }>(
    `/agents/${encodeURIComponent(agentId)}/karma`,
  );
  return repositories.find((entry) => entry.repo_id === repoId)?.karma ?? 0;
}

/** The CLI's view of a server agent (role and karma in this repository when it exists). */
function toView(agent: ServerAgent, role: AgentView['role'], karma: number): AgentView {
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

/**
 * Creates the server repository for a connected clone that has none yet (the key's agent becomes
 * its owner) and records its id in `.gitswarm/config.json`; returns the id (or undefined when the
 * clone is only connected by `--server` and has no server in its config).
 */
async function ensureServerRepo(
  deps: Connected,
  client: GitSwarmClient,
): Promise<{ id?: string; created: boolean }> {
  const { remote, ctx } = deps;
  if (remote.connection.repoId) return { id: remote.connection.repoId, created: false };
  const server = ctx.config.server;
  if (!server) return { created: false };
  // Under the remote's claim: two clones registering at once create one repository (repo-claim.ts).
  const repo = await claimServerRepo({
    root: ctx.root,
    remote: server.remote,
    serverUrl: server.url,
    create: async () => (await createServerRepo(client, ctx.repo)).id,
    exists: async (id) => {
      try {
        await client.get(`/repos/${encodeURIComponent(id)}`);
        return true;
      } catch (error) {
        if (isGitSwarmError(error, 'repo_not_found') || isGitSwarmError(error, 'not_found')) return false;
        throw error;
      }
    },
  });
  writeConfigFile(ctx.root, { ...ctx.config, server: { ...server, repo_id: repo.id } });
  return repo;
}

export interface RemoteRegisterResult {
  agent: AgentView;
  /** Shown once; also saved in the credentials file. */
  api_key: string;
  credentials: string;
  server: ServerRepoResult;
}

export async function registerAgentRemote(
  opts: { name: string; description?: string },
  deps: Connected,
): Promise<RemoteRegisterResult> {
  const { remote, ctx, io } = deps;
  const url = remote.connection.url;
  // Before the server registers anyone: a key that could not be saved would be lost.
  assertCredentialsOutside(io.env, ctx.root);
  const anonymous = remote.client.withApiKey(undefined);
  const { agent, api_key } = await anonymous.post<{ agent: ServerAgent; api_key: string }>('/agents', {
    name: opts.name,
    ...(opts.description === undefined ? {} : { description: opts.description }),
  });
  const credentials = saveStoredKey(
    io.env,
    url,
    { agent_id: agent.id, agent_name: agent.name, api_key },
    { notInside: ctx.root },
  );
  const client = remote.client.withApiKey(api_key, agent.name);
  let repo: { id?: string; created: boolean };
  try {
    repo = await ensureServerRepo(deps, client);
  } catch (error) {
    if (error instanceof GitSwarmError) {
      throw new GitSwarmError(
        error.code,
        `Registered ${agent.name} (key saved in ${credentials}), but the server repository was not created: ${error.message}`,
        {
          hint: `Create it by logging in as the agent: gitswarm agent login ${agent.name}`,
        },
      );
    }
    throw error;
  }
  const role = repo.id ? ((await roles(client, repo.id)).get(agent.id) ?? null) : null;
  return {
    agent: toView(agent, role, 0),
    api_key,
    credentials,
    server: { url, repo_id: repo.id ?? null, created_repo: repo.created },
  };
}

export interface RemoteLoginResult {
  agent: { id: string; name: string };
  credentials: string;
  server: ServerRepoResult;
}

/**
 * Saves a key obtained elsewhere for `agentRef` on the server after checking that it is that
 * agent's; without `--api-key`/GITSWARM_API_KEY the key already saved for it is checked again
 * (and the server repository created, if an earlier register stopped before it).
 */
export async function loginAgentRemote(opts: { agent: string }, deps: Connected): Promise<RemoteLoginResult> {
  const { remote, ctx, io } = deps;
  const url = remote.connection.url;
  const { keySource } = remote.connection;
  const given = keySource === 'flag' || keySource === 'env' ? remote.connection.apiKey : undefined;
  const key = given ?? findStoredKey(io.env, url, opts.agent)?.api_key;
  if (!key) {
    throw new GitSwarmError('usage', `No API key given for ${opts.agent}.`, {
      hint: `Pass it: gitswarm agent login ${opts.agent} --api-key KEY (or set GITSWARM_API_KEY).`,
    });
  }
  assertCredentialsOutside(io.env, ctx.root);
  const client = remote.client.withApiKey(key, opts.agent);
  const { agent } = await client.get<{ agent: ServerAgent }>('/me');
  if (agent.id !== opts.agent && agent.name.toLowerCase() !== opts.agent.toLowerCase()) {
    throw new GitSwarmError('invalid_input', `That API key belongs to ${agent.name}, not ${opts.agent}.`, {
      hint: `Log in as its agent: gitswarm agent login ${agent.name} --api-key KEY`,
    });
  }
  const credentials = saveStoredKey(
    io.env,
    url,
    { agent_id: agent.id, agent_name: agent.name, api_key: key },
    { notInside: ctx.root },
  );
  const repo = await ensureServerRepo(deps, client);
  return {
    agent: { id: agent.id, name: agent.name },
    credentials,
    server: { url, repo_id: repo.id ?? null, created_repo: repo.created },
  };
}

export async function listAgentsRemote(deps: Connected): Promise<{ agents: AgentView[] }> {
  const { client } = deps.remote;
  const repoId = deps.remote.repoId();
  const [{ agents }, roleOf] = await Promise.all([
    client.get<{ agents: ServerAgent[] }>('/agents'),
    roles(client, repoId),
  ]);
  const karma = await Promise.all(agents.map((agent) => karmaIn(client, repoId, agent.id)));
  return { agents: agents.map((agent, i) => toView(agent, roleOf.get(agent.id) ?? null, karma[i] ?? 0)) };
}

export async function showAgentRemote(
  opts: { agent: string },
  deps: Connected,
): Promise<{ agent: AgentView & { access: string; access_source: string } }> {
  const { client } = deps.remote;
  const repoId = deps.remote.repoId();
  const { agent } = await client.get<{ agent: ServerAgent }>(`/agents/${encodeURIComponent(opts.agent)}`);
  const [roleOf, karma, access] = await Promise.all([
    roles(client, repoId),
    karmaIn(client, repoId, agent.id),
    client.get<{ access: string; access_source: string }>(
      `/repos/${repoId}/access/${encodeURIComponent(agent.id)}`,
    ),
  ]);
  return {
    agent: {
      ...toView(agent, roleOf.get(agent.id) ?? null, karma),
      access: access.access,
      access_source: access.access_source,
    },
  };
}

/** Suspends or reinstates an agent on the server (the server's rule: a server admin). */
export async function suspendAgentRemote(
  opts: { agent: string; suspended: boolean },
  deps: Connected,
): Promise<{ agent: AgentView }> {
  const { client } = deps.remote;
  const repoId = deps.remote.repoId();
  const { agent } = await client.post<{ agent: ServerAgent }>(
    `/agents/${encodeURIComponent(opts.agent)}/${opts.suspended ? 'suspend' : 'reinstate'}`,
    {},
    { idempotencyKey: true },
  );
  const [roleOf, karma] = await Promise.all([roles(client, repoId), karmaIn(client, repoId, agent.id)]);
  return { agent: toView(agent, roleOf.get(agent.id) ?? null, karma) };
}
