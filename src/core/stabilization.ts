/**
 * Stabilization: run the repository's stabilize command against the buffer head in a sandboxed
 * throw-away worktree and act on the verdict.
 *  - green: tag the tested commit `green/<UTC timestamp>`, promote when `auto_promote_on_green`;
 *  - red: run once more (a pass then is `flaky`, not red); confirmed red bisects the buffer's
 *    first-parent merges since the last green tag, reverts the culprit's merge when
 *    `auto_revert_on_red` (within the daily cap, unless the stream opted out; a conflicting revert
 *    is never forced) and files a critical task for the culprit's author.
 * Only the commit tested at the start is judged: the buffer keeps moving meanwhile, the bisect
 * range is fixed at the start, and the decide-and-revert step runs under the repository's lock.
 */

import { type BisectProbe, bisectFirstBad } from '../engine/bisect.js';
import { findLastGreen, tagGreen } from '../engine/green-tags.js';
import { findGitRepo, listFirstParentMerges, readRef } from '../engine/repo.js';
import { assertSandboxAvailable, type OutputSink } from '../engine/sandbox.js';
import {
  openStabilizeLog,
  runStabilizeCommand,
  type StabilizeLog,
  type StabilizeRunResult,
} from '../engine/stabilize-run.js';
import { GitSwarmError } from '../errors.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stabilization,
  type StabilizationResult,
  type Stream,
  toJson,
  withRepoLock,
} from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';
import { requireAction } from './access.js';
import { recordActivity } from './activity.js';
import { promoteBuffer } from './buffer-promotion.js';
import type { CoreDeps } from './deps.js';
import { stabilizeRunSettings } from './repo-settings.js';
import { getRepo } from './repos.js';
import { revertStream } from './stream-revert.js';
import { getStreamById } from './streams.js';
import { fileCriticalTask } from './tasks.js';
import { actorIdentity, repoRoot } from './workspace-paths.js';

/** Why a confirmed red did or did not revert the culprit's merge. */
export type RevertDecision =
  | 'reverted'
  | 'auto_revert_off'
  | 'opted_out'
  | 'daily_limit'
  | 'conflicted'
  | 'already_reverted'
  | 'no_culprit';

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
}

export interface StabilizeResult {
  result: Exclude<StabilizationResult, 'error'>;
  /** The buffer commit tested: the head when the run started. */
  buffer_commit: string;
  tag?: string;
  promoted?: boolean;
  breaking_stream_id?: string | null;
  culprit_commit?: string | null;
  reverted?: boolean;
  revert_commit?: string;
  revert_decision?: RevertDecision;
  task_id?: string | null;
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
  await assertSandboxAvailable(repo.sandbox, input.searchPath);
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
    `gitswarm stabilize: ${repo.name}, buffer ${repo.buffer_branch} at ${bufferCommit}, sandbox ${repo.sandbox}\n`,
  );
  const runs: StabilizeRunResult[] = [];
  const runSettings = stabilizeRunSettings(repo);
  const runAt = async (commit: string, label: string): Promise<StabilizeRunResult> => {
    const result = await runStabilizeCommand(git, {
      commit,
      command,
      label,
      sandbox: repo.sandbox,
      timeoutMs: repo.stabilize_timeout_seconds * 1000,
      memoryMb: repo.stabilize_memory_mb,
      ...runSettings,
      log,
      output: input.output,
      progress: input.progress,
      searchPath: input.searchPath,
    });
    runs.push(result);
    // The run could not test anything (setup failed, a program missing): an error, never red.
    if (result.outcome === 'error')
      throw new GitSwarmError('invalid_state', result.error ?? 'The run failed to start.');
    return result;
  };
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  const base = { repo, actor: input.actor, command, bufferCommit, log, runs, elapsed };

  try {
    const first = await runAt(bufferCommit, 'run');
    if (first.passed) return await concludeGreen(deps, base, first, input.progress);
    const retry = await runAt(bufferCommit, 'retry');
    if (retry.passed) return await concludeFlaky(deps, base, input.progress);
    return await concludeRed(deps, { ...base, git, failing: retry, runAt }, input.progress);
  } catch (error) {
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
    await log.close();
  }
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
  ctx: RunContext,
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
    await recordStabilized(deps, trx, ctx, inserted, {});
    return inserted;
  });
  const result: StabilizeResult = {
    result: 'green',
    buffer_commit: ctx.bufferCommit,
    tag: tag.name,
    stabilization_id: row.id,
    log_path: ctx.log.path,
    duration_ms: row.duration_ms ?? ctx.elapsed(),
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
  failing: StabilizeRunResult;
  runAt: (commit: string, label: string) => Promise<StabilizeRunResult>;
}

async function concludeRed(
  deps: CoreDeps,
  ctx: RedContext,
  progress: ((line: string) => void) | undefined,
): Promise<StabilizeResult> {
  const { repo } = ctx;
  const root = ctx.git.root;
  // The range is fixed now, from the tested commit: later merges are the next run's business.
  const lastGreen = await findLastGreen(root, ctx.bufferCommit);
  const candidates = await listFirstParentMerges(root, lastGreen?.commit ?? null, ctx.bufferCommit);
  const lastIsKnownBad = candidates.at(-1) === ctx.bufferCommit;
  progress?.(
    `stabilize: red; bisecting ${candidates.length} merge(s) since ${lastGreen ? lastGreen.name : 'the first commit'}`,
  );
  let probeNumber = 0;
  const bisect = await bisectFirstBad({
    candidates,
    lastIsKnownBad,
    test: async (commit) => {
      probeNumber += 1;
      return (await ctx.runAt(commit, `bisect ${probeNumber}`)).passed;
    },
  });
  const culprit = bisect.culprit;
  const merge = culprit
    ? await deps.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('merge_commit', '=', culprit)
        .executeTakeFirst()
    : undefined;
  ctx.log.write(
    `\n=== red: culprit ${culprit ?? 'not found'}${merge ? ` (stream ${merge.stream_id})` : ''} ===\n`,
  );

  // Decide and act under the repository's lock, re-reading what another run may have changed.
  return withRepoLock(deps.store, repo.id, async () => {
    const current = await getRepo(deps.store.db, repo.id);
    const stream = merge ? await getStreamById(deps.store.db, merge.stream_id) : undefined;
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
    if (!merge || !stream) decision = 'no_culprit';
    else if (fresh?.reverted_at) decision = 'already_reverted';
    else if (!current.auto_revert_on_red) decision = 'auto_revert_off';
    else if (stream.auto_revert_opt_out) decision = 'opted_out';
    else if ((await countAutoRevertsToday(deps, deps.store.db, repo.id)) >= current.max_auto_reverts_per_day)
      decision = 'daily_limit';
    else {
      const outcome = await revertStream(deps, {
        repo: current,
        stream,
        actor: null,
        reason: `stabilization red: ${ctx.command}`,
        mergeCommit: merge.merge_commit,
      });
      if (outcome.reverted) {
        decision = 'reverted';
        revertCommit = outcome.revert_commit;
      } else {
        decision = 'conflicted';
        conflictPaths = outcome.conflict_paths;
      }
    }
    progress?.(`stabilize: red; ${describeDecision(decision, stream, revertCommit)}`);

    return inTransaction(deps.store.db, async (trx) => {
      const assignee = stream ? stream.agent_id : await fallbackAssignee(trx, current, ctx.actor);
      // Another run already handled this culprit (reverted it and filed its task): no second task.
      const task =
        decision !== 'already_reverted' && assignee
          ? await fileCriticalTask(deps, trx, {
              repo: current,
              title: taskTitle(stream, ctx.command),
              description: taskDescription(ctx, { stream, culprit, decision, revertCommit, conflictPaths }),
              assigneeId: assignee,
              createdBy: null,
            })
          : undefined;
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
          last_green_tag: lastGreen?.name ?? null,
          last_green_commit: lastGreen?.commit ?? null,
          candidates,
          probes: bisect.probes satisfies BisectProbe[],
          culprit_commit: culprit,
          revert_decision: decision,
          auto_reverted: decision === 'reverted',
          reverted: decision === 'reverted',
          revert_commit: revertCommit ?? null,
          conflict_paths: conflictPaths ?? null,
          task_id: task?.id ?? null,
          exit_code: ctx.failing.exitCode,
          timed_out: ctx.failing.timedOut,
          log_excerpt: ctx.failing.tail.join('\n'),
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
        reverted: decision === 'reverted',
        ...(revertCommit ? { revert_commit: revertCommit } : {}),
        revert_decision: decision,
        task_id: task?.id ?? null,
        stabilization_id: row.id,
        log_path: ctx.log.path,
        duration_ms: row.duration_ms ?? ctx.elapsed(),
        runs: ctx.runs.length,
      } satisfies StabilizeResult;
    });
  });
}

function describeDecision(
  decision: RevertDecision,
  stream: Stream | undefined,
  revertCommit?: string,
): string {
  const name = stream ? `stream ${stream.name} (${stream.id})` : 'no stream';
  switch (decision) {
    case 'reverted':
      return `reverted the merge of ${name} (${revertCommit?.slice(0, 12)})`;
    case 'auto_revert_off':
      return `culprit ${name}; auto_revert_on_red is off, not reverted`;
    case 'opted_out':
      return `culprit ${name}; the stream opted out of automatic reverts`;
    case 'daily_limit':
      return `culprit ${name}; the daily limit of automatic reverts is reached, not reverted`;
    case 'conflicted':
      return `culprit ${name}; its revert conflicts with later merges, not forced`;
    case 'already_reverted':
      return `culprit ${name}; already reverted by another run`;
    case 'no_culprit':
      return 'no single merge to blame';
  }
}

function taskTitle(stream: Stream | undefined, command: string): string {
  const what = stream ? `stream ${stream.name} broke the buffer` : 'the buffer is red';
  return `Fix red build: ${what} (${command})`;
}

function taskDescription(
  ctx: RedContext,
  facts: {
    stream: Stream | undefined;
    culprit: string | null;
    decision: RevertDecision;
    revertCommit?: string;
    conflictPaths?: string[];
  },
): string {
  const lines = [
    facts.stream
      ? `The stabilize command fails on ${ctx.repo.buffer_branch}; bisection blames the merge of stream ${facts.stream.name} (${facts.stream.id}).`
      : `The stabilize command fails on ${ctx.repo.buffer_branch}; bisection found no single merge to blame.`,
    '',
    `Command: ${ctx.command}`,
    `Buffer commit tested: ${ctx.bufferCommit}`,
    `Culprit commit: ${facts.culprit ?? 'unknown'}`,
    `Revert: ${describeDecision(facts.decision, facts.stream, facts.revertCommit)}`,
    ...(facts.conflictPaths?.length ? [`Conflicting paths: ${facts.conflictPaths.join(', ')}`] : []),
    `Log: ${ctx.log.path}`,
    '',
    `Last ${ctx.failing.tail.length} lines of output:`,
    '```',
    ...ctx.failing.tail,
    '```',
  ];
  return lines.join('\n');
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

const DAY_MS = 24 * 60 * 60 * 1000;

/** Automatic reverts of the last 24 hours (a rolling day), as recorded on red stabilizations. */
export async function countAutoRevertsToday(deps: CoreDeps, db: Executor, repoId: string): Promise<number> {
  const since = new Date(deps.clock.now().getTime() - DAY_MS).toISOString();
  const rows = await db
    .selectFrom('gitswarm_stabilizations')
    .select('details')
    .where('repo_id', '=', repoId)
    .where('result', '=', 'red')
    .where('stabilized_at', '>=', since)
    .execute();
  return rows.filter((row) => row.details.auto_reverted === true).length;
}

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
