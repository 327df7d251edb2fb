import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readChangeId } from '../../src/engine/change-id.js';
import { commitAll } from '../../src/engine/commit.js';
import { changedFiles, diffRange } from '../../src/engine/diff.js';
import type { OpLog } from '../../src/engine/oplog.js';
import { createBranchAt, streamBranch } from '../../src/engine/stream-branches.js';
import {
  addWorktree,
  isWorktreeDirty,
  removeWorktree,
  syncWorktreeAfterRefMove,
  withDetachedWorktree,
} from '../../src/engine/worktrees.js';
import { makeOpLog, makeRepo, TEST_IDENTITY, type TestRepo } from '../helpers/git-fixture.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

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
});
afterEach(() => repo.cleanup());

const worktreeCount = async () => (await repo.run(['worktree', 'list', '--porcelain'])).split('\n\n').length;

describe('stream branches and worktrees', () => {
  it('creates a stream branch create-only, with a pending op', async () => {
    const main = await repo.rev('main');
    expect(streamBranch('abc123def456')).toBe('stream/abc123def456');
    const opId = await createBranchAt(repo.dir, {
      branch: streamBranch('abc123def456'),
      at: main,
      oplog,
      streamId: null,
    });
    expect(await repo.rev('stream/abc123def456')).toBe(main);
    const op = await store.db
      .selectFrom('gitswarm_operations')
      .selectAll()
      .where('id', '=', opId)
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({ kind: 'stream_create', status: 'pending', old_oid: null, new_oid: main });
    await expect(
      createBranchAt(repo.dir, { branch: 'stream/abc123def456', at: 'main', oplog }),
    ).rejects.toMatchObject({
      code: 'already_exists',
    });
    await expect(createBranchAt(repo.dir, { branch: '-b', at: main, oplog })).rejects.toMatchObject({
      code: 'invalid_name',
    });
    await expect(createBranchAt(repo.dir, { branch: 'x', at: 'missing', oplog })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('adds a worktree on a branch, commits in it, detects dirt and removes it', async () => {
    await createBranchAt(repo.dir, { branch: 'stream/s1', at: 'main', oplog });
    const wt = repo.tempPath('wt-s1');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/s1' });
    expect(await repo.run(['symbolic-ref', 'HEAD'], wt)).toBe('refs/heads/stream/s1');
    expect(await isWorktreeDirty(wt)).toBe(false);

    expect(await commitAll(wt, { message: 'Nothing yet', author: TEST_IDENTITY })).toBeNull();

    writeFileSync(join(wt, 'new.txt'), 'new\n');
    writeFileSync(join(wt, 'lines.txt'), 'one\n');
    expect(await isWorktreeDirty(wt)).toBe(true);
    const first = await commitAll(wt, { message: 'Add new.txt', author: TEST_IDENTITY });
    expect(first).not.toBeNull();
    if (!first) return;
    expect(first.changeId).toMatch(/^I[0-9a-f]{40}$/);
    expect(await repo.rev('stream/s1')).toBe(first.commit);
    expect(await isWorktreeDirty(wt)).toBe(false);
    const message = await repo.run(['log', '-1', '--format=%B', first.commit]);
    expect(message).toBe(`Add new.txt\n\nChange-Id: ${first.changeId}`);
    expect(readChangeId(message)).toBe(first.changeId);
    expect(await repo.run(['log', '-1', '--format=%an <%ae>|%cn', first.commit])).toBe(
      'Test Agent <agent@example.test>|Test Agent',
    );

    // A given Change-Id is kept; a deletion counts as a change; '#' lines survive.
    const id = `I${'b'.repeat(40)}`;
    writeFileSync(join(wt, 'new.txt'), 'changed\n');
    const second = await commitAll(wt, {
      message: 'Change it\n\n# not a comment',
      author: TEST_IDENTITY,
      changeId: id,
    });
    expect(second?.changeId).toBe(id);
    expect(await repo.run(['log', '-1', '--format=%B', 'stream/s1'])).toBe(
      `Change it\n\n# not a comment\n\nChange-Id: ${id}`,
    );
    await expect(commitAll(wt, { message: ' ', author: TEST_IDENTITY })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    await expect(
      commitAll(wt, { message: 'x', author: TEST_IDENTITY, changeId: 'nope' }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
    });
    // commitAll never moved other branches.
    expect(await repo.rev('main')).toBe(await repo.rev('stream/s1~2'));

    writeFileSync(join(wt, 'dirt.txt'), 'dirt\n');
    await removeWorktree(repo.dir, wt);
    expect(existsSync(wt)).toBe(false);
    expect(await worktreeCount()).toBe(1);
    await expect(addWorktree(repo.dir, { path: 'relative/path', branch: 'stream/s1' })).rejects.toMatchObject(
      {
        code: 'invalid_path',
      },
    );
    await expect(
      addWorktree(repo.dir, { path: repo.tempPath('x'), branch: '--detach' }),
    ).rejects.toMatchObject({
      code: 'invalid_name',
    });
  });

  it('reads the new commit and the refs asked for, loose or packed', async () => {
    const wt = repo.tempPath('wt-read');
    await repo.branch('stream/read');
    await repo.branch('buffer');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/read' });
    const buffer = await repo.rev('buffer');
    writeFileSync(join(wt, 'r.txt'), 'r\n');
    const first = await commitAll(wt, {
      message: 'First',
      author: TEST_IDENTITY,
      alsoRead: ['refs/heads/buffer', 'refs/heads/missing'],
    });
    expect(first).toMatchObject({
      commit: await repo.rev('stream/read'),
      refs: { 'refs/heads/buffer': buffer, 'refs/heads/missing': null },
    });
    await repo.run(['pack-refs', '--all', '--prune']);
    writeFileSync(join(wt, 'r.txt'), 'r2\n');
    const second = await commitAll(wt, {
      message: 'Second',
      author: TEST_IDENTITY,
      alsoRead: ['refs/heads/buffer'],
    });
    expect(second).toMatchObject({
      commit: await repo.rev('stream/read'),
      refs: { 'refs/heads/buffer': buffer },
    });
    expect(second?.commit).not.toBe(first?.commit);
  });

  it('commits without spawning git maintenance or gc', async () => {
    const wt = repo.tempPath('wt-maintenance');
    await repo.branch('stream/maintenance');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/maintenance' });
    writeFileSync(join(wt, 'm.txt'), 'm\n');
    const trace = repo.tempPath('git-trace.txt');
    const previous = process.env.GIT_TRACE;
    process.env.GIT_TRACE = trace;
    try {
      expect(await commitAll(wt, { message: 'No maintenance', author: TEST_IDENTITY })).not.toBeNull();
    } finally {
      if (previous === undefined) delete process.env.GIT_TRACE;
      else process.env.GIT_TRACE = previous;
    }
    const traced = readFileSync(trace, 'utf8');
    expect(traced).toContain('commit');
    expect(traced).not.toMatch(/maintenance run|\bgc --auto/);
  });

  it('removes a worktree whose directory is already gone (prune)', async () => {
    await createBranchAt(repo.dir, { branch: 'stream/gone', at: 'main', oplog });
    const wt = repo.tempPath('wt-gone');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/gone' });
    await import('node:fs/promises').then((fs) => fs.rm(wt, { recursive: true, force: true }));
    await removeWorktree(repo.dir, wt);
    expect(await worktreeCount()).toBe(1);
    // The branch is free again.
    await addWorktree(repo.dir, { path: repo.tempPath('wt-again'), branch: 'stream/gone' });
  });

  it.each([
    ['added in one git process', false],
    ['added by git worktree add (an include in the config)', true],
  ])(
    "runs no hook of the repository's when it adds a worktree, a stream's or a throw-away one: %s",
    async (_, byGit) => {
      // A post-checkout hook runs in the new checkout: as a stabilize run's is the code under test,
      // a hook there (such as one that installs dependencies) would run that code outside the sandbox.
      if (byGit) await repo.run(['config', 'include.path', '/dev/null']); // see linked-worktree.ts
      const hooks = repo.tempPath('hooks');
      const ran = repo.tempPath('hook-ran');
      mkdirSync(hooks);
      writeFileSync(join(hooks, 'post-checkout'), `#!/bin/sh\npwd >> '${ran}'\n`, { mode: 0o755 });
      await repo.run(['config', 'core.hooksPath', hooks]);
      await repo.run(['worktree', 'add', '-q', '--detach', repo.tempPath('wt-plain'), 'main']);
      expect(readFileSync(ran, 'utf8')).toContain('wt-plain'); // git itself runs it

      await createBranchAt(repo.dir, { branch: 'stream/hooked', at: 'main', oplog });
      await addWorktree(repo.dir, { path: repo.tempPath('wt-stream'), branch: 'stream/hooked' });
      await withDetachedWorktree(repo.dir, await repo.rev('main'), async () => {});
      expect(readFileSync(ran, 'utf8').trim().split('\n')).toHaveLength(1);
    },
  );

  it('runs in a detached throw-away worktree and removes it, also on error', async () => {
    const main = await repo.rev('main');
    let seen = '';
    const result = await withDetachedWorktree(repo.dir, main, async (path) => {
      seen = path;
      expect(readFileSync(join(path, 'README.md'), 'utf8')).toBe('hello\n');
      expect(await repo.exitCode(['symbolic-ref', '-q', 'HEAD'], path)).toBe(1);
      writeFileSync(join(path, 'junk.txt'), 'junk');
      return 42;
    });
    expect(result).toBe(42);
    expect(existsSync(seen)).toBe(false);
    await expect(
      withDetachedWorktree(repo.dir, main, async (path) => {
        seen = path;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(seen)).toBe(false);
    expect(await worktreeCount()).toBe(1);
    await expect(withDetachedWorktree(repo.dir, '--orphan', async () => 1)).rejects.toMatchObject({
      code: 'invalid_input',
    });
  });

  it("removes a throw-away worktree's files and git's record of it, whatever the run did to its .git file", async () => {
    const main = await repo.rev('main');
    const admin = join(repo.dir, '.git', 'worktrees');
    // A run that rewrites the worktree's `.git` file to name a folder that names it back: that
    // folder is not git's, and must survive.
    const decoy = join(repo.tempPath('decoy'), 'worktrees', 'victim');
    mkdirSync(decoy, { recursive: true });
    let seen = '';
    await withDetachedWorktree(repo.dir, main, async (path) => {
      seen = path;
      expect(readdirSync(admin)).toHaveLength(1);
      writeFileSync(join(decoy, 'gitdir'), `${join(path, '.git')}\n`);
      writeFileSync(join(path, '.git'), `gitdir: ${decoy}\n`);
    });
    expect(existsSync(seen)).toBe(false);
    expect(existsSync(join(decoy, 'gitdir'))).toBe(true);
    expect(readdirSync(admin)).toEqual([]);
    expect(await repo.run(['worktree', 'prune', '--dry-run', '--verbose'])).toBe('');
    expect(await worktreeCount()).toBe(1);

    // Under a temporary folder reached through a symbolic link (git records the real path).
    const real = repo.tempPath('real-tmp');
    mkdirSync(real);
    symlinkSync(real, repo.tempPath('linked-tmp'));
    const tmpdirBefore = process.env.TMPDIR;
    process.env.TMPDIR = repo.tempPath('linked-tmp');
    try {
      await withDetachedWorktree(repo.dir, main, async (path) => {
        seen = path;
        expect(readFileSync(join(path, 'README.md'), 'utf8')).toBe('hello\n');
      });
    } finally {
      if (tmpdirBefore === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdirBefore;
    }
    expect(existsSync(seen)).toBe(false);
    expect(readdirSync(real)).toEqual([]);
    expect(readdirSync(admin)).toEqual([]);
    expect(await repo.run(['fsck', '--no-progress'])).toBe('');
  });

  it('syncs a clean worktree after its branch moved under it', async () => {
    await createBranchAt(repo.dir, { branch: 'stream/sync', at: 'main', oplog });
    const wt = repo.tempPath('wt-sync');
    await addWorktree(repo.dir, { path: wt, branch: 'stream/sync' });
    const old = await repo.rev('stream/sync');
    const next = await repo.commitOn('stream/sync', { 'synced.txt': 'yes\n', 'README.md': null });
    expect(await isWorktreeDirty(wt)).toBe(true); // stale index after update-ref
    await syncWorktreeAfterRefMove(wt, old, next);
    expect(await isWorktreeDirty(wt)).toBe(false);
    expect(readFileSync(join(wt, 'synced.txt'), 'utf8')).toBe('yes\n');
    expect(existsSync(join(wt, 'README.md'))).toBe(false);
  });
});

describe('diff', () => {
  it('diffs a head against its merge base with a base', async () => {
    const head = await repo.commitOn('feat', { 'a b.txt': 'a\n', 'lines.txt': 'one\n' });
    await repo.commitOn('main', { 'main-only.txt': 'm\n' });
    expect(await changedFiles(repo.dir, 'main', head)).toEqual(['a b.txt', 'lines.txt']);
    const stat = await diffRange(repo.dir, 'main', head, { stat: true });
    expect(stat).toContain('2 files changed');
    const patch = await diffRange(repo.dir, 'main', 'feat');
    expect(patch).toContain('+++ b/a b.txt');
    expect(patch).not.toContain('main-only');
    await expect(diffRange(repo.dir, '--output=/tmp/x', head)).rejects.toMatchObject({
      code: 'invalid_input',
    });
    await expect(changedFiles(repo.dir, 'main', '../x')).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
