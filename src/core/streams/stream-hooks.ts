/**
 * What else changes when a stream merges or its merge is reverted: karma, reviewer stats, stage
 * metrics, linked tasks. Federation calls these inside the merge or revert transaction, so the
 * consequences commit (or roll back) with the change itself.
 */
import type { Executor, Repo, Stream } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';
import { awardMergeKarma, penalizeRevertedStream } from '../governance/karma.js';
import { updateReviewerStatsForStream } from '../governance/reviewer-stats.js';
import { refreshStageMetrics } from '../governance/stages.js';
import { submitClaimsOfMergedStream } from '../tasks/task-claims.js';

export interface StreamMergedEvent {
  repo: Repo;
  stream: Stream;
  mergeCommit: string;
  actorId: string | null;
}

export interface StreamRevertedEvent {
  repo: Repo;
  stream: Stream;
  revertCommit: string;
}

export async function onStreamMerged(deps: CoreDeps, db: Executor, event: StreamMergedEvent): Promise<void> {
  // After the gitswarm_merges row is written: counts the merge and may advance the stage.
  await refreshStageMetrics(deps, db, event.repo);
  // Author +5, each approver +1; reviewers' accuracy counts this merge; linked claims are handed in.
  await awardMergeKarma(deps, db, event);
  await updateReviewerStatsForStream(deps, db, { ...event, outcome: 'merged' });
  await submitClaimsOfMergedStream(deps, db, event);
}

export async function onStreamReverted(
  deps: CoreDeps,
  db: Executor,
  event: StreamRevertedEvent,
): Promise<void> {
  // After the merge is marked reverted: the counts drop (the stage never moves back by itself).
  await refreshStageMetrics(deps, db, event.repo);
  // Author −10 (once per stream); approvals of this stream now count as wrong.
  await penalizeRevertedStream(deps, db, event);
  await updateReviewerStatsForStream(deps, db, { ...event, outcome: 'reverted' });
}
