/**
 * Stabilization: run the repository's stabilize command against the buffer head in a sandboxed
 * throw-away worktree and act on the verdict.
 *  - green: tag the tested commit `green/<UTC timestamp>`, promote when `auto_promote_on_green`;
 *  - red: run once more (a pass then is `flaky`, not red); confirmed red bisects GitSwarm's
 *    merges on the buffer since the last green tag, or the baseline `init` recorded
 *    (bisect-range.ts), reverts the culprit's merge when `auto_revert_on_red` (within the daily
 *    cap, unless the stream opted out; a conflicting revert is never forced) and files a critical
 *    task for the culprit's author, or links to the one already open for it (red-tasks.ts).
 *    With `stabilize_parallelism` k > 1 the bisection runs k probes at once (k-ary search), its
 *    first round of k − 1 starts beside the head's first run at the lowest CPU share (stopped when
 *    the head passes), and the retry waits: a failing probe reproduces the red, so the head reruns
 *    only when none did;
 *  - error: the command could not start (exit 126/127: a tool or interpreter missing), or a
 *    commit tagged green fails with nothing merged since (the environment changed): nothing is
 *    retried, bisected, reverted or filed, and nobody is blamed.
 * Only the commit tested at the start is judged: the buffer keeps moving meanwhile, the bisect
 * range is fixed at the start, and the decide-and-revert step runs under the repository's lock.
 */

import { type BisectProbe, bisectFirstBad, firstRoundIndexes } from '../../engine/bisect.js';
import { lowCpuShareAvailable } from '../../engine/cgroup.js';
import { tagGreen } from '../../engine/green-tags.js';
import { runAutoMaintenance } from '../../engine/maintenance.js';
import { findGitRepo, readRef } from '../../engine/repo.js';
import { assertSandboxAvailable, type OutputSink, type SandboxMode } from '../../engine/sandbox.js';
import {
  openStabilizeLog,
  runStabilizeCommand,
  type StabilizeLog,
  type StabilizeRunResult,
  sharedRunSetup,
} from '../../engine/stabilize-run.js';
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stabilization,
  type StabilizationResult,
  toJson,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { stabilizeParallelism, stabilizeRunSettings } from '../repos/repo-settings.js';
import { getRepo } from '../repos/repos.js';
import { revertStream } from '../streams/stream-revert.js';
import { getStreamById } from '../streams/streams.js';
import { actorIdentity, repoRoot } from '../streams/workspace-paths.js';
import { fileCriticalTask } from '../tasks/tasks.js';
import { type BisectRange, describeBisectStart, findBisectRange } from './bisect-range.js';
import { promoteBuffer } from './buffer-promotion.js';
import { closeFixedRedTasks, findOpenRedTask } from './red-tasks.js';
import { decideAutoRevert } from './revert-decision.js';
import {
  couldNotStart,
  describeBlame,
  describeDecision,
  type ErrorFacts,
  environmentChanged,
  type RevertDecision,
  type StabilizeErrorKind,
  taskDescription,
  taskTitle,
} from './stabilization-text.js';

export {
  describeBlame,
  type RevertDecision,
  type StabilizeErrorKind,
} from './stabilization-text.js';

export interface StabilizeInput {
  repo: Repo;
  /** Who asked (write access needed); null when the system runs it. */
  actor: Agent | null;
  /** The command's output as it comes (the CLI sends it to stderr on a TTY). */
  output?: OutputSink;
  /** One line per phase: run, retry, each bisect probe, the verdict. */
  progress?: (line: string) => void;
  /** PATH for bwrap and the command's tools; defaults to this process's PATH. */
  searchPath?: string;
  /**
   * The sandbox to use instead of the repository's setting: a server decides it (bubblewrap, or
   * none only when its operator allows unsandboxed runs), never the repository's maintainers.
   */
  sandbox?: SandboxMode;
  /**
   * Stops the run between and during command runs (a server shutting down): the promise rejects
   * with the signal's reason and nothing is recorded for the interrupted run.
   */
  signal?: AbortSignal;
}

export interface StabilizeResult {
  result: StabilizationResult;
  /** The buffer commit tested: the head when the run started. */
  buffer_commit: string;
  tag?: string;
  promoted?: boolean;
  /** Green: the critical tasks this green run completed (their fix is in it). */
  closed_task_ids?: string[];
  /** Error: what went wrong, what to do, and which of the two it is. */
  error?: string;
  hint?: string;
  error_kind?: StabilizeErrorKind;
  breaking_stream_id?: string | null;
  culprit_commit?: string | null;
  /** Red: what bisection blames, in words: the same sentence the critical task carries. */
  blame?: string;
  reverted?: boolean;
  revert_commit?: string;
  revert_decision?: RevertDecision;
  task_id?: string | null;
  /** Red: true when task_id is a task already open for this culprit (none was filed). */
  task_linked?: boolean;
  stabilization_id: string;
  log_path: string;
  duration_ms: number;
  /** How many times the command ran: the head, its retry, the bisect probes. */
  runs: number;
}

/** Runs the stabilize command on the buffer head and acts on the result (see the file's comment). */
export async function stabilize(deps: CoreDeps, input: StabilizeInput): Promise<StabilizeResult> {
  const repo = await getRepo(deps.store.db, input.repo.id);
  if (input.actor) await requireAction(deps, deps.store.db, repo, input.actor, 'write');
  const command = repo.stabilize_command?.trim();
  if (!command) {
    throw new GitSwarmError('invalid_state', 'This repository has no stabilize command.', {
      hint: 'Set one with: gitswarm config stabilize_command "npm test"',
    });
  }
  const sandbox = input.sandbox ?? repo.sandbox;
  await assertSandboxAvailable(sandbox, input.searchPath);
  const git = await findGitRepo(repoRoot(repo));
  const bufferCommit = await readRef(git.root, `refs/heads/${repo.buffer_branch}`);
  if (!bufferCommit) {
    throw new GitSwarmError('invalid_state', `The buffer branch ${repo.buffer_branch} does not exist.`, {
      hint: 'Create it with: gitswarm init',
    });
  }

  const startedAt = deps.clock.now();
  const started = process.hrtime.bigint();
  const log = openStabilizeLog(git, startedAt);
  log.write(
    `gitswarm stabilize: ${repo.name}, buffer ${repo.buffer_branch} at ${bufferCommit}, sandbox ${sandbox}\n`,
  );
  const runs: StabilizeRunResult[] = [];
  const runSettings = stabilizeRunSettings(repo);
  const shared = sharedRunSetup(git, input.searchPath);
  const parallelism = stabilizeParallelism(repo);
  const runAt = async (commit: string, label: string, how: RunHow = {}): Promise<StabilizeRunResult> => {
    const { alongside = false, commandStarted, background, signal = input.signal } = how;
    // A run beside others writes its part of the log in one piece when it ends, not interleaved.
    const chunks: string[] = [];
    const runLog: StabilizeLog = alongside
      ? { path: log.path, write: (text) => void chunks.push(text), close: async () => {} }
      : log;
    try {
      const result = await runStabilizeCommand(git, {
        commit,
        command,
        label,
        sandbox,
        ...runSettings,
        log: runLog,
        output: input.output,
        progress: input.progress,
        searchPath: input.searchPath,
        signal,
        shared,
        commandStarted,
        background,
      });
      runs.push(result);
      return result;
    } finally {
      if (chunks.length > 0) log.write(chunks.join(''));
    }
  };
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  const base = { repo, actor: input.actor, command, bufferCommit, log, runs, elapsed };
  // The bisection's range (git and store reads) is worked out while a run that may end red goes
  // on: the head's first run when probes run at once, else its retry. It is worked out again
  // after the run when the head was not among the recorded merges yet (its merge may have been
  // recording it: the head is the only merge that can be) or when reading it failed.
  let rangeAhead: Promise<BisectRange | undefined> | undefined;
  // With k > 1, the bisection's first round starts as soon as the range is read, beside the head's
  // run (which a green run's end stops): see startFirstRound.
  let headEnded = false;
  let firstRound: Promise<FirstRound | undefined> | undefined;
  const lookAhead = () => {
    rangeAhead = findBisectRange(deps.store.db, repo, git.root, bufferCommit).catch(() => undefined);
    // Only where the first round can be given the least CPU share: a head that keeps every core
    // busy would otherwise share them with it (and a green one take up to k times as long).
    if (parallelism > 1) {
      firstRound = Promise.all([rangeAhead, lowCpuShareAvailable().catch(() => false)]).then(
        ([range, background]) =>
          range && background && !headEnded
            ? startFirstRound({
                range,
                bufferCommit,
                parallelism,
                runAt,
                signal: input.signal,
                progress: input.progress,
              })
            : undefined,
      );
    }
  };
  const stopFirstRound = async () => (await firstRound)?.stop();
  const bisectRange = async (): Promise<BisectRange> => {
    const ahead = await rangeAhead;
    if (ahead && (ahead.candidates.at(-1) === bufferCommit || ahead.start.commit === bufferCommit))
      return ahead;
    return findBisectRange(deps.store.db, repo, git.root, bufferCommit);
  };

  try {
    // The range's reads start once the command runs: before, their git processes would delay its start.
    const first = await runAt(bufferCommit, 'run', {
      commandStarted: parallelism > 1 ? lookAhead : undefined,
    }).finally(() => {
      headEnded = true;
    });
    // Only a red head needs the bisection: else its first round is stopped (awaited below).
    if (first.outcome !== 'failed') void stopFirstRound();
    if (first.outcome === 'error')
      return await concludeError(deps, base, couldNotStart(first), input.progress);
    if (first.passed) return await concludeGreen(deps, { ...base, git }, first, input.progress);
    if (parallelism > 1) {
      const range = await bisectRange();
      const { start } = range;
      if (start.kind === 'green' && start.commit === bufferCommit) {
        // Nothing to bisect: the retry tells a flake from a changed environment.
        const retry = await runAt(bufferCommit, 'retry');
        if (retry.outcome === 'error')
          return await concludeError(deps, base, couldNotStart(retry), input.progress);
        if (retry.passed) return await concludeFlaky(deps, base, input.progress);
        return await concludeError(deps, base, environmentChanged(start, retry), input.progress);
      }
      // The retry waits: a failing probe reproduces the red; only when none fails is the head rerun.
      // The first round counts only when it was cut from this very range (not one read again).
      const started = await firstRound;
      if (started && started.range !== range) await started.stop();
      const red = {
        ...base,
        git,
        failing: first,
        confirmed: false,
        parallelism,
        runAt,
        range,
        firstRound: started?.range === range ? started : undefined,
      };
      return await concludeRed(deps, red, input.progress);
    }
    const retry = await runAt(bufferCommit, 'retry', { commandStarted: lookAhead });
    if (retry.outcome === 'error')
      return await concludeError(deps, base, couldNotStart(retry), input.progress);
    if (retry.passed) return await concludeFlaky(deps, base, input.progress);
    const range = await bisectRange();
    if (range.start.kind === 'green' && range.start.commit === bufferCommit) {
      return await concludeError(deps, base, environmentChanged(range.start, retry), input.progress);
    }
    const red = { ...base, git, failing: retry, confirmed: true, parallelism, runAt, range };
    return await concludeRed(deps, red, input.progress);
  } catch (error) {
    // An interrupted run judged nothing: it is run again, not recorded as an error.
    if (input.signal?.aborted) throw error;
    const message = error instanceof Error ? error.message : String(error);
    log.write(`\n=== error: ${message} ===\n`);
    // Record that a run failed to complete (best effort: the original error is what the caller needs).
    await inTransaction(deps.store.db, async (trx) => {
      const row = await insertStabilization(deps, trx, {
        repo,
        result: 'error',
        bufferCommit,
        durationMs: elapsed(),
        logPath: log.path,
        details: { command, error: message, runs: runs.length, agent_id: input.actor?.id ?? null },
      });
      await recordStabilized(deps, trx, base, row, { error: message });
    }).catch(() => {});
    throw error;
  } finally {
    await rangeAhead; // a green or flaky end leaves it unused, but not running
    await stopFirstRound();
    // After the stabilization's own git work, never beside it (maintenance.ts).
    await runAutoMaintenance(git);
    await log.close();
  }
}

/** How a run is started: `alongside` others (its log written in one piece), at the `background` CPU share. */
interface RunHow {
  alongside?: boolean;
  /** Called once the command is running: work to do beside it may begin. */
  commandStarted?: () => void;
  background?: boolean;
  /** Stops the run; by default the stabilization's own signal. */
  signal?: AbortSignal;
}

type RunAt = (commit: string, label: string, how?: RunHow) => Promise<StabilizeRunResult>;

/** The bisection's first round, started beside the head's first run. */
interface FirstRound {
  /** The range it was cut from. */
  range: BisectRange;
  indexes: number[];
  /** Its runs, one per index (a run stopped rejects). */
  runs: Promise<StabilizeRunResult>[];
  /** Stops the probes still running and waits until every one has ended. */
  stop(): Promise<void>;
}

/**
 * Starts the bisection's first round (k − 1 probes, the head's run being the k-th) at the lowest
 * CPU share, so that a head that passes (the usual case) is not slowed by it; undefined when the
 * range has nothing to split, or starts at a commit only assumed to pass (it is probed first).
 */
function startFirstRound(input: {
  range: BisectRange;
  bufferCommit: string;
  parallelism: number;
  runAt: RunAt;
  signal: AbortSignal | undefined;
  progress: ((line: string) => void) | undefined;
}): FirstRound | undefined {
  const { range, parallelism } = input;
  if (range.start.kind !== 'green') return undefined;
  const { candidates } = range;
  const indexes = firstRoundIndexes(candidates.length, candidates.at(-1) === input.bufferCommit, parallelism);
  if (indexes.length === 0) return undefined;
  const controller = new AbortController();
  const signal = input.signal ? AbortSignal.any([input.signal, controller.signal]) : controller.signal;
  input.progress?.(
    `stabilize: bisect round 1 starts beside the run, in the background: merges ${indexes.map((i) => i + 1).join(', ')} of ${candidates.length}`,
  );
  const runs = indexes.map((index, i) =>
    input.runAt(candidates[index] as string, `bisect ${i + 1}`, {
      alongside: true,
      background: true,
      signal,
    }),
  );
  // Handled here so that a run stopped before anyone awaits it is no unhandled rejection.
  for (const run of runs) run.catch(() => {});
  return {
    range,
    indexes,
    runs,
    stop: async () => {
      controller.abort(new Error('the bisection is not needed, or not from this range'));
      await Promise.allSettled(runs);
    },
  };
}

interface RunContext {
  repo: Repo;
  actor: Agent | null;
  command: string;
  bufferCommit: string;
  log: StabilizeLog;
  runs: StabilizeRunResult[];
  elapsed: () => number;
}

async function concludeGreen(
  deps: CoreDeps,
  ctx: RunContext & { git: { root: string } },
  run: StabilizeRunResult,
  progress: ((line: string) => void) | undefined,
): Promise<StabilizeResult> {
  const { repo } = ctx;
  const seconds = (run.commandMs / 1000).toFixed(1);
  const tag = await tagGreen(repoRoot(repo), {
    commit: ctx.bufferCommit,
    at: deps.clock.now(),
    author: actorIdentity(ctx.actor),
    message: `Stabilized: green\n\nCommand: ${ctx.command}\nPassed in ${seconds} s on ${repo.buffer_branch} at ${ctx.bufferCommit}.\n`,
  });
  ctx.log.write(`\n=== green: tagged ${tag.name} ===\n`);
  progress?.(`stabilize: green, tagged ${tag.name}`);
  const row = await inTransaction(deps.store.db, async (trx) => {
    const inserted = await insertStabilization(deps, trx, {
      repo,
      result: 'green',
      tag: tag.name,
      bufferCommit: ctx.bufferCommit,
      durationMs: ctx.elapsed(),
      logPath: ctx.log.path,
      details: {
        command: ctx.command,
        runs: ctx.runs.length,
        command_ms: Math.round(run.commandMs),
        tag_created: tag.created,
        agent_id: ctx.actor?.id ?? null,
      },
    });
    // The tasks whose fix this green contains are done: the stabilizer filed them, it closes them.
    const closed = await closeFixedRedTasks(deps, trx, {
      repo,
      repoDir: ctx.git.root,
      greenCommit: ctx.bufferCommit,
      stabilizationId: inserted.id,
    });
    await recordStabilized(
      deps,
      trx,
      ctx,
      inserted,
      closed.length ? { closed_task_ids: closed.map((t) => t.id) } : {},
    );
    return { inserted, closed };
  });
  for (const task of row.closed) progress?.(`stabilize: green; completed critical task #${task.number}`);
  const result: StabilizeResult = {
    result: 'green',
    buffer_commit: ctx.bufferCommit,
    tag: tag.name,
    ...(row.closed.length ? { closed_task_ids: row.closed.map((t) => t.id) } : {}),
    stabilization_id: row.inserted.id,
    log_path: ctx.log.path,
    duration_ms: row.inserted.duration_ms ?? ctx.elapsed(),
    runs: ctx.runs.length,
  };
  if (repo.auto_promote_on_green) {
    try {
      // Automation (actor null): promotion moves main to the newest green commit, this one or later.
      const promotion = await promoteBuffer(deps, { repo, actor: null, trigger: 'auto' });
      result.promoted = promotion.promoted;
      progress?.(
        promotion.promoted
          ? `stabilize: promoted ${repo.promote_target} to ${promotion.to_commit.slice(0, 12)}`
          : `stabilize: ${repo.promote_target} already at ${promotion.to_commit.slice(0, 12)}`,
      );
    } catch (error) {
      // The verdict stands; a promotion that cannot happen (main diverged, stage rules) is reported.
      result.promoted = false;
      const message = error instanceof Error ? error.message : String(error);
      ctx.log.write(`\n=== auto-promotion refused: ${message} ===\n`);
      progress?.(`stabilize: auto-promotion refused: ${message}`);
    }
  }
  return result;
}

async function concludeFlaky(
  deps: CoreDeps,
  ctx: RunContext,
  progress: ((line: string) => void) | undefined,
): Promise<StabilizeResult> {
  ctx.log.write('\n=== flaky: failed, then passed on retry; not tagged green ===\n');
  progress?.('stabilize: flaky (failed, then passed on retry); not tagged green');
  const row = await inTransaction(deps.store.db, async (trx) => {
    const inserted = await insertStabilization(deps, trx, {
      repo: ctx.repo,
      result: 'flaky',
      bufferCommit: ctx.bufferCommit,
      durationMs: ctx.elapsed(),
      logPath: ctx.log.path,
      details: {
        command: ctx.command,
        runs: ctx.runs.length,
        first_exit_code: ctx.runs[0]?.exitCode ?? null,
        first_timed_out: ctx.runs[0]?.timedOut ?? false,
        agent_id: ctx.actor?.id ?? null,
      },
    });
    await recordStabilized(deps, trx, ctx, inserted, {});
    return inserted;
  });
  return {
    result: 'flaky',
    buffer_commit: ctx.bufferCommit,
    stabilization_id: row.id,
    log_path: ctx.log.path,
    duration_ms: row.duration_ms ?? ctx.elapsed(),
    runs: ctx.runs.length,
  };
}

interface RedContext extends RunContext {
  git: { root: string; commonDir: string };
  /** The head's failing run: the retry, or the first run while the red is not confirmed. */
  failing: StabilizeRunResult;
  /** Whether a second failing run has confirmed the red already (the retry, with k = 1). */
  confirmed: boolean;
  /** Bisection probes run at once (`stabilize_parallelism`). */
  parallelism: number;
  runAt: RunAt;
  range: BisectRange;
  /** The bisection's first round, when it started beside the head's run (from this range). */
  firstRound?: FirstRound;
}

/** A bisection probe that could not start the command: the run ends as `error`. */
class ProbeCouldNotStart extends Error {
  constructor(readonly run: StabilizeRunResult) {
    super(run.error ?? 'the stabilize command could not start');
  }
}

/** A probe's verdict: true when it passed; a command that cannot start ends the run as `error`. */
function probeResult(run: StabilizeRunResult): boolean {
  if (run.outcome === 'error') throw new ProbeCouldNotStart(run);
  return run.passed;
}

async function concludeRed(
  deps: CoreDeps,
  ctx: RedContext,
  progress: ((line: string) => void) | undefined,
): Promise<StabilizeResult> {
  const { repo } = ctx;
  // The range is fixed, from the tested commit: later merges are the next run's business.
  const { start, candidates } = ctx.range;
  let failing = ctx.failing;
  const lastIsKnownBad = candidates.at(-1) === ctx.bufferCommit;
  const atOnce = ctx.parallelism > 1 ? `, up to ${ctx.parallelism} runs at once` : '';
  progress?.(
    `stabilize: red; bisecting ${candidates.length} merge(s) since ${describeBisectStart(start)}${atOnce}`,
  );
  let probeNumber = ctx.firstRound?.indexes.length ?? 0;
  let bisect: Awaited<ReturnType<typeof bisectFirstBad>>;
  let baselineRed = false; // the range's assumed-good start fails too
  try {
    // Bisection takes the commit before the range to pass. A green tag proves it; a baseline (or
    // a revert) is only assumed to, so it is run first: red there is nobody's merge in range.
    baselineRed =
      start.kind !== 'green' && start.commit !== null && candidates.length > 0
        ? !probeResult(await ctx.runAt(start.commit, 'baseline'))
        : false;
    if (baselineRed) {
      progress?.(
        `stabilize: red; it fails at ${describeBisectStart(start)} too, before the merges in range: no single merge to blame`,
      );
    }
    bisect = baselineRed
      ? { culprit: null, index: null, probes: [] }
      : await bisectFirstBad({
          candidates,
          lastIsKnownBad,
          parallelism: ctx.parallelism,
          firstRound: ctx.firstRound && {
            indexes: ctx.firstRound.indexes,
            passed: ctx.firstRound.runs.map((run) => run.then(probeResult)),
          },
          onRound: (round, indexes) =>
            progress?.(
              `stabilize: bisect round ${round}: ${indexes.length} run(s) at once, merges ${indexes.map((i) => i + 1).join(', ')} of ${candidates.length}`,
            ),
          test: async (commit) => {
            probeNumber += 1;
            return probeResult(
              await ctx.runAt(commit, `bisect ${probeNumber}`, { alongside: ctx.parallelism > 1 }),
            );
          },
        });
    // Unconfirmed (k > 1): a failing probe or baseline reproduced the red; else the head runs again.
    if (!ctx.confirmed && !baselineRed && bisect.probes.every((p) => p.passed)) {
      progress?.('stabilize: no probe failed; running the head again to confirm the red');
      const retry = await ctx.runAt(ctx.bufferCommit, 'retry');
      if (retry.outcome === 'error') return concludeError(deps, ctx, couldNotStart(retry), progress);
      if (retry.passed) return concludeFlaky(deps, ctx, progress);
      failing = retry;
    }
  } catch (error) {
    if (!(error instanceof ProbeCouldNotStart)) throw error;
    return concludeError(deps, ctx, couldNotStart(error.run), progress);
  }
  const merge = bisect.culprit
    ? await deps.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('merge_commit', '=', bisect.culprit)
        .executeTakeFirst()
    : undefined;
  // One truth: a culprit is a merge GitSwarm recorded (candidates are nothing else).
  const culprit = merge ? merge.merge_commit : null;
  ctx.log.write(
    `\n=== red: culprit ${culprit ?? 'not found'}${merge ? ` (stream ${merge.stream_id})` : ''} ===\n`,
  );

  // Decide and act under the repository's lock, re-reading what another run may have changed.
  return withRepoLock(deps.store, repo.id, async () => {
    const current = await getRepo(deps.store.db, repo.id);
    const stream = merge ? await getStreamById(deps.store.db, merge.stream_id) : undefined;
    const blame = describeBlame(stream, culprit);
    let decision: RevertDecision;
    let revertCommit: string | undefined;
    let conflictPaths: string[] | undefined;
    const fresh = merge
      ? await deps.store.db
          .selectFrom('gitswarm_merges')
          .select(['reverted_at', 'revert_commit'])
          .where('id', '=', merge.id)
          .executeTakeFirstOrThrow()
      : undefined;
    const ruling =
      merge && stream && fresh
        ? await decideAutoRevert(deps, deps.store.db, { repo: current, stream, merge: fresh })
        : 'no_culprit';
    if (!merge || !stream) decision = 'no_culprit';
    else if (ruling !== 'revert') decision = ruling;
    else {
      const outcome = await revertStream(deps, {
        repo: current,
        stream,
        actor: null,
        reason: `stabilization red: ${ctx.command}`,
        mergeCommit: merge.merge_commit,
        redAt: ctx.bufferCommit,
      });
      if (outcome.reverted) {
        decision = 'reverted';
        revertCommit = outcome.revert_commit;
      } else {
        decision = 'conflicted';
        conflictPaths = outcome.conflict_paths;
      }
    }
    progress?.(`stabilize: red; bisection blames ${blame}; ${describeDecision(decision, revertCommit)}`);

    return inTransaction(deps.store.db, async (trx) => {
      // A red already known (same culprit, or the same commit without one) keeps its open task.
      const open = await findOpenRedTask(trx, current, {
        streamId: stream?.id ?? null,
        bufferCommit: ctx.bufferCommit,
      });
      const assignee = stream ? stream.agent_id : await fallbackAssignee(trx, current, ctx.actor);
      // Another run already handled this culprit (reverted it and filed its task): no second task.
      const task =
        open ??
        (decision !== 'already_reverted' && assignee
          ? await fileCriticalTask(deps, trx, {
              repo: current,
              title: taskTitle(stream, ctx.command),
              description: taskDescription(
                {
                  bufferBranch: current.buffer_branch,
                  command: ctx.command,
                  bufferCommit: ctx.bufferCommit,
                  logPath: ctx.log.path,
                  tail: failing.tail,
                },
                { blame, culprit, decision, revertCommit, conflictPaths },
              ),
              assigneeId: assignee,
              createdBy: null,
            })
          : undefined);
      if (open) progress?.(`stabilize: red; critical task #${open.number} is already open for it`);
      const row = await insertStabilization(deps, trx, {
        repo: current,
        result: 'red',
        bufferCommit: ctx.bufferCommit,
        breakingStreamId: stream?.id ?? null,
        durationMs: ctx.elapsed(),
        logPath: ctx.log.path,
        details: {
          command: ctx.command,
          runs: ctx.runs.length,
          last_green_tag: start.green?.name ?? null,
          last_green_commit: start.green?.commit ?? null,
          bisect_from: start.commit,
          bisect_from_kind: start.kind,
          start_red: baselineRed,
          parallelism: ctx.parallelism,
          candidates,
          probes: bisect.probes satisfies BisectProbe[],
          culprit_commit: culprit,
          blame,
          revert_decision: decision,
          auto_reverted: decision === 'reverted',
          reverted: decision === 'reverted',
          revert_commit: revertCommit ?? null,
          conflict_paths: conflictPaths ?? null,
          task_id: task?.id ?? null,
          task_linked: open !== undefined,
          exit_code: failing.exitCode,
          timed_out: failing.timedOut,
          log_excerpt: failing.tail.join('\n'),
          agent_id: ctx.actor?.id ?? null,
        },
      });
      await recordStabilized(deps, trx, ctx, row, {
        breaking_stream_id: stream?.id ?? null,
        reverted: decision === 'reverted',
        task_id: task?.id ?? null,
      });
      return {
        result: 'red',
        buffer_commit: ctx.bufferCommit,
        breaking_stream_id: stream?.id ?? null,
        culprit_commit: culprit,
        blame,
        reverted: decision === 'reverted',
        ...(revertCommit ? { revert_commit: revertCommit } : {}),
        revert_decision: decision,
        task_id: task?.id ?? null,
        task_linked: open !== undefined,
        stabilization_id: row.id,
        log_path: ctx.log.path,
        duration_ms: row.duration_ms ?? ctx.elapsed(),
        runs: ctx.runs.length,
      } satisfies StabilizeResult;
    });
  });
}

async function concludeError(
  deps: CoreDeps,
  ctx: RunContext,
  facts: ErrorFacts,
  progress: ((line: string) => void) | undefined,
): Promise<StabilizeResult> {
  ctx.log.write(`\n=== error: ${facts.error} ===\n`);
  progress?.(`stabilize: error: ${facts.error}`);
  const row = await inTransaction(deps.store.db, async (trx) => {
    const inserted = await insertStabilization(deps, trx, {
      repo: ctx.repo,
      result: 'error',
      bufferCommit: ctx.bufferCommit,
      durationMs: ctx.elapsed(),
      logPath: ctx.log.path,
      details: {
        command: ctx.command,
        runs: ctx.runs.length,
        error: facts.error,
        error_kind: facts.kind,
        hint: facts.hint,
        commit: facts.run.commit,
        exit_code: facts.run.exitCode,
        log_excerpt: facts.run.tail.join('\n'),
        agent_id: ctx.actor?.id ?? null,
      },
    });
    await recordStabilized(deps, trx, ctx, inserted, { error: facts.error, error_kind: facts.kind });
    return inserted;
  });
  return {
    result: 'error',
    buffer_commit: ctx.bufferCommit,
    error: facts.error,
    hint: facts.hint,
    error_kind: facts.kind,
    stabilization_id: row.id,
    log_path: ctx.log.path,
    duration_ms: row.duration_ms ?? ctx.elapsed(),
    runs: ctx.runs.length,
  };
}

/** With no stream to blame, the task goes to the repository's owner, else to whoever ran stabilize. */
async function fallbackAssignee(db: Executor, repo: Repo, actor: Agent | null): Promise<string | null> {
  const owner = await db
    .selectFrom('gitswarm_maintainers')
    .select('agent_id')
    .where('repo_id', '=', repo.id)
    .where('role', '=', 'owner')
    .orderBy('created_at')
    .executeTakeFirst();
  return owner?.agent_id ?? actor?.id ?? null;
}

export { countAutoRevertsToday } from './revert-decision.js';

interface InsertStabilizationInput {
  repo: Repo;
  result: StabilizationResult;
  tag?: string | null;
  bufferCommit: string | null;
  breakingStreamId?: string | null;
  durationMs: number;
  logPath: string | null;
  details: Record<string, unknown>;
}

async function insertStabilization(
  deps: CoreDeps,
  db: Executor,
  input: InsertStabilizationInput,
): Promise<Stabilization> {
  const row: Stabilization = {
    id: newId(),
    repo_id: input.repo.id,
    result: input.result,
    tag: input.tag ?? null,
    buffer_commit: input.bufferCommit,
    breaking_stream_id: input.breakingStreamId ?? null,
    duration_ms: Math.round(input.durationMs),
    log_path: input.logPath,
    details: input.details,
    stabilized_at: isoNow(deps.clock),
  };
  await db
    .insertInto('gitswarm_stabilizations')
    .values({ ...row, details: toJson(row.details) })
    .execute();
  return row;
}

async function recordStabilized(
  deps: CoreDeps,
  db: Executor,
  ctx: RunContext,
  row: Stabilization,
  extra: Record<string, unknown>,
): Promise<void> {
  await recordActivity(deps, db, {
    event: 'buffer.stabilized',
    repoId: ctx.repo.id,
    agentId: ctx.actor?.id ?? null,
    targetType: 'stabilization',
    targetId: row.id,
    metadata: {
      result: row.result,
      buffer_commit: row.buffer_commit,
      tag: row.tag,
      duration_ms: row.duration_ms,
      log_path: row.log_path,
      ...extra,
    },
  });
}

/** Stabilizations of a repository, newest first (`GET /repos/:id/stabilize/history`). */
export async function listStabilizations(
  db: Executor,
  repoId: string,
  options: { limit?: number } = {},
): Promise<Stabilization[]> {
  return db
    .selectFrom('gitswarm_stabilizations')
    .selectAll()
    .where('repo_id', '=', repoId)
    .orderBy('stabilized_at', 'desc')
    .orderBy('id', 'desc')
    .limit(Math.min(Math.max(options.limit ?? 50, 1), 1000))
    .execute();
}

/** The newest stabilization of a repository, or undefined. */
export async function lastStabilization(db: Executor, repoId: string): Promise<Stabilization | undefined> {
  return (await listStabilizations(db, repoId, { limit: 1 }))[0];
}
