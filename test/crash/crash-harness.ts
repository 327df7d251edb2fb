/**
 * The crash tests' tools: run one operation of the built core in a child process (optionally
 * armed with a failpoint), and check that git and the store agree about a repository.
 */
import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import type { Repo, Store } from '../../src/store/index.js';
import { FAILPOINTS_ENV, type FailpointName } from '../../src/util/failpoints.js';
import { ROOT } from '../helpers/built.js';
import { bundledFixture } from '../helpers/bundled-fixture.js';
import { TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';

/** Crash tests run the built core in child processes: a stale build would test old code. */
export { requireFreshBuild } from '../helpers/built.js';

export interface WorkerSpec {
  op: 'recover' | 'create-workspace' | 'commit' | 'reopen' | 'merge' | 'cascade' | 'revert' | 'promote';
  repoId: string;
  agentId?: string | null;
  streamId?: string;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's JSON outcome; null when it died before printing one. */
  outcome:
    | ({ ok: boolean; recovered?: Array<{ kind: string; outcome: string }> } & Record<string, unknown>)
    | null;
  stderr: string;
}

/** Runs the crash worker once on the store (its location and schema), armed with `failpoint` if given. */
export async function runCrashWorker(
  store: { location: string; schema?: string },
  spec: WorkerSpec,
  failpoint?: FailpointName,
): Promise<WorkerExit> {
  const worker = await bundledFixture('crash-worker.mjs');
  const env: NodeJS.ProcessEnv = { ...process.env, ...TEST_ENV };
  delete env[FAILPOINTS_ENV];
  if (failpoint) env[FAILPOINTS_ENV] = failpoint;
  const child = spawn(
    process.execPath,
    [worker, JSON.stringify({ ...spec, location: store.location, schema: store.schema })],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = stdout.trim();
      resolve({ code, signal, outcome: line === '' ? null : JSON.parse(line), stderr });
    });
  });
}

/** Runs the worker without a failpoint and expects it to succeed; returns its outcome. */
export async function runToSuccess(
  store: { location: string; schema?: string },
  spec: WorkerSpec,
): Promise<NonNullable<WorkerExit['outcome']>> {
  const exit = await runCrashWorker(store, spec);
  expect(exit.stderr).toBe('');
  expect(exit.signal).toBeNull();
  expect(exit.outcome).toMatchObject({ ok: true });
  return exit.outcome as NonNullable<WorkerExit['outcome']>;
}

const LIVE = new Set(['active', 'in_review', 'conflicted']);

/**
 * Asserts that git and the store agree about the repository: nothing is pending in the operation
 * log; every stream branch has its row and every live stream its branch; every worktree row its
 * git worktree and the reverse; the buffer's first-parent merges and reverts are exactly the
 * merge rows' commits; stream statuses match their merges; main is where the last promotion put
 * it; every checkout is clean (none left behind by a moved branch).
 */
export async function assertGitAndStoreAgree(
  store: Store,
  repo: Repo,
  git: TestRepo,
  /** main's commit before the test (the buffer started there too), and checkouts the test added. */
  seed: { initialMain: string; extraCheckouts: readonly string[] },
): Promise<void> {
  const { initialMain, extraCheckouts } = seed;
  const pending = await store.db
    .selectFrom('gitswarm_operations')
    .select(['kind', 'ref', 'status'])
    .where('repo_id', '=', repo.id)
    .where('status', '=', 'pending')
    .execute();
  expect(pending, 'unfinished operations').toEqual([]);

  const streams = await store.db
    .selectFrom('gitswarm_streams')
    .selectAll()
    .where('repo_id', '=', repo.id)
    .execute();
  const branches = (await git.run(['for-each-ref', '--format=%(refname:short)', 'refs/heads/stream/']))
    .split('\n')
    .filter(Boolean);
  const streamBranches = new Set(streams.map((s) => s.branch));
  expect(
    branches.filter((b) => !streamBranches.has(b)),
    'stream branches without a stream row',
  ).toEqual([]);
  for (const stream of streams) {
    if (LIVE.has(stream.status))
      expect(branches, `branch of live stream ${stream.name}`).toContain(stream.branch);
    if (stream.base_commit && branches.includes(stream.branch)) {
      expect(
        await git.exitCode(['merge-base', '--is-ancestor', stream.base_commit, stream.branch]),
        `${stream.name} is built on its base_commit`,
      ).toBe(0);
    }
  }

  const worktreeRows = await store.db
    .selectFrom('gitswarm_worktrees')
    .select(['path', 'stream_id'])
    .where('repo_id', '=', repo.id)
    .execute();
  const gitWorktrees = (await git.run(['worktree', 'list', '--porcelain']))
    .split('\n')
    .filter((line) => line.startsWith('worktree '))
    .map((line) => line.slice('worktree '.length));
  const expectedWorktrees = [git.dir, ...extraCheckouts, ...worktreeRows.map((row) => row.path)];
  expect([...gitWorktrees].sort(), 'git worktrees = main checkout + worktree rows').toEqual(
    [...expectedWorktrees].sort(),
  );
  for (const path of gitWorktrees) {
    // Untracked files are someone's work (a scenario's uncommitted files); a stale checkout shows as tracked changes.
    expect(
      await git.run(['status', '--porcelain', '--untracked-files=no'], path),
      `checkout ${path} is clean`,
    ).toBe('');
  }

  const merges = await store.db
    .selectFrom('gitswarm_merges')
    .selectAll()
    .where('repo_id', '=', repo.id)
    .execute();
  // The buffer only takes merges (two parents) and reverts (one) in these tests.
  const firstParent = (
    await git.run(['rev-list', '--first-parent', '--parents', 'buffer', `^${initialMain}`, '--'])
  )
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '));
  const mergeCommits = firstParent.filter((p) => p.length === 3).map((p) => p[0]);
  const revertCommits = firstParent.filter((p) => p.length === 2).map((p) => p[0]);
  expect(mergeCommits.sort(), 'merges on the buffer = merge rows').toEqual(
    merges.map((m) => m.merge_commit).sort(),
  );
  expect(revertCommits.sort(), 'reverts on the buffer = reverted merge rows').toEqual(
    merges.flatMap((m) => (m.revert_commit ? [m.revert_commit] : [])).sort(),
  );
  for (const merge of merges) {
    expect(await git.exitCode(['merge-base', '--is-ancestor', merge.merge_commit, 'buffer'])).toBe(0);
  }
  for (const stream of streams) {
    const own = merges.filter((m) => m.stream_id === stream.id);
    if (stream.status === 'merged') expect(own.filter((m) => m.reverted_at === null)).toHaveLength(1);
    if (stream.status === 'reverted') expect(own.filter((m) => m.reverted_at !== null)).toHaveLength(1);
    if (LIVE.has(stream.status)) expect(own, `live stream ${stream.name} has no merge`).toEqual([]);
  }

  const promotions = await store.db
    .selectFrom('gitswarm_promotions')
    .select(['to_commit'])
    .where('repo_id', '=', repo.id)
    .orderBy('promoted_at', 'desc')
    .execute();
  const main = await git.rev('main');
  if (promotions[0]) expect(main, 'main is where the last promotion put it').toBe(promotions[0].to_commit);
  else expect(main, 'main never promoted').toBe(initialMain);
}
