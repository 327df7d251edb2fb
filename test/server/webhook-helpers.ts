/**
 * Webhook test helpers: local receivers (answering, or hanging with the connection open), setting
 * an agent's webhook over the API, and waiting for a condition that background deliveries make true.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { type App, buildApp } from '../../src/server/app.js';
import { type Store, toJson } from '../../src/store/index.js';
import { registerTestAgent, type TestAgent } from './helpers.js';

export interface ReceivedDelivery {
  headers: IncomingHttpHeaders;
  body: string;
  /** The bytes as they arrived (a signature is checked against these, not a re-encoding). */
  raw: Buffer;
}

export interface Receiver {
  url: string;
  deliveries: ReceivedDelivery[];
  server: Server;
  close(): void;
}

/** A webhook receiver on 127.0.0.1 answering each request with the next status of `statuses` (then 200). */
export async function startReceiver(statuses: number[] = []): Promise<Receiver> {
  const deliveries: ReceivedDelivery[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      deliveries.push({ headers: request.headers, body: raw.toString('utf8'), raw });
      response.statusCode = statuses.shift() ?? 200;
      response.end('ok');
    });
  });
  return listening(server, deliveries);
}

/** A server on 127.0.0.1 that takes requests and never answers them; `open` counts those pending now. */
export async function startHangingServer(): Promise<Receiver & { open: () => number; most: () => number }> {
  const deliveries: ReceivedDelivery[] = [];
  let open = 0;
  let most = 0;
  const server = createServer((request) => {
    deliveries.push({ headers: request.headers, body: '', raw: Buffer.alloc(0) });
    open += 1;
    most = Math.max(most, open);
    request.socket.once('close', () => {
      open -= 1;
    });
  });
  const receiver = await listening(server, deliveries);
  return { ...receiver, open: () => open, most: () => most };
}

async function listening(server: Server, deliveries: ReceivedDelivery[]): Promise<Receiver> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    server,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

export async function setWebhook(app: App, agent: TestAgent, body: Record<string, unknown>) {
  const response = await app.inject({
    method: 'PUT',
    url: '/api/v1/me/notification-settings',
    headers: agent.headers,
    payload: body,
  });
  expect(response.statusCode).toBe(200);
  return response.json() as { settings: Record<string, unknown>; webhook_secret?: string };
}

/**
 * Registers an agent whose webhook is `url` and queues `count` deliveries to it, all due now,
 * written straight into the table (as a long outage would leave them). Returns the agent's id.
 */
export async function seedPendingDeliveries(store: Store, url: string, count: number): Promise<string> {
  const setup = await buildApp({ store, rateLimit: false, notifications: false });
  const listener = await registerTestAgent(setup);
  await setWebhook(setup, listener, { webhook_url: url, events: ['repo.settings_changed'] });
  await setup.close();
  const now = new Date().toISOString();
  const rows = Array.from({ length: count }, () => ({
    id: randomUUID(),
    agent_id: listener.id,
    type: 'repo.settings_changed',
    payload: toJson({ pending: true }),
    next_attempt_at: now,
    created_at: now,
  }));
  for (let i = 0; i < rows.length; i += 500) {
    await store.db
      .insertInto('gitswarm_agent_notifications')
      .values(rows.slice(i, i + 500))
      .execute();
  }
  return listener.id;
}

export async function patchRepo(app: App, agent: TestAgent, repoId: string, description: string) {
  const response = await app.inject({
    method: 'PATCH',
    url: `/api/v1/repos/${repoId}`,
    headers: agent.headers,
    payload: { description },
  });
  expect(response.statusCode).toBe(200);
}

/** Polls every 10 ms until `check` returns something truthy; fails after `deadlineMs` (default 10 s). */
export async function waitFor<T>(check: () => T | Promise<T>, deadlineMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`waitFor: the condition did not hold within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
