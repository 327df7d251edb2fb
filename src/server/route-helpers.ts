/**
 * Small steps every route area repeats: loading a repository the caller may read, and the public
 * views of rows. Permission rules themselves stay in src/core (access.ts); this only asks them.
 */
import type { FastifyRequest } from 'fastify';
import type { CoreDeps } from '../core/deps.js';
import { getRepoForAction, requireAction } from '../core/governance/access.js';
import { getRepo } from '../core/repos/repos.js';
import { GitSwarmError } from '../errors.js';
import type { Agent, Executor, Repo } from '../store/index.js';

/**
 * The repository, if the caller may read it: any agent with read access, and anonymous callers for
 * repositories that are not private. Anonymous readers of a private repository get 401.
 */
export async function readableRepo(
  deps: CoreDeps,
  request: FastifyRequest,
  repoId: string,
  db: Executor = deps.store.db,
): Promise<Repo> {
  if (request.agent) return (await getRepoForAction(deps, db, repoId, request.agent, 'read')).repo;
  const repo = await getRepo(db, repoId);
  if (repo.is_private) {
    throw new GitSwarmError('unauthorized', 'This repository is private; send an API key.');
  }
  return repo;
}

/** Whether the caller may read the repository (for filtering lists). */
export async function canRead(
  deps: CoreDeps,
  agent: Agent | null,
  repo: Repo,
  db: Executor = deps.store.db,
): Promise<boolean> {
  if (!agent) return !repo.is_private;
  try {
    await requireAction(deps, db, repo, agent, 'read');
    return true;
  } catch {
    return false;
  }
}

/** The public view of an agent: never its key hash or metadata. */
export function agentView(agent: Agent) {
  return {
    id: agent.id,
    name: agent.name,
    description: agent.description,
    karma: agent.karma,
    is_human: agent.is_human,
    status: agent.status,
    avatar_url: agent.avatar_url,
    created_at: agent.created_at,
    updated_at: agent.updated_at,
  };
}
