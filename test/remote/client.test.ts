/**
 * The Mode B HTTP client against real HTTP servers on loopback: the API-version check at connect,
 * which calls are retried (and with the same Idempotency-Key), how the server's errors and
 * transport failures map to codes and exit codes, and the real server's GET /api/v1/meta.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import { CLIENT_API_VERSION, GitSwarmClient } from '../../src/remote/client.js';
import { ModeBWorld, startTestServer } from './helpers.js';

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

interface Fake {
  url: string;
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** A small HTTP server answering with `handler` (and recording every request). */
async function fakeServer(handler: Handler): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const META = { name: 'gitswarm', version: '9.9.9', api_version: CLIENT_API_VERSION };

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GitSwarmError) return error;
    throw error;
  }
  throw new Error('expected a GitSwarmError');
}

describe('GitSwarmClient', () => {
  let fake: Fake | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('retries a GET on 503 with back-off and returns the answer', async () => {
    let failures = 2;
    fake = await fakeServer((request, response) => {
      if (request.url === '/api/v1/meta') return json(response, 200, META);
      if (failures-- > 0) return json(response, 503, { error: { code: 'internal_error', message: 'busy' } });
      json(response, 200, { ok: true });
    });
    const client = new GitSwarmClient({ url: fake.url, backoffMs: 1 });
    expect(await client.get('/thing')).toEqual({ ok: true });
    expect(fake.requests.filter((r) => r.url === '/api/v1/thing')).toHaveLength(3);
    // The compatibility check was made once.
    expect(fake.requests.filter((r) => r.url === '/api/v1/meta')).toHaveLength(1);
  });

  it('retries a POST only with an Idempotency-Key, sending the same key each time', async () => {
    fake = await fakeServer((request, response) => {
      if (request.url === '/api/v1/meta') return json(response, 200, META);
      response.writeHead(503);
      response.end();
    });
    const client = new GitSwarmClient({ url: fake.url, backoffMs: 1, retries: 2 });
    const plain = await caught(client.post('/plain', { a: 1 }));
    expect(plain.code).toBe('server_unreachable');
    expect(plain.exitCode).toBe(4);
    expect(fake.requests.filter((r) => r.url === '/api/v1/plain')).toHaveLength(1);

    await caught(client.post('/keyed', { a: 1 }, { idempotencyKey: true }));
    const keyed = fake.requests.filter((r) => r.url === '/api/v1/keyed');
    expect(keyed).toHaveLength(3);
    const keys = new Set(keyed.map((r) => r.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keyed[0]?.body).toBe('{"a":1}');
    expect(keyed[0]?.headers['content-type']).toBe('application/json');
  });

  it("maps the server's error body to a GitSwarmError with its code, hint and details", async () => {
    fake = await fakeServer((request, response) => {
      if (request.url === '/api/v1/meta') return json(response, 200, META);
      json(response, 409, {
        error: { code: 'no_consensus', message: 'Not yet.', hint: 'Ask for reviews.', approvals: 1 },
      });
    });
    const client = new GitSwarmClient({ url: fake.url, apiKey: 'gs_x' });
    const error = await caught(client.post('/streams/s/merge'));
    expect(error.code).toBe('no_consensus');
    expect(error.message).toBe('Not yet.');
    expect(error.hint).toBe('Ask for reviews.');
    expect(error.details).toMatchObject({ approvals: 1, http_status: 409 });
    expect(fake.requests.at(-1)?.headers.authorization).toBe('Bearer gs_x');
  });

  it("gives a CLI user the command line's hint where the server's names an HTTP request", async () => {
    fake = await fakeServer((request, response) => {
      if (request.url === '/api/v1/meta') return json(response, 200, META);
      json(response, 409, {
        error: {
          code: 'no_consensus',
          message: 'Not yet.',
          hint: 'See the numbers with: GET /api/v1/streams/:id/consensus',
        },
      });
    });
    const error = await caught(
      new GitSwarmClient({ url: fake.url, apiKey: 'gs_x' }).post('/streams/s/merge'),
    );
    expect(error.code).toBe('no_consensus');
    expect(error.hint).toBe('See the numbers with: gitswarm consensus <stream>');
  });

  it('refuses a server of another API version, and a URL that is not GitSwarm', async () => {
    fake = await fakeServer((_request, response) => json(response, 200, { ...META, api_version: 99 }));
    const newer = await caught(new GitSwarmClient({ url: fake.url }).get('/agents'));
    expect(newer.code).toBe('server_incompatible');
    expect(newer.message).toContain('version 99');
    expect(newer.hint).toContain('Upgrade gitswarm');
    // A write is never sent to a server that failed the check (a read may go out alongside it).
    const write = await caught(new GitSwarmClient({ url: fake.url }).post('/repos', { name: 'x' }));
    expect(write.code).toBe('server_incompatible');
    expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    await fake.close();

    fake = await fakeServer((_request, response) => {
      response.writeHead(404, { 'content-type': 'text/html' });
      response.end('<h1>Not Found</h1>');
    });
    const other = await caught(new GitSwarmClient({ url: fake.url }).get('/agents'));
    expect(other.code).toBe('server_incompatible');
    expect(other.message).toContain('is not a GitSwarm server');
    expect(fake.requests.map((r) => r.url)).toContain('/api/v1/meta');
  });

  it('a server that does not answer in time is unreachable (after the retries)', async () => {
    fake = await fakeServer(() => {
      // Never answers.
    });
    const client = new GitSwarmClient({ url: fake.url, timeoutMs: 100, retries: 1, backoffMs: 1 });
    const error = await caught(client.get('/agents'));
    expect(error.code).toBe('server_unreachable');
    expect(error.message).toContain('no answer within 0.1 s');
    // The check and the read, each tried twice.
    expect(fake.requests.filter((r) => r.url === '/api/v1/meta')).toHaveLength(2);
    expect(fake.requests.filter((r) => r.url === '/api/v1/agents')).toHaveLength(2);
  });

  it('an https URL speaks TLS: a server whose certificate it cannot verify is unreachable, nothing sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-tls-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      let connections = 0;
      const requests: string[] = [];
      const server = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (request, response) => {
          requests.push(request.url ?? '');
          json(response, 200, META);
        },
      );
      server.on('connection', () => connections++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      try {
        const client = new GitSwarmClient({ url: `https://127.0.0.1:${port}`, retries: 0 });
        const error = await caught(client.get('/agents'));
        expect(error.code).toBe('server_unreachable');
        expect(error.message).toMatch(/certificate/i);
        expect(connections).toBeGreaterThan(0);
        expect(requests).toEqual([]);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the CLI against servers it must refuse', () => {
  let world: ModeBWorld;
  let fake: Fake;
  beforeAll(async () => {
    world = new ModeBWorld();
    fake = await fakeServer((_request, response) => json(response, 200, { ...META, api_version: 0 }));
  });
  afterAll(async () => {
    world?.close();
    await fake?.close();
  });

  it('init --server on an incompatible server: exit 1 server_incompatible, nothing written', async () => {
    const clone = world.clone();
    const run = await clone.run(['init', '--server', fake.url, '--json']);
    expect(run.code).toBe(1);
    const error = run.json<{ error: { code: string; message: string; hint: string } }>().error;
    expect(error.code).toBe('server_incompatible');
    expect(error.message).toContain('API version 0');
    expect(existsSync(join(clone.dir, '.gitswarm'))).toBe(false);
  });
});

describe('GET /api/v1/meta', () => {
  it('names the server and its API version, without a key', async () => {
    const server = await startTestServer('sqlite');
    try {
      const response = await fetch(`${server.url}/api/v1/meta`);
      expect(response.status).toBe(200);
      const meta = (await response.json()) as Record<string, unknown>;
      expect(meta).toMatchObject({
        name: 'gitswarm',
        api_version: CLIENT_API_VERSION,
        api_prefix: '/api/v1',
      });
      expect(meta.version).toMatch(/^\d+\.\d+\.\d+/);
      const client = new GitSwarmClient({ url: server.url });
      expect(await client.connect()).toMatchObject({ name: 'gitswarm' });
    } finally {
      await server.close();
    }
  });
});
