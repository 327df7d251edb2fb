/**
 * `gitswarm stabilize` in a connected clone (spec 3.1 Mode B step 9, section 6.3): the clone
 * fetches the shared buffer and runs the repository's stabilize command on its head in the
 * sandbox (engine/stabilize-run.ts), as Mode A does, and reports the result
 * (POST /repos/:id/stabilize). Green: the `green/<timestamp>` tag is pushed to the remote (the
 * next red's bisection and every clone's promotion start from it), and an auto-promotion the
 * server answers for is made (remote/promote.ts). Red: retried once (a pass is flaky), then
 * bisected over GitSwarm's merges since the last green (buffer-line.ts); the report names the
 * culprit's merge as the failing commit and its first parent as the passing one, the evidence on
 * which the server files the critical task and decides whether to revert (the rule lives there).
 * The revert is pushed by compare-and-swap and reported; a clone that loses that race fetches,
 * finds the other clone's revert and reports it instead, so the merge is reverted once.
 */

import { stabilizeRunSettings } from '../core/repos/repo-settings.js';
import {
  couldNotStart,
  describeBlame,
  describeDecision,
  type RevertDecision,
} from '../core/stabilization/stabilization-text.js';
import { revertMessage } from '../core/streams/stream-revert.js';
import { agentIdentity } from '../core/streams/workspace-paths.js';
import { type BisectProbe, bisectFirstBad } from '../engine/bisect.js';
import { GREEN_TAG_PREFIX, tagGreen } from '../engine/green-tags.js';
import { findGitRepo, firstParent } from '../engine/repo.js';
import { revertOnto } from '../engine/revert.js';
import { assertSandboxAvailable, type OutputSink, type SandboxMode } from '../engine/sandbox.js';
import {
  openStabilizeLog,
  runStabilizeCommand,
  type StabilizeRunResult,
  sharedRunSetup,
} from '../engine/stabilize-run.js';
import { GitSwarmError } from '../errors.js';
import { findRemoteBisectRange, findRevertOf, type RemoteBisectStart } from './buffer-line.js';
import type { ConnectedGit } from './git-ops.js';
import { MAX_PUSH_ATTEMPTS, pushBackoff } from './merge.js';
import { type PromoteRepo, promoteConnected } from './promote.js';
import type { RemoteStream, ServerApi } from './server-api.js';

/** The repository settings a stabilize run reads (GET /repos/:id). */
export interface StabilizeRepo extends PromoteRepo {
  name: string;
  sandbox: string;
  stabilize_timeout_seconds: number;
  stabilize_memory_mb: number;
  metadata: Record<string, unknown>;
}

export interface ConnectedStabilizeInput {
  api: ServerApi;
  git: ConnectedGit;
  repo: StabilizeRepo;
  /** The acting agent (the API key's owner): the author of the tag and a revert. */
  actor: { id: string; name: string };
  now?: () => Date;
  output?: OutputSink;
  progress?: (line: string) => void;
  searchPath?: string;
  /** Called before each revert push (a test makes another clone win the race there). */
  beforeRevertPush?: (attempt: number) => Promise<void>;
}

/** The `--json` of `stabilize` (cli/stabilize.ts), computed in the clone, decided on the server. */
export interface ConnectedStabilizeResult {
  result: 'green' | 'red' | 'flaky';
  tag?: string;
  buffer_commit: string;
  breaking_stream_id?: string | null;
  culprit_commit?: string | null;
  reverted?: boolean;
  revert_commit?: string;
  revert_decision?: RevertDecision;
  blame?: string;
  task_id?: string | null;
  task_number?: number | null;
  promoted?: boolean;
  log_path: string;
  duration_ms: number;
  runs: number;
  stabilization_id: string;
}

interface StabilizeAnswer {
  stabilization: { id: string };
  promote: boolean;
  task_id: string | null;
  culprit: { stream_id: string; status: 'confirmed' | 'suspected'; reason: string | null } | null;
  revert?: boolean;
  revert_decision?: string | null;
}

/** Fetches, runs, reports, and acts on the server's answer (see the file's comment). */
export async function stabilizeConnected(input: ConnectedStabilizeInput): Promise<ConnectedStabilizeResult> {
  const { api, git, repo } = input;
  const command = repo.stabilize_command?.trim();
  if (!command) {
    throw new GitSwarmError('invalid_state', 'This repository has no stabilize command.', {
      hint: 'Set one with: gitswarm config stabilize_command "npm test"',
    });
  }
  const sandbox = repo.sandbox as SandboxMode;
  await assertSandboxAvailable(sandbox, input.searchPath);
  const buffer = repo.buffer_branch;
  await git.fetch([buffer], { tags: `${GREEN_TAG_PREFIX}*` });
  const head = await git.remoteHead(buffer);
  if (!head) {
    throw new GitSwarmError('invalid_state', `The remote ${git.remote} has no buffer branch ${buffer}.`);
  }
  const now = input.now ?? (() => new Date());
  const location = await findGitRepo(git.root);
  const log = openStabilizeLog(location, now());
  log.write(`gitswarm stabilize (connected): ${repo.name}, ${buffer} at ${head}, sandbox ${sandbox}\n`);
  const started = process.hrtime.bigint();
  const elapsed = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  const runs: StabilizeRunResult[] = [];
  const settings = stabilizeRunSettings(repo);
  const shared = sharedRunSetup(location, input.searchPath);
  const runAt = async (commit: string, label: string) => {
    const run = await runStabilizeCommand(location, {
      commit,
      command,
      label,
      sandbox,
      ...settings,
      log,
      output: input.output,
      progress: input.progress,
      searchPath: input.searchPath,
      shared,
    });
    runs.push(run);
    return run;
  };
  const report = (body: Record<string, unknown>) =>
    api.post<StabilizeAnswer>(`/repos/${encodeURIComponent(repo.id)}/stabilize`, {
      ...body,
      duration_ms: elapsed(),
    });
  const done = { buffer_commit: head, log_path: log.path };
  const couldNot = async (run: StabilizeRunResult): Promise<never> => {
    const facts = couldNotStart(run);
    await report({
      result: 'error',
      buffer_commit: head,
      details: { command, error: facts.error, error_kind: facts.kind, runs: runs.length },
    });
    throw new GitSwarmError('stabilization_error', facts.error, {
      hint: facts.hint,
      details: { result: 'error', error_kind: facts.kind, ...done, runs: runs.length },
    });
  };

  try {
    const first = await runAt(head, 'run');
    if (first.outcome === 'error') return await couldNot(first);
    if (first.passed) {
      const tag = await tagGreen(git.root, {
        commit: head,
        at: now(),
        author: agentIdentity(input.actor),
        message: `Stabilized: green\n\nCommand: ${command}\nPassed on ${buffer} at ${head}.\n`,
      });
      const answer = await report({
        result: 'green',
        tag: tag.name,
        buffer_commit: head,
        details: { command, runs: runs.length },
      }).catch(async (error) => {
        // Not recorded (refused, or no server): no green tag stays here to be promoted from.
        if (tag.created) await git.deleteTag(tag.name).catch(() => {});
        throw error;
      });
      log.write(`\n=== green: tagged ${tag.name} ===\n`);
      input.progress?.(`stabilize: green, tagged ${tag.name}`);
      // The tag goes to the remote once the server recorded the green: other clones bisect from it.
      await git.pushTag(tag.name);
      const result: ConnectedStabilizeResult = {
        result: 'green',
        tag: tag.name,
        ...done,
        duration_ms: elapsed(),
        runs: runs.length,
        stabilization_id: answer.stabilization.id,
      };
      if (answer.promote) result.promoted = await autoPromote(input, log.write.bind(log));
      return result;
    }
    const retry = await runAt(head, 'retry');
    if (retry.outcome === 'error') return await couldNot(retry);
    if (retry.passed) {
      const answer = await report({
        result: 'flaky',
        buffer_commit: head,
        details: { command, runs: runs.length },
      });
      input.progress?.('stabilize: flaky (failed, then passed on retry); not tagged green');
      return {
        result: 'flaky',
        ...done,
        duration_ms: elapsed(),
        runs: runs.length,
        stabilization_id: answer.stabilization.id,
      };
    }
    const { start, candidates } = await findRemoteBisectRange(git.root, head);
    if (start.kind === 'green' && start.commit === head) {
      throw new GitSwarmError(
        'stabilization_error',
        `${head.slice(0, 12)} passed before (${start.green?.name}) and fails now with nothing merged since: the environment changed, not the code`,
        { details: { result: 'error', error_kind: 'environment_changed', ...done, runs: runs.length } },
      );
    }
    const bisect = await bisectRange(
      start,
      candidates.map((c) => c.commit),
      head,
      runAt,
    );
    if (bisect === 'could_not_start') return await couldNot(runs.at(-1) as StabilizeRunResult);
    const culprit = bisect.culprit ? candidates.find((c) => c.commit === bisect.culprit) : undefined;
    const passing = culprit ? await firstParent(git.root, culprit.commit) : null;
    const details = {
      command,
      tested_commit: head,
      runs: runs.length,
      bisect_from: start.commit,
      bisect_from_kind: start.kind,
      candidates: candidates.map((c) => c.commit),
      probes: bisect.probes,
      culprit_commit: culprit?.commit ?? null,
      exit_code: retry.exitCode,
      timed_out: retry.timedOut,
      log_excerpt: retry.tail.join('\n'),
    };
    // The evidence: the culprit's merge fails, its first parent passed (what bisection found).
    const answer = await report(
      culprit?.stream && passing
        ? {
            result: 'red',
            buffer_commit: culprit.commit,
            breaking_stream_id: culprit.stream,
            passing_commit: passing,
            details,
          }
        : { result: 'red', buffer_commit: head, details },
    );
    const confirmed = answer.culprit?.status === 'confirmed' ? answer.culprit.stream_id : null;
    const stream = confirmed
      ? (await api.get<{ stream: RemoteStream }>(`/streams/${encodeURIComponent(confirmed)}`)).stream
      : undefined;
    const blame = describeBlame(stream, culprit?.commit ?? null);
    let decision: RevertDecision = (answer.revert_decision as RevertDecision | null) ?? 'no_culprit';
    let revertCommit: string | undefined;
    if (answer.revert && stream && culprit) {
      const outcome = await pushRevert(input, { stream, merge: culprit.commit, head, command });
      decision = outcome.kind;
      revertCommit = outcome.kind === 'reverted' ? outcome.commit : undefined;
    }
    input.progress?.(
      `stabilize: red; bisection blames ${blame}; ${describeDecision(decision, revertCommit)}`,
    );
    log.write(`\n=== red: culprit ${culprit?.commit ?? 'not found'}; ${decision} ===\n`);
    const task = answer.task_id
      ? (await api.get<{ task: { number: number } }>(`/tasks/${encodeURIComponent(answer.task_id)}`)).task
      : undefined;
    return {
      result: 'red',
      ...done,
      breaking_stream_id: confirmed,
      culprit_commit: culprit?.commit ?? null,
      blame,
      reverted: decision === 'reverted',
      ...(revertCommit ? { revert_commit: revertCommit } : {}),
      revert_decision: decision,
      task_id: answer.task_id,
      task_number: task?.number ?? null,
      duration_ms: elapsed(),
      runs: runs.length,
      stabilization_id: answer.stabilization.id,
    };
  } finally {
    await log.close();
  }
}

/** Bisection as Mode A runs it: a start that is only assumed to pass is probed first. */
async function bisectRange(
  start: RemoteBisectStart,
  candidates: string[],
  head: string,
  runAt: (commit: string, label: string) => Promise<StabilizeRunResult>,
): Promise<{ culprit: string | null; probes: BisectProbe[] } | 'could_not_start'> {
  let couldNotStartAt = false;
  const probe = async (commit: string, label: string) => {
    const run = await runAt(commit, label);
    if (run.outcome === 'error') {
      couldNotStartAt = true;
      throw new ProbeFailed();
    }
    return run.passed;
  };
  try {
    if (start.kind !== 'green' && start.commit !== null && candidates.length > 0) {
      if (!(await probe(start.commit, 'baseline'))) return { culprit: null, probes: [] };
    }
    let n = 0;
    return await bisectFirstBad({
      candidates,
      lastIsKnownBad: candidates.at(-1) === head,
      test: (commit) => probe(commit, `bisect ${++n}`),
    });
  } catch (error) {
    if (couldNotStartAt) return 'could_not_start';
    throw error;
  }
}

class ProbeFailed extends Error {}

/**
 * Reverts the culprit's merge on the remote buffer by compare-and-swap. Losing the race: fetch;
 * when the buffer now holds a revert of that merge (another clone's), report that one; else
 * revert again on the new head. A conflicting revert is never forced.
 */
async function pushRevert(
  input: ConnectedStabilizeInput,
  target: { stream: RemoteStream; merge: string; head: string; command: string },
): Promise<{ kind: 'reverted'; commit: string } | { kind: 'conflicted'; paths: string[] }> {
  const { api, git } = input;
  const buffer = input.repo.buffer_branch;
  const reason = `stabilization red: ${target.command}`;
  const message = revertMessage({
    stream: target.stream,
    mergeCommit: target.merge,
    reason,
    redAt: target.head,
  });
  let head = target.head;
  for (let attempt = 0; attempt < MAX_PUSH_ATTEMPTS; attempt++) {
    const revert = await revertOnto(git.root, {
      commit: target.merge,
      onto: head,
      message,
      author: agentIdentity(input.actor),
    });
    if (revert.kind === 'conflicted') return { kind: 'conflicted', paths: revert.paths };
    await input.beforeRevertPush?.(attempt);
    const pushed = await git.pushIfAt(buffer, revert.commit, head);
    let commit: string | null = pushed.ok ? revert.commit : null;
    if (!pushed.ok) {
      await pushBackoff(attempt);
      await git.fetch([buffer]);
      const now = await git.remoteHead(buffer);
      if (now === null) throw new GitSwarmError('invalid_state', `The buffer ${buffer} left ${git.remote}.`);
      commit = await findRevertOf(git.root, target.merge, head, now);
      head = now;
    }
    if (commit) {
      // Idempotent per revert commit: the other clone's report and this one record it once.
      await api.patch(`/streams/${encodeURIComponent(target.stream.id)}`, {
        status: 'reverted',
        revert_commit: commit,
        reason,
      });
      return { kind: 'reverted', commit };
    }
  }
  throw new GitSwarmError(
    'ref_moved',
    `The buffer ${buffer} kept moving on ${git.remote}; the revert was not published.`,
  );
}

/** Stabilize's promotion on green, as the server answered; a refusal leaves the green standing. */
async function autoPromote(input: ConnectedStabilizeInput, log: (text: string) => void): Promise<boolean> {
  try {
    const promotion = await promoteConnected({
      api: input.api,
      git: input.git,
      repo: input.repo,
      trigger: 'auto',
    });
    input.progress?.(
      promotion.promoted
        ? `stabilize: promoted ${promotion.target} to ${promotion.to_commit.slice(0, 12)}`
        : `stabilize: ${promotion.target} already at ${promotion.to_commit.slice(0, 12)}`,
    );
    return promotion.promoted;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`\n=== auto-promotion refused: ${message} ===\n`);
    input.progress?.(`stabilize: auto-promotion refused: ${message}`);
    return false;
  }
}
