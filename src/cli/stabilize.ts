/**
 * `gitswarm stabilize [--as AGENT]`: runs the repository's stabilize command on the buffer head
 * in a sandboxed throw-away worktree. Green tags `green/<timestamp>` (and promotes when
 * `auto_promote_on_green`); red bisects, reverts the breaking merge when `auto_revert_on_red` and
 * files a critical task (or names the one already open), and exits 1; `error` (the command could
 * not start, or the environment changed) is the error `stabilization_error`, exit 1. A progress
 * line per phase goes to stderr; on a terminal the command's own output streams there too. Every
 * run's full output is in its log file.
 */
import { type StabilizeResult, stabilize } from '../core/stabilization/stabilization.js';
import { findTask } from '../core/tasks/tasks.js';
import { GitSwarmError } from '../errors.js';
import { type CommandDeps, findActor } from './context.js';
import { type Style, shortOid } from './output.js';

export interface StabilizeCommandResult {
  result: Exclude<StabilizeResult['result'], 'error'>;
  tag?: string;
  buffer_commit: string;
  breaking_stream_id?: string | null;
  culprit_commit?: string | null;
  reverted?: boolean;
  revert_commit?: string;
  revert_decision?: StabilizeResult['revert_decision'];
  blame?: string;
  task_id?: string | null;
  task_number?: number | null;
  task_linked?: boolean;
  closed_task_ids?: string[];
  promoted?: boolean;
  log_path: string;
  duration_ms: number;
  runs: number;
}

export async function runStabilize(deps: CommandDeps): Promise<StabilizeCommandResult> {
  if (deps.remote) {
    const m = await import('../remote/commands/stabilize.js');
    return m.runStabilizeRemote({ ...deps, remote: deps.remote });
  }
  const { core, ctx, io } = deps;
  const actor = (await findActor(deps)) ?? null;
  const result = await stabilize(core, {
    repo: ctx.repo,
    actor,
    progress: (line) => io.stderr.write(`${line}\n`),
    // The command's environment decides where bwrap and the test tools are found.
    ...(io.env.PATH !== undefined ? { searchPath: io.env.PATH } : {}),
    ...(io.isTTY ? { output: (chunk: string) => io.stderr.write(chunk) } : {}),
  });
  if (result.result === 'error') {
    throw new GitSwarmError(
      'stabilization_error',
      result.error ?? 'The stabilize run could not judge the code.',
      {
        ...(result.hint ? { hint: result.hint } : {}),
        details: {
          result: 'error',
          error_kind: result.error_kind,
          buffer_commit: result.buffer_commit,
          log_path: result.log_path,
          runs: result.runs,
        },
      },
    );
  }
  const task = result.task_id ? await findTask(core.store.db, ctx.repo.id, result.task_id) : undefined;
  const { stabilization_id: _id, result: verdict, ...rest } = result;
  return {
    result: verdict,
    ...rest,
    ...(result.task_id !== undefined ? { task_number: task?.number ?? null } : {}),
  };
}

export function formatStabilize(result: StabilizeCommandResult, style: Style): string {
  const at = shortOid(result.buffer_commit);
  const lines: string[] = [];
  if (result.result === 'green') {
    lines.push(`${style.bold('Green')}: buffer ${at} passed; tagged ${result.tag}.`);
    if (result.promoted) lines.push('Promoted to the newest green commit.');
    if (result.closed_task_ids?.length) {
      lines.push(
        `Completed ${result.closed_task_ids.length} critical task(s) whose fix this green contains.`,
      );
    }
  } else if (result.result === 'flaky') {
    lines.push(`${style.bold('Flaky')}: buffer ${at} failed, then passed on retry; not tagged green.`);
  } else {
    lines.push(
      `${style.bold('Red')}: buffer ${at} fails; bisection blames ${result.blame ?? 'no single merge'}.`,
    );
    lines.push(
      result.reverted
        ? `Reverted its merge on the buffer: ${shortOid(result.revert_commit)}.`
        : `Not reverted (${(result.revert_decision ?? 'no_culprit').replaceAll('_', ' ')}).`,
    );
    if (result.task_number) {
      lines.push(
        result.task_linked
          ? `Critical task #${result.task_number} is already open for it; no new task.`
          : `Filed critical task #${result.task_number}.`,
      );
    }
    if (result.reverted)
      lines.push("The stream's author goes on from its worktree with: gitswarm workspace reopen");
  }
  lines.push(`Log: ${result.log_path}`);
  return lines.join('\n');
}
