import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { moveRef, type OpLog, reconcileRefMoves } from '../../src/engine/oplog.js';
import { GitSwarmError } from '../../src/errors.js';
import { fixedClock, makeOpLog, makeRepo, type TestRepo } from '../helpers/git-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: operation log`, () => {
    let store: TestStore;
    let repo: TestRepo;
    let oplog: OpLog;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });
    beforeEach(async () => {
      repo = await makeRepo();
      oplog = await makeOpLog(store, fixedClock());
    });
    afterEach(() => repo.cleanup());

    const row = (id: string) =>
      store.db.selectFrom('gitswarm_operations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

    it('begin writes a pending intent; complete and abort finish it', async () => {
      const main = await repo.rev('main');
      const id = await oplog.begin({
        ref: 'refs/heads/buffer',
        old: null,
        new: main,
        kind: 'stream_create',
        description: 'Create buffer',
        metadata: { why: 'test' },
      });
      expect(await row(id)).toMatchObject({
        repo_id: oplog.repoId,
        status: 'pending',
        ref: 'refs/heads/buffer',
        old_oid: null,
        new_oid: main,
        kind: 'stream_create',
        metadata: { why: 'test' },
        created_at: '2026-03-01T12:00:00.000Z',
        completed_at: null,
      });
      await store.db.transaction().execute((trx) => oplog.complete(id, trx));
      expect(await row(id)).toMatchObject({ status: 'done', completed_at: '2026-03-01T12:00:00.001Z' });

      const other = await oplog.begin({
        ref: 'refs/heads/x',
        old: null,
        new: main,
        kind: 'merge',
        description: 'x',
      });
      await oplog.abort(other);
      expect((await row(other)).status).toBe('rolled_back');
    });

    it('moveRef moves by compare-and-swap and leaves the intent pending for the caller', async () => {
      const main = await repo.rev('main');
      const next = await repo.commitOn('side', { 'a.txt': 'a\n' });
      const created = await moveRef(repo.dir, oplog, {
        ref: 'refs/heads/buffer',
        old: null,
        new: main,
        kind: 'stream_create',
        description: 'Create buffer',
      });
      expect(created.moved).toBe(true);
      expect(await repo.rev('buffer')).toBe(main);
      if (created.moved) expect((await row(created.opId)).status).toBe('pending');

      // Create-only fails when the ref exists; a stale old value fails too. Nothing moves.
      const again = await moveRef(repo.dir, oplog, {
        ref: 'refs/heads/buffer',
        old: null,
        new: next,
        kind: 'stream_create',
        description: 'Create buffer again',
      });
      expect(again.moved).toBe(false);
      const stale = await moveRef(repo.dir, oplog, {
        ref: 'refs/heads/buffer',
        old: next,
        new: main,
        kind: 'merge',
        description: 'stale',
      });
      expect(stale).toEqual({ moved: false, current: main });
      expect(await repo.rev('buffer')).toBe(main);
      const statuses = await store.db
        .selectFrom('gitswarm_operations')
        .select(['status', 'description'])
        .where('repo_id', '=', oplog.repoId)
        .orderBy('created_at')
        .execute();
      expect(statuses.map((s) => s.status)).toEqual(['pending', 'rolled_back', 'rolled_back']);

      const moved = await moveRef(repo.dir, oplog, {
        ref: 'refs/heads/buffer',
        old: main,
        new: next,
        kind: 'merge',
        description: 'forward',
      });
      expect(moved.moved).toBe(true);
      expect(await repo.rev('buffer')).toBe(next);
    });

    it('moveRef deletes a ref when new is all zeros', async () => {
      const side = await repo.commitOn('side', { 'a.txt': 'a\n' });
      const result = await moveRef(repo.dir, oplog, {
        ref: 'refs/heads/side',
        old: side,
        new: '0'.repeat(40),
        kind: 'branch_delete',
        description: 'Delete side',
      });
      expect(result.moved).toBe(true);
      expect(await repo.exitCode(['rev-parse', '--verify', '--quiet', 'refs/heads/side'])).toBe(1);
    });

    it('moveRef rejects hostile refs and non-oids before touching the log or git', async () => {
      const main = await repo.rev('main');
      for (const ref of ['-d', 'refs/heads/../../config', 'HEAD', 'refs/heads/-x/../y']) {
        await expect(
          moveRef(repo.dir, oplog, { ref, old: null, new: main, kind: 'merge', description: 'x' }),
        ).rejects.toBeInstanceOf(GitSwarmError);
      }
      await expect(
        moveRef(repo.dir, oplog, {
          ref: 'refs/heads/x',
          old: null,
          new: 'main',
          kind: 'merge',
          description: 'x',
        }),
      ).rejects.toMatchObject({ code: 'invalid_input' });
      const count = await store.db
        .selectFrom('gitswarm_operations')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('repo_id', '=', oplog.repoId)
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(0);
    });

    it('reconciles intents after a crash: applied ones stay pending, the rest roll back', async () => {
      const main = await repo.rev('main');
      const next = await repo.commitOn('work', { 'w.txt': 'w\n' });
      const later = await repo.commitOn('work', { 'w.txt': 'w2\n' });
      await repo.branch('buffer', main);
      await repo.branch('promoted', main);

      // Crash after the ref moved, before complete: the intent is applied.
      const applied = await oplog.begin({
        ref: 'refs/heads/buffer',
        old: main,
        new: next,
        kind: 'merge',
        description: 'm',
      });
      await repo.run(['update-ref', 'refs/heads/buffer', next, main]);
      // Applied, then the ref moved on (new is an ancestor of the ref).
      const movedOn = await oplog.begin({
        ref: 'refs/heads/promoted',
        old: main,
        new: next,
        kind: 'promote',
        description: 'p',
      });
      await repo.run(['update-ref', 'refs/heads/promoted', later, main]);
      // Crash before the ref moved: not applied.
      const notApplied = await oplog.begin({
        ref: 'refs/heads/main',
        old: main,
        new: later,
        kind: 'promote',
        description: 'n',
      });
      // A create that never happened.
      const neverCreated = await oplog.begin({
        ref: 'refs/heads/stream/abc',
        old: null,
        new: next,
        kind: 'stream_create',
        description: 'c',
      });
      // Done ones are not looked at.
      const done = await oplog.begin({
        ref: 'refs/heads/main',
        old: main,
        new: later,
        kind: 'merge',
        description: 'd',
      });
      await oplog.complete(done);

      const results = await reconcileRefMoves(
        repo.dir,
        store,
        oplog.repoId,
        fixedClock('2026-03-02T00:00:00.000Z'),
      );
      expect(results.map((r) => [r.operation.id, r.outcome])).toEqual([
        [applied, 'applied'],
        [movedOn, 'applied'],
        [notApplied, 'not_applied'],
        [neverCreated, 'not_applied'],
      ]);
      expect((await row(applied)).status).toBe('pending');
      expect((await row(movedOn)).status).toBe('pending');
      expect(await row(notApplied)).toMatchObject({
        status: 'rolled_back',
        completed_at: '2026-03-02T00:00:00.000Z',
      });
      expect((await row(neverCreated)).status).toBe('rolled_back');
      expect((await row(done)).status).toBe('done');
      // Nothing in git changed.
      expect(await repo.rev('main')).toBe(main);
      expect(await repo.rev('buffer')).toBe(next);

      // A second pass sees only the applied ones, until the core completes them.
      expect((await reconcileRefMoves(repo.dir, store, oplog.repoId)).map((r) => r.outcome)).toEqual([
        'applied',
        'applied',
      ]);
      await oplog.complete(applied);
      await oplog.complete(movedOn);
      expect(await reconcileRefMoves(repo.dir, store, oplog.repoId)).toEqual([]);
    });

    it('reconciles a ref deletion: gone is applied, still there is rolled back', async () => {
      const zero = '0'.repeat(40);
      const gone = await repo.commitOn('gone', { 'g.txt': 'g\n' });
      const kept = await repo.commitOn('kept', { 'k.txt': 'k\n' });
      // Crash after the ref was deleted, before complete.
      const deleted = await oplog.begin({
        ref: 'refs/heads/gone',
        old: gone,
        new: zero,
        kind: 'branch_delete',
        description: 'delete gone',
      });
      await repo.run(['update-ref', '-d', 'refs/heads/gone', gone]);
      // Crash before the ref was deleted.
      const notDeleted = await oplog.begin({
        ref: 'refs/heads/kept',
        old: kept,
        new: zero,
        kind: 'branch_delete',
        description: 'delete kept',
      });
      const results = await reconcileRefMoves(
        repo.dir,
        store,
        oplog.repoId,
        fixedClock('2026-03-02T00:00:00.000Z'),
      );
      expect(results.map((r) => [r.operation.id, r.outcome])).toEqual([
        [deleted, 'applied'],
        [notDeleted, 'not_applied'],
      ]);
      expect((await row(deleted)).status).toBe('pending');
      expect(await row(notDeleted)).toMatchObject({
        status: 'rolled_back',
        completed_at: '2026-03-02T00:00:00.000Z',
      });
      // Git is left as it was: the kept branch is still there, the deleted one still gone.
      expect(await repo.rev('kept')).toBe(kept);
      expect(await repo.exitCode(['rev-parse', '--verify', '--quiet', 'refs/heads/gone'])).toBe(1);
    });
  });
}
