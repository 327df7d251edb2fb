/**
 * Mode B: the buffer's history as far as the server knows it without a clone. Each reported merge
 * (its first parent checked against the head recorded here) and each reported revert moves the
 * recorded head; the commits the server knows on the buffer are that head and the merge rows'
 * merge commits, first parents and revert commits. Stabilization results may name only these.
 */
import type { Executor, Repo } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import type { CoreDeps } from './deps.js';

/** The buffer head a client last reported, or null before the first reported merge. */
export async function getReportedBufferHead(db: Executor, repoId: string): Promise<string | null> {
  const row = await db
    .selectFrom('gitswarm_buffer_heads')
    .select('head_commit')
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  return row?.head_commit ?? null;
}

/** Records the buffer's new head (a merge or revert commit a client reported). */
export async function setReportedBufferHead(
  deps: CoreDeps,
  db: Executor,
  input: { repoId: string; commit: string; agentId: string | null },
): Promise<void> {
  const updatedAt = isoNow(deps.clock);
  await db
    .insertInto('gitswarm_buffer_heads')
    .values({
      repo_id: input.repoId,
      head_commit: input.commit,
      agent_id: input.agentId,
      updated_at: updatedAt,
    })
    .onConflict((oc) =>
      oc
        .column('repo_id')
        .doUpdateSet({ head_commit: input.commit, agent_id: input.agentId, updated_at: updatedAt }),
    )
    .execute();
}

/** Whether the commit is the recorded buffer head or one the server recorded on the buffer before. */
export async function isKnownBufferCommit(db: Executor, repo: Repo, commit: string): Promise<boolean> {
  if ((await getReportedBufferHead(db, repo.id)) === commit) return true;
  const merge = await db
    .selectFrom('gitswarm_merges')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('target_branch', '=', repo.buffer_branch)
    .where((w) =>
      w.or([w('merge_commit', '=', commit), w('base_commit', '=', commit), w('revert_commit', '=', commit)]),
    )
    .executeTakeFirst();
  return merge !== undefined;
}
