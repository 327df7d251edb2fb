import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { createWorkspace, mergeStream, recoverOperations } from '../../../src/core/federation.js';
import { getStream } from '../../../src/core/streams/streams.js';
import { OpLog } from '../../../src/engine/oplog.js';
import { rebaseBranch } from '../../../src/engine/rebase.js';
import { revertMerge } from '../../../src/engine/revert.js';
import { approve, useGitStore, workOn, worktreeStatus } from '../../helpers/federation-fixture.js';
import { swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: crash recovery`, () => {
    const fx = useGitStore(dialect);

    it('finishes a merge whose ref moved before the process died, and rolls back one that never moved', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const { stream, commit } = await workOn(deps, seeded, coder, { 'x.txt': 'x\n' });
      await approve(deps, seeded, stream, coder);

      // The merge as a dying process would leave it: intent logged, buffer moved, nothing recorded.
      const bufferHead = await git.rev('buffer');
      const tree = await git.run(['merge-tree', '--write-tree', bufferHead, commit]);
      const mergeCommit = await git.run(['commit-tree', tree, '-p', bufferHead, '-p', commit, '-m', 'Merge']);
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const opId = await oplog.begin({
        ref: 'refs/heads/buffer',
        old: bufferHead,
        new: mergeCommit,
        kind: 'merge',
        description: 'Merge',
        streamId: stream.id,
        agentId: coder.id,
      });
      await git.run(['update-ref', 'refs/heads/buffer', mergeCommit, bufferHead]);
      // And a promotion that died before its ref moved.
      const lostId = await oplog.begin({
        ref: 'refs/heads/main',
        old: bufferHead,
        new: mergeCommit,
        kind: 'promote',
        description: 'Promote',
      });

      const recovered = await recoverOperations(deps, repo);
      expect(recovered).toEqual([
        { operation_id: opId, kind: 'merge', ref: 'refs/heads/buffer', outcome: 'finished' },
        { operation_id: lostId, kind: 'promote', ref: 'refs/heads/main', outcome: 'rolled_back' },
      ]);
      expect((await getStream(fx.store.db, repo.id, stream.id)).status).toBe('merged');
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges).toMatchObject([{ merge_commit: mergeCommit, agent_id: coder.id }]);
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['id', 'status'])
        .where('id', 'in', [opId, lostId])
        .execute();
      expect(Object.fromEntries(ops.map((o) => [o.id, o.status]))).toEqual({
        [opId]: 'done',
        [lostId]: 'rolled_back',
      });
      expect(await git.rev('main')).toBe(bufferHead);
      const events = await listActivity(fx.store.db, {
        repoId: repo.id,
        eventTypes: ['operation.recovered', 'stream.merged'],
      });
      expect(events.map((e) => e.event_type).sort()).toEqual([
        'operation.recovered',
        'operation.recovered',
        'stream.merged',
      ]);

      // Idempotent: nothing pending, nothing done twice.
      expect(await recoverOperations(deps, repo)).toEqual([]);
      expect(
        await fx.store.db
          .selectFrom('gitswarm_merges')
          .select('id')
          .where('stream_id', '=', stream.id)
          .execute(),
      ).toHaveLength(1);
    });

    it('finishes an interrupted promotion and brings the stale checkout of main along', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const { stream } = await workOn(deps, seeded, coder, { 'shipped.txt': 'shipped\n' });
      await approve(deps, seeded, stream, coder);
      const merged = await mergeStream(deps, { repo, stream, actor: coder });
      const mainBefore = await git.rev('main');
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const opId = await oplog.begin({
        ref: 'refs/heads/main',
        old: mainBefore,
        new: merged.merge_commit,
        kind: 'promote',
        description: 'Promote',
        agentId: seeded.maintainer.id,
      });
      await git.run(['update-ref', 'refs/heads/main', merged.merge_commit, mainBefore]);
      // The user's checkout of main (the repository folder) now looks like it deletes the file.
      expect(await worktreeStatus(git, git.dir)).not.toBe('');

      expect(await recoverOperations(deps, repo)).toEqual([
        { operation_id: opId, kind: 'promote', ref: 'refs/heads/main', outcome: 'finished' },
      ]);
      expect(await worktreeStatus(git, git.dir)).toBe('');
      expect(existsSync(join(git.dir, 'shipped.txt'))).toBe(true);
      const rows = await fx.store.db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows).toMatchObject([
        {
          from_commit: mainBefore,
          to_commit: merged.merge_commit,
          agent_id: seeded.maintainer.id,
          triggered_by: null,
        },
      ]);
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['buffer.promoted'] });
      expect(events[0]?.metadata).toMatchObject({ recovered: true });
    });

    it('undoes a workspace whose creation died before its stream was recorded', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const bufferHead = await git.rev('buffer');
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const opId = await oplog.begin({
        ref: 'refs/heads/stream/0123456789ab',
        old: null,
        new: bufferHead,
        kind: 'stream_create',
        description: 'Create',
        streamId: '0123456789ab',
        agentId: coder.id,
      });
      await git.run(['branch', 'stream/0123456789ab', bufferHead]);
      const path = join(git.dir, '.worktrees', coder.name);
      await git.run(['worktree', 'add', '--quiet', path, 'stream/0123456789ab']);

      expect(await recoverOperations(deps, repo)).toEqual([
        {
          operation_id: opId,
          kind: 'stream_create',
          ref: 'refs/heads/stream/0123456789ab',
          outcome: 'rolled_back',
        },
      ]);
      expect(existsSync(path)).toBe(false);
      expect(
        await git.exitCode(['rev-parse', '--verify', '--quiet', 'refs/heads/stream/0123456789ab']),
      ).not.toBe(0);
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['kind', 'status'])
        .where('repo_id', '=', repo.id)
        .execute();
      expect(ops).toEqual(
        expect.arrayContaining([
          { kind: 'stream_create', status: 'rolled_back' },
          { kind: 'branch_delete', status: 'done' },
        ]),
      );
      // The agent can start over.
      const { worktree } = await createWorkspace(deps, { repo, agent: coder });
      expect(worktree).toBe(path);
    });

    it('finishes an interrupted cascade rebase: the stream records its new base, its worktree follows', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'api.js': 'v1\n' });
      const b = await workOn(deps, seeded, beta, { 'ext.js': 'ext\n' }, { dependsOn: a.stream.id });
      const newBase = await git.commitOn(a.stream.branch, { 'auth.js': 'auth\n' });
      // The rebase as a dying process leaves it: ref moved, worktree not synced, nothing recorded.
      const outcome = await rebaseBranch(git.dir, {
        branch: b.stream.branch,
        onto: newBase,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: b.stream.id,
      });
      expect(outcome.kind).toBe('rebased');
      expect(existsSync(join(b.worktree, 'auth.js'))).toBe(false);

      const recovered = await recoverOperations(deps, repo);
      expect(recovered.map((r) => [r.kind, r.outcome])).toEqual([['rebase', 'finished']]);
      expect((await getStream(fx.store.db, repo.id, b.stream.id)).base_commit).toBe(newBase);
      expect(readFileSync(join(b.worktree, 'auth.js'), 'utf8')).toBe('auth\n');
      expect(await worktreeStatus(git, b.worktree)).toBe('');
    });

    it('finishes an interrupted revert: the merge is marked reverted and the stream too; one that never moved rolls back', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' });
      await approve(deps, seeded, a.stream, alpha);
      const mergedA = await mergeStream(deps, { repo, stream: a.stream, actor: alpha });
      const b = await workOn(deps, seeded, beta, { 'b.txt': 'b\n' });
      await approve(deps, seeded, b.stream, beta);
      const mergedB = await mergeStream(deps, { repo, stream: b.stream, actor: beta });
      const head = await git.rev('buffer');
      expect(head).toBe(mergedB.merge_commit);

      // The revert of A (not the latest merge) as a dying process leaves it: intent logged (the
      // engine's own write-ahead step), buffer moved, nothing recorded.
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const outcome = await revertMerge(git.dir, {
        branch: 'buffer',
        mergeCommit: mergedA.merge_commit,
        message: 'Revert a',
        author: { name: 'alpha', email: 'alpha@example.invalid' },
        oplog,
        streamId: a.stream.id,
        agentId: alpha.id,
      });
      if (outcome.kind !== 'reverted') throw new Error('the revert of a conflicted');
      const { commit: revertCommit, opId } = outcome;
      // And a revert of B that died before its ref moved.
      const tree = await git.run(['rev-parse', `${mergedB.merge_commit}^1^{tree}`]);
      const lostCommit = await git.run(['commit-tree', tree, '-p', head, '-m', 'Revert b (lost)']);
      const lostId = await oplog.begin({
        ref: 'refs/heads/buffer',
        old: head,
        new: lostCommit,
        kind: 'revert',
        description: 'Revert b',
        streamId: b.stream.id,
        metadata: { reverted: mergedB.merge_commit },
      });

      const recovered = await recoverOperations(deps, repo);
      expect(recovered).toEqual([
        { operation_id: opId, kind: 'revert', ref: 'refs/heads/buffer', outcome: 'finished' },
        { operation_id: lostId, kind: 'revert', ref: 'refs/heads/buffer', outcome: 'rolled_back' },
      ]);
      expect((await getStream(fx.store.db, repo.id, a.stream.id)).status).toBe('reverted');
      expect((await getStream(fx.store.db, repo.id, b.stream.id)).status).toBe('merged');
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select(['stream_id', 'merge_commit', 'reverted_at', 'revert_commit'])
        .where('repo_id', '=', repo.id)
        .execute();
      const byStream = Object.fromEntries(merges.map((m) => [m.stream_id, m]));
      expect(byStream[a.stream.id]).toMatchObject({
        merge_commit: mergedA.merge_commit,
        revert_commit: revertCommit,
      });
      expect(byStream[a.stream.id]?.reverted_at).not.toBeNull();
      expect(byStream[b.stream.id]).toMatchObject({ reverted_at: null, revert_commit: null });
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['id', 'status'])
        .where('id', 'in', [opId, lostId])
        .execute();
      expect(Object.fromEntries(ops.map((o) => [o.id, o.status]))).toEqual({
        [opId]: 'done',
        [lostId]: 'rolled_back',
      });
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.reverted'] });
      expect(events.map((e) => e.target_id)).toEqual([a.stream.id]);
      expect(await git.rev('buffer')).toBe(revertCommit);
      expect(existsSync(join(b.worktree, 'b.txt'))).toBe(true);

      // Idempotent: nothing pending, the revert not recorded twice.
      expect(await recoverOperations(deps, repo)).toEqual([]);
      expect(
        await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.reverted'] }),
      ).toHaveLength(1);
    });

    it("finishes an interrupted revert of a swarm stream's earlier merge: that merge, not the latest, is marked", async () => {
      const { deps, seeded } = await fx.seed({ merge_mode: 'swarm' });
      const { repo, git } = seeded;
      const ant = await seedAgent(deps, 'ant');
      const first = await swarmCommit(deps, seeded, ant, { 'one.txt': 'one\n' });
      const second = await swarmCommit(deps, seeded, ant, { 'two.txt': 'two\n' });
      const merges = async () =>
        fx.store.db
          .selectFrom('gitswarm_merges')
          .select(['merge_commit', 'revert_commit'])
          .where('stream_id', '=', first.streamId)
          .orderBy('merged_at')
          .execute();
      expect((await merges()).map((m) => m.merge_commit)).toEqual([first.bufferHead, second.bufferHead]);

      // The revert of the first merge dies after its ref moved.
      const outcome = await revertMerge(git.dir, {
        branch: 'buffer',
        mergeCommit: first.bufferHead,
        message: 'Revert the first',
        author: { name: 'ant', email: 'ant@example.invalid' },
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: first.streamId,
        agentId: ant.id,
      });
      if (outcome.kind !== 'reverted') throw new Error('the revert conflicted');

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['revert', 'finished'],
      ]);
      expect(await merges()).toEqual([
        { merge_commit: first.bufferHead, revert_commit: outcome.commit },
        { merge_commit: second.bufferHead, revert_commit: null },
      ]);
    });
  });
}
