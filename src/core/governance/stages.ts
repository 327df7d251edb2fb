/**
 * The repository's lifecycle stage: seed → growth → established → mature.
 *
 * Metrics: contributors (distinct authors of merged, not reverted streams), merged streams (merged
 * and not reverted), maintainers (owner and maintainers), and for mature an active council.
 * Thresholds to enter a stage (contributors / merged streams / maintainers):
 *   growth 2 / 3 / 1, established 5 / 10 / 2, mature 10 / 25 / 3 plus an active council.
 *
 * A repository advances by itself: every merge (and revert) refreshes repos.contributor_count and
 * repos.patch_count and moves the stage forward as far as it is eligible, one recorded step at a
 * time (gitswarm_stage_history with the metrics, activity `stage.advanced`). Stages never move back
 * by themselves; an admin may advance one step when eligible, or force any stage.
 *
 * What each stage changes by default: seed, growth and established change no rule (they tell
 * agents and people how far the project has come). In mature, promotion needs the council: an
 * agent's promote is refused with a hint to propose `promote` (see `assertStageAllowsPromote`);
 * a passed promote proposal (actor null) and automatic promotion after a green stabilization
 * (actor null, governed by auto_promote_on_green) still promote.
 */
import { sql } from 'kysely';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  lockedTransaction,
  type PromotionTrigger,
  type Repo,
  type RepoStage,
  toJson,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { getRepo } from '../repos/repos.js';
import { requireAction } from './access.js';

export const STAGES: readonly RepoStage[] = ['seed', 'growth', 'established', 'mature'];

export interface StageRequirements {
  contributors: number;
  merged_streams: number;
  maintainers: number;
  council_active: boolean;
}

/** What a repository needs to enter each stage after seed. */
export const STAGE_REQUIREMENTS: Readonly<Record<Exclude<RepoStage, 'seed'>, StageRequirements>> = {
  growth: { contributors: 2, merged_streams: 3, maintainers: 1, council_active: false },
  established: { contributors: 5, merged_streams: 10, maintainers: 2, council_active: false },
  mature: { contributors: 10, merged_streams: 25, maintainers: 3, council_active: true },
};

export interface StageMetrics {
  contributors: number;
  merged_streams: number;
  maintainers: number;
  council_active: boolean;
}

export function isRepoStage(value: string): value is RepoStage {
  return (STAGES as readonly string[]).includes(value);
}

export function nextStage(stage: RepoStage): Exclude<RepoStage, 'seed'> | null {
  const next = STAGES[STAGES.indexOf(stage) + 1];
  return (next as Exclude<RepoStage, 'seed'> | undefined) ?? null;
}

/** Measures the repository now. */
export async function measureStageMetrics(db: Executor, repoId: string): Promise<StageMetrics> {
  // One statement, one round trip: every merge measures these inside its transaction. An
  // aggregate without GROUP BY gives one row even when nothing has merged.
  const row = await db
    .selectFrom('gitswarm_merges as m')
    .innerJoin('gitswarm_streams as s', 's.id', 'm.stream_id')
    .where('m.repo_id', '=', repoId)
    .where('m.reverted_at', 'is', null)
    .select((eb) => [
      eb.fn.count<number>('s.agent_id').distinct().as('contributors'),
      eb.fn.count<number>('m.stream_id').distinct().as('merged_streams'),
      // Written out: Kysely would name the subquery's column, and nothing reads that name.
      sql<number>`(select count(*) from ${sql.table('gitswarm_maintainers')} where repo_id = ${repoId})`.as(
        'maintainers',
      ),
      // At most one row: a repository has at most one council.
      eb.selectFrom('gitswarm_repo_councils').select('status').where('repo_id', '=', repoId).as('council'),
    ])
    .executeTakeFirstOrThrow();
  return {
    contributors: Number(row.contributors),
    merged_streams: Number(row.merged_streams),
    maintainers: Number(row.maintainers),
    council_active: row.council === 'active',
  };
}

/** The unmet requirements of a stage, as sentences (empty when eligible). */
export function missingRequirements(metrics: StageMetrics, requirements: StageRequirements): string[] {
  const missing: string[] = [];
  if (metrics.contributors < requirements.contributors) {
    missing.push(`${requirements.contributors} contributors (has ${metrics.contributors})`);
  }
  if (metrics.merged_streams < requirements.merged_streams) {
    missing.push(`${requirements.merged_streams} merged streams (has ${metrics.merged_streams})`);
  }
  if (metrics.maintainers < requirements.maintainers) {
    missing.push(`${requirements.maintainers} maintainers (has ${metrics.maintainers})`);
  }
  if (requirements.council_active && !metrics.council_active) missing.push('an active council');
  return missing;
}

export interface StageInfo {
  stage: RepoStage;
  metrics: StageMetrics;
  next: {
    stage: Exclude<RepoStage, 'seed'>;
    requirements: StageRequirements;
    eligible: boolean;
    missing: string[];
  } | null;
}

/** The current stage, the metrics, and what the next stage needs. */
export async function stageInfo(db: Executor, repo: Repo): Promise<StageInfo> {
  const current = await getRepo(db, repo.id);
  const metrics = await measureStageMetrics(db, repo.id);
  const next = nextStage(current.stage);
  if (!next) return { stage: current.stage, metrics, next: null };
  const requirements = STAGE_REQUIREMENTS[next];
  const missing = missingRequirements(metrics, requirements);
  return {
    stage: current.stage,
    metrics,
    next: { stage: next, requirements, eligible: missing.length === 0, missing },
  };
}

async function recordTransition(
  deps: CoreDeps,
  db: Executor,
  input: {
    repo: Repo;
    from: RepoStage;
    to: RepoStage;
    metrics: StageMetrics;
    actorId: string | null;
    how: 'automatic' | 'advanced' | 'forced';
  },
): Promise<Repo> {
  const now = isoNow(deps.clock);
  // History is read in transitioned_at order: several steps recorded at one instant (one refresh)
  // get strictly increasing times so their order survives.
  const last = await db
    .selectFrom('gitswarm_stage_history')
    .select('transitioned_at')
    .where('repo_id', '=', input.repo.id)
    .orderBy('transitioned_at', 'desc')
    .executeTakeFirst();
  const at =
    last && last.transitioned_at >= now
      ? new Date(new Date(last.transitioned_at).getTime() + 1).toISOString()
      : now;
  const updated = await db
    .updateTable('gitswarm_repos')
    .set({ stage: input.to, updated_at: now })
    .where('id', '=', input.repo.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const metricsAtTransition = { ...input.metrics, how: input.how };
  await db
    .insertInto('gitswarm_stage_history')
    .values({
      id: newId(),
      repo_id: input.repo.id,
      from_stage: input.from,
      to_stage: input.to,
      contributor_count: input.metrics.contributors,
      patch_count: input.metrics.merged_streams,
      maintainer_count: input.metrics.maintainers,
      metrics_at_transition: toJson(metricsAtTransition),
      transitioned_at: at,
    })
    .execute();
  await recordActivity(deps, db, {
    event: 'stage.advanced',
    repoId: input.repo.id,
    agentId: input.actorId,
    targetType: 'repo',
    targetId: input.repo.id,
    metadata: { from: input.from, to: input.to, how: input.how, metrics: input.metrics },
  });
  return updated;
}

export interface StageRefresh {
  repo: Repo;
  metrics: StageMetrics;
  /** The stages entered by this refresh, in order. */
  advanced: RepoStage[];
}

/**
 * Stores the contributor and merged-stream counts on the repository and advances the stage as far
 * as it is eligible, in the caller's transaction (federation calls it from the merge and revert
 * hooks).
 */
export async function refreshStageMetrics(deps: CoreDeps, db: Executor, repo: Repo): Promise<StageRefresh> {
  let current = await getRepo(db, repo.id);
  const metrics = await measureStageMetrics(db, repo.id);
  if (current.contributor_count !== metrics.contributors || current.patch_count !== metrics.merged_streams) {
    current = await db
      .updateTable('gitswarm_repos')
      .set({ contributor_count: metrics.contributors, patch_count: metrics.merged_streams })
      .where('id', '=', repo.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  const advanced: RepoStage[] = [];
  for (let next = nextStage(current.stage); next; next = nextStage(current.stage)) {
    if (missingRequirements(metrics, STAGE_REQUIREMENTS[next]).length) break;
    current = await recordTransition(deps, db, {
      repo: current,
      from: current.stage,
      to: next,
      metrics,
      actorId: null,
      how: 'automatic',
    });
    advanced.push(next);
  }
  return { repo: current, metrics, advanced };
}

export interface AdvanceStageInput {
  repo: Repo;
  /** An admin of the repository. */
  actor: Agent;
  /** Set this stage regardless of the metrics (any stage, also backwards); recorded as forced. */
  force?: string;
}

/** Advances the stage one step when eligible, or sets a forced stage (admin+). */
export async function advanceStage(
  deps: CoreDeps,
  input: AdvanceStageInput,
): Promise<{ repo: Repo; from: RepoStage; to: RepoStage; forced: boolean }> {
  if (input.force !== undefined && !isRepoStage(input.force)) {
    throw new GitSwarmError('invalid_input', `Unknown stage ${JSON.stringify(input.force)}.`, {
      hint: `Stages: ${STAGES.join(', ')}`,
    });
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    await requireAction(deps, trx, input.repo, input.actor, 'settings');
    const current = await getRepo(trx, input.repo.id);
    const metrics = await measureStageMetrics(trx, current.id);
    const forced = input.force as RepoStage | undefined;
    if (forced) {
      if (forced === current.stage) {
        throw new GitSwarmError('invalid_state', `The repository is already in the ${forced} stage.`);
      }
      const repo = await recordTransition(deps, trx, {
        repo: current,
        from: current.stage,
        to: forced,
        metrics,
        actorId: input.actor.id,
        how: 'forced',
      });
      return { repo, from: current.stage, to: forced, forced: true };
    }
    const next = nextStage(current.stage);
    if (!next) throw new GitSwarmError('invalid_state', 'The repository is already mature, the last stage.');
    const missing = missingRequirements(metrics, STAGE_REQUIREMENTS[next]);
    if (missing.length) {
      throw new GitSwarmError(
        'not_eligible',
        `The repository is not eligible for ${next}: it needs ${missing.join(', ')}.`,
        {
          hint: `See the numbers with: gitswarm stage; an admin may force it: gitswarm stage advance --force ${next} --as <admin>`,
          details: { metrics, requirements: STAGE_REQUIREMENTS[next], missing },
        },
      );
    }
    const repo = await recordTransition(deps, trx, {
      repo: current,
      from: current.stage,
      to: next,
      metrics,
      actorId: input.actor.id,
      how: 'advanced',
    });
    return { repo, from: current.stage, to: next, forced: false };
  });
}

/** The repository's stage transitions, oldest first. */
export async function listStageHistory(db: Executor, repoId: string) {
  return db
    .selectFrom('gitswarm_stage_history')
    .selectAll()
    .where('repo_id', '=', repoId)
    .orderBy('transitioned_at')
    .orderBy('id')
    .execute();
}

/**
 * Throws forbidden when a person or agent promotes in the mature stage: there, promotion needs a
 * passed council proposal of type promote. The council's execution and the stabilizer's promotion
 * on green pass; a manual promotion does not, named agent or not. assertPromotable calls this.
 */
export async function assertStageAllowsPromote(
  db: Executor,
  repo: Repo,
  trigger: PromotionTrigger | null,
): Promise<void> {
  if (trigger === 'council' || trigger === 'auto') return;
  const current = await db
    .selectFrom('gitswarm_repos')
    .select('stage')
    .where('id', '=', repo.id)
    .executeTakeFirst();
  if (current?.stage !== 'mature') return;
  throw new GitSwarmError('forbidden', "In the mature stage promotion needs the council's approval.", {
    hint: `Propose it: gitswarm council propose promote --title "Promote the buffer" --as <member>`,
    details: { stage: 'mature' },
  });
}
