import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkMerge, mergeIntoBranch, planMerge } from '../../src/engine/merge.js';
import type { OpLog } from '../../src/engine/oplog.js';
import { listFirstParentMerges } from '../../src/engine/repo.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeOpLog, makeRepo, TEST_IDENTITY, type TestRepo } from '../helpers/git-fixture.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

const MERGER = { name: 'Merger Bot', email: 'merger@example.test' };

let store: TestStore;
let repo: TestRepo;
let oplog: OpLog;
beforeAll(async () => {
  store = await openTestStore('sqlite');
});
afterAll(async () => {
  await store.close();
});
beforeEach(async () => {
  repo = await makeRepo();
  oplog = await makeOpLog(store);
  await repo.branch('buffer');
});
afterEach(() => repo.cleanup());

const opStatus = async (id: string) =>
  (
    await store.db
      .selectFrom('gitswarm_operations')
      .select('status')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
  ).status;

describe('mergeIntoBranch', () => {
  it('merges cleanly without a worktree: parents, message, identity, pending op', async () => {
    const before = await repo.rev('buffer');
    const source = await repo.commitOn('stream/a', { 'a.txt': 'a\n' });
    const status = await repo.run(['status', '--porcelain']);
    const outcome = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source,
      message: 'Merge stream a',
      author: MERGER,
      oplog,
      streamId: null,
    });
    expect(outcome.kind).toBe('merged');
    if (outcome.kind !== 'merged') return;
    expect(outcome.previousHead).toBe(before);
    expect(await repo.rev('buffer')).toBe(outcome.commit);
    expect(await repo.run(['log', '-1', '--format=%P%n%an <%ae>%n%cn <%ce>%n%B', outcome.commit])).toBe(
      `${before} ${source}\nMerger Bot <merger@example.test>\nMerger Bot <merger@example.test>\nMerge stream a`,
    );
    expect(await repo.show('buffer', 'a.txt')).toBe('a');
    expect(await opStatus(outcome.opId)).toBe('pending');
    // The user's checkout (main) did not change.
    expect(await repo.run(['status', '--porcelain'])).toBe(status);
    expect(await repo.run(['symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
  });

  it('takes the target head from the caller; a stale one only costs a retry', async () => {
    const stale = await repo.rev('buffer');
    const moved = await repo.commitOn('buffer', { 'moved.txt': 'moved\n' });
    const source = await repo.commitOn('stream/h', { 'h.txt': 'h\n' });
    const outcome = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source,
      message: 'Merge stream h',
      author: MERGER,
      oplog,
      targetHead: stale,
    });
    expect(outcome).toMatchObject({ kind: 'merged', previousHead: moved });
    if (outcome.kind !== 'merged') return;
    expect(await repo.run(['log', '-1', '--format=%P', outcome.commit])).toBe(`${moved} ${source}`);
    await expect(
      mergeIntoBranch(repo.dir, {
        target: 'buffer',
        source,
        message: 'm',
        author: MERGER,
        oplog,
        targetHead: 'HEAD',
      }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('reports a conflict as data and moves nothing', async () => {
    await repo.commitOn('buffer', { 'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n', 'b.txt': 'b\n' });
    const head = await repo.rev('buffer');
    const source = await repo.commitOn('stream/x', {
      'lines.txt': 'uno\ntwo\nthree\nfour\nfive\n',
      'c.txt': 'c\n',
    });
    const outcome = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source,
      message: 'm',
      author: MERGER,
      oplog,
    });
    expect(outcome).toEqual({ kind: 'conflicted', paths: ['lines.txt'], head });
    expect(await repo.rev('buffer')).toBe(head);
    expect(await repo.rev('stream/x')).toBe(source);
    const ops = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('repo_id', '=', oplog.repoId)
      .execute();
    expect(ops).toEqual([]);
  });

  it('retries on the new head when concurrent merges race: all 8 land on the first-parent chain', async () => {
    const start = await repo.rev('buffer');
    const sources = await Promise.all(
      Array.from({ length: 8 }, (_, i) => repo.commitOn(`stream/s${i}`, { [`s${i}.txt`]: `${i}\n` })),
    );
    const outcomes = await Promise.all(
      sources.map((source, i) =>
        mergeIntoBranch(repo.dir, {
          target: 'buffer',
          source,
          message: `Merge s${i}`,
          author: MERGER,
          oplog,
        }),
      ),
    );
    const commits = outcomes.map((o) => (o.kind === 'merged' ? o.commit : 'conflict'));
    expect(commits).not.toContain('conflict');
    const chain = await listFirstParentMerges(repo.dir, start, 'buffer');
    expect(chain).toHaveLength(8);
    expect(new Set(chain)).toEqual(new Set(commits));
    for (let i = 0; i < 8; i++) expect(await repo.show('buffer', `s${i}.txt`)).toBe(String(i));
    // Each merge's recorded previous head is its first parent.
    for (const outcome of outcomes) {
      if (outcome.kind !== 'merged') continue;
      expect(await repo.rev(`${outcome.commit}^1`)).toBe(outcome.previousHead);
      expect(await opStatus(outcome.opId)).toBe('pending');
    }
  });

  it('rejects hostile names and empty messages before reaching git', async () => {
    const source = await repo.rev('main');
    for (const target of ['-f', '../x', 'buffer..x', '--upload-pack=evil']) {
      await expect(
        mergeIntoBranch(repo.dir, { target, source, message: 'm', author: MERGER, oplog }),
      ).rejects.toMatchObject({ code: 'invalid_name' });
    }
    await expect(
      mergeIntoBranch(repo.dir, { target: 'buffer', source: '--all', message: 'm', author: MERGER, oplog }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(
      mergeIntoBranch(repo.dir, { target: 'buffer', source, message: '  \n', author: MERGER, oplog }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(
      mergeIntoBranch(repo.dir, { target: 'missing', source, message: 'm', author: TEST_IDENTITY, oplog }),
    ).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('checkMerge', () => {
  it('says whether two commits merge cleanly, moving nothing', async () => {
    const a = await repo.commitOn('a', { 'lines.txt': 'A\ntwo\nthree\nfour\nfive\n' });
    const b = await repo.commitOn('b', { 'lines.txt': 'one\ntwo\nthree\nfour\nFIVE\n' });
    const c = await repo.commitOn('c', { 'lines.txt': 'C\ntwo\nthree\nfour\nfive\n' });
    const clean = await checkMerge(repo.dir, a, b);
    expect(clean.clean).toBe(true);
    if (clean.clean) expect(clean.tree).toMatch(/^[0-9a-f]{40}$/);
    expect(await checkMerge(repo.dir, a, c)).toEqual({ clean: false, paths: ['lines.txt'] });
    expect(await repo.rev('a')).toBe(a);
  });
});

describe('planMerge', () => {
  it('computes the merge ahead and asks git about ancestry only when the tree would not change', async () => {
    const buffer = await repo.rev('buffer');
    const source = await repo.commitOn('stream/p', { 'p.txt': 'p\n' });
    const calls = recordGitCalls();
    const planned = await withCommandEnv(calls.env, () => planMerge(repo.dir, buffer, source));
    expect(planned).toMatchObject({ head: buffer, source, empty: false, tree: { clean: true } });
    // The buffer head's tree is read from its loose object: merge-tree is the only git process.
    expect(calls.commands()).toEqual(['merge-tree']);

    // The merge uses the planned tree while the target is where the plan found it.
    const merged = await withCommandEnv(calls.env, () =>
      mergeIntoBranch(repo.dir, {
        target: 'buffer',
        source,
        message: 'Merge p',
        author: MERGER,
        oplog,
        planned,
      }),
    );
    expect(merged.kind).toBe('merged');
    expect(calls.commands()).toEqual(['merge-tree', 'update-ref']);
    if (merged.kind !== 'merged') return;
    expect(await repo.run(['rev-parse', `${merged.commit}^{tree}`])).toBe(
      (planned.tree as { tree: string }).tree,
    );
  });

  it('finds a stream with nothing the buffer lacks empty, and one whose change is there by another way not', async () => {
    const base = await repo.rev('buffer');
    // The stream's head is on the buffer already (the stream never moved; an older buffer commit).
    const moved = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    expect((await planMerge(repo.dir, moved, base)).empty).toBe(true);
    expect((await planMerge(repo.dir, moved, moved)).empty).toBe(true);
    // The same change committed separately: the merge changes no file, yet the stream has a commit.
    const twin = await repo.commitOn('stream/twin', { 'b.txt': 'b\n' }, 'the same change', base);
    const plan = await planMerge(repo.dir, moved, twin);
    expect(plan.empty).toBe(false);
    expect(plan.tree).toMatchObject({ clean: true });
  });

  it('reports a conflict without deciding emptiness, and a merge retried on a moved target recomputes', async () => {
    const buffer = await repo.rev('buffer');
    const ours = await repo.commitOn('buffer', { 'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n' });
    const theirs = await repo.commitOn(
      'stream/c',
      { 'lines.txt': 'uno\ntwo\nthree\nfour\nfive\n' },
      'c',
      buffer,
    );
    const conflicted = await planMerge(repo.dir, ours, theirs);
    expect(conflicted).toMatchObject({ empty: false, tree: { clean: false, paths: ['lines.txt'] } });

    // Planned on the old buffer head: the merge onto the moved head is computed again.
    const source = await repo.commitOn('stream/d', { 'd.txt': 'd\n' }, 'd', buffer);
    const stalePlan = await planMerge(repo.dir, buffer, source);
    const merged = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source,
      message: 'Merge d',
      author: MERGER,
      oplog,
      planned: stalePlan,
    });
    expect(merged).toMatchObject({ kind: 'merged', previousHead: ours });
    if (merged.kind !== 'merged') return;
    expect(await repo.show(merged.commit, 'lines.txt')).toBe('ONE\ntwo\nthree\nfour\nfive');
    expect(await repo.show(merged.commit, 'd.txt')).toBe('d');
  });
});
