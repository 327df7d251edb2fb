/**
 * What else changes when a stream merges or its merge is reverted: karma, reviewer stats, stage
 * metrics, linked tasks. Federation calls these inside the merge or revert transaction, so the
 * consequences commit (or roll back) with the change itself.
 */
import type { Executor, Repo, Stream } from '../store/index.js';
import type { CoreDeps } from './deps.js';

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

export async function onStreamMerged(_deps: CoreDeps, _db: Executor, _event: StreamMergedEvent): Promise<void> {}

export async function onStreamReverted(_deps: CoreDeps, _db: Executor, _event: StreamRevertedEvent): Promise<void> {}
