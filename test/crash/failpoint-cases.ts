/**
 * Real crashes at every failpoint (src/util/failpoints.ts): a child process runs the operation
 * of the built core with one failpoint armed and dies there by SIGKILL; a fresh process
 * recovers; then git and the store must agree, nothing is pending or half-done, and the
 * operation, when recovery rolled it back, succeeds on a retry. The cases come from one table,
 * so a new failpoint without its case fails `failpoints-sqlite.test.ts`'s first test. Each dialect
 * has its own test file so that the two halves run on separate workers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mergeStream, revertStream } from '../../src/core/federation.js';
import { getStreamById } from '../../src/core/streams/streams.js';
import type { Stream } from '../../src/store/index.js';
import { FAILPOINTS, type FailpointName } from '../../src/util/failpoints.js';
import {
  approve,
  type SeededGitRepo,
  seedGitRepo,
  workOn,
  writeFiles,
} from '../helpers/federation-fixture.js';
import { openTestStore, type TestDialect, type TestStore } from '../helpers/store.js';
import { seedAgent, testDeps } from '../helpers/streams-fixture.js';
import {
  assertGitAndStoreAgree,
  requireFreshBuild,
  runCrashWorker,
  runToSuccess,
  type WorkerSpec,
} from './crash-harness.js';

interface Seeded {
  deps: ReturnType<typeof testDeps>;
  seeded: SeededGitRepo;
  initialMain: string;
  /** Checkouts the scenario added (a checkout of the buffer, which a merge or revert must bring along). */
  extraCheckouts: string[];
}

interface Scenario {
  /** The operation, run by the crashing process. */
  spec: WorkerSpec;
  /** What finishes it when recovery rolled it back (often the same operation again). */
  retry: WorkerSpec;
  /** Whether the operation's effect is in place, asserting that git and the store say the same. */
  done(): Promise<boolean>;
  /** Uncommitted files that must survive the crash, the recovery and the retry. */
  uncommitted?: Array<{ worktree: string; path: string; content: string }>;
}

/** A checkout of the buffer beside the repository, as a person watching the buffer would have. */
async function checkOutBuffer(s: Seeded): Promise<void> {
  const path = join(s.seeded.git.dir, '..', 'buffer-view');
  await s.seeded.git.run(['worktree', 'add', '-q', path, 'buffer']);
  s.extraCheckouts.push(path);
}

async function assertUncommittedKept(s: Seeded, scenario: Scenario): Promise<void> {
  for (const file of scenario.uncommitted ?? []) {
    expect(
      await s.seeded.git.exitCode(['rev-parse', '--git-dir'], file.worktree),
      `${file.worktree} is a worktree`,
    ).toBe(0);
    expect(readFileSync(join(file.worktree, file.path), 'utf8'), `uncommitted ${file.path} kept`).toBe(
      file.content,
    );
  }
}

async function fileAt(s: Seeded, rev: string, path: string): Promise<string | null> {
  return (await s.seeded.git.exitCode(['cat-file', '-e', `${rev}:${path}`])) === 0
    ? s.seeded.git.show(rev, path)
    : null;
}

const SCENARIOS = {
  /** An agent creates its workspace: stream branch, worktree, stream and worktree rows. */
  'create-workspace': async (s: Seeded): Promise<Scenario> => {
    const agent = await seedAgent(s.deps, 'coder');
    const spec: WorkerSpec = { op: 'create-workspace', repoId: s.seeded.repo.id, agentId: agent.id };
    return {
      spec,
      retry: spec,
      async done() {
        const rows = await s.deps.store.db
          .selectFrom('gitswarm_streams')
          .selectAll()
          .where('repo_id', '=', s.seeded.repo.id)
          .where('agent_id', '=', agent.id)
          .execute();
        const branches = await s.seeded.git.run([
          'for-each-ref',
          '--format=%(refname:short)',
          'refs/heads/stream/',
        ]);
        expect(branches.split('\n').filter(Boolean)).toEqual(rows.map((r) => r.branch));
        return rows.length === 1;
      },
    };
  },

  /**
   * The author of a reverted stream reopens its workspace: a new stream with the change
   * re-applied, the worktree switched onto it carrying the uncommitted work.
   */
  reopen: async (s: Seeded): Promise<Scenario> => {
    const coder = await seedAgent(s.deps, 'coder');
    const { stream, worktree } = await workOn(s.deps, s.seeded, coder, { 'feature.txt': 'feature\n' });
    await approve(s.deps, s.seeded, stream, coder);
    await mergeStream(s.deps, { repo: s.seeded.repo, stream, actor: coder });
    await revertStream(s.deps, { repo: s.seeded.repo, stream, actor: null, reason: 'crash test' });
    writeFiles(worktree, { 'wip.txt': 'uncommitted work\n' });
    const spec: WorkerSpec = { op: 'reopen', repoId: s.seeded.repo.id, agentId: coder.id };
    return {
      spec,
      retry: spec,
      // The worktree is where it was, on the stream its row names, with the uncommitted work.
      uncommitted: [{ worktree, path: 'wip.txt', content: 'uncommitted work\n' }],
      async done() {
        const row = await s.deps.store.db
          .selectFrom('gitswarm_worktrees')
          .select('stream_id')
          .where('path', '=', worktree)
          .executeTakeFirstOrThrow();
        const current = await getStreamById(s.deps.store.db, row.stream_id);
        expect(await s.seeded.git.run(['symbolic-ref', 'HEAD'], worktree)).toBe(
          `refs/heads/${current.branch}`,
        );
        const reopened = current.id !== stream.id;
        expect(await fileAt(s, current.branch, 'feature.txt')).toBe('feature');
        return reopened;
      },
    };
  },

  /** An approved stream merges into the buffer (checked out beside the repository). */
  merge: async (s: Seeded): Promise<Scenario> => {
    await checkOutBuffer(s);
    const coder = await seedAgent(s.deps, 'coder');
    const { stream } = await workOn(s.deps, s.seeded, coder, { 'feature.txt': 'feature\n' });
    await approve(s.deps, s.seeded, stream, coder);
    const spec: WorkerSpec = {
      op: 'merge',
      repoId: s.seeded.repo.id,
      streamId: stream.id,
      agentId: coder.id,
    };
    return {
      spec,
      retry: spec,
      async done() {
        const merged = (await getStreamById(s.deps.store.db, stream.id)).status === 'merged';
        expect(await fileAt(s, 'buffer', 'feature.txt')).toBe(merged ? 'feature' : null);
        return merged;
      },
    };
  },

  /**
   * A parent stream merges into the buffer (checked out beside the repository); its two children
   * (each with a worktree) are re-parented onto the buffer and rebased onto it, one after the
   * other (the cascade). Done = both are rebased; the
   * retry is the cascade.
   */
  'merge-with-dependent': async (s: Seeded): Promise<Scenario> => {
    await checkOutBuffer(s);
    const parentAgent = await seedAgent(s.deps, 'parent');
    const parent = await workOn(s.deps, s.seeded, parentAgent, { 'parent.txt': 'parent\n' });
    const children: Array<{ name: string; stream: Stream; worktree: string }> = [];
    for (const name of ['first', 'second']) {
      const agent = await seedAgent(s.deps, name);
      const files = { [`${name}.txt`]: `${name}\n` };
      children.push({
        name,
        ...(await workOn(s.deps, s.seeded, agent, files, { dependsOn: parent.stream.id })),
      });
    }
    await approve(s.deps, s.seeded, parent.stream, parentAgent);
    const spec: WorkerSpec = {
      op: 'merge',
      repoId: s.seeded.repo.id,
      streamId: parent.stream.id,
      agentId: parentAgent.id,
    };
    return {
      spec,
      retry: { op: 'cascade', repoId: s.seeded.repo.id, streamId: parent.stream.id, agentId: parentAgent.id },
      async done() {
        expect((await getStreamById(s.deps.store.db, parent.stream.id)).status).toBe('merged');
        const buffer = await s.seeded.git.rev('buffer');
        let rebased = 0;
        for (const child of children) {
          const row = await getStreamById(s.deps.store.db, child.stream.id);
          const onBuffer =
            (await s.seeded.git.exitCode(['merge-base', '--is-ancestor', buffer, row.branch])) === 0;
          expect(row.base_branch).toBe('buffer');
          expect(row.base_commit === buffer, `${child.name}: base_commit is the buffer iff rebased`).toBe(
            onBuffer,
          );
          expect(row.metadata.needs_rebase).toBeUndefined();
          // The child's worktree follows its branch (assertGitAndStoreAgree: and is clean).
          expect(await s.seeded.git.run(['rev-parse', 'HEAD'], child.worktree)).toBe(
            await s.seeded.git.rev(row.branch),
          );
          expect(await fileAt(s, row.branch, `${child.name}.txt`)).toBe(child.name);
          if (onBuffer) {
            // Replayed once: its one commit on top of the buffer, not a second copy.
            expect(await s.seeded.git.run(['rev-list', '--count', `${buffer}..${row.branch}`])).toBe('1');
            rebased += 1;
          }
        }
        return rebased === children.length;
      },
    };
  },

  /**
   * An agent commits in a stream that has two dependents (each with a worktree): they are rebased
   * onto its new head, one after the other (the cascade of a commit; no merge involved).
   */
  'commit-with-dependent': async (s: Seeded): Promise<Scenario> => {
    const parentAgent = await seedAgent(s.deps, 'parent');
    const parent = await workOn(s.deps, s.seeded, parentAgent, { 'parent.txt': 'parent\n' });
    const children: Array<{ name: string; stream: Stream; worktree: string }> = [];
    for (const name of ['first', 'second']) {
      const agent = await seedAgent(s.deps, name);
      const files = { [`${name}.txt`]: `${name}\n` };
      children.push({
        name,
        ...(await workOn(s.deps, s.seeded, agent, files, { dependsOn: parent.stream.id })),
      });
    }
    writeFiles(parent.worktree, { 'parent.txt': 'parent, revised\n' });
    const spec: WorkerSpec = { op: 'commit', repoId: s.seeded.repo.id, agentId: parentAgent.id };
    return {
      spec,
      retry: { op: 'cascade', repoId: s.seeded.repo.id, streamId: parent.stream.id, agentId: parentAgent.id },
      async done() {
        const head = await s.seeded.git.rev(parent.stream.branch);
        expect(await fileAt(s, head, 'parent.txt')).toBe('parent, revised');
        let rebased = 0;
        for (const child of children) {
          const row = await getStreamById(s.deps.store.db, child.stream.id);
          const onParent =
            (await s.seeded.git.exitCode(['merge-base', '--is-ancestor', head, row.branch])) === 0;
          expect(row.base_branch).toBe(parent.stream.branch);
          expect(
            row.base_commit === head,
            `${child.name}: base_commit is the parent's head iff rebased`,
          ).toBe(onParent);
          expect(await s.seeded.git.run(['rev-parse', 'HEAD'], child.worktree)).toBe(
            await s.seeded.git.rev(row.branch),
          );
          if (onParent) {
            expect(await s.seeded.git.run(['rev-list', '--count', `${head}..${row.branch}`])).toBe('1');
            rebased += 1;
          }
        }
        return rebased === children.length;
      },
    };
  },

  /** A merged stream's merge is reverted on the buffer (checked out beside the repository). */
  revert: async (s: Seeded): Promise<Scenario> => {
    await checkOutBuffer(s);
    const coder = await seedAgent(s.deps, 'coder');
    const { stream } = await workOn(s.deps, s.seeded, coder, { 'feature.txt': 'feature\n' });
    await approve(s.deps, s.seeded, stream, coder);
    await mergeStream(s.deps, { repo: s.seeded.repo, stream, actor: coder });
    const spec: WorkerSpec = {
      op: 'revert',
      repoId: s.seeded.repo.id,
      streamId: stream.id,
      agentId: s.seeded.owner.id,
    };
    return {
      spec,
      retry: spec,
      async done() {
        const reverted = (await getStreamById(s.deps.store.db, stream.id)).status === 'reverted';
        expect(await fileAt(s, 'buffer', 'feature.txt')).toBe(reverted ? null : 'feature');
        return reverted;
      },
    };
  },

  /** The buffer (one merge ahead) is promoted to main, which is checked out in the repository. */
  promote: async (s: Seeded): Promise<Scenario> => {
    const coder = await seedAgent(s.deps, 'coder');
    const { stream } = await workOn(s.deps, s.seeded, coder, { 'feature.txt': 'feature\n' });
    await approve(s.deps, s.seeded, stream, coder);
    await mergeStream(s.deps, { repo: s.seeded.repo, stream, actor: coder });
    const spec: WorkerSpec = { op: 'promote', repoId: s.seeded.repo.id };
    return {
      spec,
      retry: spec,
      async done() {
        const rows = await s.deps.store.db
          .selectFrom('gitswarm_promotions')
          .select('to_commit')
          .where('repo_id', '=', s.seeded.repo.id)
          .execute();
        const main = await s.seeded.git.rev('main');
        expect(main === (await s.seeded.git.rev('buffer'))).toBe(rows.length === 1);
        return rows.length === 1;
      },
    };
  },
} satisfies Record<string, (s: Seeded) => Promise<Scenario>>;

type Recovered = { kind: string; outcome: 'finished' | 'rolled_back' };

interface CrashCase {
  scenario: keyof typeof SCENARIOS;
  /**
   * For a failpoint of recovery itself: the operation first dies at this failpoint, then the
   * recovering process dies at the case's failpoint.
   */
  crashFirstAt?: FailpointName;
  /** What the fresh process's recovery reports. */
  recovered: Recovered[];
  /** Whether the operation is complete once recovered (else a retry completes it). */
  done: boolean;
}

const NOTHING: Recovered[] = [];
const rolledBack = (kind: string): Recovered[] => [{ kind, outcome: 'rolled_back' }];
const finished = (kind: string): Recovered[] => [{ kind, outcome: 'finished' }];

/** Every failpoint, the operation that passes it, and what a crash there must leave. */
const CASES: Record<FailpointName, CrashCase | CrashCase[]> = {
  'stream-create.after-intent': [
    { scenario: 'create-workspace', recovered: rolledBack('stream_create'), done: false },
    { scenario: 'reopen', recovered: rolledBack('stream_create'), done: false },
  ],
  // The branch exists but no stream row: recovery deletes the half-made workspace.
  'stream-create.after-update-ref': [
    { scenario: 'create-workspace', recovered: rolledBack('stream_create'), done: false },
    { scenario: 'reopen', recovered: rolledBack('stream_create'), done: false },
  ],
  'stream-create.after-worktree': {
    scenario: 'create-workspace',
    recovered: rolledBack('stream_create'),
    done: false,
  },
  // The agent's worktree is on the new branch, unrecorded: recovery switches it back to the
  // stream its row names, carrying the uncommitted work, and deletes the branch.
  'reopen.after-worktree-switch': { scenario: 'reopen', recovered: rolledBack('stream_create'), done: false },
  'merge.after-check': { scenario: 'merge', recovered: NOTHING, done: false },
  'merge.after-intent': { scenario: 'merge', recovered: rolledBack('merge'), done: false },
  // Recovery records the merge and runs the cascade the crashed process never reached.
  'merge.after-update-ref': { scenario: 'merge-with-dependent', recovered: finished('merge'), done: true },
  'merge.after-checkout-sync': { scenario: 'merge', recovered: finished('merge'), done: true },
  // The merge completes only once its cascade has run: a crash before leaves it pending, and
  // recovery runs the cascade (re-parenting and rebasing the dependents).
  'merge.after-record': { scenario: 'merge-with-dependent', recovered: finished('merge'), done: true },
  'cascade.after-reparent': { scenario: 'merge-with-dependent', recovered: finished('merge'), done: true },
  // A crash in the cascade: the merge is finished, the cascade replayed (the rebase rolled back
  // and the sibling not reached).
  'rebase.after-intent': [
    {
      scenario: 'merge-with-dependent',
      recovered: [...finished('merge'), ...rolledBack('rebase')],
      done: true,
    },
    // A commit's cascade: recovery replays it from the rolled-back dependent's parent.
    { scenario: 'commit-with-dependent', recovered: rolledBack('rebase'), done: true },
  ],
  'rebase.after-update-ref': [
    {
      scenario: 'merge-with-dependent',
      recovered: [...finished('merge'), ...finished('rebase')],
      done: true,
    },
    { scenario: 'commit-with-dependent', recovered: finished('rebase'), done: true },
  ],
  'revert.after-check': { scenario: 'revert', recovered: NOTHING, done: false },
  'revert.after-intent': { scenario: 'revert', recovered: rolledBack('revert'), done: false },
  'revert.after-update-ref': { scenario: 'revert', recovered: finished('revert'), done: true },
  'revert.after-checkout-sync': { scenario: 'revert', recovered: finished('revert'), done: true },
  'revert.after-record': { scenario: 'revert', recovered: NOTHING, done: true },
  'promote.after-check': { scenario: 'promote', recovered: NOTHING, done: false },
  'promote.after-intent': { scenario: 'promote', recovered: rolledBack('promote'), done: false },
  'promote.after-update-ref': { scenario: 'promote', recovered: finished('promote'), done: true },
  'promote.after-checkout-sync': { scenario: 'promote', recovered: finished('promote'), done: true },
  'promote.after-record': { scenario: 'promote', recovered: NOTHING, done: true },
  // Main's checkout synced by the first recovery, the promotion recorded by the second.
  'recovery.after-checkout-sync': {
    scenario: 'promote',
    crashFirstAt: 'promote.after-update-ref',
    recovered: finished('promote'),
    done: true,
  },
};

/** The failpoint table is complete: every failpoint has a crash case. */
export function defineCompletenessTest(): void {
  it('every failpoint has its crash case', () => {
    expect(Object.keys(CASES).sort()).toEqual([...FAILPOINTS].sort());
  });
}

const NO_POSTGRES =
  'no PostgreSQL server at TEST_DATABASE_URL, and PGlite lives inside one process: two processes cannot share it';

/** Defines every crash case on one dialect (PostgreSQL's skipped, with the reason, without a server). */
export function defineCrashSuite(dialect: TestDialect): void {
  const skip = dialect === 'postgres' && !inject('postgresUrl') ? NO_POSTGRES : null;
  if (skip) console.log(`[crash tests] postgres variant skipped: ${NO_POSTGRES}`);
  describe.skipIf(skip !== null)(
    `${dialect}${skip ? ` (skipped: ${skip})` : ''}: crash at a failpoint`,
    () => {
      let store: TestStore;
      const cleanups: Array<() => void> = [];
      beforeAll(async () => {
        requireFreshBuild();
        store = await openTestStore(dialect);
      });
      afterAll(async () => {
        for (const cleanup of cleanups) cleanup();
        await store?.close();
      });

      async function seed(): Promise<Seeded> {
        const deps = testDeps(store);
        const seeded = await seedGitRepo(deps, {
          merge_mode: 'review',
          ownership_model: 'guild',
          min_reviews: 1,
        });
        cleanups.push(() => seeded.git.cleanup());
        return { deps, seeded, initialMain: await seeded.git.rev('main'), extraCheckouts: [] };
      }

      it('an armed failpoint elsewhere leaves the operation alone', async () => {
        const s = await seed();
        const scenario = await SCENARIOS.merge(s);
        const exit = await runCrashWorker(store, scenario.spec, 'promote.after-intent');
        expect(exit.signal).toBeNull();
        expect(exit.outcome).toMatchObject({ ok: true });
        expect(await scenario.done()).toBe(true);
        await assertGitAndStoreAgree(store, s.seeded.repo, s.seeded.git, s);
        await assertUncommittedKept(s, scenario);
      });

      const cases = (Object.entries(CASES) as Array<[FailpointName, CrashCase | CrashCase[]]>).flatMap(
        ([failpoint, crash]) =>
          (Array.isArray(crash) ? crash : [crash]).map((one) => [failpoint, one] as const),
      );
      for (const [failpoint, crash] of cases) {
        it(`${failpoint} (${crash.scenario}): killed there, a fresh process reconciles, git and the store agree, ${crash.done ? 'the operation finished' : 'a retry succeeds'}`, async () => {
          const s = await seed();
          const scenario = await SCENARIOS[crash.scenario](s);
          const repoId = s.seeded.repo.id;

          const crashes: Array<[WorkerSpec, FailpointName]> = crash.crashFirstAt
            ? [
                [scenario.spec, crash.crashFirstAt],
                [{ op: 'recover', repoId }, failpoint],
              ]
            : [[scenario.spec, failpoint]];
          for (const [spec, armed] of crashes) {
            const crashed = await runCrashWorker(store, spec, armed);
            expect(crashed.signal, `${armed}: ${crashed.stderr}`).toBe('SIGKILL');
            expect(crashed.outcome).toBeNull();
          }

          const recovery = await runToSuccess(store, { op: 'recover', repoId });
          expect(recovery.recovered?.map((r) => ({ kind: r.kind, outcome: r.outcome }))).toEqual(
            crash.recovered,
          );
          await assertGitAndStoreAgree(store, s.seeded.repo, s.seeded.git, s);
          await assertUncommittedKept(s, scenario);
          expect(await scenario.done()).toBe(crash.done);
          // Recovery is done once: another fresh process finds nothing left.
          expect((await runToSuccess(store, { op: 'recover', repoId })).recovered).toEqual([]);

          if (!crash.done) {
            await runToSuccess(store, scenario.retry);
            await assertGitAndStoreAgree(store, s.seeded.repo, s.seeded.git, s);
            await assertUncommittedKept(s, scenario);
            expect(await scenario.done()).toBe(true);
          }
        });
      }
    },
  );
}
