/**
 * Crashes through the real binary (Mode A): `gitswarm` run with GITSWARM_FAILPOINTS dies by
 * SIGKILL at the failpoint; the next command, whatever it is, reconciles first (housekeeping), and
 * git and the store agree. On SQLite (the repository's own store) and PostgreSQL (GITSWARM_DB on
 * the real server; skipped with the reason when there is none).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { FAILPOINTS_ENV, type FailpointName } from '../../src/util/failpoints.js';
import { BIN, createTestRepo, type TestRepo } from '../cli/helpers.js';
import { storeEnv } from '../cli/in-process.js';
import { requireFreshBuild } from './crash-harness.js';

/** Runs the binary with the failpoint armed; resolves with the signal that ended it. */
function runKilled(
  repo: TestRepo,
  args: readonly string[],
  failpoint: FailpointName,
): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: repo.dir,
      env: { ...repo.env, [FAILPOINTS_ENV]: failpoint },
      stdio: 'ignore',
    });
    child.once('error', reject);
    child.once('close', (_code, signal) => resolve(signal));
  });
}

/** The store the CLI uses: GITSWARM_DB (with its `schema` parameter, read as the CLI does) or the repository's SQLite file. */
function openCliStore(repo: TestRepo, env: Record<string, string>): Promise<Store> {
  if (!env.GITSWARM_DB) return openStore(join(repo.dir, '.gitswarm', 'federation.db'), { migrate: false });
  const url = new URL(env.GITSWARM_DB);
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  return openStore(url.toString(), { migrate: false, ...(schema ? { schema } : {}) });
}

const postgresUrl = inject('postgresUrl');
const NO_POSTGRES =
  'no PostgreSQL server at TEST_DATABASE_URL, and PGlite lives inside one process: two processes cannot share it';

for (const dialect of ['sqlite', 'postgres'] as const) {
  const skip = dialect === 'postgres' && !postgresUrl ? NO_POSTGRES : null;
  describe.skipIf(skip !== null)(
    `${dialect}${skip ? ` (skipped: ${skip})` : ''}: the CLI killed at a failpoint`,
    () => {
      let repo: TestRepo;
      let store: Store | undefined;
      beforeAll(() => requireFreshBuild());
      afterEach(async () => {
        await store?.close();
        store = undefined;
        repo?.close();
      });

      async function ok<T = Record<string, unknown>>(args: string[], cwd?: string): Promise<T> {
        const run = await repo.run([...args, '--json'], cwd ? { cwd } : {});
        expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
        return run.json<T>();
      }

      /** A swarm repository with agent alice (its owner) and her workspace. */
      async function swarmWithWorkspace(): Promise<{ worktree: string; streamId: string }> {
        const env = await storeEnv(dialect);
        repo = createTestRepo({ env });
        await ok(['init', '--mode', 'swarm']);
        await ok(['agent', 'register', 'alice']);
        const created = await ok<{ stream: { id: string }; worktree: string }>([
          'workspace',
          'create',
          '--as',
          'alice',
        ]);
        store = await openCliStore(repo, env);
        return { worktree: created.worktree, streamId: created.stream.id };
      }

      async function pendingOperations(): Promise<unknown[]> {
        return (store as Store).db
          .selectFrom('gitswarm_operations')
          .select('kind')
          .where('status', '=', 'pending')
          .execute();
      }

      it('commit killed after its swarm merge moved the buffer: the next command records the merge; the agent goes on', async () => {
        const { worktree, streamId } = await swarmWithWorkspace();
        repo.write('feature.txt', 'feature\n', worktree);
        expect(
          await runKilled(repo, ['commit', '-m', 'Feature', '--as', 'alice'], 'merge.after-update-ref'),
        ).toBe('SIGKILL');
        expect(repo.git(['show', 'buffer:feature.txt'])).toBe('feature');
        expect(await pendingOperations()).toEqual([{ kind: 'merge' }]);

        const status = await ok<{ buffer_head: string; streams: { id: string; status: string }[] }>([
          'status',
        ]);
        expect(await pendingOperations()).toEqual([]);
        expect(status.buffer_head).toBe(repo.git(['rev-parse', 'buffer']));
        const merges = await (store as Store).db
          .selectFrom('gitswarm_merges')
          .select(['stream_id', 'merge_commit'])
          .execute();
        expect(merges).toEqual([{ stream_id: streamId, merge_commit: repo.git(['rev-parse', 'buffer']) }]);
        // The agent goes on: the next commit merges as usual.
        repo.write('more.txt', 'more\n', worktree);
        expect(await ok<{ merged: boolean }>(['commit', '-m', 'More', '--as', 'alice'])).toMatchObject({
          merged: true,
        });
      });

      it('promote killed after main moved: the next command syncs the checkout of main and records the promotion', async () => {
        const { worktree } = await swarmWithWorkspace();
        repo.write('feature.txt', 'feature\n', worktree);
        await ok(['commit', '-m', 'Feature', '--as', 'alice']);
        expect(await runKilled(repo, ['promote', '--as', 'alice'], 'promote.after-update-ref')).toBe(
          'SIGKILL',
        );
        expect(repo.git(['rev-parse', 'main'])).toBe(repo.git(['rev-parse', 'buffer']));
        // main's checkout still holds the old commit's files: they look like changes undoing the promotion.
        expect(repo.git(['status', '--porcelain', '--untracked-files=no'])).not.toBe('');

        await ok(['status']);
        expect(await pendingOperations()).toEqual([]);
        expect(repo.git(['status', '--porcelain', '--untracked-files=no'])).toBe('');
        const promotions = await (store as Store).db
          .selectFrom('gitswarm_promotions')
          .select('to_commit')
          .execute();
        expect(promotions).toEqual([{ to_commit: repo.git(['rev-parse', 'main']) }]);
      });

      it('workspace create killed between its worktree and its record: the next command removes both; create works again', async () => {
        const env = await storeEnv(dialect);
        repo = createTestRepo({ env });
        await ok(['init', '--mode', 'swarm']);
        await ok(['agent', 'register', 'alice']);
        store = await openCliStore(repo, env);
        expect(
          await runKilled(repo, ['workspace', 'create', '--as', 'alice'], 'stream-create.after-worktree'),
        ).toBe('SIGKILL');
        expect(repo.git(['for-each-ref', 'refs/heads/stream/'])).not.toBe('');

        await ok(['status']);
        expect(await pendingOperations()).toEqual([]);
        expect(repo.git(['for-each-ref', 'refs/heads/stream/'])).toBe('');
        expect(repo.git(['worktree', 'list', '--porcelain']).match(/^worktree /gm)).toHaveLength(1);
        const created = await ok<{ stream: { id: string } }>(['workspace', 'create', '--as', 'alice']);
        expect(repo.git(['for-each-ref', '--format=%(refname)', 'refs/heads/stream/'])).toBe(
          `refs/heads/stream/${created.stream.id}`,
        );
      });
    },
  );
}
