/**
 * What stabilization says, in words: what bisection blames (one sentence for the CLI and the
 * critical task alike), the revert decision, the task's title and description, and why a run is
 * `error` with what to do about it.
 */
import type { StabilizeRunResult } from '../../engine/stabilize-run.js';
import type { Stream } from '../../store/index.js';
import type { BisectStart } from './bisect-range.js';

/** Why a confirmed red did or did not revert the culprit's merge. */
export type RevertDecision =
  | 'reverted'
  | 'auto_revert_off'
  | 'opted_out'
  | 'daily_limit'
  | 'conflicted'
  | 'already_reverted'
  | 'no_culprit';

/** Why a run is `error` rather than red. */
export type StabilizeErrorKind = 'could_not_start' | 'environment_changed';

/** What bisection blames, in words: the one sentence the CLI prints and the critical task carries. */
export function describeBlame(
  stream: Pick<Stream, 'id' | 'name'> | undefined,
  culprit: string | null,
): string {
  return stream && culprit
    ? `the merge of stream ${stream.name} (${stream.id}) at ${culprit.slice(0, 12)}`
    : 'no single merge';
}

export function describeDecision(decision: RevertDecision, revertCommit?: string): string {
  switch (decision) {
    case 'reverted':
      return `reverted it (${revertCommit?.slice(0, 12)})`;
    case 'auto_revert_off':
      return 'auto_revert_on_red is off, not reverted';
    case 'opted_out':
      return 'the stream opted out of automatic reverts, not reverted';
    case 'daily_limit':
      return 'the daily limit of automatic reverts is reached, not reverted';
    case 'conflicted':
      return 'its revert conflicts with later merges, not forced';
    case 'already_reverted':
      return 'already reverted by another run';
    case 'no_culprit':
      return 'nothing to revert';
  }
}

export function taskTitle(stream: Stream | undefined, command: string): string {
  const what = stream ? `stream ${stream.name} broke the buffer` : 'the buffer is red';
  return `Fix red build: ${what} (${command})`;
}

export function taskDescription(
  ctx: {
    bufferBranch: string;
    command: string;
    bufferCommit: string;
    logPath: string;
    tail: readonly string[];
  },
  facts: {
    blame: string;
    culprit: string | null;
    decision: RevertDecision;
    revertCommit?: string;
    conflictPaths?: string[];
  },
): string {
  const lines = [
    `The stabilize command fails on ${ctx.bufferBranch}; bisection blames ${facts.blame}.`,
    '',
    `Command: ${ctx.command}`,
    `Buffer commit tested: ${ctx.bufferCommit}`,
    ...(facts.culprit ? [`Culprit merge: ${facts.culprit}`] : []),
    `Revert: ${describeDecision(facts.decision, facts.revertCommit)}`,
    ...(facts.decision === 'reverted'
      ? [
          'To go on with the change: gitswarm workspace reopen (re-applies it on a new stream linked to this task)',
        ]
      : []),
    ...(facts.conflictPaths?.length ? [`Conflicting paths: ${facts.conflictPaths.join(', ')}`] : []),
    `Log: ${ctx.logPath}`,
    '',
    `Last ${ctx.tail.length} lines of output:`,
    '```',
    ...ctx.tail,
    '```',
  ];
  return lines.join('\n');
}

export interface ErrorFacts {
  kind: StabilizeErrorKind;
  error: string;
  hint: string;
  run: StabilizeRunResult;
}

/** A run that could not start the command (exit 126/127). */
export function couldNotStart(run: StabilizeRunResult): ErrorFacts {
  return {
    kind: 'could_not_start',
    error: `${run.error ?? 'the stabilize command could not start'} at ${run.commit.slice(0, 12)}`,
    hint:
      'Make it available where the stabilize command runs (installed on the PATH, or in the ' +
      "project's dependencies), or change the command: gitswarm config stabilize_command CMD",
    run,
  };
}

/** A commit tagged green that fails now, with nothing merged since. */
export function environmentChanged(start: BisectStart, run: StabilizeRunResult): ErrorFacts {
  return {
    kind: 'environment_changed',
    error: `${run.commit.slice(0, 12)} passed before (${start.green?.name}) and fails now with nothing merged since: the environment changed, not the code`,
    hint:
      'Nobody is blamed. Look at what changed outside the repository (tools, dependencies, ' +
      'services, the clock) in the log, then run gitswarm stabilize again.',
    run,
  };
}
