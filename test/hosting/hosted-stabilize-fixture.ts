/**
 * Set-up for server stabilization tests: an app with short leases, a server-held repository
 * (`server_git`, its git a real repository in a temp dir with check.sh on the buffer) owned by an
 * agent with an API key, and agents that merge work to its buffer in swarm mode.
 */
import { getAgent } from '../../src/core/agents/agents.js';
import { commitWorkspace, createWorkspace, findWorkspace } from '../../src/core/federation.js';
import { addMaintainer } from '../../src/core/governance/maintainers.js';
import { createRepo } from '../../src/core/repos/repos.js';
import type { App } from '../../src/server/app.js';
import type { Repo } from '../../src/store/index.js';
import { writeFiles } from '../helpers/federation-fixture.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';
import { CHECK_COMMAND, CHECK_SCRIPT } from '../helpers/stabilize-fixture.js';
import { uniqueName } from '../helpers/streams-fixture.js';
import { callApi, registerTestAgent, type TestAgent } from '../server/helpers.js';

/** Leases and polls short enough for tests. */
export const TEST_RUN_TIMING = { leaseMs: 1500, renewMs: 250, pollMs: 150, maxAttempts: 3, concurrency: 2 };

export interface HostedRepo {
  repo: Repo;
  git: TestRepo;
  /** The owner (admin of the repository), with an API key. */
  owner: TestAgent;
  /** A maintainer, with an API key. */
  maintainer: TestAgent;
}

/** A server-held repository with check.sh on its buffer and the stabilize command set. */
export async function seedHostedRepo(app: App, settings: Record<string, unknown> = {}): Promise<HostedRepo> {
  const deps = app.deps;
  const git = await makeRepo();
  await git.branch('buffer');
  await git.commitOn('buffer', { 'check.sh': CHECK_SCRIPT }, 'Add the test suite\n', 'buffer');
  const owner = await registerTestAgent(app);
  const maintainer = await registerTestAgent(app);
  const ownerRow = await getAgent(deps.store.db, owner.id);
  const created = await createRepo(deps, {
    name: uniqueName('hosted'),
    path: git.dir,
    settings: { merge_mode: 'swarm', stabilize_command: CHECK_COMMAND, ...settings },
    owner: ownerRow,
  });
  await deps.store.db
    .updateTable('gitswarm_repos')
    .set({ server_git: true })
    .where('id', '=', created.id)
    .execute();
  const repo = { ...created, server_git: true };
  await addMaintainer(deps, deps.store.db, {
    repo,
    actor: ownerRow,
    agent: await getAgent(deps.store.db, maintainer.id),
  });
  return { repo, git, owner, maintainer };
}

/** Commits files as the agent (swarm mode: merged to the buffer at once); returns its stream and the buffer head. */
export async function mergeWork(
  app: App,
  hosted: HostedRepo,
  agent: TestAgent,
  files: Record<string, string>,
  message = 'Work',
): Promise<{ streamId: string; bufferHead: string }> {
  const deps = app.deps;
  const row = await getAgent(deps.store.db, agent.id);
  const existing = await findWorkspace(deps.store.db, hosted.repo.id, row.id);
  const worktree = existing
    ? existing.path
    : (await createWorkspace(deps, { repo: hosted.repo, agent: row })).worktree;
  writeFiles(worktree, files);
  const result = await commitWorkspace(deps, { repo: hosted.repo, agent: row, message });
  if (!result.merged || !result.buffer_head) throw new Error('expected the swarm commit to merge');
  return { streamId: result.stream_id, bufferHead: result.buffer_head };
}

export type RunBody = {
  id: string;
  status: string;
  buffer_commit: string | null;
  tag: string | null;
  breaking_stream_id: string | null;
  reverted: boolean;
  task_id: string | null;
  log_tail: string;
  error: string | null;
  attempts: number;
};

/** Starts a run over the API; returns the status and the run. */
export async function startRun(app: App, agent: TestAgent, repoId: string) {
  const response = await callApi(app, agent, {
    method: 'POST',
    url: `/repos/${repoId}/stabilize`,
    payload: {},
  });
  return { status: response.status, body: response.body, run: response.body.run as RunBody };
}

/** Polls `GET …/runs/:runId` until the run is over (or the timeout passes); returns the run. */
export async function waitForRun(
  app: App,
  agent: TestAgent,
  repoId: string,
  runId: string,
  timeoutMs = 60_000,
): Promise<RunBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await callApi(app, agent, {
      method: 'GET',
      url: `/repos/${repoId}/stabilize/runs/${runId}`,
    });
    if (status !== 200) throw new Error(`GET run: ${status} ${JSON.stringify(body)}`);
    const run = body.run as RunBody;
    if (run.status !== 'queued' && run.status !== 'running') return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status}: ${run.log_tail}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls until `check` holds for the run (or the timeout passes). */
export async function waitForRunState(
  app: App,
  agent: TestAgent,
  repoId: string,
  runId: string,
  check: (run: RunBody) => boolean,
  timeoutMs = 30_000,
): Promise<RunBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await callApi(app, agent, {
      method: 'GET',
      url: `/repos/${repoId}/stabilize/runs/${runId}`,
    });
    const run = body.run as RunBody;
    if (run && check(run)) return run;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} never reached the state: ${JSON.stringify(run)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
