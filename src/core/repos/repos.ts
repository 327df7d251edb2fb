import { sql } from 'kysely';
import { assertValidName } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, inTransaction, type Repo, toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { parseRepoSettings } from './repo-settings.js';

export interface CreateRepoInput {
  name: string;
  path?: string | null;
  settings?: Record<string, unknown>;
  /** Who creates it; becomes the owner. */
  owner?: Agent;
  /** Mode C (src/hosting/server-repos.ts): the id its git was created under, in the server's data dir. */
  id?: string;
  /** Mode C: the server holds its git at `path`. */
  serverGit?: boolean;
  /** Mode C: where the server pushes the buffer and main after every change. */
  remoteUrl?: string | null;
  /** The buffer's starting commit, when the caller created the buffer (see bisect-range.ts). */
  bufferBaseline?: string | null;
}

/** Repository names follow the agent-name rules: no control or bidi characters, no leading "-". */
function assertValidRepoName(name: unknown): void {
  if (typeof name !== 'string') throw new GitSwarmError('invalid_name', 'A repository name is text.');
  assertValidName('repository', name);
}

/** The settings a new repository would get, validated (throws before anything is written). */
export function validateNewRepo(input: Pick<CreateRepoInput, 'name' | 'settings'>) {
  assertValidRepoName(input.name);
  const settings = parseRepoSettings({ ...input.settings, name: input.name });
  if ((settings.buffer_branch ?? 'buffer') === (settings.promote_target ?? 'main')) {
    throw new GitSwarmError('invalid_input', 'The buffer branch and the promote target must differ.');
  }
  return settings;
}

/**
 * Throws already_exists when another repository is linked to the GitHub repository `owner/name`:
 * one GitHub repository feeds one repository here, compared without case as GitHub does (a
 * unique index backs this against races).
 */
async function assertGitHubNameFree(db: Executor, fullName: unknown, repoId: string | null): Promise<void> {
  if (typeof fullName !== 'string') return;
  const linked = await db
    .selectFrom('gitswarm_repos')
    .select('id')
    .where(sql`lower(github_full_name)`, '=', fullName.toLowerCase())
    .executeTakeFirst();
  if (linked && linked.id !== repoId) {
    throw new GitSwarmError(
      'already_exists',
      `GitHub repository ${fullName} is linked to another repository.`,
      {
        hint: 'Unlink it there first: set its github_full_name to null.',
        details: { repo_id: linked.id },
      },
    );
  }
}

export async function createRepo(deps: CoreDeps, input: CreateRepoInput): Promise<Repo> {
  const settings = validateNewRepo(input);
  return inTransaction(deps.store.db, async (trx) => {
    await assertGitHubNameFree(trx, settings.github_full_name, null);
    const now = isoNow(deps.clock);
    const repo = await trx
      .insertInto('gitswarm_repos')
      .values({
        ...settings,
        id: input.id ?? newId(),
        name: input.name,
        path: input.path ?? null,
        ...(input.serverGit ? { server_git: true } : {}),
        ...(input.remoteUrl ? { remote_url: input.remoteUrl, upstream_status: 'pending' as const } : {}),
        ...(input.bufferBaseline ? { buffer_baseline: input.bufferBaseline } : {}),
        metadata: settings.metadata ?? toJson({}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    if (input.owner) {
      await trx
        .insertInto('gitswarm_maintainers')
        .values({ id: newId(), repo_id: repo.id, agent_id: input.owner.id, role: 'owner', created_at: now })
        .execute();
    }
    await recordActivity(deps, trx, {
      event: 'repo.initialized',
      repoId: repo.id,
      agentId: input.owner?.id ?? null,
      targetType: 'repo',
      targetId: repo.id,
      metadata: { name: repo.name, merge_mode: repo.merge_mode, ownership_model: repo.ownership_model },
    });
    return repo;
  });
}

export async function getRepo(db: Executor, repoId: string): Promise<Repo> {
  const repo = await db.selectFrom('gitswarm_repos').selectAll().where('id', '=', repoId).executeTakeFirst();
  if (!repo) throw new GitSwarmError('repo_not_found', `No repository with id ${repoId}`);
  return repo;
}

export async function listRepos(db: Executor): Promise<Repo[]> {
  return db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where('status', '=', 'active')
    .orderBy('created_at')
    .execute();
}

export interface UpdateRepoSettingsInput {
  repo: Repo;
  /** Who asks (admin+); null when a passed council proposal executes it. */
  actor: Agent | null;
  changes: Record<string, unknown>;
}

/** Changes repository settings after validating every key and value. */
export async function updateRepoSettings(
  deps: CoreDeps,
  db: Executor,
  input: UpdateRepoSettingsInput,
): Promise<Repo> {
  if (input.actor) await requireAction(deps, db, input.repo, input.actor, 'settings');
  if (input.changes.name !== undefined) assertValidRepoName(input.changes.name);
  // Settings kept in metadata merge into the row as it is now, not as the caller read it.
  const current = await getRepo(db, input.repo.id);
  const update = parseRepoSettings(input.changes, current.metadata);
  await assertGitHubNameFree(db, update.github_full_name, current.id);
  const buffer = update.buffer_branch ?? input.repo.buffer_branch;
  const target = update.promote_target ?? input.repo.promote_target;
  if (buffer === target)
    throw new GitSwarmError('invalid_input', 'The buffer branch and the promote target must differ.');
  const repo = await db
    .updateTable('gitswarm_repos')
    .set({ ...update, updated_at: isoNow(deps.clock) })
    .where('id', '=', input.repo.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'repo.settings_changed',
    repoId: repo.id,
    agentId: input.actor?.id ?? null,
    targetType: 'repo',
    targetId: repo.id,
    metadata: { changes: update },
  });
  return repo;
}
