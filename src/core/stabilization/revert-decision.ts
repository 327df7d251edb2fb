/**
 * Whether a red stabilization's culprit merge is reverted automatically: the one rule, used by
 * the local stabilizer (Mode A) and by the server answering a connected clone's red report
 * (Mode B), which then pushes the revert itself.
 */
import type { Executor, Repo, Stream } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import type { RevertDecision } from './stabilization-text.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** `revert`, or why not: already reverted, auto-revert off, the stream opted out, the daily cap reached. */
export async function decideAutoRevert(
  deps: CoreDeps,
  db: Executor,
  input: {
    repo: Pick<Repo, 'id' | 'auto_revert_on_red' | 'max_auto_reverts_per_day'>;
    stream: Pick<Stream, 'auto_revert_opt_out'>;
    merge: { reverted_at: string | null };
  },
): Promise<'revert' | Exclude<RevertDecision, 'reverted' | 'conflicted' | 'no_culprit'>> {
  if (input.merge.reverted_at) return 'already_reverted';
  if (!input.repo.auto_revert_on_red) return 'auto_revert_off';
  if (input.stream.auto_revert_opt_out) return 'opted_out';
  if ((await countAutoRevertsToday(deps, db, input.repo.id)) >= input.repo.max_auto_reverts_per_day) {
    return 'daily_limit';
  }
  return 'revert';
}

/** Automatic reverts of the last 24 hours (a rolling day), as recorded on red stabilizations. */
export async function countAutoRevertsToday(deps: CoreDeps, db: Executor, repoId: string): Promise<number> {
  const since = new Date(deps.clock.now().getTime() - DAY_MS).toISOString();
  const rows = await db
    .selectFrom('gitswarm_stabilizations')
    .select('details')
    .where('repo_id', '=', repoId)
    .where('result', '=', 'red')
    .where('stabilized_at', '>=', since)
    .execute();
  return rows.filter((row) => row.details.auto_reverted === true).length;
}
