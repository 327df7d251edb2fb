/**
 * `gitswarm stage` and `gitswarm stage advance [--force STAGE]`: the repository's lifecycle stage,
 * the metrics behind it and what the next stage needs. Stages advance by themselves on merges;
 * an admin may advance one eligible step or force any stage.
 */
import { advanceStage, type StageInfo, stageInfo } from '../core/governance/stages.js';
import type { RepoStage } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { fields, type Style } from './output.js';

export type StageResult = StageInfo;

export async function runStage(_opts: Record<string, never>, deps: CommandDeps): Promise<StageResult> {
  if (deps.remote) {
    const { stageRemote } = await import('../remote/commands/governance.js');
    return stageRemote({ ...deps, remote: deps.remote });
  }
  return stageInfo(deps.core.store.db, deps.ctx.repo);
}

export function formatStage(result: StageResult, style: Style): string {
  const { metrics } = result;
  const lines = [
    fields([
      ['stage', style.bold(result.stage)],
      ['contributors', metrics.contributors],
      ['merged streams', metrics.merged_streams],
      ['maintainers', metrics.maintainers],
      ['council', metrics.council_active ? 'active' : 'not active'],
    ]),
  ];
  if (!result.next) {
    lines.push('', 'Mature is the last stage; promotion needs a council proposal (promote).');
  } else if (result.next.eligible) {
    lines.push(
      '',
      style.green(
        `Eligible for ${result.next.stage}; the next merge advances it (or: gitswarm stage advance --as <admin>).`,
      ),
    );
  } else {
    lines.push('', `Next: ${result.next.stage}, which needs ${result.next.missing.join(', ')}.`);
  }
  return lines.join('\n');
}

export interface AdvanceStageOptions {
  force?: string;
}

export interface AdvanceStageResult {
  stage: { from: RepoStage; to: RepoStage; forced: boolean };
}

export async function runAdvanceStage(
  opts: AdvanceStageOptions,
  deps: CommandDeps,
): Promise<AdvanceStageResult> {
  if (deps.remote) {
    const { advanceStageRemote } = await import('../remote/commands/governance.js');
    return advanceStageRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const { from, to, forced } = await advanceStage(deps.core, {
    repo: deps.ctx.repo,
    actor,
    force: opts.force,
  });
  return { stage: { from, to, forced } };
}

export function formatAdvanceStage(result: AdvanceStageResult, style: Style): string {
  const { from, to, forced } = result.stage;
  return `Stage ${from} → ${style.bold(to)}${forced ? ' (forced)' : ''}.`;
}
