/**
 * `gitswarm promote [--force]`: fast-forwards the promote target (main) to the buffer head.
 * Without an acting agent the local operator promotes (as automation would); `--force` needs an
 * admin named with `--as`.
 */
import { promoteBuffer } from '../core/stabilization/buffer-promotion.js';
import { GitSwarmError } from '../errors.js';
import { type CommandDeps, findActor } from './context.js';
import { type Style, shortOid } from './output.js';

export interface PromoteOptions {
  force?: boolean;
}

export interface PromoteCommandResult {
  promoted: boolean;
  from_commit: string | null;
  to_commit: string;
  target: string;
}

export async function runPromote(opts: PromoteOptions, deps: CommandDeps): Promise<PromoteCommandResult> {
  if (deps.remote) {
    const m = await import('../remote/commands/promote.js');
    return m.runPromoteRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = (await findActor(deps)) ?? null;
  if (opts.force && !actor) {
    throw new GitSwarmError('agent_required', 'A forced promotion needs an admin.', {
      hint: 'Run: gitswarm promote --force --as <admin>',
    });
  }
  const result = await promoteBuffer(core, {
    repo: ctx.repo,
    actor,
    trigger: 'manual',
    force: opts.force === true,
  });
  return { ...result, target: ctx.repo.promote_target };
}

export function formatPromote(result: PromoteCommandResult, style: Style): string {
  return result.promoted
    ? `Promoted ${result.target}: ${shortOid(result.from_commit)} → ${style.bold(shortOid(result.to_commit))}`
    : `${result.target} is already at ${shortOid(result.to_commit)}; nothing to promote.`;
}
