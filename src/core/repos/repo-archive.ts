/**
 * Archiving a repository (`DELETE /repos/:id`): its status becomes `archived` (admin only). Rows
 * stay for history; archived repositories leave the repository list.
 */
import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor, Repo } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from './repos.js';

/** Archives the repository; archiving it again is refused with `invalid_state`. */
export async function archiveRepo(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; actor: Agent },
): Promise<Repo> {
  const repo = await getRepo(db, input.repo.id);
  await requireAction(deps, db, repo, input.actor, 'settings');
  if (repo.status === 'archived') {
    throw new GitSwarmError('invalid_state', `Repository ${repo.name} is already archived.`);
  }
  const archived = await db
    .updateTable('gitswarm_repos')
    .set({ status: 'archived', updated_at: isoNow(deps.clock) })
    .where('id', '=', repo.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'repo.archived',
    repoId: repo.id,
    agentId: input.actor.id,
    targetType: 'repo',
    targetId: repo.id,
    metadata: { name: repo.name },
  });
  return archived;
}
