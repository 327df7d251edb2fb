/**
 * Offline against a real listening server (both databases): the server stops mid-flow, the clone
 * keeps queuing writes, the server restarts on the same database, and `sync` makes the server's
 * state what happened with each event once; a second sync changes nothing; a replay by hand of a
 * sent entry is answered from the Idempotency-Key; an entry refused for good is kept, shown,
 * never resent, and dropped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/remote/cache.js';
import { newClient } from '../../src/remote/connection.js';
import { saveStoredKey } from '../../src/remote/credentials.js';
import { type OfflineContext, readOrCache, sendOrQueue } from '../../src/remote/offline.js';
import { clientGet, offlineContextOf } from '../../src/remote/offline-client.js';
import { enqueueRequest, listOutbox } from '../../src/remote/outbox.js';
import { dropOutboxEntry, syncWithServer } from '../../src/remote/sync.js';
import { type App, buildApp } from '../../src/server/app.js';
import { freePort } from '../helpers/ports.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { httpTransport, type TestTransport } from './http-transport.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked by the assertions.
type Json = any;

const sha = () => randomBytes(20).toString('hex');

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: offline writes replayed once against a real server`, () => {
    let serverStore: TestStore;
    let clientStore: TestStore;
    let app: App | undefined;
    let port: number;
    const base = () => `http://127.0.0.1:${port}`;
    const keys = new Map<string, string>();
    let transport: TestTransport;
    let ctx: OfflineContext & { get(path: string): Promise<unknown> };
    const notices: string[] = [];
    let repoId: string;
    let streamId: string;
    let reviewerId: string;
    let configHome: string;
    let env: Record<string, string>;

    const start = async () => {
      app = await buildApp({ store: serverStore, rateLimit: false, notifications: false });
      await app.listen({ port, host: '127.0.0.1' });
    };
    const stop = async () => {
      await app?.close();
      app = undefined;
    };
    const call = async (agent: string, method: string, path: string, body?: unknown) => {
      const answer = await transport.send({
        method,
        path,
        body,
        agent,
        idempotencyKey: `t-${sha()}`,
      });
      return answer as { status: number; body: Json };
    };
    const events = async (type: string, target: string) =>
      Number(
        (
          await serverStore.db
            .selectFrom('gitswarm_activity_log')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('event_type', '=', type)
            .where('target_id', '=', target)
            .executeTakeFirstOrThrow()
        ).n,
      );

    beforeAll(async () => {
      configHome = mkdtempSync(join(tmpdir(), 'gitswarm-offline-config-'));
      // The client's default retries: a kept-alive socket to the stopped server may fail once after the restart.
      env = { XDG_CONFIG_HOME: configHome, GITSWARM_HTTP_TIMEOUT_MS: '30000' };
      serverStore = await openTestStore(dialect);
      clientStore = await openTestStore(dialect);
      port = await freePort();
      await start();
      for (const name of ['owner', 'reviewer']) {
        const res = await fetch(`${base()}/api/v1/agents`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name }),
        });
        const body = (await res.json()) as Json;
        keys.set(name, body.api_key);
        saveStoredKey(env, base(), { agent_id: body.agent.id, agent_name: name, api_key: body.api_key });
        if (name === 'reviewer') reviewerId = body.agent.id;
      }
      // A direct line to the server for what happens elsewhere and for replays by hand.
      transport = httpTransport(base, keys, 'owner');
      const repo = await call('owner', 'POST', '/repos', {
        name: `offline-${randomBytes(3).toString('hex')}`,
        merge_mode: 'review',
        ownership_model: 'guild',
      });
      expect(repo.status).toBe(201);
      repoId = repo.body.repo.id;
      // The clone's side: b-found's client with the owner's key, other agents' keys from the
      // credentials file, as a connected command has them.
      const client = newClient(base(), { env, apiKey: keys.get('owner'), agentName: 'owner' });
      ctx = {
        ...offlineContextOf({
          db: clientStore.db,
          connection: { url: base(), repoId, remote: 'origin', agentRef: 'owner' },
          client,
          env,
          notify: (line) => notices.push(line),
        }),
        get: clientGet(client),
      };
      expect(
        (await call('owner', 'POST', `/repos/${repoId}/maintainers`, { agent_id: reviewerId })).status,
      ).toBe(201);
    });

    afterAll(async () => {
      await stop();
      await clientStore?.close();
      await serverStore?.close();
      rmSync(configHome, { recursive: true, force: true });
    });

    it('queues while the server is down, replays in order on sync, each event once; sync again changes nothing', async () => {
      streamId = randomBytes(6).toString('hex');
      const created = await sendOrQueue(ctx, {
        command: 'workspace create',
        method: 'POST',
        path: `/repos/${repoId}/streams`,
        body: { id: streamId, name: `offline-${streamId}` },
        agent: 'owner',
      });
      expect(created).toMatchObject({ sent: true, queued: false });
      const first = sha();
      expect(
        await sendOrQueue(ctx, {
          command: 'commit',
          method: 'POST',
          path: `/streams/${streamId}/commits`,
          body: { commit: first, message: 'first' },
          agent: 'owner',
        }),
      ).toMatchObject({ sent: true, queued: false });
      const repoPath = `/repos/${repoId}`;
      const fresh = await readOrCache(ctx, repoPath, () => transport.get(repoPath));
      expect(fresh.stale).toBe(false);

      // The server goes away mid-flow; the clone keeps working.
      await stop();
      const second = sha();
      const queued = [
        await sendOrQueue(ctx, {
          command: 'commit',
          method: 'POST',
          path: `/streams/${streamId}/commits`,
          body: { commit: second, message: 'second' },
          agent: 'owner',
        }),
        await sendOrQueue(ctx, {
          command: 'review submit',
          method: 'POST',
          path: `/streams/${streamId}/submit`,
          agent: 'owner',
        }),
        await sendOrQueue(ctx, {
          command: 'review submit',
          method: 'POST',
          path: `/streams/${streamId}/reviews`,
          body: { verdict: 'approve', feedback: 'offline review' },
          agent: 'reviewer',
        }),
      ];
      expect(queued.map((q) => (q.queued ? q.pending : -1))).toEqual([1, 2, 3]);
      expect(notices.filter((n) => n.includes('queued: 3 pending'))).toHaveLength(1);
      // The first waited for the server; the next ones wait behind it (and say why).
      expect(notices.find((n) => n.includes('queued: 1 pending'))).toMatch(/did not answer; commit queued/);
      expect(notices.find((n) => n.includes('queued: 2 pending'))).toMatch(
        /earlier queued changes still wait \(.*\); review submit queued/,
      );
      const stale = await readOrCache(ctx, repoPath, () => transport.get(repoPath));
      expect(stale).toMatchObject({
        stale: true,
        fetched_at: fresh.fetched_at,
        value: { repo: { id: repoId } },
      });
      expect(notices.at(-1)).toMatch(/did not answer; showing what it said at .* \(stale\)/);
      await expect(syncWithServer(ctx)).rejects.toMatchObject({
        code: 'server_unreachable',
        details: { pending: 3, failed: 0 },
      });
      const entries = await listOutbox(clientStore.db);
      expect(entries.map((e) => e.command)).toEqual(['commit', 'review submit', 'review submit']);

      // Back on the same database: sync replays in order, each once.
      await start();
      const synced = await syncWithServer(ctx);
      // The repository's settings did not change while it was down: nothing pulled.
      expect(synced).toEqual({ pushed: 3, pulled: 0, pending: 0, failed: 0, failed_entries: [] });
      const stream = (await call('owner', 'GET', `/streams/${streamId}`)).body;
      expect(stream.stream).toMatchObject({ status: 'in_review' });
      const commits = await serverStore.db
        .selectFrom('gitswarm_stream_commits')
        .select('commit_hash')
        .where('stream_id', '=', streamId)
        .execute();
      expect(commits.map((c) => c.commit_hash).sort()).toEqual([first, second].sort());
      const reviews = await serverStore.db
        .selectFrom('gitswarm_stream_reviews')
        .selectAll()
        .where('stream_id', '=', streamId)
        .execute();
      expect(reviews).toHaveLength(1);
      expect(reviews[0]).toMatchObject({ reviewer_id: reviewerId, verdict: 'approve' });
      expect(await events('stream.committed', streamId)).toBe(2);
      expect(await events('stream.submitted', streamId)).toBe(1);
      expect(await events('stream.reviewed', streamId)).toBe(1);
      // The cached read is fresh again.
      const cached = await clientStore.db
        .selectFrom('gitswarm_remote_cache')
        .selectAll()
        .where('key', '=', cacheKey(base(), repoPath))
        .executeTakeFirstOrThrow();
      expect(cached.fetched_at > fresh.fetched_at).toBe(true);

      // Again: nothing to send, nothing changed.
      expect(await syncWithServer(ctx)).toEqual({
        pushed: 0,
        pulled: 0,
        pending: 0,
        failed: 0,
        failed_entries: [],
      });
      // A change on the server is pulled once; a read the server no longer answers is forgotten.
      expect((await call('owner', 'PATCH', `/repos/${repoId}`, { description: 'changed' })).status).toBe(200);
      await readOrCache(ctx, `/streams/${streamId}`, () => transport.get(`/streams/${streamId}`));
      await clientStore.db
        .insertInto('gitswarm_remote_cache')
        .values({
          key: cacheKey(base(), '/streams/gone'),
          payload: '{}',
          fetched_at: fresh.fetched_at,
        })
        .execute();
      expect(await syncWithServer(ctx)).toMatchObject({ pushed: 0, pulled: 2 });
      expect((await readOrCache(ctx, repoPath, () => transport.get(repoPath))).value).toMatchObject({
        repo: { description: 'changed' },
      });
      expect(await syncWithServer(ctx)).toMatchObject({ pushed: 0, pulled: 0 });

      // By hand: the same entry sent again is answered from its key, not run again.
      const review = entries[2];
      if (!review) throw new Error('no review entry');
      const again = await transport.send({
        method: review.method ?? 'POST',
        path: review.path ?? '',
        body: review.body,
        agent: review.agent,
        idempotencyKey: review.idempotency_key,
      });
      expect(again.status).toBe(201);
      expect(transport.answered.at(-1)).toMatchObject({ replayed: true, key: review.idempotency_key });
      expect(await events('stream.reviewed', streamId)).toBe(1);
      const all = await serverStore.db
        .selectFrom('gitswarm_stream_reviews')
        .select('id')
        .where('stream_id', '=', streamId)
        .execute();
      expect(all).toHaveLength(1);
    });

    it('replays a write whose answer was lost exactly once (a task: no natural key would stop a second one)', async () => {
      const title = `lost answer ${sha()}`;
      const key = `lost-${sha()}`;
      const request = { method: 'POST', path: `/repos/${repoId}/tasks`, body: { title }, agent: 'owner' };
      // The server ran it, but the clone never heard back: it keeps the key in the outbox.
      expect((await transport.send({ ...request, idempotencyKey: key })).status).toBe(201);
      await enqueueRequest(clientStore.db, {
        serverUrl: base(),
        repoId,
        command: 'task create',
        ...request,
        idempotencyKey: key,
      });
      expect(await syncWithServer(ctx)).toMatchObject({ pushed: 1, pending: 0, failed: 0 });
      const tasks = await serverStore.db
        .selectFrom('gitswarm_tasks')
        .select('id')
        .where('title', '=', title)
        .execute();
      expect(tasks).toHaveLength(1);
      // Without the key the same request makes a second task: the key is what kept it at one.
      expect((await call('owner', 'POST', `/repos/${repoId}/tasks`, { title })).status).toBe(201);
      expect(
        await serverStore.db.selectFrom('gitswarm_tasks').select('id').where('title', '=', title).execute(),
      ).toHaveLength(2);
    });

    it('keeps an entry the server refuses for good, shows it, never resends it, and drops it', async () => {
      await stop();
      const late = sha();
      const queued = await sendOrQueue(ctx, {
        command: 'commit',
        method: 'POST',
        path: `/streams/${streamId}/commits`,
        body: { commit: late, message: 'too late' },
        agent: 'owner',
      });
      expect(queued).toMatchObject({ queued: true, pending: 1 });
      await start();
      // Meanwhile, from elsewhere, the stream is abandoned.
      expect((await call('owner', 'DELETE', `/streams/${streamId}`, { reason: 'not needed' })).status).toBe(
        200,
      );
      const synced = await syncWithServer(ctx);
      expect(synced).toMatchObject({ pushed: 0, pending: 0, failed: 1 });
      expect(synced.failed_entries).toEqual([
        expect.objectContaining({
          command: 'commit',
          state: 'failed',
          attempts: 1,
          target: `POST /streams/${streamId}/commits`,
          last_error: expect.stringMatching(/^409 invalid_state: .*abandoned/),
        }),
      ]);
      const sentBefore = transport.answered.length;
      const again = await syncWithServer(ctx);
      expect(again).toMatchObject({ pushed: 0, pulled: 0, pending: 0, failed: 1 });
      expect(again.failed_entries[0]?.attempts).toBe(1);
      expect(transport.answered.slice(sentBefore).filter((a) => a.method !== 'GET')).toEqual([]);
      // A new write is not held back by a failed entry.
      expect(
        await sendOrQueue(ctx, {
          command: 'task create',
          method: 'POST',
          path: `/repos/${repoId}/tasks`,
          body: { title: 'next' },
          agent: 'owner',
        }),
      ).toMatchObject({ sent: true, queued: false });
      const id = synced.failed_entries[0]?.id ?? '';
      const dropped = await dropOutboxEntry(ctx, id.slice(0, 8));
      expect(dropped).toMatchObject({
        dropped: { id, state: 'failed' },
        pending: 0,
        failed: 0,
        failed_entries: [],
      });
      expect(await listOutbox(clientStore.db)).toEqual([]);
      const rows = await serverStore.db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('commit_hash', '=', late)
        .execute();
      expect(rows).toEqual([]);
    });

    it('sends a refusal straight back to the command and queues nothing', async () => {
      await expect(
        sendOrQueue(ctx, {
          command: 'review submit',
          method: 'POST',
          path: `/streams/${streamId}/submit`,
          agent: 'owner',
        }),
      ).rejects.toMatchObject({ code: 'invalid_state' });
      keys.set('intruder', `gs_${'0'.repeat(40)}`);
      await expect(
        sendOrQueue(ctx, {
          command: 'task create',
          method: 'POST',
          path: `/repos/${repoId}/tasks`,
          body: { title: 'x' },
          agent: 'intruder',
        }),
      ).rejects.toMatchObject({ code: 'unauthorized' });
      expect(await listOutbox(clientStore.db)).toEqual([]);
    });
  });
}
