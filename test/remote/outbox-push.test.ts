/**
 * Queued branch pushes with real git (b-git's engine): a push the remote could not take waits in
 * the outbox and is made by the next replay; a compare-and-swap push whose remote moved meanwhile
 * is refused for good (kept, failed); one that already landed counts as sent. Also the offline
 * merge guard.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import {
  assertOfflineMergeAllowed,
  flushOutbox,
  type OfflineContext,
  pushOrQueue,
} from '../../src/remote/offline.js';
import { enginePush } from '../../src/remote/offline-client.js';
import { enqueuePush, listOutbox } from '../../src/remote/outbox.js';
import { cleanEnv } from '../cli/helpers.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

const SERVER = 'http://127.0.0.1:9';

describe('queued branch pushes with real git', () => {
  let dir: string;
  let bare: string;
  let work: string;
  let store: TestStore;
  let ctx: OfflineContext;
  const notices: string[] = [];
  const env = cleanEnv({
    GIT_AUTHOR_NAME: 'A',
    GIT_AUTHOR_EMAIL: 'a@example.invalid',
    GIT_COMMITTER_NAME: 'A',
    GIT_COMMITTER_EMAIL: 'a@example.invalid',
  });
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, { cwd, env, encoding: 'utf8' }).trim();
  const commit = (message: string) => {
    writeFileSync(join(work, `${message}.txt`), message);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    return git(work, 'rev-parse', 'HEAD');
  };
  const remoteRef = (ref: string) => {
    try {
      return git(bare, 'rev-parse', '--verify', '-q', `refs/heads/${ref}`);
    } catch {
      return null;
    }
  };

  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-outbox-push-')));
    bare = join(dir, 'remote.git');
    work = join(dir, 'work');
    git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
    git(dir, 'init', '-q', '-b', 'main', work);
    commit('initial');
    git(work, 'remote', 'add', 'origin', bare);
    git(work, 'push', '-q', 'origin', 'main', 'main:buffer');
    store = await openTestStore('sqlite');
    ctx = {
      db: store.db,
      serverUrl: SERVER,
      repoId: null,
      // No server in this test: writes are not what is tested here.
      send: async () => {
        throw new GitSwarmError('server_unreachable', 'no server in this test');
      },
      push: enginePush(work),
      notify: (line) => notices.push(line),
    };
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues a push the remote cannot take, brings it forward, and makes it on the next replay', async () => {
    git(work, 'checkout', '-q', '-b', 'stream/abc');
    const first = commit('one');
    const push = { command: 'commit', remote: 'origin', ref: 'stream/abc', cas: false, oldValue: null };
    // The remote is away (moved): the push waits.
    git(work, 'remote', 'set-url', 'origin', join(dir, 'gone.git'));
    const queued = await pushOrQueue(ctx, { ...push, newValue: first }, enginePush(work));
    expect(queued).toMatchObject({ queued: true, pending: 1 });
    expect(notices.at(-1)).toMatch(/the push of stream\/abc queued: 1 pending/);
    const second = commit('two');
    // Still away: the replay stops at it, the new push joins the waiting one.
    expect(await pushOrQueue(ctx, { ...push, newValue: second }, enginePush(work))).toMatchObject({
      queued: true,
      pending: 1,
    });
    const [entry] = await listOutbox(store.db);
    expect(entry).toMatchObject({
      kind: 'push',
      ref: 'stream/abc',
      new_value: second,
      attempts: 1,
      state: 'pending',
    });
    expect(entry?.last_error).toMatch(/gone\.git|origin/);
    git(work, 'remote', 'set-url', 'origin', bare);
    const replay = await flushOutbox(ctx);
    expect(replay).toMatchObject({ pushed: 1, pending: 0, failed: 0 });
    expect(remoteRef('stream/abc')).toBe(second);
    expect(await flushOutbox(ctx)).toBeNull();
  });

  it('refuses for good a compare-and-swap push whose remote moved, and counts one that already landed as sent', async () => {
    const base = remoteRef('buffer');
    git(work, 'checkout', '-q', '-B', 'buffer', base ?? 'main');
    const mine = commit('mine');
    // Someone else moved the buffer while this clone was offline.
    git(work, 'push', '-q', 'origin', `${mine}:refs/heads/buffer`);
    const landed = await enqueuePush(store.db, {
      serverUrl: SERVER,
      repoId: null,
      command: 'merge',
      remote: 'origin',
      ref: 'buffer',
      cas: true,
      oldValue: base,
      newValue: mine,
    });
    expect((await flushOutbox(ctx))?.pushed).toBe(1);
    expect(await listOutbox(store.db)).toEqual([]);
    expect(landed.kind).toBe('cas_push');
    const theirs = commit('theirs');
    git(work, 'push', '-q', 'origin', `${theirs}:refs/heads/buffer`);
    git(work, 'reset', '-q', '--hard', mine);
    const late = commit('late');
    await enqueuePush(store.db, {
      serverUrl: SERVER,
      repoId: null,
      command: 'merge',
      remote: 'origin',
      ref: 'buffer',
      cas: true,
      oldValue: mine,
      newValue: late,
    });
    const replay = await flushOutbox(ctx);
    expect(replay).toMatchObject({ pushed: 0, newly_failed: 1, failed: 1, pending: 0 });
    const [failed] = await listOutbox(store.db);
    expect(failed).toMatchObject({ state: 'failed', kind: 'cas_push', attempts: 1 });
    expect(failed?.last_error).toContain(theirs);
    expect(remoteRef('buffer')).toBe(theirs);
    // A refusal of a live push goes back to the command: nothing is queued.
    await expect(
      pushOrQueue(
        ctx,
        { command: 'merge', remote: 'origin', ref: 'buffer', cas: true, oldValue: mine, newValue: late },
        enginePush(work),
      ),
    ).rejects.toMatchObject({ code: 'ref_moved' });
    expect(await listOutbox(store.db, { state: 'pending' })).toEqual([]);
  });

  it('refuses a review or gated merge offline (exit 4) unless offline merges are allowed', () => {
    expect(() => assertOfflineMergeAllowed({ merge_mode: 'review', metadata: {} }, SERVER)).toThrowError(
      expect.objectContaining({
        code: 'server_unreachable',
        exitCode: 4,
        details: { merge_mode: 'review', offline_merges: 'refuse' },
      }),
    );
    expect(() =>
      assertOfflineMergeAllowed(
        { merge_mode: 'gated', metadata: { settings: { offline_merges: 'refuse' } } },
        SERVER,
      ),
    ).toThrow(/needs its decision/);
    expect(() =>
      assertOfflineMergeAllowed(
        { merge_mode: 'gated', metadata: { settings: { offline_merges: 'allow' } } },
        SERVER,
      ),
    ).not.toThrow();
    expect(() => assertOfflineMergeAllowed({ merge_mode: 'swarm', metadata: null }, SERVER)).not.toThrow();
  });
});
