/**
 * The shared remote of Mode B with real git: one bare remote in a temp dir and two clones of it
 * ("two machines"). Compare-and-swap pushes, fetch-on-demand of stream branches, bad input.
 */
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../src/engine/git.js';
import {
  casDelete,
  casPush,
  configNamesRemote,
  createLocalBranch,
  deleteLocalBranch,
  fetchBranch,
  fetchPullRequestHead,
  fetchRefs,
  fetchStreamBranch,
  hasRemote,
  pushBranch,
  readRemoteRefs,
  trackingRef,
} from '../../src/engine/remote.js';
import { listWorktrees } from '../../src/engine/worktree-list.js';
import { GitSwarmError } from '../../src/errors.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';

interface Clone {
  dir: string;
  run(args: readonly string[]): Promise<string>;
}

let origin: TestRepo;
let base: string;
let bare: string;
let cloneA: Clone;
let cloneB: Clone;

async function cloneOf(name: string): Promise<Clone> {
  const dir = join(base, name);
  await gitOut(['clone', '-q', bare, dir], { cwd: base, env: TEST_ENV });
  return { dir, run: (args) => gitOut(args, { cwd: dir, env: TEST_ENV }) };
}

/** A new commit on top of `parent` in a clone, without moving any ref. */
async function commitIn(clone: Clone, parent: string, message: string): Promise<string> {
  const tree = await clone.run(['rev-parse', `${parent}^{tree}`]);
  return gitOut(['commit-tree', tree, '-p', parent, '-m', message], { cwd: clone.dir, env: TEST_ENV });
}

const remoteHead = async (ref: string) => gitOut(['rev-parse', '--verify', '--quiet', ref], { cwd: bare });

beforeEach(async () => {
  origin = await makeRepo();
  base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-remote-')));
  bare = join(base, 'shared.git');
  await gitOut(['clone', '-q', '--bare', origin.dir, bare], { cwd: base, env: TEST_ENV });
  await gitOut(['branch', 'buffer', 'main'], { cwd: bare, env: TEST_ENV });
  cloneA = await cloneOf('a');
  cloneB = await cloneOf('b');
});
afterEach(() => {
  origin.cleanup();
  rmSync(base, { recursive: true, force: true });
});

describe('compare-and-swap push', () => {
  it('moves the remote ref when it is at the expected value', async () => {
    const buffer = await remoteHead('refs/heads/buffer');
    const next = await commitIn(cloneA, buffer, 'merge on A');
    const outcome = await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: buffer });
    expect(outcome).toEqual({ status: 'pushed', ref: 'refs/heads/buffer', oid: next });
    expect(await remoteHead('refs/heads/buffer')).toBe(next);
    // The same push again is a no-op, not a failure (a retried report after a lost answer).
    expect(
      (await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: buffer })).status,
    ).toBe('up_to_date');
  });

  it('is rejected, typed, when another clone moved the ref first, and the remote keeps the winner', async () => {
    const buffer = await remoteHead('refs/heads/buffer');
    const fromA = await commitIn(cloneA, buffer, 'merge on A');
    await gitOut(['fetch', '-q', 'origin'], { cwd: cloneB.dir, env: TEST_ENV });
    const fromB = await commitIn(cloneB, buffer, 'merge on B');
    expect(
      (await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: fromA, expected: buffer })).status,
    ).toBe('pushed');
    const lost = await casPush(cloneB.dir, { ref: 'refs/heads/buffer', oid: fromB, expected: buffer });
    expect(lost).toEqual({
      status: 'rejected',
      ref: 'refs/heads/buffer',
      reason: 'remote_moved',
      remoteOid: fromA,
    });
    expect(await remoteHead('refs/heads/buffer')).toBe(fromA);
    // Fetch, recompute on the new head, retry with the new expected value: it lands.
    const fetched = await fetchRefs(cloneB.dir, ['refs/heads/buffer']);
    expect(fetched.get('refs/heads/buffer')).toBe(fromA);
    expect(await cloneB.run(['rev-parse', 'refs/remotes/origin/buffer'])).toBe(fromA);
    const retried = await commitIn(cloneB, fromA, 'merge on B, again');
    expect(
      (await casPush(cloneB.dir, { ref: 'refs/heads/buffer', oid: retried, expected: fromA })).status,
    ).toBe('pushed');
    expect(await remoteHead('refs/heads/buffer')).toBe(retried);
  });

  it('two clones pushing at the same instant: exactly one wins, the other is told the winner', async () => {
    const buffer = await remoteHead('refs/heads/buffer');
    const fromA = await commitIn(cloneA, buffer, 'A at once');
    const fromB = await commitIn(cloneB, buffer, 'B at once');
    const outcomes = await Promise.all([
      casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: fromA, expected: buffer }),
      casPush(cloneB.dir, { ref: 'refs/heads/buffer', oid: fromB, expected: buffer }),
    ]);
    const winners = outcomes.filter((o) => o.status === 'pushed');
    expect(winners).toHaveLength(1);
    const winner = winners[0]?.oid;
    expect(await remoteHead('refs/heads/buffer')).toBe(winner);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({
      reason: 'remote_moved',
      remoteOid: winner,
    });
  });

  it('allows a backward move when the lease holds (a revert to an older commit)', async () => {
    const buffer = await remoteHead('refs/heads/buffer');
    const next = await commitIn(cloneA, buffer, 'bad merge');
    await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: buffer });
    const back = await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: buffer, expected: next });
    expect(back.status).toBe('pushed');
    expect(await remoteHead('refs/heads/buffer')).toBe(buffer);
  });

  it('creates a ref expected absent, and is rejected when it already exists', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const created = await casPush(cloneA.dir, { ref: 'refs/heads/stream/s1', oid: main, expected: 'absent' });
    expect(created.status).toBe('pushed');
    expect(await remoteHead('refs/heads/stream/s1')).toBe(main);
    const other = await commitIn(cloneB, main, 'someone else');
    const again = await casPush(cloneB.dir, { ref: 'refs/heads/stream/s1', oid: other, expected: 'absent' });
    expect(again).toEqual({
      status: 'rejected',
      ref: 'refs/heads/stream/s1',
      reason: 'remote_moved',
      remoteOid: main,
    });
    expect(await remoteHead('refs/heads/stream/s1')).toBe(main);
  });

  it('is rejected when a ref expected present is absent on the remote', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const next = await commitIn(cloneA, main, 'x');
    const outcome = await casPush(cloneA.dir, { ref: 'refs/heads/nowhere', oid: next, expected: main });
    expect(outcome).toEqual({
      status: 'rejected',
      ref: 'refs/heads/nowhere',
      reason: 'remote_moved',
      remoteOid: null,
    });
    expect((await readRemoteRefs(cloneA.dir, ['refs/heads/nowhere'])).get('refs/heads/nowhere')).toBeNull();
  });

  it("runs no pre-push hook of the clone's: the push is GitSwarm's, not its user's", async () => {
    // A pre-push hook that runs the test suite (a common one) would run agents' code unsandboxed
    // at every commit of a connected clone.
    const ran = join(base, 'pre-push-ran');
    const hook = join(cloneA.dir, '.git', 'hooks', 'pre-push');
    writeFileSync(hook, `#!/bin/sh\necho ran >> '${ran}'\n`, { mode: 0o755 });
    await cloneA.run(['push', '-q', 'origin', 'main:refs/heads/by-hand']);
    expect(existsSync(ran)).toBe(true); // git itself runs it
    rmSync(ran);

    const buffer = await remoteHead('refs/heads/buffer');
    const next = await commitIn(cloneA, buffer, 'pushed by GitSwarm');
    expect(
      await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: buffer }),
    ).toMatchObject({
      status: 'pushed',
    });
    expect(await remoteHead('refs/heads/buffer')).toBe(next);
    expect(existsSync(ran)).toBe(false);
  });

  it('throws git_failed (not a rejection) when a hook on the remote refuses the push', async () => {
    const { writeFileSync, chmodSync } = await import('node:fs');
    const hook = join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "no pushes today" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const buffer = await remoteHead('refs/heads/buffer');
    const next = await commitIn(cloneA, buffer, 'refused');
    const error = await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: buffer }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GitSwarmError);
    expect((error as GitSwarmError).code).toBe('git_failed');
    expect((error as GitSwarmError).message).toMatch(/refused refs\/heads\/buffer/);
    expect(await remoteHead('refs/heads/buffer')).toBe(buffer);
  });
});

describe('compare-and-swap delete and local branches', () => {
  it('deletes a remote ref only at the expected value', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const other = await commitIn(cloneA, main, 'other');
    await casPush(cloneA.dir, { ref: 'refs/heads/stream/d1', oid: main, expected: 'absent' });
    expect(await casDelete(cloneA.dir, { ref: 'refs/heads/stream/d1', expected: other })).toEqual({
      status: 'rejected',
      ref: 'refs/heads/stream/d1',
      reason: 'remote_moved',
      remoteOid: main,
    });
    expect(await remoteHead('refs/heads/stream/d1')).toBe(main);
    expect(await casDelete(cloneA.dir, { ref: 'refs/heads/stream/d1', expected: main })).toEqual({
      status: 'deleted',
      ref: 'refs/heads/stream/d1',
    });
    expect(
      (await readRemoteRefs(cloneA.dir, ['refs/heads/stream/d1'])).get('refs/heads/stream/d1'),
    ).toBeNull();
    // Already gone: nothing to do, not an error.
    expect((await casDelete(cloneA.dir, { ref: 'refs/heads/stream/d1', expected: main })).status).toBe(
      'deleted',
    );
  });

  it('creates a local branch create-only and deletes it only at the expected value', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const other = await commitIn(cloneA, main, 'other');
    await createLocalBranch(cloneA.dir, 'stream/l1', main);
    expect(await cloneA.run(['rev-parse', 'refs/heads/stream/l1'])).toBe(main);
    await expect(createLocalBranch(cloneA.dir, 'stream/l1', other)).rejects.toMatchObject({
      code: 'already_exists',
    });
    expect(await deleteLocalBranch(cloneA.dir, 'stream/l1', other)).toBe(false);
    expect(await cloneA.run(['rev-parse', 'refs/heads/stream/l1'])).toBe(main);
    expect(await deleteLocalBranch(cloneA.dir, 'stream/l1', main)).toBe(true);
    await expect(createLocalBranch(cloneA.dir, '--force', main)).rejects.toMatchObject({
      code: 'invalid_name',
    });
    await expect(createLocalBranch(cloneA.dir, 'stream/l2', 'HEAD')).rejects.toMatchObject({
      code: 'invalid_input',
    });
  });
});

describe('branch pushes', () => {
  it('pushes a new branch, then fast-forwards it, and rejects a non-fast-forward as a typed result', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    await cloneA.run(['branch', 'stream/s2', main]);
    expect(await pushBranch(cloneA.dir, 'stream/s2')).toEqual({
      status: 'pushed',
      ref: 'refs/heads/stream/s2',
      oid: main,
    });
    const second = await commitIn(cloneA, main, 'second');
    await cloneA.run(['update-ref', 'refs/heads/stream/s2', second]);
    expect((await pushBranch(cloneA.dir, 'stream/s2')).status).toBe('pushed');
    expect(await remoteHead('refs/heads/stream/s2')).toBe(second);
    // Rewritten locally (a rebase): a plain push is refused, typed; a lease on the old value lands it.
    const rewritten = await commitIn(cloneA, main, 'rewritten');
    await cloneA.run(['update-ref', 'refs/heads/stream/s2', rewritten]);
    expect(await pushBranch(cloneA.dir, 'stream/s2')).toEqual({
      status: 'rejected',
      ref: 'refs/heads/stream/s2',
      reason: 'non_fast_forward',
      remoteOid: second,
    });
    expect(await remoteHead('refs/heads/stream/s2')).toBe(second);
    expect((await pushBranch(cloneA.dir, 'stream/s2', { expected: second })).status).toBe('pushed');
    expect(await remoteHead('refs/heads/stream/s2')).toBe(rewritten);
  });

  it('refuses a branch that does not exist locally', async () => {
    await expect(pushBranch(cloneA.dir, 'stream/missing')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('fetch on demand', () => {
  it('brings a stream branch that exists only on the remote, then fast-forwards it', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const work = await commitIn(cloneA, main, 'work on A');
    await cloneA.run(['branch', 'stream/abc123', work]);
    await pushBranch(cloneA.dir, 'stream/abc123');

    const first = await fetchStreamBranch(cloneB.dir, 'abc123');
    expect(first).toEqual({
      branch: 'stream/abc123',
      local: work,
      remote: work,
      created: true,
      fastForwarded: false,
    });
    expect(await cloneB.run(['rev-parse', 'refs/heads/stream/abc123'])).toBe(work);

    const more = await commitIn(cloneA, work, 'more on A');
    await cloneA.run(['update-ref', 'refs/heads/stream/abc123', more]);
    await pushBranch(cloneA.dir, 'stream/abc123');
    const second = await fetchStreamBranch(cloneB.dir, 'abc123');
    expect(second).toMatchObject({ local: more, remote: more, created: false, fastForwarded: true });
    // Nothing new on the remote: nothing moves, nothing is reported as moved.
    expect(await fetchStreamBranch(cloneB.dir, 'abc123')).toEqual({
      branch: 'stream/abc123',
      local: more,
      remote: more,
      created: false,
      fastForwarded: false,
    });
  });

  it('leaves a local stream branch that is ahead, or checked out in a worktree, where it is', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    await cloneA.run(['branch', 'stream/own1', main]);
    await pushBranch(cloneA.dir, 'stream/own1');
    const ahead = await commitIn(cloneA, main, 'not pushed yet');
    await cloneA.run(['update-ref', 'refs/heads/stream/own1', ahead]);
    expect(await fetchStreamBranch(cloneA.dir, 'own1')).toMatchObject({
      local: ahead,
      remote: main,
      fastForwarded: false,
    });

    // Clone B has it checked out in a worktree; a newer remote commit must not move it under the checkout.
    await fetchStreamBranch(cloneB.dir, 'own1');
    await cloneB.run(['worktree', 'add', '-q', join(base, 'wt-b'), 'stream/own1']);
    await pushBranch(cloneA.dir, 'stream/own1');
    expect(await fetchStreamBranch(cloneB.dir, 'own1')).toMatchObject({
      local: main,
      remote: ahead,
      fastForwarded: false,
    });
  });

  it('reports a stream branch that is nowhere as null', async () => {
    expect(await fetchStreamBranch(cloneB.dir, 'nothere')).toEqual({
      branch: 'stream/nothere',
      local: null,
      remote: null,
      created: false,
      fastForwarded: false,
    });
    expect(await fetchBranch(cloneB.dir, 'nothere')).toBeNull();
  });

  it('fetches a pull request head by its number only: anything else is refused before git runs', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      await expect(fetchPullRequestHead(cloneB.dir, bad)).rejects.toMatchObject({ code: 'invalid_input' });
    }
    expect(await fetchPullRequestHead(cloneB.dir, 7)).toBeNull();
  });

  it('fetches several refs at once, present and absent, into tracking refs', async () => {
    const buffer = await remoteHead('refs/heads/buffer');
    const values = await fetchRefs(cloneA.dir, ['refs/heads/buffer', 'refs/heads/main', 'refs/heads/gone']);
    expect(values.get('refs/heads/buffer')).toBe(buffer);
    expect(values.get('refs/heads/gone')).toBeNull();
    expect(await cloneA.run(['rev-parse', trackingRef('refs/heads/buffer')])).toBe(buffer);
    expect(trackingRef('refs/heads/x', { remote: 'up' })).toBe('refs/remotes/up/x');
    expect(trackingRef('refs/tags/green/1')).toBe('refs/tags/green/1');
  });
});

describe('asking git only when it must', () => {
  it('fetches only refs whose tracking ref is not at the remote value already (a push of this clone moved it)', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const next = await commitIn(cloneA, main, 'next');
    expect(await casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: next, expected: main })).toMatchObject({
      status: 'pushed',
    });
    // git moved refs/remotes/origin/buffer with the push: a fetch now brings nothing.
    const quiet = recordGitCalls();
    const values = await withCommandEnv(quiet.env, () =>
      fetchRefs(cloneA.dir, ['refs/heads/buffer', 'refs/heads/gone']),
    );
    expect(values.get('refs/heads/buffer')).toBe(next);
    expect(quiet.commands()).toEqual(['ls-remote']);

    // Another clone moves it: fetched, and the tracking ref follows.
    const other = await commitIn(cloneB, main, 'other');
    await casPush(cloneB.dir, { ref: 'refs/heads/buffer', oid: other, expected: next });
    const moved = recordGitCalls();
    await withCommandEnv(moved.env, () => fetchRefs(cloneA.dir, ['refs/heads/buffer']));
    expect(moved.commands()).toEqual(['ls-remote', 'fetch']);
    expect(await cloneA.run(['rev-parse', trackingRef('refs/heads/buffer')])).toBe(other);

    // A packed tracking ref cannot be read without git: fetched, as before.
    await cloneA.run(['pack-refs', '--all']);
    const packed = recordGitCalls();
    await withCommandEnv(packed.env, () => fetchRefs(cloneA.dir, ['refs/heads/buffer']));
    expect(packed.commands()).toEqual(['ls-remote', 'fetch']);
  });

  it("reads the repository's own config for the remote, and asks git for anything else", async () => {
    const quiet = recordGitCalls();
    expect(await withCommandEnv(quiet.env, () => hasRemote(cloneA.dir))).toBe(true);
    expect(quiet.calls()).toEqual([]);
    // Removed: no stale answer.
    await cloneA.run(['remote', 'rename', 'origin', 'shared']);
    expect(await hasRemote(cloneA.dir)).toBe(false);
    expect(await hasRemote(cloneA.dir, { remote: 'shared' })).toBe(true);
    // Only in the user's global config: git is asked, and (as git remote get-url) says no.
    const home = mkdtempSync(join(tmpdir(), 'gitswarm-global-'));
    try {
      writeFileSync(join(home, '.gitconfig'), `[remote "global"]\n\turl = ${bare}\n`);
      const asked = recordGitCalls();
      const env = { ...asked.env, GIT_CONFIG_GLOBAL: join(home, '.gitconfig') };
      expect(await withCommandEnv(env, () => hasRemote(cloneA.dir, { remote: 'global' }))).toBe(false);
      expect(asked.calls()).toEqual(['remote get-url -- global']);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('config text: only a [remote "<name>"] section with a url names the remote', () => {
    const yes = [
      '[remote "origin"]\n\turl = /srv/shared.git\n',
      '[core]\n\tbare = false\n[Remote "origin"]\n  fetch = +refs/heads/*:refs/remotes/origin/*\n  URL=x\n',
    ];
    const no = [
      null,
      '',
      '[remote "origin"]\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n',
      '[remote "origin"]\n[core]\n\turl = x\n',
      '[remote "originals"]\n\turl = x\n',
      '[remote "Origin"]\n\turl = x\n',
      '[remote.origin]\n\turl = x\n',
      '# [remote "origin"]\n\turl = x\n',
      '[remote "origin"]\n\turl =\n',
    ];
    for (const config of yes) expect(configNamesRemote(config, 'origin'), String(config)).toBe(true);
    for (const config of no) expect(configNamesRemote(config, 'origin'), String(config)).toBe(false);
  });
});

describe('listWorktrees', () => {
  it('lists each worktree with its branch and head; a detached one has no branch', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const next = await commitIn(cloneA, main, 'next');
    await cloneA.run(['branch', 'stream/w1', next]);
    await cloneA.run(['worktree', 'add', '-q', join(base, 'wt-w1'), 'stream/w1']);
    await cloneA.run(['worktree', 'add', '-q', '--detach', join(base, 'wt-detached'), main]);
    const listed = await listWorktrees(cloneA.dir);
    expect(listed[0]).toEqual({ path: cloneA.dir, branch: 'main', head: main });
    expect(listed.slice(1).sort((x, y) => x.path.localeCompare(y.path))).toEqual([
      { path: join(base, 'wt-detached'), branch: null, head: main },
      { path: join(base, 'wt-w1'), branch: 'stream/w1', head: next },
    ]);
  });
});

describe('bad input', () => {
  it('a remote that is not configured is git_failed with a hint, for every operation', async () => {
    expect(await hasRemote(cloneA.dir, { remote: 'upstream' })).toBe(false);
    expect(await hasRemote(cloneA.dir)).toBe(true);
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    for (const call of [
      () => fetchBranch(cloneA.dir, 'main', { remote: 'upstream' }),
      () =>
        casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: main, expected: main }, { remote: 'upstream' }),
      () => pushBranch(cloneA.dir, 'main', { remote: 'upstream' }),
      () => readRemoteRefs(cloneA.dir, ['refs/heads/main'], { remote: 'upstream' }),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'git_failed' });
      expect((error as GitSwarmError).message).toContain('no git remote named "upstream"');
      expect((error as GitSwarmError).hint).toContain('git remote add upstream');
    }
  });

  it('a folder named like a missing remote is never taken for it (git would push to a path)', async () => {
    // A bare repository laid out in the checkout, as a commit could bring it.
    const planted = join(cloneA.dir, 'upstream');
    await gitOut(['init', '-q', '--bare', planted], { cwd: base, env: TEST_ENV });
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    await expect(
      casPush(cloneA.dir, { ref: 'refs/heads/x', oid: main, expected: 'absent' }, { remote: 'upstream' }),
    ).rejects.toMatchObject({ code: 'git_failed', message: expect.stringContaining('no git remote named') });
    await expect(fetchRefs(cloneA.dir, ['refs/heads/main'], { remote: 'upstream' })).rejects.toMatchObject({
      code: 'git_failed',
    });
    expect(await gitOut(['for-each-ref'], { cwd: planted })).toBe('');
  });

  it('a configured remote whose repository is gone is git_failed naming the remote', async () => {
    await cloneA.run(['remote', 'add', 'lost', join(base, 'does-not-exist.git')]);
    const error = await fetchBranch(cloneA.dir, 'main', { remote: 'lost' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'git_failed' });
    expect((error as GitSwarmError).message).toMatch(
      /Could not reach git remote "lost": fatal: .*does-not-exist\.git/,
    );
    expect((error as GitSwarmError).hint).toBe("Check the remote's URL with: git remote get-url lost");
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    await expect(
      casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: main, expected: 'absent' }, { remote: 'lost' }),
    ).rejects.toMatchObject({ code: 'git_failed' });
  });

  it('hostile names never reach git', async () => {
    const main = await cloneA.run(['rev-parse', 'HEAD']);
    const hostileRemotes = [
      '--upload-pack=touch /tmp/pwned',
      '../other',
      'a b',
      '/tmp/x.git',
      'file:///tmp/x',
    ];
    for (const remote of hostileRemotes) {
      await expect(fetchBranch(cloneA.dir, 'main', { remote })).rejects.toMatchObject({
        code: 'invalid_name',
      });
    }
    for (const branch of ['--force', 'stream/../main', 'a..b', 'x y', 'stream/x.lock', '-x']) {
      await expect(pushBranch(cloneA.dir, branch)).rejects.toMatchObject({ code: 'invalid_name' });
      await expect(fetchBranch(cloneA.dir, branch)).rejects.toMatchObject({ code: 'invalid_name' });
    }
    for (const ref of ['--upload-pack=touch /tmp/pwned', 'refs/heads/../x', 'refs/heads/a b']) {
      await expect(fetchRefs(cloneA.dir, [ref])).rejects.toMatchObject({ code: 'invalid_name' });
      await expect(readRemoteRefs(cloneA.dir, [ref])).rejects.toMatchObject({ code: 'invalid_name' });
    }
    for (const streamId of ['--all', '../x', 'a/b', '']) {
      await expect(fetchStreamBranch(cloneA.dir, streamId)).rejects.toMatchObject({ code: 'invalid_name' });
    }
    await expect(casPush(cloneA.dir, { ref: '--mirror', oid: main, expected: main })).rejects.toMatchObject({
      code: 'invalid_name',
    });
    await expect(
      casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: 'HEAD', expected: main }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(
      casPush(cloneA.dir, { ref: 'refs/heads/buffer', oid: main, expected: '--force' }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await remoteHead('refs/heads/buffer')).toBe(main);
  });
});

describe('fetch while another git process of the clone holds a tracking ref', () => {
  // Several agents of one clone fetch at once; git locks each tracking ref it updates and the
  // loser fails with "cannot lock ref". The lock file here plays the other process.
  const lockOf = (clone: Clone) => join(clone.dir, '.git', 'refs', 'remotes', 'origin', 'buffer.lock');

  it('waits for the lock to go and then fetches', async () => {
    // Held for 150 ms: past the first attempt (a look-up and a fetch, tens of ms), within the retries.
    const moved = await commitIn(cloneB, 'origin/buffer', 'moved on the remote');
    await cloneB.run(['push', '-q', 'origin', `${moved}:refs/heads/buffer`]);
    writeFileSync(lockOf(cloneA), '');
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        rmSync(lockOf(cloneA));
        resolve();
      }, 150),
    );
    const fetched = await fetchRefs(cloneA.dir, ['refs/heads/buffer']);
    await released;
    expect(fetched.get('refs/heads/buffer')).toBe(moved);
    expect(await cloneA.run(['rev-parse', 'refs/remotes/origin/buffer'])).toBe(moved);
  });

  it('gives up with git_failed when the lock never goes, leaving the tracking ref as it was', async () => {
    const before = await cloneA.run(['rev-parse', 'refs/remotes/origin/buffer']);
    const moved = await commitIn(cloneB, 'origin/buffer', 'moved on the remote');
    await cloneB.run(['push', '-q', 'origin', `${moved}:refs/heads/buffer`]);
    writeFileSync(lockOf(cloneA), '');
    const error = await fetchRefs(cloneA.dir, ['refs/heads/buffer']).then(
      () => null,
      (e: unknown) => e,
    );
    rmSync(lockOf(cloneA));
    expect(error).toBeInstanceOf(GitSwarmError);
    expect((error as GitSwarmError).code).toBe('git_failed');
    expect(String((error as GitSwarmError).details?.git_stderr)).toMatch(/lock/);
    expect(await cloneA.run(['rev-parse', 'refs/remotes/origin/buffer'])).toBe(before);
  });
});
