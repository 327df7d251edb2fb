import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { carryOnto, snapshotWorktree, switchWorktreeCarrying } from '../../src/engine/carry-over.js';
import { commitAll } from '../../src/engine/commit.js';
import { mergeIntoBranch } from '../../src/engine/merge.js';
import type { OpLog } from '../../src/engine/oplog.js';
import { fastForward } from '../../src/engine/promote.js';
import { rebaseBranch } from '../../src/engine/rebase.js';
import { revertMerge, revertOnto } from '../../src/engine/revert.js';
import { addWorktree, isWorktreeDirty } from '../../src/engine/worktrees.js';
import { makeOpLog, makeRepo, TEST_IDENTITY, type TestRepo } from '../helpers/git-fixture.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

const ALICE = { name: 'Alice Author', email: 'alice@example.test' };
const ID1 = `I${'1'.repeat(40)}`;
const ID2 = `I${'2'.repeat(40)}`;

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

/** Two commits by Alice, with fixed author dates and Change-Ids, on `branch` from main. */
async function aliceCommits(
  branch: string,
  files: [Record<string, string>, Record<string, string>],
): Promise<string[]> {
  const commits: string[] = [];
  for (const [i, changes] of files.entries()) {
    const parent = i === 0 ? await repo.rev('main') : (commits[0] as string);
    const index = repo.tempPath(`alice-index-${branch.replace('/', '-')}-${i}`);
    const env = { GIT_INDEX_FILE: index };
    const { gitOut } = await import('../../src/engine/git.js');
    await gitOut(['read-tree', parent], { cwd: repo.dir, env });
    for (const [path, content] of Object.entries(changes)) {
      const blob = await gitOut(['hash-object', '-w', '--stdin'], { cwd: repo.dir, input: content });
      await gitOut(['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], {
        cwd: repo.dir,
        env,
      });
    }
    const tree = await gitOut(['write-tree'], { cwd: repo.dir, env });
    const commit = await gitOut(['commit-tree', tree, '-p', parent, '-F', '-'], {
      cwd: repo.dir,
      input: `Alice change ${i + 1}\n\nBody ${i + 1}.\n\nChange-Id: ${i === 0 ? ID1 : ID2}\n`,
      env: {
        GIT_AUTHOR_NAME: ALICE.name,
        GIT_AUTHOR_EMAIL: ALICE.email,
        GIT_AUTHOR_DATE: `${1_700_000_000 + i} +0130`,
        GIT_COMMITTER_NAME: ALICE.name,
        GIT_COMMITTER_EMAIL: ALICE.email,
      },
    });
    commits.push(commit);
  }
  await repo.run(['update-ref', `refs/heads/${branch}`, commits[1] as string, '0'.repeat(40)]);
  return commits;
}

describe('rebaseBranch', () => {
  it('replays commits onto the new base keeping message, Change-Id, author and date', async () => {
    const [c1, c2] = (await aliceCommits('stream/r', [
      { 'a.txt': 'a\n' },
      { 'lines.txt': 'one\ntwo\nthree\nfour\nFIVE\n' },
    ])) as [string, string];
    const onto = await repo.commitOn('buffer', {
      'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n',
      'b.txt': 'b\n',
    });
    const outcome = await rebaseBranch(repo.dir, { branch: 'stream/r', onto, oplog, streamId: null });
    expect(outcome.kind).toBe('rebased');
    if (outcome.kind !== 'rebased') return;
    expect(outcome.previousHead).toBe(c2);
    expect(await repo.rev('stream/r')).toBe(outcome.head);
    expect(Object.keys(outcome.mapping)).toEqual([c1, c2]);
    expect(outcome.mapping[c2]).toBe(outcome.head);
    expect(await repo.rev(`${outcome.head}~2`)).toBe(onto);
    expect(await repo.rev(`${outcome.head}~1`)).toBe(outcome.mapping[c1]);
    const format = '%an <%ae> %ad%n%B';
    for (const old of [c1, c2]) {
      const rewritten = outcome.mapping[old] as string;
      expect(await repo.run(['log', '-1', '--date=raw', `--format=${format}`, rewritten])).toBe(
        await repo.run(['log', '-1', '--date=raw', `--format=${format}`, old]),
      );
    }
    expect(await repo.run(['log', '-1', '--format=%B', outcome.head])).toContain(`Change-Id: ${ID2}`);
    // Same result as the content git rebase would produce.
    expect(await repo.show(outcome.head, 'lines.txt')).toBe('ONE\ntwo\nthree\nfour\nFIVE');
    expect(await repo.show(outcome.head, 'a.txt')).toBe('a');
    expect(await repo.show(outcome.head, 'b.txt')).toBe('b');
    const op = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('id', '=', outcome.opId)
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({ kind: 'rebase', status: 'pending', old_oid: c2, new_oid: outcome.head });
    expect(op.metadata).toMatchObject({ onto, mapping: outcome.mapping });

    // Again: already based on onto.
    expect(await rebaseBranch(repo.dir, { branch: 'stream/r', onto, oplog })).toEqual({
      kind: 'up_to_date',
      head: outcome.head,
    });
  });

  it('is up to date when onto is in the branch; follows onto when nothing is left to replay', async () => {
    const main = await repo.rev('main');
    const head = await repo.commitOn('stream/u', { 'u.txt': 'u\n' });
    expect(await rebaseBranch(repo.dir, { branch: 'stream/u', onto: main, oplog })).toEqual({
      kind: 'up_to_date',
      head,
    });
    // The branch's commits are already in onto (it was merged).
    const merged = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source: head,
      message: 'm',
      author: TEST_IDENTITY,
      oplog,
    });
    await repo.commitOn('buffer', { 'later.txt': 'l\n' });
    expect(merged.kind).toBe('merged');
    const buffer = await repo.rev('buffer');
    expect(await rebaseBranch(repo.dir, { branch: 'stream/u', onto: buffer, oplog })).toMatchObject({
      kind: 'rebased',
      head: buffer,
      previousHead: head,
      mapping: {},
    });
    expect(await repo.rev('stream/u')).toBe(buffer);

    // A branch whose only own commit is a merge (of commits onto already has) keeps it.
    await repo.branch('stream/m', 'main');
    const mergedSide = await mergeIntoBranch(repo.dir, {
      target: 'stream/m',
      source: buffer,
      message: 'merge side',
      author: TEST_IDENTITY,
      oplog,
    });
    if (mergedSide.kind !== 'merged') throw new Error('merge');
    expect(await rebaseBranch(repo.dir, { branch: 'stream/m', onto: buffer, oplog })).toEqual({
      kind: 'up_to_date',
      head: mergedSide.commit,
    });
  });

  it('fast-forwards a branch with no commits of its own, and its clean worktree, to onto', async () => {
    const start = await repo.branch('stream/f', 'main');
    const wt = repo.tempPath('wt-f');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/f' });
    const onto = await repo.commitOn('buffer', { 'parent.txt': 'from the parent\n' });
    const outcome = await rebaseBranch(repo.dir, {
      branch: 'stream/f',
      onto,
      oplog,
      streamId: 'abcdef123456',
      worktree: wt,
    });
    expect(outcome).toMatchObject({ kind: 'rebased', head: onto, previousHead: start, mapping: {} });
    expect(await repo.rev('stream/f')).toBe(onto);
    expect(await repo.run(['rev-parse', 'HEAD'], wt)).toBe(onto);
    expect(readFileSync(join(wt, 'parent.txt'), 'utf8')).toBe('from the parent\n');
    expect(await isWorktreeDirty(wt)).toBe(false);
    // Through the operation log, left pending for the caller to complete.
    const op = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('repo_id', '=', oplog.repoId)
      .where('ref', '=', 'refs/heads/stream/f')
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({ kind: 'rebase', old_oid: start, new_oid: onto, status: 'pending' });
    expect(op.metadata).toMatchObject({ onto, fast_forward: true });
    // Once there, it is up to date.
    expect(await rebaseBranch(repo.dir, { branch: 'stream/f', onto, oplog })).toEqual({
      kind: 'up_to_date',
      head: onto,
    });
  });

  it('stops at the first conflicting commit and moves nothing', async () => {
    const [c1] = (await aliceCommits('stream/c', [
      { 'lines.txt': 'uno\ntwo\nthree\nfour\nfive\n' },
      { 'z.txt': 'z\n' },
    ])) as [string, string];
    const head = await repo.rev('stream/c');
    const onto = await repo.commitOn('buffer', { 'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n' });
    expect(await rebaseBranch(repo.dir, { branch: 'stream/c', onto, oplog })).toEqual({
      kind: 'conflicted',
      paths: ['lines.txt'],
      at: c1,
    });
    expect(await repo.rev('stream/c')).toBe(head);
    const ops = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('repo_id', '=', oplog.repoId)
      .execute();
    expect(ops.filter((o) => o.kind === 'rebase')).toEqual([]);
  });

  it('updates the clean worktree of the branch', async () => {
    await repo.branch('stream/w', 'main');
    const wt = repo.tempPath('wt-w');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/w' });
    writeFileSync(join(wt, 'mine.txt'), 'mine\n');
    const mine = await commitAll(wt, { message: 'Mine', author: ALICE });
    const onto = await repo.commitOn('buffer', { 'theirs.txt': 'theirs\n' });
    const outcome = await rebaseBranch(repo.dir, { branch: 'stream/w', onto, oplog, worktree: wt });
    expect(outcome.kind).toBe('rebased');
    if (outcome.kind !== 'rebased' || !mine) return;
    expect(await repo.rev('HEAD')).not.toBe(outcome.head); // the main worktree is untouched
    expect(await repo.run(['rev-parse', 'HEAD'], wt)).toBe(outcome.head);
    expect(await isWorktreeDirty(wt)).toBe(false);
    expect(readFileSync(join(wt, 'theirs.txt'), 'utf8')).toBe('theirs\n');
    expect(readFileSync(join(wt, 'mine.txt'), 'utf8')).toBe('mine\n');
    expect(await repo.run(['log', '-1', '--format=%B', 'HEAD'], wt)).toContain(`Change-Id: ${mine.changeId}`);
  });

  it('rejects hostile names', async () => {
    await expect(rebaseBranch(repo.dir, { branch: '-x', onto: 'main', oplog })).rejects.toMatchObject({
      code: 'invalid_name',
    });
    await expect(rebaseBranch(repo.dir, { branch: 'stream/x', onto: '--root', oplog })).rejects.toMatchObject(
      {
        code: 'invalid_input',
      },
    );
    await expect(rebaseBranch(repo.dir, { branch: 'missing', onto: 'main', oplog })).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});

describe('revertMerge', () => {
  it('reverts a merge relative to its first parent on top of later merges', async () => {
    const s1 = await repo.commitOn('stream/1', {
      'one.txt': '1\n',
      'lines.txt': 'one\ntwo\nthree\nfour\nFIVE\n',
    });
    const s2 = await repo.commitOn('stream/2', { 'two.txt': '2\n' });
    const m1 = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source: s1,
      message: 'Merge 1',
      author: TEST_IDENTITY,
      oplog,
    });
    const m2 = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source: s2,
      message: 'Merge 2',
      author: TEST_IDENTITY,
      oplog,
    });
    if (m1.kind !== 'merged' || m2.kind !== 'merged') throw new Error('merges failed');
    const outcome = await revertMerge(repo.dir, {
      branch: 'buffer',
      mergeCommit: m1.commit,
      message: 'Revert stream 1',
      author: ALICE,
      oplog,
    });
    expect(outcome.kind).toBe('reverted');
    if (outcome.kind !== 'reverted') return;
    expect(await repo.rev('buffer')).toBe(outcome.commit);
    expect(await repo.run(['log', '-1', '--format=%P|%an|%B', outcome.commit])).toBe(
      `${m2.commit}|Alice Author|Revert stream 1`,
    );
    expect(await repo.exitCode(['cat-file', '-e', `${outcome.commit}:one.txt`])).not.toBe(0);
    expect(await repo.show(outcome.commit, 'lines.txt')).toBe('one\ntwo\nthree\nfour\nfive');
    expect(await repo.show(outcome.commit, 'two.txt')).toBe('2');
    const op = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('id', '=', outcome.opId)
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({
      kind: 'revert',
      status: 'pending',
      old_oid: m2.commit,
      new_oid: outcome.commit,
    });
  });

  it('reports a conflicting revert and moves nothing', async () => {
    const s1 = await repo.commitOn('stream/1', { 'lines.txt': 'one\ntwo\nthree\nfour\nFIVE\n' });
    const m1 = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source: s1,
      message: 'Merge 1',
      author: TEST_IDENTITY,
      oplog,
    });
    if (m1.kind !== 'merged') throw new Error('merge failed');
    await repo.commitOn('buffer', { 'lines.txt': 'one\ntwo\nthree\nfour\nFIVE!\n' });
    const head = await repo.rev('buffer');
    expect(
      await revertMerge(repo.dir, {
        branch: 'buffer',
        mergeCommit: m1.commit,
        message: 'Revert',
        author: ALICE,
        oplog,
      }),
    ).toEqual({ kind: 'conflicted', paths: ['lines.txt'] });
    expect(await repo.rev('buffer')).toBe(head);
  });

  it('rejects hostile input', async () => {
    const main = await repo.rev('main');
    await expect(
      revertMerge(repo.dir, { branch: '../buffer', mergeCommit: main, message: 'r', author: ALICE, oplog }),
    ).rejects.toMatchObject({ code: 'invalid_name' });
    await expect(
      revertMerge(repo.dir, { branch: 'buffer', mergeCommit: '-p', message: 'r', author: ALICE, oplog }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('revertOnto', () => {
  it('re-applies a reverted merge on a later head (a revert of the revert), moving no ref', async () => {
    const s1 = await repo.commitOn('stream/1', { 'one.txt': '1\n' });
    const m1 = await mergeIntoBranch(repo.dir, {
      target: 'buffer',
      source: s1,
      message: 'Merge 1',
      author: TEST_IDENTITY,
      oplog,
    });
    if (m1.kind !== 'merged') throw new Error('merge failed');
    const reverted = await revertMerge(repo.dir, {
      branch: 'buffer',
      mergeCommit: m1.commit,
      message: 'Revert merge 1',
      author: ALICE,
      oplog,
    });
    if (reverted.kind !== 'reverted') throw new Error('revert failed');
    const later = await repo.commitOn('buffer', { 'two.txt': '2\n' });
    const refs = await repo.run(['for-each-ref', '--format=%(refname) %(objectname)']);
    const outcome = await revertOnto(repo.dir, {
      commit: reverted.commit,
      onto: later,
      message: 'Reapply merge 1',
      author: ALICE,
    });
    expect(outcome.kind).toBe('committed');
    if (outcome.kind !== 'committed') return;
    expect(await repo.run(['log', '-1', '--format=%P|%an|%s', outcome.commit])).toBe(
      `${later}|Alice Author|Reapply merge 1`,
    );
    expect(await repo.show(outcome.commit, 'one.txt')).toBe('1');
    expect(await repo.show(outcome.commit, 'two.txt')).toBe('2');
    expect(await repo.run(['for-each-ref', '--format=%(refname) %(objectname)'])).toBe(refs);

    // The buffer rewrote the file meanwhile: re-applying conflicts, and writes nothing.
    const rewritten = await repo.commitOn('buffer', { 'one.txt': 'someone else\n' });
    expect(
      await revertOnto(repo.dir, { commit: reverted.commit, onto: rewritten, message: 'r', author: ALICE }),
    ).toEqual({ kind: 'conflicted', paths: ['one.txt'] });
    await expect(
      revertOnto(repo.dir, { commit: '--all', onto: rewritten, message: 'r', author: ALICE }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('carrying uncommitted work to another branch', () => {
  it('snapshots without touching the index, merges the work onto a new base, switches the worktree keeping it uncommitted', async () => {
    const wt = repo.tempPath('carry');
    await repo.branch('stream/a');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/a' });
    writeFileSync(join(wt, 'lines.txt'), 'one\ntwo\nthree\nfour\nFIVE\n');
    writeFileSync(join(wt, 'new.txt'), 'new\n');
    writeFileSync(join(wt, '.gitignore'), 'cache/\n');
    await repo.run(['add', '.gitignore'], wt);
    // An ignored file (a dependency cache) is not work: not carried, but left in place.
    mkdirSync(join(wt, 'cache'));
    writeFileSync(join(wt, 'cache', 'x'), 'cached\n');
    const snap = await snapshotWorktree(wt);
    expect(snap.dirty).toBe(true);
    // The index still holds only what was staged before.
    expect(await repo.run(['diff', '--cached', '--name-only'], wt)).toBe('.gitignore');
    const base = await repo.commitOn(
      'stream/b',
      { 'other.txt': 'other\n', 'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n' },
      'b',
      'main',
    );
    const merged = await carryOnto(repo.dir, snap, base);
    expect(merged.clean).toBe(true);
    if (!merged.clean) return;
    await switchWorktreeCarrying(wt, { branch: 'stream/b', from: snap.tree, to: merged.tree });
    expect(await repo.run(['symbolic-ref', 'HEAD'], wt)).toBe('refs/heads/stream/b');
    expect(readFileSync(join(wt, 'lines.txt'), 'utf8')).toBe('ONE\ntwo\nthree\nfour\nFIVE\n');
    expect(readFileSync(join(wt, 'other.txt'), 'utf8')).toBe('other\n');
    expect(await repo.run(['diff', '--cached', '--name-only'], wt)).toBe('');
    expect(
      (await repo.run(['status', '--porcelain', '--untracked-files=all'], wt))
        .split('\n')
        .map((l) => l.trim())
        .sort(),
    ).toEqual(['?? .gitignore', '?? new.txt', 'M lines.txt']);
    expect(readFileSync(join(wt, 'cache', 'x'), 'utf8')).toBe('cached\n');
    expect(await repo.rev('stream/b')).toBe(base);

    // Work that collides with the new base is a conflict, as data.
    const clash = await repo.commitOn('stream/c', { 'new.txt': 'theirs\n' }, 'c', 'main');
    const snap2 = await snapshotWorktree(wt);
    expect(await carryOnto(repo.dir, snap2, clash)).toMatchObject({ clean: false, paths: ['new.txt'] });
  });
});

describe('fastForward', () => {
  it('moves forward, reports no-ops, refuses non-fast-forwards', async () => {
    const main = await repo.rev('main');
    const ahead = await repo.commitOn('buffer', { 'x.txt': 'x\n' });
    const result = await fastForward(repo.dir, { target: 'main', to: ahead, oplog });
    expect(result).toMatchObject({ moved: true, from: main, to: ahead });
    expect(result.opId).toBeTruthy();
    expect(await repo.rev('main')).toBe(ahead);
    expect(await fastForward(repo.dir, { target: 'main', to: ahead, oplog })).toEqual({
      moved: false,
      from: ahead,
      to: ahead,
    });

    const diverged = await repo.commitOn('other', { 'y.txt': 'y\n' }, undefined, main);
    await expect(fastForward(repo.dir, { target: 'main', to: diverged, oplog })).rejects.toMatchObject({
      code: 'not_fast_forward',
    });
    expect(await repo.rev('main')).toBe(ahead);

    const created = await fastForward(repo.dir, { target: 'release', to: 'main', oplog });
    expect(created).toMatchObject({ moved: true, from: null, to: ahead });
    await expect(fastForward(repo.dir, { target: '-main', to: ahead, oplog })).rejects.toMatchObject({
      code: 'invalid_name',
    });
  });
});
