/**
 * Operation-log rules the oplog tests left loose (found by mutation testing): the refusals of a
 * malformed move, a failed compare-and-swap (not moved, the intent rolled back, the current value
 * only when git gave it), a git failure that is not a CAS failure, and reconciling a deletion.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { moveRef, type OpLog, reconcileRefMoves } from '../../src/engine/oplog.js';
import type { GitSwarmError } from '../../src/errors.js';
import { fixedClock, makeOpLog, makeRepo, type TestRepo } from '../helpers/git-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

const ZERO = '0'.repeat(40);

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: operation log at its edges`, () => {
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

    const operations = () =>
      store.db
        .selectFrom('gitswarm_operations')
        .select(['ref', 'status'])
        .where('repo_id', '=', oplog.repoId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
    const move = (fields: { ref?: string; old: string | null; new: string }) => ({
      ref: 'refs/heads/topic',
      kind: 'merge' as const,
      description: 'test',
      ...fields,
    });

    it('refuses an abbreviated object id and a deletion without the current value, logging nothing', async () => {
      const main = await repo.rev('main');
      const short = await caught(moveRef(repo.dir, oplog, move({ old: null, new: main.slice(0, 12) })));
      expect([short.code, short.message]).toEqual([
        'invalid_input',
        'A ref move needs full object ids (refs/heads/topic).',
      ]);
      const blind = await caught(moveRef(repo.dir, oplog, move({ old: null, new: ZERO })));
      expect([blind.code, blind.message]).toEqual([
        'invalid_input',
        'Deleting refs/heads/topic needs its current value.',
      ]);
      const shortOld = await caught(moveRef(repo.dir, oplog, move({ old: main.slice(0, 12), new: main })));
      expect([shortOld.code, shortOld.message]).toEqual([
        'invalid_input',
        'A ref move needs full object ids (refs/heads/topic).',
      ]);
      expect(await operations()).toEqual([]);
    });

    it('a failed compare-and-swap does not move, rolls the intent back, and gives the current value when git does', async () => {
      const main = await repo.rev('main');
      const other = await repo.commitOn('other', { 'a.txt': 'a' });
      await repo.branch('topic', main);
      // Expected old value wrong: git says where the ref is.
      const stale = await moveRef(repo.dir, oplog, move({ old: other, new: other }));
      expect(stale).toStrictEqual({ moved: false, current: main });
      // Creating a ref that exists: no current value in git's answer, and none in ours.
      const exists = await moveRef(repo.dir, oplog, move({ old: null, new: other }));
      expect(exists).toStrictEqual({ moved: false });
      expect(await repo.rev('topic')).toBe(main);
      expect(await operations()).toEqual([
        { ref: 'refs/heads/topic', status: 'rolled_back' },
        { ref: 'refs/heads/topic', status: 'rolled_back' },
      ]);
    });

    it('a git failure that is not a CAS failure is git_failed with git’s first line, the intent rolled back', async () => {
      const main = await repo.rev('main');
      const notARepo = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-not-a-repo-')));
      try {
        const error = await caught(moveRef(notARepo, oplog, move({ old: null, new: main })));
        expect(error.code).toBe('git_failed');
        expect(error.message).toMatch(/^git update-ref failed: fatal: not a git repository/);
        expect(error.details).toMatchObject({
          git_args: ['update-ref', '-m', 'gitswarm: merge', 'refs/heads/topic', main, ZERO],
        });
        const stderr = (error.details as { git_stderr: string }).git_stderr;
        expect(stderr).toMatch(/^fatal: not a git repository/);
        expect(stderr).toBe(stderr.trim());
      } finally {
        rmSync(notARepo, { recursive: true, force: true });
      }
      expect(await operations()).toEqual([{ ref: 'refs/heads/topic', status: 'rolled_back' }]);
    });

    it('an object id that starts with zeros is a commit, not a deletion', async () => {
      // Commit until git gives an id starting with 0 (one in sixteen).
      let oid = await repo.commitOn('zero', { 'n.txt': '0' });
      for (let n = 1; !oid.startsWith('0'); n++) oid = await repo.commitOn('zero', { 'n.txt': String(n) });
      await oplog.begin(move({ ref: 'refs/heads/zero', old: null, new: oid }));
      const results = await reconcileRefMoves(repo.dir, store, oplog.repoId, fixedClock());
      expect(results.map((r) => r.outcome)).toEqual(['applied']);
    });

    it('reconciles a deletion: applied when the ref is gone, rolled back when it is still there', async () => {
      const main = await repo.rev('main');
      await repo.branch('gone', main);
      await repo.branch('kept', main);
      await oplog.begin(move({ ref: 'refs/heads/gone', old: main, new: ZERO }));
      await oplog.begin(move({ ref: 'refs/heads/kept', old: main, new: ZERO }));
      // A creation whose ref never appeared, and one whose target is not even an object here.
      await oplog.begin(move({ ref: 'refs/heads/never', old: null, new: main }));
      await oplog.begin(move({ ref: 'refs/heads/kept', old: main, new: 'f'.repeat(40) }));
      await repo.run(['update-ref', '-d', 'refs/heads/gone']);
      const results = await reconcileRefMoves(repo.dir, store, oplog.repoId, fixedClock());
      expect(results.map((r) => [r.operation.ref, r.outcome])).toEqual([
        ['refs/heads/gone', 'applied'],
        ['refs/heads/kept', 'not_applied'],
        ['refs/heads/never', 'not_applied'],
        ['refs/heads/kept', 'not_applied'],
      ]);
      expect((await operations()).map((o) => o.status)).toEqual([
        'pending',
        'rolled_back',
        'rolled_back',
        'rolled_back',
      ]);
    });
  });
}
