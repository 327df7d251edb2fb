/**
 * Promotion: fast-forwarding the promote target (main) to the buffer head, with a record of it.
 * `assertPromotable` is the one place the rules of when a promotion may happen live.
 */

import { OpLog } from '../../engine/oplog.js';
import { fastForward } from '../../engine/promote.js';
import { isAncestor, readRef } from '../../engine/repo.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type PromotionTrigger,
  type Repo,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { failpoint } from '../../util/failpoints.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { assertStageAllowsPromote } from '../governance/stages.js';
import { getRepo } from '../repos/repos.js';
import { assertCheckoutsClean, syncCheckouts } from '../streams/checked-out-branches.js';
import { branchHead } from '../streams/stream-cascade.js';
import { repoRoot } from '../streams/workspace-paths.js';
import { resolvePromotionTarget } from './promotion-target.js';

export interface PromoteBufferInput {
  repo: Repo;
  /** Who promotes; null for automatic promotion or a council decision. */
  actor: Agent | null;
  trigger: 'manual' | 'auto' | 'council';
  /** Promote even where the rules (see assertPromotable) would refuse; admins only. */
  force?: boolean;
}

export interface PromoteBufferResult {
  promoted: boolean;
  from_commit: string | null;
  to_commit: string;
}

export interface PromotionCheck {
  repo: Repo;
  actor: Agent | null;
  /** The buffer commit the target would move to. */
  bufferHead: string;
  /** The target's current head (null when the branch does not exist yet). */
  targetHead: string | null;
  force: boolean;
  /** Why the promotion happens: the mature stage admits only the council's and the stabilizer's. */
  trigger: 'manual' | 'auto' | 'council';
}

/**
 * Throws unless the buffer head may be promoted: the actor may merge (maintain+), a forced
 * promotion needs admin, and in the mature stage only the council or the stabilizer promotes.
 * Stabilization adds its rule (not past the last green unless forced) here.
 */
export async function assertPromotable(deps: CoreDeps, db: Executor, check: PromotionCheck): Promise<void> {
  if (check.actor) {
    await requireAction(deps, db, check.repo, check.actor, check.force ? 'settings' : 'merge');
  }
  await assertStageAllowsPromote(db, check.repo, check.trigger);
}

/**
 * Fast-forwards the promote target to the buffer head (to its newest green commit when the
 * repository has a stabilize command, unless forced) and records the promotion.
 */
export async function promoteBuffer(deps: CoreDeps, input: PromoteBufferInput): Promise<PromoteBufferResult> {
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    const bufferHead = await branchHead(repoDir, repo.buffer_branch);
    const targetHead = await readRef(repoDir, `refs/heads/${repo.promote_target}`);
    const force = input.force === true;
    await assertPromotable(deps, deps.store.db, {
      repo,
      actor: input.actor,
      bufferHead,
      targetHead,
      force,
      trigger: input.trigger,
    });
    // Main never moves past the newest green commit on the buffer unless forced (promotion-target.ts).
    const { commit: to } = await resolvePromotionTarget(repo, bufferHead, { force });
    if (targetHead === to || (targetHead !== null && (await isAncestor(repoDir, to, targetHead)))) {
      return { promoted: false, from_commit: targetHead, to_commit: to };
    }
    const checkouts = await assertCheckoutsClean(
      repoDir,
      repo.promote_target,
      targetHead ? { from: targetHead, to: bufferHead } : undefined,
    );
    failpoint('promote.after-check');
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    const moved = await fastForward(repoDir, {
      target: repo.promote_target,
      to,
      oplog,
      agentId: input.actor?.id ?? null,
    });
    if (!moved.moved || !moved.opId) {
      return { promoted: false, from_commit: moved.from, to_commit: moved.to };
    }
    const opId = moved.opId;
    // Checkouts of the target follow it before the record completes the operation (see mergeStream).
    if (moved.from) await syncCheckouts(checkouts, moved.from, moved.to);
    failpoint('promote.after-checkout-sync');
    await inTransaction(deps.store.db, (trx) =>
      recordPromotion(deps, trx, {
        repo,
        fromCommit: moved.from,
        toCommit: moved.to,
        trigger: force ? 'forced' : input.trigger,
        agentId: input.actor?.id ?? null,
        opId,
        oplog,
      }),
    );
    failpoint('promote.after-record');
    return { promoted: true, from_commit: moved.from, to_commit: moved.to };
  });
}

export interface RecordPromotionInput {
  repo: Repo;
  fromCommit: string | null;
  toCommit: string;
  trigger: PromotionTrigger | null;
  agentId: string | null;
  opId: string;
  oplog: OpLog;
  recovered?: boolean;
}

/** Records a promotion and completes its operation; idempotent per (target, to commit). */
export async function recordPromotion(
  deps: CoreDeps,
  db: Executor,
  input: RecordPromotionInput,
): Promise<void> {
  const { repo } = input;
  const existing = await db
    .selectFrom('gitswarm_promotions')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('to_branch', '=', repo.promote_target)
    .where('to_commit', '=', input.toCommit)
    .executeTakeFirst();
  if (!existing) {
    await db
      .insertInto('gitswarm_promotions')
      .values({
        id: newId(),
        repo_id: repo.id,
        from_branch: repo.buffer_branch,
        to_branch: repo.promote_target,
        from_commit: input.fromCommit,
        to_commit: input.toCommit,
        triggered_by: input.trigger,
        agent_id: input.agentId,
        promoted_at: isoNow(deps.clock),
      })
      .execute();
    await recordActivity(deps, db, {
      event: 'buffer.promoted',
      repoId: repo.id,
      agentId: input.agentId,
      targetType: 'branch',
      targetId: repo.promote_target,
      metadata: {
        from_commit: input.fromCommit,
        to_commit: input.toCommit,
        trigger: input.trigger,
        ...(input.recovered ? { recovered: true } : {}),
      },
    });
  }
  await input.oplog.complete(input.opId, db);
}
