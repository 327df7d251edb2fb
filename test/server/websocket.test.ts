import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/server/app.js';
import { openStore, type Store } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore, withSkipReason } from '../helpers/store.js';
import {
  createTestRepo,
  redisSkipReason,
  registerTestAgent,
  startTestApp,
  TEST_REDIS_URL,
  type TestAgent,
  type TestApp,
  uniqueChannel,
} from './helpers.js';
import { waitFor } from './webhook-helpers.js';
import { connectWs, type WsMessage } from './ws-client.js';

async function listen(app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `ws://127.0.0.1:${address.port}/api/v1/ws`;
}

const isEvent = (type: string) => (m: WsMessage) =>
  m.type === 'event' && (m.event as { event_type: string }).event_type === type;

async function patchRepo(app: App, agent: TestAgent, repoId: string, description: string) {
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/v1/repos/${repoId}`,
    headers: agent.headers,
    payload: { description },
  });
  expect(response.statusCode).toBe(200);
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: WebSocket events`, () => {
    let t: TestApp;
    let url: string;
    let owner: TestAgent;
    let other: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect, { rateLimit: { max: 1000, registrationsMax: 1000 } });
      url = await listen(t.app);
      owner = await registerTestAgent(t.app);
      other = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('authenticates by header or ?token=, refuses missing or wrong keys', async () => {
      const byHeader = await connectWs(url, owner.headers);
      expect(await byHeader.next()).toEqual({ type: 'welcome', agent: { id: owner.id, name: owner.name } });
      await byHeader.close();
      const byQuery = await connectWs(`${url}?token=${encodeURIComponent(other.key)}`);
      expect((await byQuery.next()).agent).toEqual({ id: other.id, name: other.name });
      await byQuery.close();
      await expect(connectWs(url)).rejects.toMatchObject({ status: 401 });
      await expect(connectWs(`${url}?token=gs_${'x'.repeat(43)}`)).rejects.toMatchObject({ status: 401 });
    });

    it('delivers subscribed events of a repository, filtered by name', async () => {
      const repo = await createTestRepo(t.app, owner);
      const client = await connectWs(url, other.headers);
      client.send({ type: 'subscribe', repo_id: repo.id, events: ['repo.settings_changed'] });
      expect(await client.next((m) => m.type === 'subscribed')).toEqual({
        type: 'subscribed',
        repo_id: repo.id,
        events: ['repo.settings_changed'],
      });
      await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${repo.id}/access`,
        headers: owner.headers,
        payload: { agent_id: other.id, access_level: 'write' },
      });
      await patchRepo(t.app, owner, repo.id, 'changed');
      const message = await client.next((m) => m.type === 'event');
      expect(message.event).toMatchObject({
        event_type: 'repo.settings_changed',
        repo_id: repo.id,
        agent_id: owner.id,
        metadata: { changes: { description: 'changed' } },
      });
      // The access.granted event was filtered out: nothing but the one event arrived.
      expect(client.received.filter((m) => m.type === 'event')).toHaveLength(1);
      await client.close();
    });

    it('never sends events of repositories the agent cannot read', async () => {
      const secret = await createTestRepo(t.app, owner, { is_private: true });
      const open = await createTestRepo(t.app, owner);
      const client = await connectWs(url, other.headers);
      client.send({ type: 'subscribe' });
      await client.next((m) => m.type === 'subscribed');
      await patchRepo(t.app, owner, secret.id, 'hidden');
      await patchRepo(t.app, owner, open.id, 'visible');
      const first = await client.next(isEvent('repo.settings_changed'));
      expect((first.event as { repo_id: string }).repo_id).toBe(open.id);
      client.send({ type: 'subscribe', repo_id: secret.id });
      expect(await client.next((m) => m.type === 'error')).toMatchObject({ error: { code: 'forbidden' } });
      await client.close();
    });

    it('answers bad messages with an error and keeps the socket open', async () => {
      const client = await connectWs(url, owner.headers);
      client.send('not json');
      expect(await client.next((m) => m.type === 'error')).toEqual({
        type: 'error',
        error: { code: 'invalid_input', message: 'The message is not valid JSON.' },
      });
      client.send({ type: 'subscribe', events: ['no.such.event'] });
      expect((await client.next((m) => m.type === 'error')).error).toMatchObject({ code: 'invalid_input' });
      client.send({ type: 'subscribe', repo_id: '00000000-0000-4000-8000-000000000000' });
      expect((await client.next((m) => m.type === 'error')).error).toMatchObject({ code: 'repo_not_found' });
      client.send({ type: 'dance' });
      expect((await client.next((m) => m.type === 'error')).error).toMatchObject({ code: 'invalid_input' });
      client.send({ type: 'ping' });
      expect(await client.next((m) => m.type === 'pong')).toEqual({ type: 'pong' });
      await client.close();
    });
  });
}

describe('WebSocket handshakes are not rate-limited', () => {
  it('opens more sockets than the per-key budget allows requests', async () => {
    const t = await startTestApp('sqlite', { rateLimit: { max: 1 } });
    try {
      const url = await listen(t.app);
      const agent = await registerTestAgent(t.app);
      const clients = [];
      for (let i = 0; i < 3; i++) clients.push(await connectWs(url, agent.headers));
      for (const client of clients) expect((await client.next()).type).toBe('welcome');
      for (const client of clients) await client.close();
      const limited = await t.app.inject({ url: '/api/v1/me', headers: agent.headers });
      expect(limited.statusCode).toBe(200);
      expect((await t.app.inject({ url: '/api/v1/me', headers: agent.headers })).statusCode).toBe(429);
    } finally {
      await t.close();
    }
  });
});

describe('WebSocket connections are limited per key and per address', () => {
  it('refuses a handshake beyond the per-key limit with 429; another key still connects', async () => {
    const t = await startTestApp('sqlite', { websocket: { maxPerKey: 3, maxPerAddress: 5 } });
    try {
      const url = await listen(t.app);
      const agent = await registerTestAgent(t.app);
      const other = await registerTestAgent(t.app);
      const clients = [];
      for (let i = 0; i < 3; i++) clients.push(await connectWs(url, agent.headers));
      await expect(connectWs(url, agent.headers)).rejects.toMatchObject({ status: 429 });
      const byOther = await connectWs(url, other.headers);
      expect((await byOther.next()).type).toBe('welcome');
      // Closing one frees a place.
      await clients.pop()?.close();
      await waitFor(async () => {
        try {
          clients.push(await connectWs(url, agent.headers));
          return true;
        } catch {
          return false;
        }
      });
      // Five sockets from one address in all: the sixth, from a third key, is refused too.
      const third = await registerTestAgent(t.app);
      clients.push(await connectWs(url, third.headers));
      await expect(connectWs(url, third.headers)).rejects.toMatchObject({ status: 429 });
      for (const client of [...clients, byOther]) await client.close();
    } finally {
      await t.close();
    }
  });

  it('a burst of 40 handshakes at once leaves exactly the limit open; the rest are refused', async () => {
    const t = await startTestApp('sqlite', { websocket: { maxPerKey: 4, maxPerAddress: 100 } });
    try {
      const url = await listen(t.app);
      const agent = await registerTestAgent(t.app);
      const attempts = await Promise.allSettled(
        Array.from({ length: 40 }, () => connectWs(url, agent.headers)),
      );
      const opened = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
      const refused = attempts.flatMap((a) =>
        a.status === 'rejected' ? [a.reason as { status?: number }] : [],
      );
      expect(refused.every((reason) => reason.status === 429)).toBe(true);
      // Refused with 429 before the upgrade, or (a handshake that raced past the check) closed with 1008.
      const stillOpen = () => opened.filter((c) => c.socket.readyState === c.socket.OPEN);
      await waitFor(async () => stillOpen().length <= 4);
      expect(stillOpen()).toHaveLength(4);
      for (const client of opened) await client.close();
    } finally {
      await t.close();
    }
  });
});

const redisSkip = await redisSkipReason();
for (const dialect of DIALECTS) {
  describe.skipIf(redisSkip !== null)(
    withSkipReason(`${dialectLabel(dialect)}: two instances on one database and Redis`, redisSkip),
    () => {
      let store: TestStore;
      let store2: Store | null;
      let first: App;
      let second: App;
      let firstUrl: string;
      let secondUrl: string;
      beforeAll(async () => {
        store = await openTestStore(dialect);
        // A second connection to the same database; PGlite lives in-process, so both share it there.
        store2 = store.location.startsWith('pglite:')
          ? null
          : await openStore(store.location, store.schema ? { schema: store.schema, maxConnections: 4 } : {});
        const channel = uniqueChannel();
        const options = {
          redisUrl: TEST_REDIS_URL,
          redisChannel: channel,
          rateLimit: false as const,
          notifications: false as const,
        };
        first = await buildApp({ ...options, store });
        second = await buildApp({ ...options, store: store2 ?? store });
        firstUrl = await listen(first);
        secondUrl = await listen(second);
      });
      afterAll(async () => {
        await first.close();
        await second.close();
        await store2?.close();
        await store.close();
      });

      it('a write on one instance reaches subscribers of both, exactly once each', async () => {
        const owner = await registerTestAgent(first);
        const watcher = await registerTestAgent(second);
        const repo = await createTestRepo(second, owner);
        const onFirst = await connectWs(firstUrl, watcher.headers);
        const onSecond = await connectWs(secondUrl, watcher.headers);
        for (const client of [onFirst, onSecond]) {
          client.send({ type: 'subscribe', repo_id: repo.id });
          await client.next((m) => m.type === 'subscribed');
        }
        await patchRepo(first, owner, repo.id, 'one');
        await patchRepo(second, owner, repo.id, 'two');
        // Redis keeps order per publishing connection only: a marker through each instance proves that
        // everything each one published before it has arrived.
        await patchRepo(first, owner, repo.id, 'marker-first');
        await patchRepo(second, owner, repo.id, 'marker-second');
        const description = (m: WsMessage) =>
          (m.event as { metadata: { changes: { description: string } } }).metadata.changes.description;
        for (const client of [onFirst, onSecond]) {
          await client.next((m) => m.type === 'event' && description(m) === 'marker-first');
          await client.next((m) => m.type === 'event' && description(m) === 'marker-second');
          const seen = client.received.filter(isEvent('repo.settings_changed')).map(description);
          expect(seen.sort()).toEqual(['marker-first', 'marker-second', 'one', 'two']);
          await client.close();
        }
      });
    },
  );
}
