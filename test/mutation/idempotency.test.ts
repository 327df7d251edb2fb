/**
 * Idempotency-Key rules the idempotency tests left loose (found by mutation testing of
 * src/server/plugins/idempotency.ts): what a claimed key's row holds, which requests are never
 * tracked, the refusal of a malformed key, a request of several transactions replayed after a
 * failure, bodies that are not JSON, and the sweep of expired keys. A real server (Fastify, in-process) on a real store; the clock is the test's.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo } from '../../src/core/repos/repos.js';
import { type App, buildApp } from '../../src/server/app.js';
import { ABANDONED_AFTER_MS, IDEMPOTENCY_TTL_MS } from '../../src/server/plugins/idempotency.js';
import { DIALECTS, dialectLabel, openTestStore } from '../helpers/store.js';
import { registerTestAgent } from '../server/helpers.js';

const START = Date.parse('2030-01-01T00:00:00.000Z');

/** A promise with its resolver outside: the test opens it when it wants the held request to go on. */
function barrier() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** An app with test-only routes the test steers (held handlers, failures, odd bodies) and counts. */
async function startSteeredApp(dialect: (typeof DIALECTS)[number]) {
  const store = await openTestStore(dialect);
  let now = START;
  const clock = { now: () => new Date(now) };
  const app: App = await buildApp({ store, rateLimit: false, notifications: false, clock });
  const runs = new Map<string, number>();
  const ran = (route: string) => runs.set(route, (runs.get(route) ?? 0) + 1);
  const held: { entered: () => void; release: Promise<void> }[] = [];
  app.post('/api/v1/test/held', async (request, reply) => {
    ran('held');
    const gate = held.shift();
    if (gate) {
      gate.entered();
      await gate.release;
    }
    const repo = await createRepo(app.deps, { name: (request.body as { name: string }).name });
    reply.code(201);
    return { repo_id: repo.id };
  });
  // One transaction per name; the first attempt fails after `fail_after` of them.
  let failed = false;
  app.post('/api/v1/test/steps', async (request, reply) => {
    ran('steps');
    const { names, fail_after } = request.body as { names: string[]; fail_after: number };
    const repoIds: string[] = [];
    for (const name of names) {
      repoIds.push((await createRepo(app.deps, { name })).id);
      if (!failed && repoIds.length === fail_after) {
        failed = true;
        throw new Error('failed between two transactions');
      }
    }
    reply.code(201);
    return { repo_ids: repoIds };
  });
  app.post('/api/v1/test/text', async (_request, reply) => {
    ran('text');
    reply.code(201).type('text/plain');
    return 'created, in plain text';
  });
  app.post('/api/v1/test/empty-text', async (_request, reply) => {
    ran('empty-text');
    reply.code(201).type('text/plain');
    return '';
  });
  app.delete('/api/v1/test/empty', async (_request, reply) => {
    ran('empty');
    reply.code(204);
    return reply.send();
  });
  app.post('/api/v1/test/ok', { config: { auth: 'optional' } }, async () => {
    ran('ok');
    return { ok: true };
  });
  app.post('/api/v1/test/untracked', { config: { idempotent: false } }, async () => {
    ran('untracked');
    return { ok: true };
  });
  app.get('/api/v1/test/read', async () => {
    ran('read');
    return { ok: true };
  });
  // A raw body, as the files API takes (its parser scoped to this plugin, as there).
  await app.register(async (raw) => {
    raw.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    );
    raw.post('/api/v1/test/raw', async (request, reply) => {
      ran('raw');
      reply.code(201);
      return { size: (request.body as Buffer).length };
    });
  });
  await app.ready();
  const agent = await registerTestAgent(app);
  return {
    app,
    store,
    agent,
    runs: (route: string) => runs.get(route) ?? 0,
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    hold() {
      const entered = barrier();
      const release = barrier();
      held.push({ entered: entered.open, release: release.opened });
      return { entered: entered.opened, release: release.open };
    },
    keyRow(key: string) {
      return store.db
        .selectFrom('gitswarm_idempotency_keys')
        .selectAll()
        .where('key', '=', `${agent.id}:${key}`)
        .executeTakeFirst();
    },
    async countRepos(name: string) {
      return (await store.db.selectFrom('gitswarm_repos').select('id').where('name', '=', name).execute())
        .length;
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Idempotency-Key at its edges`, () => {
    let s: Awaited<ReturnType<typeof startSteeredApp>>;
    beforeAll(async () => {
      s = await startSteeredApp(dialect);
    });
    afterAll(async () => {
      await s?.close();
    });

    const keyed = (key: string) => ({ ...s.agent.headers, 'idempotency-key': key });

    it('a claimed key holds the request’s hash (method, URL and body), status 0, no answer and no effects until it finishes', async () => {
      const gate = s.hold();
      const payload = { name: 'idem-claimed' };
      const first = s.app.inject({
        method: 'POST',
        url: '/api/v1/test/held',
        headers: keyed('claimed'),
        payload,
      });
      await gate.entered;
      expect(await s.keyRow('claimed')).toEqual({
        key: `${s.agent.id}:claimed`,
        agent_id: s.agent.id,
        request_hash: sha256(`POST /api/v1/test/held\n${JSON.stringify(payload)}`),
        status_code: 0,
        response: null,
        effects: null,
        created_at: new Date(s.now()).toISOString(),
      });
      gate.release();
      const answered = await first;
      expect(answered.statusCode).toBe(201);
      expect(await s.keyRow('claimed')).toMatchObject({ status_code: 201, response: answered.json() });
      expect((await s.keyRow('claimed'))?.effects).toHaveLength(1);
      // The same key and body on another URL is another request.
      const elsewhere = await s.app.inject({
        method: 'POST',
        url: '/api/v1/test/held?again=1',
        headers: keyed('claimed'),
        payload,
      });
      expect(elsewhere.statusCode).toBe(409);
      expect(elsewhere.json().error).toMatchObject({
        code: 'idempotency_key_reused',
        message: 'This Idempotency-Key was used for a different request.',
      });
    });

    it('a request whose key a retry took over is told so when it tries to commit', async () => {
      const gate = s.hold();
      const request = {
        method: 'POST' as const,
        url: '/api/v1/test/held',
        headers: keyed('taken-over'),
        payload: { name: 'idem-taken-over' },
      };
      const stalled = s.app.inject(request);
      await gate.entered;
      s.advance(ABANDONED_AFTER_MS + 1);
      expect((await s.app.inject(request)).statusCode).toBe(201);
      gate.release();
      const late = await stalled;
      expect(late.statusCode).toBe(409);
      expect(late.json().error).toMatchObject({
        code: 'invalid_state',
        message: 'A retry with this Idempotency-Key took the request over.',
      });
      expect(await s.countRepos('idem-taken-over')).toBe(1);
    });

    it('a raw body is hashed as its bytes: the same bytes replay, other bytes under the key are refused', async () => {
      const bytes = Buffer.from([0, 1, 2, 255, 10]);
      const send = (body: Buffer) =>
        s.app.inject({
          method: 'POST',
          url: '/api/v1/test/raw',
          headers: { ...keyed('raw-body'), 'content-type': 'application/octet-stream' },
          payload: body,
        });
      const first = await send(bytes);
      expect(first.statusCode).toBe(201);
      expect(first.json()).toEqual({ size: 5 });
      expect((await s.keyRow('raw-body'))?.request_hash).toBe(
        createHash('sha256').update('POST /api/v1/test/raw\n').update('raw:').update(bytes).digest('hex'),
      );
      const replayed = await send(Buffer.from(bytes));
      expect(replayed.statusCode).toBe(201);
      expect(replayed.json()).toEqual({ size: 5 });
      expect(s.runs('raw')).toBe(1);
      const other = await send(Buffer.from([0, 1, 2, 255, 11]));
      expect(other.statusCode).toBe(409);
      expect(other.json().error.code).toBe('idempotency_key_reused');
      expect(s.runs('raw')).toBe(1);
    });

    it('a request without a body is hashed as null; an empty answer is stored as null and replayed', async () => {
      const first = await s.app.inject({
        method: 'DELETE',
        url: '/api/v1/test/empty',
        headers: keyed('empty'),
      });
      expect(first.statusCode).toBe(204);
      expect(await s.keyRow('empty')).toMatchObject({
        request_hash: sha256('DELETE /api/v1/test/empty\nnull'),
        status_code: 204,
        response: null,
      });
      const replay = await s.app.inject({
        method: 'DELETE',
        url: '/api/v1/test/empty',
        headers: keyed('empty'),
      });
      expect(replay.statusCode).toBe(204);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(s.runs('empty')).toBe(1);
      // An empty text answer too: nothing to keep but the status.
      const text = await s.app.inject({
        method: 'POST',
        url: '/api/v1/test/empty-text',
        headers: keyed('empty-text'),
      });
      expect([text.statusCode, text.body]).toEqual([201, '']);
      expect(await s.keyRow('empty-text')).toMatchObject({ status_code: 201, response: null });
    });

    it('an answer that is not JSON is stored as a JSON string and replayed as it was', async () => {
      const first = await s.app.inject({ method: 'POST', url: '/api/v1/test/text', headers: keyed('text') });
      expect([first.statusCode, first.body]).toEqual([201, 'created, in plain text']);
      expect((await s.keyRow('text'))?.response).toBe('created, in plain text');
      const replay = await s.app.inject({ method: 'POST', url: '/api/v1/test/text', headers: keyed('text') });
      expect([replay.statusCode, replay.body, replay.headers['idempotent-replayed']]).toEqual([
        201,
        'created, in plain text',
        'true',
      ]);
      expect(s.runs('text')).toBe(1);
    });

    it('never tracks a read, a route that opts out, or a request without an agent: each runs every time', async () => {
      for (let i = 0; i < 2; i++) {
        const read = await s.app.inject({ method: 'GET', url: '/api/v1/test/read', headers: keyed('read') });
        const untracked = await s.app.inject({
          method: 'POST',
          url: '/api/v1/test/untracked',
          headers: keyed('untracked'),
        });
        const anonymous = await s.app.inject({
          method: 'POST',
          url: '/api/v1/test/ok',
          headers: { 'idempotency-key': 'anonymous' },
        });
        for (const response of [read, untracked, anonymous]) {
          expect(response.statusCode).toBe(200);
          expect(response.headers['idempotent-replayed']).toBeUndefined();
        }
      }
      expect([s.runs('read'), s.runs('untracked'), s.runs('ok')]).toEqual([2, 2, 2]);
      expect(await s.keyRow('read')).toBeUndefined();
      expect(await s.keyRow('untracked')).toBeUndefined();
      expect(
        await s.store.db
          .selectFrom('gitswarm_idempotency_keys')
          .select('key')
          .where('key', 'like', '%anonymous')
          .execute(),
      ).toEqual([]);
    });

    it('refuses a malformed key with the rule in its message; 100 characters of every allowed kind are a key', async () => {
      const refused = await s.app.inject({
        method: 'POST',
        url: '/api/v1/test/ok',
        headers: keyed('x'.repeat(101)),
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({
        code: 'invalid_input',
        message: 'The Idempotency-Key header must be 1-100 letters, digits, ".", "_", ":" or "-".',
      });
      const longest = `Az09._:-${'k'.repeat(92)}`;
      const accepted = await s.app.inject({
        method: 'POST',
        url: '/api/v1/test/ok',
        headers: keyed(longest),
      });
      expect(accepted.statusCode).toBe(200);
      expect((await s.keyRow(longest))?.status_code).toBe(200);
    });

    it('a retry after a failure between transactions replays the committed one and runs the others, each once', async () => {
      const request = {
        method: 'POST' as const,
        url: '/api/v1/test/steps',
        headers: keyed('steps'),
        payload: { names: ['idem-step-1', 'idem-step-2', 'idem-step-3'], fail_after: 1 },
      };
      expect((await s.app.inject(request)).statusCode).toBe(500);
      expect((await s.keyRow('steps'))?.effects).toHaveLength(1);
      const retried = await s.app.inject(request);
      expect(retried.statusCode).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBe('true');
      const ids = [];
      for (const name of request.payload.names) {
        expect(await s.countRepos(name)).toBe(1);
        ids.push(
          (
            await s.store.db
              .selectFrom('gitswarm_repos')
              .select('id')
              .where('name', '=', name)
              .executeTakeFirstOrThrow()
          ).id,
        );
      }
      expect(retried.json().repo_ids).toEqual(ids);
      const row = await s.keyRow('steps');
      expect(row?.status_code).toBe(201);
      expect(row?.effects).toHaveLength(3);
      expect(s.runs('steps')).toBe(2);
    });
  });

  describe(`${dialectLabel(dialect)}: Idempotency-Key sweep`, () => {
    let s: Awaited<ReturnType<typeof startSteeredApp>>;
    beforeAll(async () => {
      s = await startSteeredApp(dialect);
    });
    afterAll(async () => {
      await s?.close();
    });

    it('every 500th new key sweeps the keys older than a day, and only those', async () => {
      const at = (ms: number) => new Date(ms).toISOString();
      const old = (key: string, createdAt: string) => ({
        key: `${s.agent.id}:${key}`,
        agent_id: s.agent.id,
        request_hash: 'x',
        status_code: 200,
        response: 'null',
        effects: null,
        created_at: createdAt,
      });
      await s.store.db
        .insertInto('gitswarm_idempotency_keys')
        .values([
          old('expired', at(s.now() - IDEMPOTENCY_TTL_MS - 1)),
          old('a-day-old', at(s.now() - IDEMPOTENCY_TTL_MS)),
        ])
        .execute();
      const send = (i: number) =>
        s.app.inject({
          method: 'POST',
          url: '/api/v1/test/ok',
          headers: { ...s.agent.headers, 'idempotency-key': `k${i}` },
        });
      for (let i = 1; i < 500; i++) expect((await send(i)).statusCode).toBe(200);
      expect(await s.keyRow('expired')).toBeDefined();
      expect((await send(500)).statusCode).toBe(200);
      expect(await s.keyRow('expired')).toBeUndefined();
      expect(await s.keyRow('a-day-old')).toBeDefined();
      const kept = await s.store.db
        .selectFrom('gitswarm_idempotency_keys')
        .select('key')
        .where('agent_id', '=', s.agent.id)
        .execute();
      expect(kept).toHaveLength(501);
    });
  });
}
