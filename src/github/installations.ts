/**
 * The GitHub App's installations and the repositories each can reach, as installation events
 * report them: `installation` created/deleted/suspend/unsuspend and `installation_repositories`
 * added/removed. The REST client finds the installation to mint a token for with
 * {@link findInstallationFor}.
 */
import { recordActivity } from '../core/activity/activity.js';
import type { CoreDeps } from '../core/deps.js';
import { type Executor, inTransaction } from '../store/index.js';
import { isoNow } from '../util/clock.js';

/** The parts of GitHub's installation payloads read here. */
export interface InstallationPayload {
  action?: string;
  installation?: { id: number; account?: { login?: string; type?: string } | null };
  repositories?: { id: number; full_name: string }[];
  repositories_added?: { id: number; full_name: string }[];
  repositories_removed?: { id: number; full_name?: string }[];
}

export interface InstallationRecord {
  installation_id: number;
  account_login: string;
  suspended: boolean;
}

/** The installation that can reach `owner/name` (case-insensitive), or null; suspended ones are skipped. */
export async function findInstallationFor(
  db: Executor,
  fullName: string,
): Promise<InstallationRecord | null> {
  const row = await db
    .selectFrom('gitswarm_github_installation_repos as r')
    .innerJoin('gitswarm_github_installations as i', 'i.installation_id', 'r.installation_id')
    .select(['i.installation_id', 'i.account_login', 'i.suspended'])
    .where('r.full_name', '=', fullName.toLowerCase())
    .where('i.suspended', '=', false)
    .orderBy('i.updated_at', 'desc')
    .executeTakeFirst();
  return row ? { ...row, installation_id: Number(row.installation_id) } : null;
}

async function addRepos(db: Executor, installationId: number, repos: { id: number; full_name: string }[]) {
  for (const repo of repos) {
    await db
      .insertInto('gitswarm_github_installation_repos')
      .values({
        installation_id: installationId,
        github_repo_id: repo.id,
        full_name: repo.full_name.toLowerCase(),
      })
      .onConflict((oc) =>
        oc
          .columns(['installation_id', 'github_repo_id'])
          .doUpdateSet({ full_name: repo.full_name.toLowerCase() }),
      )
      .execute();
  }
}

/**
 * Applies an installation or installation_repositories event; returns what it did (`ignored: …`
 * for actions that change nothing here). Writes `github.installation_changed`.
 */
export async function applyInstallationEvent(
  deps: CoreDeps,
  event: 'installation' | 'installation_repositories',
  payload: InstallationPayload,
): Promise<string> {
  const installation = payload.installation;
  if (!installation || typeof installation.id !== 'number') return 'ignored: no installation';
  const id = installation.id;
  const action = payload.action ?? '';
  return inTransaction(deps.store.db, async (trx) => {
    const now = isoNow(deps.clock);
    const upsert = async (suspended: boolean) =>
      trx
        .insertInto('gitswarm_github_installations')
        .values({
          installation_id: id,
          account_login: installation.account?.login ?? '',
          account_type: installation.account?.type ?? null,
          suspended,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('installation_id').doUpdateSet({
            account_login: installation.account?.login ?? '',
            suspended,
            updated_at: now,
          }),
        )
        .execute();
    if (event === 'installation' && action === 'deleted') {
      await trx.deleteFrom('gitswarm_github_installation_repos').where('installation_id', '=', id).execute();
      await trx.deleteFrom('gitswarm_github_installations').where('installation_id', '=', id).execute();
    } else if (event === 'installation' && (action === 'created' || action === 'unsuspend')) {
      await upsert(false);
      await addRepos(trx, id, payload.repositories ?? []);
    } else if (event === 'installation' && action === 'suspend') {
      await upsert(true);
    } else if (event === 'installation_repositories' && (action === 'added' || action === 'removed')) {
      await upsert(false);
      await addRepos(trx, id, payload.repositories_added ?? []);
      const removed = (payload.repositories_removed ?? []).map((r) => r.id);
      if (removed.length > 0) {
        await trx
          .deleteFrom('gitswarm_github_installation_repos')
          .where('installation_id', '=', id)
          .where('github_repo_id', 'in', removed)
          .execute();
      }
    } else {
      return `ignored: ${event}.${action}`;
    }
    await recordActivity(deps, trx, {
      event: 'github.installation_changed',
      repoId: null,
      agentId: null,
      metadata: {
        installation_id: id,
        account: installation.account?.login ?? null,
        action: `${event}.${action}`,
        added: (payload.repositories_added ?? payload.repositories ?? []).map((r) => r.full_name),
        removed: (payload.repositories_removed ?? []).map((r) => r.full_name ?? String(r.id)),
      },
    });
    return 'handled';
  });
}
