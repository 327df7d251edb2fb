/**
 * Mode B: the buffer's history as far as the server knows it without a clone. Each reported merge
 * (its first parent checked against the head recorded here) and each reported revert moves the
 * recorded head; the commits the server knows on the buffer are that head and the merge rows'
 * merge commits, first parents and revert commits. Stabilization results may name only these.
 */
import { isObjectId } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, lockedTransaction, type Repo } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from '../repos/repos.js';

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

export interface SetBufferHeadInput {
  repo: Repo;
  actor: Agent;
  commit: string;
  /** The head the admin read (null: none recorded); a different recorded head is ref_moved. */
  previous: string | null;
}

/**
 * An admin records the buffer head when it moved outside the reports (a push the server never
 * heard of), so merges made on the real buffer tie to it again. Compare-and-swap on the recorded
 * head; recorded in the activity log (`buffer.head_set`).
 */
export async function setBufferHead(
  deps: CoreDeps,
  input: SetBufferHeadInput,
): Promise<{ buffer_head: string }> {
  for (const value of [input.commit, input.previous]) {
    if (value !== null && !isObjectId(value)) {
      throw new GitSwarmError('invalid_input', 'A commit is a full commit id (40 or 64 hex digits).');
    }
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const repo = await getRepo(trx, input.repo.id);
    await requireAction(deps, trx, repo, input.actor, 'settings');
    const current = await getReportedBufferHead(trx, repo.id);
    if (current !== input.previous) {
      throw new GitSwarmError(
        'ref_moved',
        `The recorded ${repo.buffer_branch} head is ${current ?? 'none'}, not ${input.previous ?? 'none'}.`,
        {
          details: { buffer_head: current },
        },
      );
    }
    if (current !== input.commit) {
      await setReportedBufferHead(deps, trx, {
        repoId: repo.id,
        commit: input.commit,
        agentId: input.actor.id,
      });
      await recordActivity(deps, trx, {
        event: 'buffer.head_set',
        repoId: repo.id,
        agentId: input.actor.id,
        metadata: { branch: repo.buffer_branch, previous: current, head: input.commit },
      });
    }
    return { buffer_head: input.commit };
  });
}
