/**
 * The outbox and the read cache in the clone's store, on both dialects: order, pushes brought
 * forward, failed entries kept and never resent, dropping by id, prefix or number, stale reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import { cachedPaths, cacheKey, getCached, readThrough, storeCached } from '../../src/remote/cache.js';
import {
  classifyAnswer,
  dropEntry,
  enqueuePush,
  enqueueRequest,
  listOutbox,
  type OutboxPush,
  outboxSummary,
  replayOutbox,
  type SendRequest,
} from '../../src/remote/outbox.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

const SERVER = 'http://127.0.0.1:1';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: outbox and cache in the store`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });
    const clear = async () => {
      await store.db.deleteFrom('gitswarm_outbox').execute();
      await store.db.deleteFrom('gitswarm_remote_cache').execute();
    };

    it('keeps writes in order, each with its own key, and refuses to queue a read', async () => {
      await clear();
      const a = await enqueueRequest(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        agent: 'alice',
        command: 'commit',
        method: 'post',
        path: '/api/v1/streams/s1/commits',
        body: { commit: 'a'.repeat(40), nested: { list: [1, 2] } },
      });
      const b = await enqueueRequest(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        agent: null,
        command: 'review submit',
        method: 'POST',
        path: '/api/v1/streams/s1/submit',
      });
      expect(b.seq).toBe(a.seq + 1);
      expect(a.method).toBe('POST');
      expect(a.body).toEqual({ commit: 'a'.repeat(40), nested: { list: [1, 2] } });
      expect(b.body).toBeNull();
      expect(a.idempotency_key).not.toBe(b.idempotency_key);
      expect(a.idempotency_key).toMatch(/^[A-Za-z0-9._:-]{1,100}$/);
      expect(a).toMatchObject({ state: 'pending', attempts: 0, last_error: null, kind: 'request' });
      await expect(
        enqueueRequest(store.db, {
          serverUrl: SERVER,
          repoId: null,
          agent: null,
          command: 'x',
          method: 'GET',
          path: '/',
        }),
      ).rejects.toThrow(/Only writes/);
      expect((await listOutbox(store.db)).map((e) => e.id)).toEqual([a.id, b.id]);
      expect(await outboxSummary(store.db, SERVER)).toMatchObject({ pending: 2, failed: 0 });
      expect(await outboxSummary(store.db, 'http://elsewhere')).toMatchObject({ pending: 0, failed: 0 });
    });

    it('brings a pending push of the same branch forward instead of queueing it twice', async () => {
      await clear();
      const first = await enqueuePush(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        command: 'merge',
        remote: 'origin',
        ref: 'buffer',
        cas: true,
        oldValue: '1'.repeat(40),
        newValue: '2'.repeat(40),
      });
      const write = await enqueueRequest(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        agent: 'a',
        command: 'merge',
        method: 'PATCH',
        path: '/api/v1/streams/s',
      });
      const second = await enqueuePush(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        command: 'merge',
        remote: 'origin',
        ref: 'buffer',
        cas: true,
        oldValue: '2'.repeat(40),
        newValue: '3'.repeat(40),
      });
      expect(second.id).toBe(first.id);
      expect(second.seq).toBe(first.seq);
      expect(second).toMatchObject({
        kind: 'cas_push',
        old_value: '1'.repeat(40),
        new_value: '3'.repeat(40),
      });
      const other = await enqueuePush(store.db, {
        serverUrl: SERVER,
        repoId: 'r1',
        command: 'commit',
        remote: 'origin',
        ref: 'stream/s',
        cas: false,
        oldValue: 'ignored',
        newValue: '4'.repeat(40),
      });
      expect(other).toMatchObject({ kind: 'push', old_value: null, seq: write.seq + 1 });
      // Replayed in order: the buffer push before the write that names its commit.
      const seen: string[] = [];
      const pushes: OutboxPush[] = [];
      const result = await replayOutbox(store.db, {
        serverUrl: SERVER,
        send: async (request) => {
          seen.push(`${request.method} ${request.path}`);
          return { status: 200, body: {} };
        },
        push: async (push) => {
          seen.push(`push ${push.ref}`);
          pushes.push(push);
        },
      });
      expect(seen).toEqual(['push buffer', 'PATCH /api/v1/streams/s', 'push stream/s']);
      expect(pushes[0]).toEqual({
        remote: 'origin',
        ref: 'buffer',
        cas: true,
        oldValue: '1'.repeat(40),
        newValue: '3'.repeat(40),
      });
      expect(result).toMatchObject({ pushed: 3, pending: 0, failed: 0, stopped: null });
      expect(await listOutbox(store.db)).toEqual([]);
    });

    it('stops at the first entry without an answer, keeps refused ones failed and never resends them', async () => {
      await clear();
      const mk = (path: string) =>
        enqueueRequest(store.db, {
          serverUrl: SERVER,
          repoId: 'r',
          agent: 'a',
          command: 'review submit',
          method: 'POST',
          path,
        });
      const refused = await mk('/refused');
      const down = await mk('/down');
      const later = await mk('/later');
      let serverUp = false;
      const sent: string[] = [];
      const send: SendRequest = async (request) => {
        if (request.path === '/refused') {
          return {
            status: 409,
            body: { error: { code: 'invalid_state', message: 'Stream x is abandoned.' } },
          };
        }
        if (!serverUp) throw new GitSwarmError('server_unreachable', 'no answer');
        sent.push(request.path);
        return { status: 201, body: { ok: true } };
      };
      const first = await replayOutbox(store.db, { serverUrl: SERVER, send });
      expect(first).toMatchObject({ pushed: 0, newly_failed: 1, pending: 2, failed: 1 });
      expect(first.stopped).toMatch(/no answer/);
      expect((first.stoppedBy as GitSwarmError).code).toBe('server_unreachable');
      const rows = await listOutbox(store.db);
      expect(rows.map((r) => [r.id, r.state, r.attempts])).toEqual([
        [refused.id, 'failed', 1],
        [down.id, 'pending', 1],
        [later.id, 'pending', 0],
      ]);
      expect(rows[0]?.last_error).toBe('409 invalid_state: Stream x is abandoned.');
      serverUp = true;
      const second = await replayOutbox(store.db, { serverUrl: SERVER, send });
      expect(second).toMatchObject({ pushed: 2, newly_failed: 0, pending: 0, failed: 1, stopped: null });
      expect(sent).toEqual(['/down', '/later']);
      const third = await replayOutbox(store.db, { serverUrl: SERVER, send });
      expect(third).toMatchObject({ pushed: 0, newly_failed: 0, pending: 0, failed: 1 });
      const summary = await outboxSummary(store.db, SERVER);
      expect(summary.failed_entries).toEqual([
        expect.objectContaining({ id: refused.id, state: 'failed', attempts: 1, target: 'POST /refused' }),
      ]);
    });

    it('tells answers apart: success, for good, and try again later', () => {
      expect(classifyAnswer({ status: 201, body: null }).kind).toBe('sent');
      for (const status of [500, 503, 429, 408, 401]) {
        expect(classifyAnswer({ status, body: null })).toMatchObject({ kind: 'unanswered', status });
      }
      for (const status of [400, 403, 404, 409, 422])
        expect(classifyAnswer({ status, body: null }).kind).toBe('refused');
      const running = {
        error: { code: 'invalid_state', message: 'A request with this Idempotency-Key is still running.' },
      };
      expect(classifyAnswer({ status: 409, body: running }).kind).toBe('unanswered');
      const reused = {
        error: {
          code: 'idempotency_key_reused',
          message: 'This Idempotency-Key was used for a different request.',
        },
      };
      expect(classifyAnswer({ status: 409, body: reused }).kind).toBe('refused');
    });

    it('drops an entry by id, by a unique prefix or by number, and refuses what names none or several', async () => {
      await clear();
      const mk = () =>
        enqueueRequest(store.db, {
          serverUrl: SERVER,
          repoId: 'r',
          agent: 'a',
          command: 'commit',
          method: 'POST',
          path: '/p',
        });
      const a = await mk();
      const b = await mk();
      const c = await mk();
      expect((await dropEntry(store.db, `#${b.seq}`)).id).toBe(b.id);
      expect((await dropEntry(store.db, a.id.slice(0, 8).toUpperCase())).id).toBe(a.id);
      expect((await dropEntry(store.db, c.id)).id).toBe(c.id);
      await expect(dropEntry(store.db, c.id)).rejects.toMatchObject({ code: 'not_found' });
      await expect(dropEntry(store.db, 'not an id!')).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(dropEntry(store.db, '999999')).rejects.toMatchObject({ code: 'not_found' });
      await expect(dropEntry(store.db, '99999999999999999999')).rejects.toMatchObject({ code: 'not_found' });
      expect(await listOutbox(store.db)).toEqual([]);
    });

    it('drops by an id prefix made only of digits, and by number when # says so', async () => {
      await clear();
      const entry = await enqueueRequest(store.db, {
        serverUrl: SERVER,
        repoId: 'r',
        agent: 'a',
        command: 'commit',
        method: 'POST',
        path: '/p',
      });
      const digitsId = '38655990-0000-4000-8000-000000000000';
      await store.db
        .updateTable('gitswarm_outbox')
        .set({ id: digitsId })
        .where('id', '=', entry.id)
        .execute();
      await expect(dropEntry(store.db, '#38655990')).rejects.toMatchObject({ code: 'not_found' });
      expect((await dropEntry(store.db, '38655990')).id).toBe(digitsId);
      expect(await listOutbox(store.db)).toEqual([]);
    });

    it('serves the last answer marked stale when the server does not answer', async () => {
      await clear();
      const key = cacheKey(`${SERVER}/`, '/api/v1/repos/r1');
      expect(key).toBe(`${SERVER}/api/v1/repos/r1`);
      const fresh = await readThrough(store.db, key, async () => ({
        repo: { id: 'r1', merge_mode: 'review' },
      }));
      expect(fresh).toMatchObject({ stale: false, value: { repo: { id: 'r1' } } });
      const notices: string[] = [];
      const stale = await readThrough(
        store.db,
        key,
        async () => {
          throw new GitSwarmError('server_unreachable', 'down');
        },
        (cached) => notices.push(cached.fetched_at),
      );
      expect(stale).toEqual({
        value: { repo: { id: 'r1', merge_mode: 'review' } },
        stale: true,
        fetched_at: fresh.fetched_at,
      });
      expect(notices).toEqual([fresh.fetched_at]);
      // Nothing cached: the outage is the answer. A refusal is never served from the cache.
      await expect(
        readThrough(store.db, `${SERVER}/other`, async () => {
          throw new GitSwarmError('server_unreachable', 'down');
        }),
      ).rejects.toMatchObject({ code: 'server_unreachable' });
      await expect(
        readThrough(store.db, key, async () => {
          throw new GitSwarmError('forbidden', 'no');
        }),
      ).rejects.toMatchObject({ code: 'forbidden' });
      expect(await storeCached(store.db, key, { repo: { id: 'r1', merge_mode: 'review' } })).toBe(false);
      expect(await storeCached(store.db, key, { repo: { id: 'r1', merge_mode: 'swarm' } })).toBe(true);
      expect((await getCached(store.db, key))?.value).toEqual({ repo: { id: 'r1', merge_mode: 'swarm' } });
      await storeCached(store.db, 'http://127.0.0.1:10/api/v1/x', 1);
      expect(await cachedPaths(store.db, SERVER)).toEqual(['/api/v1/repos/r1']);
    });
  });
}
