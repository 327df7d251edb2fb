/**
 * Connecting a clone (Mode B): what `init --server` checks before anything is written (the git
 * remote exists, the server answers and speaks this client's API, the repository named by `--repo`
 * is there), and how the first agent of a connected clone makes the server repository, becoming
 * its owner. The server decides everything; this only asks it and records the answer locally.
 */
import { hasRemote } from '../engine/remote.js';
import { GitSwarmError } from '../errors.js';
import type { Repo } from '../store/index.js';
import type { GitSwarmClient } from './client.js';

/** The server's view of a repository (GET /repos/:id). */
export type ServerRepo = Pick<
  Repo,
  'id' | 'name' | 'merge_mode' | 'ownership_model' | 'buffer_branch' | 'promote_target' | 'stage'
> &
  Record<string, unknown>;

/** Throws `invalid_input` unless the clone has the git remote `name`. */
export async function assertGitRemote(root: string, name: string): Promise<void> {
  if (!(await hasRemote(root, { remote: name }))) {
    throw new GitSwarmError('invalid_input', `The repository has no git remote ${JSON.stringify(name)}.`, {
      hint: `Add the shared remote first (git remote add ${name} URL), or name another one with --remote NAME.`,
    });
  }
}

/** The server repository named by `ref` (its id, else its name, without case); `repo_not_found` otherwise. */
export async function findServerRepo(client: GitSwarmClient, ref: string): Promise<ServerRepo> {
  try {
    return (await client.get<{ repo: ServerRepo }>(`/repos/${encodeURIComponent(ref)}`)).repo;
  } catch (error) {
    // Not an id of the server (PostgreSQL answers a name that is no UUID with not_found): try names.
    const notAnId = ['repo_not_found', 'not_found', 'invalid_input'];
    if (!(error instanceof GitSwarmError) || !notAnId.includes(error.code)) throw error;
  }
  const { repos } = await client.get<{ repos: ServerRepo[] }>('/repos');
  const lower = ref.toLowerCase();
  const found = repos.find((repo) => repo.name.toLowerCase() === lower);
  if (!found) {
    throw new GitSwarmError(
      'repo_not_found',
      `The server at ${client.url} has no repository ${JSON.stringify(ref)} this agent can read.`,
      {
        hint: 'Check the id or name; a private repository needs an API key (--api-key or GITSWARM_API_KEY).',
      },
    );
  }
  return found;
}

/** The settings of the local repository row the server repository is created with. */
const CARRIED_SETTINGS = [
  'merge_mode',
  'ownership_model',
  'consensus_threshold',
  'min_reviews',
  'buffer_branch',
  'promote_target',
  'stabilize_command',
] as const;

/**
 * Creates the server repository with the local repository's name and settings; the key's owner
 * (the agent just registered) becomes its owner. Creation is not repeated on a retry: a POST
 * without an Idempotency-Key is not retried unless it was never sent, and this one carries a key.
 */
export async function createServerRepo(client: GitSwarmClient, local: Repo): Promise<ServerRepo> {
  const settings: Record<string, unknown> = {};
  for (const key of CARRIED_SETTINGS) {
    if (local[key] !== null && local[key] !== undefined) settings[key] = local[key];
  }
  const { repo } = await client.post<{ repo: ServerRepo }>(
    '/repos',
    { name: local.name, ...settings },
    { idempotencyKey: true },
  );
  return repo;
}
