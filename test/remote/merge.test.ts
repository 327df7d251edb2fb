/**
 * Mode B merge across two clones of one bare remote against a real server (spec 3.3): the server
 * decides, each clone merges worktree-free and publishes the buffer by compare-and-swap; the
 * clone that loses the race fetches, merges again on the new head and retries, or reports the
 * conflict it then finds as the stream's conflict.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeConnected } from '../../src/remote/merge.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  type Agent,
  approve,
  type Clone,
  commitFiles,
  git,
  gitEnv,
  type ModeBWorld,
  makeStream,
  rejection,
  startModeBWorld,
} from './mode-b-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode B merge across two clones`, () => {
    let world: ModeBWorld;
    let alpha: Agent;
    let beta: Agent;
    let cloneA: Clone;
    let cloneB: Clone;

    beforeAll(async () => {
      world = await startModeBWorld(dialect);
      alpha = await world.register(`alpha-${dialect}`);
      beta = await world.register(`beta-${dialect}`);
      cloneA = world.clone('machine-a');
      cloneB = world.clone('machine-b');
    });
    afterAll(() => world?.close());

    const bufferHeadOnServer = async () =>
      (await world.owner.api.get<{ buffer_head: string | null }>(`/repos/${world.repoId}/buffer-head`))
        .buffer_head;

    it('both approved, both merge: the second push is rejected, fetched, recomputed and retried', async () => {
      const a = await makeStream(world, cloneA, alpha, 'auth', { 'auth.txt': 'auth\n' });
      const b = await makeStream(world, cloneB, beta, 'logging', { 'logging.txt': 'logging\n' });
      await approve(alpha, world.owner, a);
      await approve(beta, world.owner, b);
      const before = world.remoteHead('buffer');

      let alphaMerge = '';
      const second = await mergeConnected({
        api: beta.api,
        git: cloneB.git,
        actor: beta,
        stream: b,
        // Alpha's clone merges and publishes while beta's merge is computed but not yet pushed.
        beforePush: async (attempt) => {
          if (attempt !== 0) return;
          const first = await mergeConnected({ api: alpha.api, git: cloneA.git, actor: alpha, stream: a });
          expect(first.push_retries).toBe(0);
          alphaMerge = first.merge_commit;
        },
      });

      expect(second.push_retries).toBe(1);
      expect(world.remoteHead('buffer')).toBe(second.merge_commit);
      // Beta's merge was recomputed on alpha's: first parent alpha's merge, second beta's head.
      expect(git(world.origin, 'rev-parse', `${second.merge_commit}^1`)).toBe(alphaMerge);
      expect(git(world.origin, 'rev-parse', `${second.merge_commit}^2`)).toBe(b.head);
      expect(git(world.origin, 'rev-parse', `${alphaMerge}^1`)).toBe(before);
      expect(git(world.origin, 'ls-tree', '--name-only', 'buffer').split('\n')).toEqual(
        expect.arrayContaining(['auth.txt', 'logging.txt']),
      );
      // The server recorded both merges, in order, and knows the new head.
      expect(await bufferHeadOnServer()).toBe(second.merge_commit);
      for (const s of [a, b]) {
        const { stream } = await world.owner.api.get<{ stream: { status: string } }>(`/streams/${s.id}`);
        expect(stream.status).toBe('merged');
      }
      // The clone's own buffer branch (nothing checked out on it) follows the push.
      expect(git(cloneB.dir, 'rev-parse', 'refs/remotes/origin/buffer')).toBe(second.merge_commit);
    });

    it('a conflict found when recomputing is reported: the stream shows conflicted on the server', async () => {
      const a = await makeStream(world, cloneA, alpha, 'edit-a', { 'shared.txt': 'one\nALPHA\nthree\n' });
      const b = await makeStream(world, cloneB, beta, 'edit-b', { 'shared.txt': 'one\nBETA\nthree\n' });
      await approve(alpha, world.owner, a);
      await approve(beta, world.owner, b);

      let alphaMerge = '';
      const error = await rejection(
        mergeConnected({
          api: beta.api,
          git: cloneB.git,
          actor: beta,
          stream: b,
          beforePush: async () => {
            alphaMerge = (await mergeConnected({ api: alpha.api, git: cloneA.git, actor: alpha, stream: a }))
              .merge_commit;
          },
        }),
      );

      expect(error.code).toBe('conflict');
      expect(error.exitCode).toBe(1);
      expect(error.details).toMatchObject({
        stream_id: b.id,
        paths: ['shared.txt'],
        buffer_head: alphaMerge,
      });
      // Nothing of beta's reached the buffer; the server has its conflict.
      expect(world.remoteHead('buffer')).toBe(alphaMerge);
      expect(await bufferHeadOnServer()).toBe(alphaMerge);
      const { stream } = await world.owner.api.get<{
        stream: { status: string; conflict: { paths: string[]; onto: string } };
      }>(`/streams/${b.id}`);
      expect(stream.status).toBe('conflicted');
      expect(stream.conflict).toMatchObject({ paths: ['shared.txt'], onto: alphaMerge });

      // Beta resolves in its clone (buffer merged into the stream), records the fix, is approved
      // again (the fix is new code) and merges.
      git(cloneB.dir, 'fetch', '-q', 'origin');
      git(cloneB.dir, 'checkout', '-q', b.branch);
      // The merge stops on the conflict (exit 1); the resolved file is then committed.
      const conflicted = spawnSync('git', ['merge', '-q', 'origin/buffer'], {
        cwd: cloneB.dir,
        env: gitEnv(),
      });
      expect(conflicted.status).toBe(1);
      const fixed = commitFiles(cloneB, { 'shared.txt': 'one\nALPHA and BETA\nthree\n' }, 'resolve');
      await beta.api.post(`/streams/${b.id}/commits`, { commit: fixed, message: 'resolve' });
      git(cloneB.dir, 'push', '-q', 'origin', b.branch);
      const early = await rejection(
        mergeConnected({ api: beta.api, git: cloneB.git, actor: beta, stream: b }),
      );
      expect(early.code).toBe('no_consensus'); // the approval was given on older code: stale
      await world.owner.api.post(`/streams/${b.id}/reviews`, { verdict: 'approve' });
      const merged = await mergeConnected({ api: beta.api, git: cloneB.git, actor: beta, stream: b });
      expect(git(world.origin, 'rev-parse', `${merged.merge_commit}^1`)).toBe(alphaMerge);
      expect(git(world.origin, 'show', 'buffer:shared.txt')).toBe('one\nALPHA and BETA\nthree');
      const after = await world.owner.api.get<{ stream: { status: string; conflict: unknown } }>(
        `/streams/${b.id}`,
      );
      expect(after.stream).toMatchObject({ status: 'merged', conflict: null });
    });

    it('refusals are the server’s: no consensus, nothing fetched or pushed', async () => {
      const c = await makeStream(world, cloneA, alpha, 'unreviewed', { 'c.txt': 'c\n' });
      const head = world.remoteHead('buffer');
      const error = await rejection(
        mergeConnected({ api: alpha.api, git: cloneA.git, actor: alpha, stream: c }),
      );
      expect(error.code).toBe('no_consensus');
      expect(error.exitCode).toBe(1);
      expect(world.remoteHead('buffer')).toBe(head);
    });
  });
}
