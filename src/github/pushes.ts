/**
 * Pushes to a linked repository's buffer or promote target seen on GitHub. A push to the buffer
 * records its new head (core/sync/reported-buffer.ts), so merges reported afterwards tie to it; a push
 * to the promote target is a promotion made on GitHub, recorded as a reported one is
 * (core/stabilization/buffer-promotion.ts recordPromotion, logged in the operation log). Other branches,
 * tags and branch deletions change nothing here (a PR's new commits arrive as synchronize).
 */
import { recordActivity } from '../core/activity/activity.js';
import type { CoreDeps } from '../core/deps.js';
import { getRepo } from '../core/repos/repos.js';
import { recordPromotion } from '../core/stabilization/buffer-promotion.js';
import { recordReportedMove } from '../core/sync/remote-sync.js';
import { getReportedBufferHead, setReportedBufferHead } from '../core/sync/reported-buffer.js';
import { isObjectId } from '../engine/names.js';
import { lockedTransaction, type Repo, withRepoLock } from '../store/index.js';
import { agentForGitHubUser, type GitHubUser } from './users.js';

/** The parts of GitHub's push payload read here. */
export interface PushPayload {
  ref: string;
  before: string;
  after: string;
  deleted?: boolean;
  sender?: GitHubUser;
}

const ZERO = /^0+$/;

/** Applies a push event; returns what it did. */
export async function applyPushEvent(deps: CoreDeps, repo: Repo, payload: PushPayload): Promise<string> {
  const prefix = 'refs/heads/';
  if (!payload.ref.startsWith(prefix)) return `ignored: ${payload.ref} is not a branch`;
  const branch = payload.ref.slice(prefix.length);
  if (payload.deleted || ZERO.test(payload.after) || !isObjectId(payload.after))
    return 'ignored: branch deleted';
  const pusher = payload.sender ? await agentForGitHubUser(deps, payload.sender) : null;
  if (branch === repo.buffer_branch) {
    return lockedTransaction(deps.store, repo.id, async (trx) => {
      const previous = await getReportedBufferHead(trx, repo.id);
      if (previous === payload.after) return 'ignored: buffer head already recorded';
      await setReportedBufferHead(deps, trx, {
        repoId: repo.id,
        commit: payload.after,
        agentId: pusher?.id ?? null,
      });
      await recordActivity(deps, trx, {
        event: 'buffer.head_set',
        repoId: repo.id,
        agentId: pusher?.id ?? null,
        metadata: { branch: repo.buffer_branch, previous, head: payload.after, source: 'github_push' },
      });
      return 'handled';
    });
  }
  if (branch === repo.promote_target) {
    return withRepoLock(deps.store, repo.id, async () => {
      const current = await getRepo(deps.store.db, repo.id);
      const existing = await deps.store.db
        .selectFrom('gitswarm_promotions')
        .select('id')
        .where('repo_id', '=', current.id)
        .where('to_branch', '=', current.promote_target)
        .where('to_commit', '=', payload.after)
        .executeTakeFirst();
      if (existing) return 'ignored: promotion already recorded';
      const fromCommit = isObjectId(payload.before) && !ZERO.test(payload.before) ? payload.before : null;
      await recordReportedMove(
        deps,
        current.id,
        {
          ref: `refs/heads/${current.promote_target}`,
          old: fromCommit,
          new: payload.after,
          kind: 'promote',
          description: `Promote ${current.buffer_branch} to ${current.promote_target} on GitHub`,
          agentId: pusher?.id ?? null,
        },
        (trx, opId, oplog) =>
          recordPromotion(deps, trx, {
            repo: current,
            fromCommit,
            toCommit: payload.after,
            trigger: 'manual',
            agentId: pusher?.id ?? null,
            opId,
            oplog,
          }),
      );
      return 'handled';
    });
  }
  return `ignored: push to ${branch}`;
}
