/**
 * Server test helpers: an app on a fresh store of a dialect, agents with keys, and Redis reachability.
 */
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { type App, type BuildAppOptions, buildApp } from '../../src/server/app.js';
import { openTestStore, type TestDialect, type TestStore } from '../helpers/store.js';

export interface TestApp {
  app: App;
  store: TestStore;
  close(): Promise<void>;
}

/** Builds an app on a fresh store (rate limits and notifications off unless asked for). */
export async function startTestApp(
  dialect: TestDialect,
  options: Partial<BuildAppOptions> = {},
): Promise<TestApp> {
  const store = await openTestStore(dialect);
  const app = await buildApp({ rateLimit: false, notifications: false, ...options, store });
  await app.ready();
  return {
    app,
    store,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** Calls `/api/v1<url>` as `agent` (anonymously when null); returns the status and the parsed body. */
export async function callApi(
  app: App,
  agent: TestAgent | null,
  request: { method: string; url: string; payload?: unknown },
) {
  const response = await app.inject({
    method: request.method as 'GET',
    url: `/api/v1${request.url}`,
    headers: agent?.headers ?? {},
    ...(request.payload === undefined ? {} : { payload: request.payload as Record<string, unknown> }),
  });
  return { status: response.statusCode, body: response.json() };
}

export interface TestAgent {
  id: string;
  name: string;
  key: string;
  headers: { authorization: string };
}

let counter = 0;

/** Registers an agent over the API and returns its id, name and key. */
export async function registerTestAgent(app: App, name?: string): Promise<TestAgent> {
  counter += 1;
  const agentName = name ?? `agent-${counter}-${randomBytes(3).toString('hex')}`;
  const response = await app.inject({ method: 'POST', url: '/api/v1/agents', payload: { name: agentName } });
  if (response.statusCode !== 201)
    throw new Error(`register failed: ${response.statusCode} ${response.body}`);
  const body = response.json() as { agent: { id: string; name: string }; api_key: string };
  return {
    id: body.agent.id,
    name: body.agent.name,
    key: body.api_key,
    headers: { authorization: `Bearer ${body.api_key}` },
  };
}

/** Creates a repository owned by `owner` over the API. */
export async function createTestRepo(
  app: App,
  owner: TestAgent,
  settings: Record<string, unknown> = {},
): Promise<{ id: string; name: string } & Record<string, unknown>> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/repos',
    headers: owner.headers,
    payload: { name: `repo-${randomBytes(3).toString('hex')}`, ...settings },
  });
  if (response.statusCode !== 201)
    throw new Error(`create repo failed: ${response.statusCode} ${response.body}`);
  return (response.json() as { repo: { id: string; name: string } & Record<string, unknown> }).repo;
}

/** The Redis URL for tests (TEST_REDIS_URL or 127.0.0.1:6379). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers PING at TEST_REDIS_URL; prints why not when it does not. */
export async function redisReachable(url = TEST_REDIS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const ok = await new Promise<boolean>((resolve) => {
    const socket = new Socket();
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname, () => socket.write('PING\r\n'));
    socket.once('data', (data) =>
      done(String(data).startsWith('+PONG') || String(data).startsWith('-NOAUTH')),
    );
  });
  if (!ok) console.log(`[gitswarm tests] Redis at ${url} is unreachable: Redis tests are skipped.`);
  return ok;
}

/** Why the Redis tests cannot run (for `withSkipReason`), or null when Redis answers. */
export async function redisSkipReason(url = TEST_REDIS_URL): Promise<string | null> {
  return (await redisReachable(url)) ? null : `needs Redis: ${url} (TEST_REDIS_URL) is unreachable`;
}

/** A channel name no other test uses. */
export function uniqueChannel(): string {
  return `gitswarm-test:${randomBytes(6).toString('hex')}`;
}
