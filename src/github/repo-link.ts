/**
 * A repository is linked to one GitHub repository by `github_full_name` (`owner/name`, set on
 * POST or PATCH /repos; repo-settings.ts validates its form). One GitHub repository feeds at most
 * one repository of the server, compared without case as GitHub does (a unique index backs this).
 */

import { sql } from 'kysely';
import { GitSwarmError } from '../errors.js';
import type { Executor, Repo } from '../store/index.js';

/** The active repository linked to `owner/name`, or undefined. */
export async function findLinkedRepo(db: Executor, fullName: string): Promise<Repo | undefined> {
  return db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where(sql`lower(github_full_name)`, '=', fullName.toLowerCase())
    .executeTakeFirst();
}

/** Throws already_exists when another repository is linked to `owner/name`. */
export async function assertGitHubNameFree(
  db: Executor,
  fullName: string,
  repoId: string | null,
): Promise<void> {
  const linked = await findLinkedRepo(db, fullName);
  if (linked && linked.id !== repoId) {
    throw new GitSwarmError(
      'already_exists',
      `GitHub repository ${fullName} is linked to another repository.`,
      {
        hint: 'Unlink it there first (PATCH /api/v1/repos/:id with "github_full_name": null).',
        details: { repo_id: linked.id },
      },
    );
  }
}
