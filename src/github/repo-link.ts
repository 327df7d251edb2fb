/**
 * A repository is linked to one GitHub repository by `github_full_name` (`owner/name`, set on
 * POST or PATCH /repos; repo-settings.ts validates its form, repos.ts keeps it to one repository
 * per GitHub name, compared without case as GitHub does).
 */

import { sql } from 'kysely';
import type { Executor, Repo } from '../store/index.js';

/** The repository linked to `owner/name` (any status), or undefined. */
export async function findLinkedRepo(db: Executor, fullName: string): Promise<Repo | undefined> {
  return db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where(sql`lower(github_full_name)`, '=', fullName.toLowerCase())
    .executeTakeFirst();
}
