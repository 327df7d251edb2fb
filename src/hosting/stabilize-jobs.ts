/**
 * Server stabilization (Mode C): `POST /repos/:id/stabilize {}` queues a durable run
 * (`enqueueStabilizeRun`); a runner in every server instance (`startStabilizeRunner`) leases
 * queued runs and executes them with the core's `stabilize` (the one `gitswarm stabilize` uses:
 * sandbox, flake retry, bisect, revert, critical task), saves the verdict on the run and tells
 * WebSocket subscribers how it goes with `stabilize.progress` events.
 *
 * Durability: the lease is renewed while the run goes; a run whose instance died (its lease
 * lapsed) is started again from the beginning by any instance (stabilizing the same buffer again
 * is harmless: the green tag, the revert and the critical task are each made once), and after
 * `maxAttempts` starts it ends as `error`. A server shutting down stops its runs (their process
 * trees killed) and puts them back in the queue. A run is never left `running` without a live
 * lease. An instance that loses its lease (it stalled past it) stops its run and leaves the row
 * to the instance that took over.
 */

import { getAgent } from '../core/agents/agents.js';
import type { CoreDeps } from '../core/deps.js';
import { requireAction } from '../core/governance/access.js';
import { getRepo } from '../core/repos/repos.js';
import { type StabilizeResult, stabilize } from '../core/stabilization/stabilization.js';
import { findGitRepo, readRef } from '../engine/repo.js';
import { GitSwarmError } from '../errors.js';
import {
  type ActivityEntry,
  type Agent,
  lockedTransaction,
  type Repo,
  type StabilizeRun,
} from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { newId } from '../util/ids.js';
import type { StabilizeRunSettings } from './config.js';
import {
  abandonRun,
  findActiveRun,
  finishRun,
  insertQueuedRun,
  LogTail,
  leaseRun,
  listClaimableRuns,
  type RunOutcome,
  renewRunLease,
  requeueRun,
} from './stabilize-runs.js';
import { serverSandboxMode } from './stabilize-sandbox.js';

export interface EnqueueStabilizeInput {
  repo: Repo;
  actor: Agent;
  allowUnsandboxed: boolean;
  searchPath?: string;
}

/**
 * Queues a stabilization run of a server-held repository, or returns the one already queued or
 * running (`created: false`). Refuses what the run would refuse at once: no write access, no
 * stabilize command, no sandbox on this server (`sandbox_unavailable`).
 */
export async function enqueueStabilizeRun(
  deps: CoreDeps,
  input: EnqueueStabilizeInput,
): Promise<{ run: StabilizeRun; created: boolean }> {
  const repo = await getRepo(deps.store.db, input.repo.id);
  if (!repo.server_git) {
    throw new GitSwarmError(
      'invalid_input',
      'The server holds no git of this repository: it cannot run its tests.',
      {
        hint: 'Run gitswarm stabilize in your clone; it reports the result with {result, buffer_commit}.',
      },
    );
  }
  await requireAction(deps, deps.store.db, repo, input.actor, 'write');
  if (!repo.stabilize_command?.trim()) {
    throw new GitSwarmError('invalid_state', 'This repository has no stabilize command.', {
      hint: `Set one with: PATCH /api/v1/repos/${repo.id} {"stabilize_command": "npm test"}`,
    });
  }
  await serverSandboxMode(repo, { allowUnsandboxed: input.allowUnsandboxed, searchPath: input.searchPath });
  // Under the repository's lock: two requests at once find, or make, the same run.
  const queued = await lockedTransaction(deps.store, repo.id, async (trx) => {
    const active = await findActiveRun(trx, repo.id);
    if (active) return { run: active, created: false };
    const run = await insertQueuedRun(trx, {
      repoId: repo.id,
      requestedBy: input.actor.id,
      now: isoNow(deps.clock),
    });
    return { run, created: true };
  });
  if (queued.created) publishRunProgress(deps, queued.run, { status: 'queued' });
  return queued;
}

export { getRun as getStabilizeRun } from './stabilize-runs.js';

/** Publishes a `stabilize.progress` event (on the bus only: progress is not activity history). */
export function publishRunProgress(
  deps: CoreDeps,
  run: Pick<StabilizeRun, 'id' | 'repo_id' | 'requested_by'>,
  metadata: { status: StabilizeRun['status']; line?: string } & Record<string, unknown>,
): void {
  const event: ActivityEntry = {
    id: newId(),
    repo_id: run.repo_id,
    agent_id: run.requested_by,
    event_type: 'stabilize.progress',
    target_type: 'stabilize_run',
    target_id: run.id,
    metadata: { run_id: run.id, ...metadata },
    created_at: isoNow(deps.clock),
  };
  deps.events.publish(event);
}

export interface StabilizeRunnerOptions extends StabilizeRunSettings {
  /** This instance's name in leases. */
  instanceId: string;
  allowUnsandboxed: boolean;
  /** Told about failures of the runner itself (the database unreachable, …); never throws. */
  onError?: (error: unknown) => void;
}

export interface StabilizeRunner {
  /** Looks for work now (after an enqueue on this instance) instead of at the next poll. */
  kick(): void;
  /** Resolves when no run is in flight here and no claimable run is left (tests). */
  idle(): Promise<void>;
  /** Stops polling, stops the runs in flight and puts them back in the queue. */
  close(): Promise<void>;
}

class LeaseLost extends Error {
  constructor(runId: string) {
    super(`The lease of stabilization run ${runId} passed to another server instance.`);
    this.name = 'LeaseLost';
  }
}

class ShuttingDown extends Error {
  constructor() {
    super('The server is shutting down.');
    this.name = 'ShuttingDown';
  }
}

/** Starts the runner of this server instance (see the module comment). */
export function startStabilizeRunner(deps: CoreDeps, options: StabilizeRunnerOptions): StabilizeRunner {
  const onError = options.onError ?? (() => {});
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const at = (ms: number) => new Date(deps.clock.now().getTime() + ms).toISOString();
  let closed = false;
  let ticking: Promise<void> | null = null;
  let again = false;

  const tick = (): Promise<void> => {
    if (closed) return Promise.resolve();
    if (ticking) {
      again = true;
      return ticking;
    }
    ticking = (async () => {
      do {
        again = false;
        try {
          await claimRuns();
        } catch (error) {
          onError(error);
        }
      } while (again && !closed);
    })().finally(() => {
      ticking = null;
    });
    return ticking;
  };

  const claimRuns = async () => {
    while (!closed && inFlight.size < options.concurrency) {
      const now = isoNow(deps.clock);
      const candidates = await listClaimableRuns(deps.store.db, {
        now,
        owner: options.instanceId,
        excludeIds: [...inFlight.keys()],
        limit: options.concurrency * 4,
      });
      let took = false;
      for (const seen of candidates) {
        if (closed || inFlight.size >= options.concurrency) break;
        if (seen.attempts >= options.maxAttempts) {
          const error = `The run was started ${seen.attempts} time(s) and its server stopped each time; it is not started again.`;
          if (await abandonRun(deps.store.db, seen, { owner: options.instanceId, now }, error)) {
            publishRunProgress(deps, seen, { status: 'error', error });
          }
          continue;
        }
        if (
          !(await leaseRun(deps.store.db, seen, {
            owner: options.instanceId,
            now,
            until: at(options.leaseMs),
          }))
        ) {
          continue;
        }
        took = true;
        const controller = new AbortController();
        const done = execute(seen, controller).finally(() => {
          inFlight.delete(seen.id);
          // A slot is free: look for the next run at once.
          void tick();
        });
        inFlight.set(seen.id, { controller, done });
      }
      if (!took) return;
    }
  };

  const execute = async (seen: StabilizeRun, controller: AbortController): Promise<void> => {
    const tail = new LogTail();
    let bufferCommit: string | null = null;
    const resumed = seen.status === 'running';
    // One save at a time, in order: the lease and what the run has to show so far.
    let saving: Promise<void> = Promise.resolve();
    const save = () => {
      saving = saving.then(async () => {
        try {
          const held = await renewRunLease(
            deps.store.db,
            seen.id,
            { owner: options.instanceId, until: at(options.leaseMs) },
            { logTail: tail.toString(), bufferCommit },
          );
          if (!held && !controller.signal.aborted) controller.abort(new LeaseLost(seen.id));
        } catch (error) {
          onError(error);
        }
      });
    };
    const renew = setInterval(save, options.renewMs);
    renew.unref();
    const progress = (line: string) => {
      tail.line(line);
      publishRunProgress(deps, seen, { status: 'running', line });
      save();
    };
    try {
      progress(
        resumed
          ? `stabilize: run ${seen.id} taken over by ${options.instanceId} (start ${seen.attempts + 1} of at most ${options.maxAttempts}); starting again`
          : `stabilize: run ${seen.id} started by ${options.instanceId}`,
      );
      const repo = await getRepo(deps.store.db, seen.repo_id);
      const actor = seen.requested_by ? await getAgent(deps.store.db, seen.requested_by) : null;
      const sandbox = await serverSandboxMode(repo, {
        allowUnsandboxed: options.allowUnsandboxed,
        searchPath: options.searchPath,
      });
      if (repo.path) {
        const git = await findGitRepo(repo.path);
        bufferCommit = await readRef(git.root, `refs/heads/${repo.buffer_branch}`);
      }
      progress(
        `stabilize: ${repo.buffer_branch} at ${bufferCommit ?? '(none)'}; sandbox ${sandbox === 'none' ? 'none (the server allows unsandboxed runs)' : 'bubblewrap'}`,
      );
      const result = await stabilize(deps, {
        repo,
        actor,
        sandbox,
        signal: controller.signal,
        progress,
        output: (chunk) => tail.append(chunk),
        ...(options.searchPath !== undefined ? { searchPath: options.searchPath } : {}),
      });
      await finish(seen, outcomeOf(result, tail, isoNow(deps.clock)));
    } catch (error) {
      const reason = controller.signal.aborted ? controller.signal.reason : undefined;
      if (reason instanceof LeaseLost) {
        onError(reason);
        return;
      }
      if (reason instanceof ShuttingDown) {
        tail.line('stabilize: interrupted: the server is shutting down; the run goes back to the queue');
        await requeueRun(deps.store.db, seen.id, options.instanceId, {
          attempts: seen.attempts,
          logTail: tail.toString(),
        }).catch(onError);
        publishRunProgress(deps, seen, {
          status: 'queued',
          line: 'interrupted: the server is shutting down',
        });
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      tail.line(`stabilize: error: ${message}`);
      await finish(seen, {
        status: 'error',
        bufferCommit,
        stabilizationId: null,
        tag: null,
        breakingStreamId: null,
        reverted: false,
        taskId: null,
        logTail: tail.toString(),
        error: message,
        now: isoNow(deps.clock),
      }).catch(onError);
    } finally {
      clearInterval(renew);
      await saving;
    }
  };

  const finish = async (seen: StabilizeRun, outcome: RunOutcome) => {
    if (await finishRun(deps.store.db, seen.id, options.instanceId, outcome)) {
      publishRunProgress(deps, seen, {
        status: outcome.status,
        buffer_commit: outcome.bufferCommit,
        tag: outcome.tag,
        breaking_stream_id: outcome.breakingStreamId,
        reverted: outcome.reverted,
        task_id: outcome.taskId,
        ...(outcome.error ? { error: outcome.error } : {}),
      });
    }
  };

  const timer = setInterval(() => void tick(), options.pollMs);
  timer.unref();
  void tick();

  return {
    kick() {
      void tick();
    },
    async idle() {
      for (;;) {
        await tick();
        const running = [...inFlight.values()].map((f) => f.done);
        if (running.length === 0) {
          const left = await listClaimableRuns(deps.store.db, {
            now: isoNow(deps.clock),
            owner: options.instanceId,
            excludeIds: [],
            limit: 1,
          });
          if (left.length === 0 || closed) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        await Promise.allSettled(running);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const { controller } of inFlight.values()) controller.abort(new ShuttingDown());
      await Promise.allSettled([ticking, ...[...inFlight.values()].map((f) => f.done)]);
    },
  };
}

function outcomeOf(result: StabilizeResult, tail: LogTail, now: string): RunOutcome {
  return {
    status: result.result,
    bufferCommit: result.buffer_commit,
    stabilizationId: result.stabilization_id,
    tag: result.tag ?? null,
    breakingStreamId: result.breaking_stream_id ?? null,
    reverted: result.reverted === true,
    taskId: result.task_id ?? null,
    logTail: tail.toString(),
    error: result.result === 'error' ? (result.error ?? 'The stabilize run could not judge the code.') : null,
    now,
  };
}
