/**
 * `gitswarm sync` on a connected clone: flush the outbox (queued writes and branch pushes, in
 * order), then pull what changed (every read the cache remembers, the repository's settings, and
 * the remote's refs when the caller can fetch). Repeating it changes nothing: sent entries are
 * gone, failed ones are never resent, and a read that answers the same is not counted as pulled.
 */
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { cachedPaths, cacheKey, storeCached } from './cache.js';
import type { OfflineContext } from './offline.js';
import { describeEntry, dropEntry, type OutboxItem, outboxSummary, replayOutbox } from './outbox.js';

export interface SyncDeps extends OfflineContext {
  /** Reads one API path (a GET under /api/v1); rejects with `server_unreachable` when there is no answer. */
  readonly get: (path: string) => Promise<unknown>;
  /** Fetches the remote's branches; resolves with how many refs moved (b-git's fetch). */
  readonly fetchRefs?: () => Promise<number>;
}

export interface SyncResult {
  /** Outbox entries sent (writes answered, pushes made) by this sync. */
  pushed: number;
  /** Cached reads (and fetched refs) that changed. */
  pulled: number;
  /** Entries still waiting. */
  pending: number;
  /** Entries the server refused for good, kept until dropped. */
  failed: number;
  failed_entries: OutboxItem[];
  /** The entry `--drop` removed. */
  dropped?: OutboxItem;
}

/** Removes one outbox entry (`sync --drop ID`); needs no server. */
export async function dropOutboxEntry(
  deps: Pick<OfflineContext, 'db' | 'serverUrl'>,
  ref: string,
): Promise<SyncResult> {
  const dropped = describeEntry(await dropEntry(deps.db, ref));
  const summary = await outboxSummary(deps.db, deps.serverUrl);
  return {
    pushed: 0,
    pulled: 0,
    pending: summary.pending,
    failed: summary.failed,
    failed_entries: summary.failed_entries,
    dropped,
  };
}

function unreachable(deps: SyncDeps, pending: number, failed: number, cause?: unknown): GitSwarmError {
  return new GitSwarmError(
    'server_unreachable',
    `${deps.serverUrl} did not answer; ${pending} change(s) wait in the outbox.`,
    {
      hint: 'Run gitswarm sync again once the server is up (nothing is lost; order is kept).',
      details: { pending, failed },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** Flushes the outbox, then pulls; throws `server_unreachable` (exit 4) when the server is down. */
export async function syncWithServer(deps: SyncDeps): Promise<SyncResult> {
  const replay = await replayOutbox(deps.db, {
    serverUrl: deps.serverUrl,
    send: deps.send,
    ...(deps.push ? { push: deps.push } : {}),
  });
  if (replay.stopped !== null) {
    if (replay.stoppedStatus === 401 && isGitSwarmError(replay.stoppedBy)) throw replay.stoppedBy;
    if (replay.stoppedStatus === 401) {
      throw new GitSwarmError('unauthorized', `The server refused the key: ${replay.stopped}`, {
        details: { pending: replay.pending, failed: replay.failed },
      });
    }
    throw unreachable(deps, replay.pending, replay.failed, replay.stoppedBy);
  }
  let pulled = 0;
  const paths = new Set(await cachedPaths(deps.db, deps.serverUrl));
  if (deps.repoId) paths.add(`/repos/${encodeURIComponent(deps.repoId)}`);
  for (const path of paths) {
    const key = cacheKey(deps.serverUrl, path);
    try {
      if (await storeCached(deps.db, key, await deps.get(path))) pulled += 1;
    } catch (error) {
      if (isGitSwarmError(error, 'server_unreachable'))
        throw unreachable(deps, replay.pending, replay.failed, error);
      if (!isGitSwarmError(error)) throw error;
      // The server no longer shows it (gone, or no longer ours to read): forget the stale copy.
      const removed = await deps.db
        .deleteFrom('gitswarm_remote_cache')
        .where('key', '=', key)
        .executeTakeFirst();
      if (Number(removed.numDeletedRows) > 0) pulled += 1;
    }
  }
  if (deps.fetchRefs) pulled += await deps.fetchRefs();
  const summary = await outboxSummary(deps.db, deps.serverUrl);
  return {
    pushed: replay.pushed,
    pulled,
    pending: summary.pending,
    failed: summary.failed,
    failed_entries: summary.failed_entries,
  };
}
