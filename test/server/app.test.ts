import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/server/plugins/auth.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { registerTestAgent, startTestApp, type TestApp } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: server basics`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    it('answers /healthz and /readyz (database reachable)', async () => {
      const health = await t.app.inject('/healthz');
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok' });
      const ready = await t.app.inject('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready', database: t.store.capabilities.label });
    });

    it('echoes a safe x-request-id and makes one otherwise', async () => {
      const given = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      expect(given.headers['x-request-id']).toBe('abc-123');
      const made = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\twith tab' } });
      expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const none = await t.app.inject('/healthz');
      expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('answers unknown routes with 404 not_found as JSON', async () => {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/nothing-here?x=1' });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({
        error: {
          code: 'not_found',
          message: 'No route POST /api/v1/nothing-here',
          hint: 'The API is described at /openapi.json and /docs.',
        },
      });
    });

    it('serves the OpenAPI document and the docs UI', async () => {
      const doc = await t.app.inject('/openapi.json');
      expect(doc.statusCode).toBe(200);
      const body = doc.json() as { openapi: string; paths: Record<string, unknown> };
      expect(body.openapi).toBe('3.1.0');
      expect(Object.keys(body.paths)).toEqual(
        expect.arrayContaining(['/api/v1/agents', '/api/v1/repos/{id}']),
      );
      const ui = await t.app.inject('/docs/');
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toContain('text/html');
    });

    it('serves Prometheus metrics with the request histogram', async () => {
      await t.app.inject('/healthz');
      const response = await t.app.inject('/metrics');
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain('gitswarm_http_request_duration_seconds_bucket');
      expect(response.body).toContain('route="/healthz"');
      expect(response.body).toContain('gitswarm_process_cpu_user_seconds_total');
    });

    it('answers CORS preflights', async () => {
      const response = await t.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/repos',
        headers: { origin: 'https://example.org', 'access-control-request-method': 'POST' },
      });
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-origin']).toBe('*');
    });

    it('registers an agent and returns its key once, stored only as SHA-256', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/agents',
        payload: { name: 'alice', description: 'first' },
      });
      expect(response.statusCode).toBe(201);
      const body = response.json() as { agent: Record<string, unknown>; api_key: string };
      expect(body.api_key).toMatch(/^gs_[A-Za-z0-9_-]{43}$/);
      expect(body.agent).toMatchObject({ name: 'alice', description: 'first', karma: 0, status: 'active' });
      expect(body.agent).not.toHaveProperty('api_key_hash');
      const row = await t.store.db
        .selectFrom('gitswarm_agents')
        .select('api_key_hash')
        .where('name', '=', 'alice')
        .executeTakeFirstOrThrow();
      expect(row.api_key_hash).toBe(hashApiKey(body.api_key));
      const again = await t.app.inject({ method: 'GET', url: '/api/v1/agents/alice' });
      expect(again.json().agent).not.toHaveProperty('api_key');
      const me = await t.app.inject({
        url: '/api/v1/me',
        headers: { authorization: `Bearer ${body.api_key}` },
      });
      expect(me.json().agent.name).toBe('alice');
      const duplicate = await t.app.inject({
        method: 'POST',
        url: '/api/v1/agents',
        payload: { name: 'alice' },
      });
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json().error.code).toBe('already_exists');
    });

    it('refuses writes without a key, with a wrong key, and a malformed header', async () => {
      const none = await t.app.inject({ method: 'POST', url: '/api/v1/repos', payload: { name: 'x' } });
      expect(none.statusCode).toBe(401);
      expect(none.json().error.code).toBe('unauthorized');
      const wrong = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: { authorization: `Bearer gs_${'A'.repeat(43)}` },
        payload: { name: 'x' },
      });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json()).toEqual({
        error: { code: 'unauthorized', message: 'The API key is not valid.', hint: expect.any(String) },
      });
      const malformed = await t.app.inject({
        method: 'GET',
        url: '/api/v1/me',
        headers: { authorization: 'Basic Zm9vOmJhcg==' },
      });
      expect(malformed.statusCode).toBe(401);
      const query = await t.app.inject({ method: 'GET', url: `/api/v1/me?token=gs_${'A'.repeat(43)}` });
      expect(query.statusCode).toBe(401);
    });

    it('refuses suspended agents with 403 agent_suspended', async () => {
      const agent = await registerTestAgent(t.app);
      await t.store.db
        .updateTable('gitswarm_agents')
        .set({ status: 'suspended' })
        .where('id', '=', agent.id)
        .execute();
      const response = await t.app.inject({ url: '/api/v1/me', headers: agent.headers });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('agent_suspended');
    });

    describe('bad input', () => {
      it('malformed JSON → 400 invalid_input', async () => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/agents',
          headers: { 'content-type': 'application/json' },
          payload: '{"name": "bob",',
        });
        expect(response.statusCode).toBe(400);
        expect(response.json()).toEqual({
          error: { code: 'invalid_input', message: 'The request body is not valid JSON.' },
        });
      });

      it('unknown fields and wrong types → 400 invalid_input naming the field', async () => {
        const unknown = await t.app.inject({
          method: 'POST',
          url: '/api/v1/agents',
          payload: { name: 'bob', karma: 1000 },
        });
        expect(unknown.statusCode).toBe(400);
        expect(unknown.json()).toEqual({
          error: { code: 'invalid_input', message: 'Unknown field "karma" in body.' },
        });
        const wrongType = await t.app.inject({
          method: 'POST',
          url: '/api/v1/agents',
          payload: { name: 42 },
        });
        expect(wrongType.statusCode).toBe(400);
        expect(wrongType.json().error).toEqual({
          code: 'invalid_input',
          message: 'Invalid body/name: must be string.',
        });
        const missing = await t.app.inject({ method: 'POST', url: '/api/v1/agents', payload: {} });
        expect(missing.json().error.message).toBe('Missing field "name" in body.');
        const array = await t.app.inject({ method: 'POST', url: '/api/v1/agents', payload: [1, 2] });
        expect(array.statusCode).toBe(400);
      });

      it('oversize bodies → 413 payload_too_large (limit 1 MiB)', async () => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/agents',
          payload: { name: 'big', description: 'x'.repeat(1024 * 1024 + 10) },
        });
        expect(response.statusCode).toBe(413);
        expect(response.json().error.code).toBe('payload_too_large');
      });

      it('unsupported content types → 415', async () => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/agents',
          headers: { 'content-type': 'application/xml' },
          payload: '<agent/>',
        });
        expect(response.statusCode).toBe(415);
        expect(response.json().error.code).toBe('unsupported_media_type');
      });

      it('hostile strings: NUL characters, path tricks and control characters are refused, nothing written', async () => {
        for (const name of [
          'bad\u0000name',
          '../../etc/passwd',
          '-rf',
          'a b',
          'x\ny',
          "'; drop table x; --",
          '',
        ]) {
          const response = await t.app.inject({ method: 'POST', url: '/api/v1/agents', payload: { name } });
          expect(response.statusCode, name).toBe(400);
          expect(['invalid_input', 'invalid_name']).toContain(response.json().error.code);
        }
        const count = await t.store.db
          .selectFrom('gitswarm_agents')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('name', 'like', '%drop%')
          .executeTakeFirstOrThrow();
        expect(Number(count.n)).toBe(0);
      });

      it('unknown ids → 404, malformed uuids too', async () => {
        const agent = await registerTestAgent(t.app);
        for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
          const response = await t.app.inject({ url: `/api/v1/repos/${id}`, headers: agent.headers });
          expect(response.statusCode, id).toBe(404);
        }
        const unknownAgent = await t.app.inject('/api/v1/agents/nobody-here');
        expect(unknownAgent.statusCode).toBe(404);
        expect(unknownAgent.json().error.code).toBe('agent_not_found');
      });
    });
  });
}

/** Sends `request` as raw bytes to the listening app; resolves with the status and the parsed body. */
async function rawRequest(port: number, request: string): Promise<{ status: number; body: unknown }> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      out += chunk;
    });
    socket.on('close', () => resolve(out));
    socket.on('error', (error) => (out ? resolve(out) : reject(error)));
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, body: JSON.parse(body) };
}

describe('errors from below the routes answer in the documented format', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await t.close();
  });

  const get = (path: string, headers = '') =>
    rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`);

  it.each([
    [
      'a path segment longer than 100 characters',
      () => get(`/api/v1/agents/${'a'.repeat(5000)}`),
      414,
      'uri_too_long',
    ],
    ['a URL longer than 8 KiB', () => get(`/api/v1/agents?x=${'a'.repeat(9000)}`), 414, 'uri_too_long'],
    [
      'a URL past the header limit',
      () => get(`/api/v1/agents?x=${'a'.repeat(20_000)}`),
      431,
      'headers_too_large',
    ],
    [
      'headers over 16 KiB',
      () => get('/api/v1/agents', `X-Big: ${'a'.repeat(20_000)}\r\n`),
      431,
      'headers_too_large',
    ],
    ['a percent-escape that does not decode', () => get('/api/v1/agents/%zz'), 400, 'invalid_input'],
    ['bytes that are not HTTP', () => rawRequest(port, 'BLAH\r\n\r\n'), 400, 'invalid_input'],
    [
      'a Content-Length that is not a number',
      () =>
        rawRequest(
          port,
          'POST /api/v1/agents HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}',
        ),
      400,
      'invalid_input',
    ],
  ])('%s → %i', async (_what, send, status, code) => {
    const response = await send();
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  });
});
