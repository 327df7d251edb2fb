import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity.js';
import { recoverOperations } from '../../src/core/federation.js';
import { getStream } from '../../src/core/streams.js';
import { OpLog } from '../../src/engine/oplog.js';
import { approve, type SeededGitRepo, seedGitRepo, workOn } from '../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { seedAgent, testDeps } from '../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: crash recovery`, () => {
    let store: TestStore;
    const repos: SeededGitRepo[] = [];
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterEach(() => {
      for (const seeded of repos.splice(0)) seeded.git.cleanup();
    });
    afterAll(async () => {
      await store.close();
    });

    it('finishes a merge whose ref moved before the process died, and rolls back one that never moved', async () => {
      const deps = testDeps(store);
      const seeded = await seedGitRepo(deps);
      repos.push(seeded);
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const { stream, commit } = await workOn(deps, seeded, coder, { 'x.txt': 'x\n' });
      await approve(deps, seeded, stream, coder);

      // The merge as a dying process would leave it: intent logged, buffer moved, nothing recorded.
      const bufferHead = await git.rev('buffer');
      const tree = await git.run(['merge-tree', '--write-tree', bufferHead, commit]);
      const mergeCommit = await git.run(['commit-tree', tree, '-p', bufferHead, '-p', commit, '-m', 'Merge']);
      const oplog = new OpLog(store, repo.id, deps.clock);
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
      expect((await getStream(store.db, repo.id, stream.id)).status).toBe('merged');
      const merges = await store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges).toMatchObject([{ merge_commit: mergeCommit, agent_id: coder.id }]);
      const ops = await store.db
        .selectFrom('gitswarm_operations')
        .select(['id', 'status'])
        .where('id', 'in', [opId, lostId])
        .execute();
      expect(Object.fromEntries(ops.map((o) => [o.id, o.status]))).toEqual({
        [opId]: 'done',
        [lostId]: 'rolled_back',
      });
      expect(await git.rev('main')).toBe(bufferHead);
      const events = await listActivity(store.db, {
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
        await store.db
          .selectFrom('gitswarm_merges')
          .select('id')
          .where('stream_id', '=', stream.id)
          .execute(),
      ).toHaveLength(1);
    });
  });
}
