/**
 * The benchmark's steady-rate load generator (bench/paced-load.ts) writes requests as bytes and
 * reads answers only as far as their status and length. Here it runs against a real HTTP server
 * that answers in each way the generator must read: a length, chunks, a failure status, a closed
 * connection, and a slow answer that holds a connection while others queue.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pacedLoad, responseExtent, serializeRequest } from '../../bench/paced-load.js';

let server: Server | undefined;

afterEach(async () => {
  const running = server;
  server = undefined;
  if (running) await new Promise((resolve) => running.close(resolve));
});

/** A server that records what it was sent and answers with `answer`; resolves to its base URL. */
async function serve(
  answer: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<string> {
  server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => answer(request, body, response));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('responseExtent', () => {
  it('waits for the head, then ends a response at its content-length', () => {
    expect(responseExtent(Buffer.from('HTTP/1.1 200 OK\r\ncontent-len'))).toBeNull();
    const head = 'HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n';
    expect(responseExtent(Buffer.from(`${head}ab`))).toEqual({ status: 201, length: head.length + 5 });
  });

  it('ends a chunked response at its last chunk, and not before', () => {
    const head = 'HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n';
    expect(responseExtent(Buffer.from(`${head}3\r\nabc\r\n`))).toBeNull();
    const whole = `${head}3\r\nabc\r\n0\r\n\r\n`;
    expect(responseExtent(Buffer.from(whole))).toEqual({ status: 404, length: whole.length });
  });
});

/** 20 plain GETs over 200 ms on one connection: each waits for the one before it. */
const twentyOverOneConnection = (base: string) =>
  pacedLoad({
    base,
    rate: 100,
    durationSeconds: 0.2,
    connections: 1,
    next: () => ({ method: 'GET', path: '/', headers: {} }),
  });

describe('pacedLoad', () => {
  it('sends each request as given, body and headers, and counts every answer', async () => {
    const seen: string[] = [];
    const base = await serve((request, body, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers['x-n']} ${body}`);
      response.end(JSON.stringify({ n: request.headers['x-n'], text: 'é'.repeat(3000) }));
    });
    const result = await pacedLoad({
      base,
      rate: 200,
      durationSeconds: 0.5,
      connections: 4,
      next: (n) =>
        n % 2 === 0
          ? { method: 'GET', path: `/read/${n}`, headers: { 'x-n': String(n) } }
          : { method: 'POST', path: `/write/${n}`, headers: { 'x-n': String(n) }, body: `{"n":${n}}` },
    });
    expect(result).toMatchObject({ total: 100, failed: 0 });
    expect(seen.sort()).toEqual(
      Array.from({ length: 100 }, (_, n) =>
        n % 2 === 0 ? `GET /read/${n} ${n} ` : `POST /write/${n} ${n} {"n":${n}}`,
      ).sort(),
    );
    expect(result.p50).toBeLessThanOrEqual(result.p99);
    expect(result.p99).toBeLessThanOrEqual(result.max);
    expect(result.cpuPerRequest).toBeGreaterThan(0);
  });

  it('reads chunked answers and counts non-2xx answers as failed', async () => {
    const base = await serve((request, _body, response) => {
      response.statusCode = request.url === '/missing' ? 404 : 200;
      response.write('part one, ');
      setTimeout(() => response.end('part two'), 2);
    });
    const result = await pacedLoad({
      base,
      rate: 100,
      durationSeconds: 0.3,
      connections: 2,
      next: (n) => ({ method: 'GET', path: n % 3 === 0 ? '/missing' : '/here', headers: {} }),
    });
    expect(result).toMatchObject({ total: 30, failed: 10 });
  });

  it('fails a request whose connection closes mid-answer and carries on over a new connection', async () => {
    let answered = 0;
    const base = await serve((_request, _body, response) => {
      if (++answered === 3) {
        response.writeHead(200, { 'content-length': '100' });
        response.write('cut short');
        response.socket?.destroy();
        return;
      }
      response.end('ok');
    });
    expect(await twentyOverOneConnection(base)).toMatchObject({ total: 20, failed: 1 });
  });

  it('fails only the request whose connection was reset, not the one sent next on a new connection', async () => {
    let answered = 0;
    const base = await serve((_request, _body, response) => {
      // A reset is reported twice by the client's socket (an error, then its close); requests
      // queue meanwhile, so the next one goes out between the two reports.
      if (++answered === 3) setTimeout(() => response.socket?.resetAndDestroy(), 30);
      else response.end('ok');
    });
    expect(await twentyOverOneConnection(base)).toMatchObject({ total: 20, failed: 1 });
  });

  it('counts latency from when a request was due, so requests queued behind a slow one show it', async () => {
    const base = await serve((request, _body, response) => {
      setTimeout(() => response.end('ok'), request.url === '/0' ? 200 : 0);
    });
    const result = await pacedLoad({
      base,
      rate: 100,
      durationSeconds: 0.2,
      connections: 1,
      next: (n) => ({ method: 'GET', path: `/${n}`, headers: {} }),
    });
    // One connection: the 19 requests due while the first took 200 ms waited for it.
    expect(result.failed).toBe(0);
    expect(result.max).toBeGreaterThanOrEqual(200);
    expect(result.p50).toBeGreaterThanOrEqual(50);
  });
});

describe('serializeRequest', () => {
  it('gives the body length in bytes, not characters', () => {
    const bytes = serializeRequest({ method: 'POST', path: '/x', headers: {}, body: 'é' }, 'h:1');
    expect(bytes.toString()).toBe('POST /x HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\né');
  });
});
