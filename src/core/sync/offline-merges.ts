/**
 * Offline merges (Mode B). A clone whose server does not answer may merge a stream in review or
 * gated mode only when the repository's `offline_merges` setting is `allow`; it then reports the
 * merge with `offline: true` once the server answers again. The merge is already in git by then,
 * so the server does not refuse it for want of consensus: it re-checks consensus, and when the
 * stream had none (or its merged head was never approved) it records the merge as disputed — the
 * activity event `stream.merge_disputed` and a critical task for the agent who merged — so people
 * decide (revert it, or review it after the fact). Every other check (access, live stream,
 * dependencies, the commit tying to the approved history) still refuses.
 */
import type { Agent, Executor, Repo, Stream } from '../../store/index.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { repoSetting } from '../repos/repo-settings.js';
import type { ConsensusResult } from '../streams/consensus.js';
import { fileCriticalTask } from '../tasks/tasks.js';

export type OfflineMergesSetting = 'refuse' | 'allow';

/** Whether the repository accepts merges made while its server was unreachable. */
export function offlineMergesAllowed(repo: Pick<Repo, 'metadata'>): boolean {
  return repoSetting(repo, 'offline_merges') === 'allow';
}

/** Why the server disagrees with an offline merge it records. */
export interface MergeDispute {
  reason: string;
  consensus: ConsensusResult | null;
}

/** Records a disputed offline merge: the event and one critical task, in the merge's transaction. */
export async function recordMergeDispute(
  deps: CoreDeps,
  trx: Executor,
  input: { repo: Repo; stream: Stream; actor: Agent; mergeCommit: string; dispute: MergeDispute },
): Promise<{ task_id: string }> {
  const { repo, stream, actor, dispute } = input;
  const task = await fileCriticalTask(deps, trx, {
    repo,
    title: `Disputed offline merge: stream ${stream.name} merged into ${repo.buffer_branch} without consensus`,
    description: [
      `${actor.name} merged stream ${stream.name} (${stream.id}) into ${repo.buffer_branch} as ${input.mergeCommit} while the server was unreachable (offline_merges allow).`,
      `The server's check on the report disagrees: ${dispute.reason}`,
      '',
      'Review the stream after the fact, or revert the merge.',
    ].join('\n'),
    assigneeId: actor.id,
    createdBy: null,
  });
  await recordActivity(deps, trx, {
    event: 'stream.merge_disputed',
    repoId: repo.id,
    agentId: actor.id,
    targetType: 'stream',
    targetId: stream.id,
    metadata: {
      merge_commit: input.mergeCommit,
      reason: dispute.reason,
      consensus: dispute.consensus,
      task_id: task.id,
    },
  });
  return { task_id: task.id };
}
