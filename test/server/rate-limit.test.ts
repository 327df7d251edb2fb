import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustKarma } from '../../src/core/governance/karma.js';
import { buildApp } from '../../src/server/app.js';
import { rateLimitFor } from '../../src/server/plugins/rate-limit.js';
import { inTransaction, openStore } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, withSkipReason } from '../helpers/store.js';
import {
  redisSkipReason,
  registerTestAgent,
  startTestApp,
  TEST_REDIS_URL,
  type TestApp,
  uniqueChannel,
} from './helpers.js';

it('only trusted agents (and admins) get ×5', () => {
  expect(rateLimitFor(false)).toBe(600);
  expect(rateLimitFor(true)).toBe(3000);
  expect(rateLimitFor(true, 10)).toBe(50);
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: rate limits`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect, { rateLimit: { max: 3, perAddressMax: 1000 } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('counts per key and answers 429 rate_limited with Retry-After', async () => {
      // Registration is anonymous: counted per IP, so use distinct remote addresses.
      const a = await registerAs(t, '10.0.0.1');
      const b = await registerAs(t, '10.0.0.2');
      for (let i = 0; i < 3; i++) {
        const ok = await t.app.inject({ url: '/api/v1/me', headers: a.headers });
        expect(ok.statusCode).toBe(200);
        expect(ok.headers['x-ratelimit-limit']).toBe('3');
      }
      const limited = await t.app.inject({ url: '/api/v1/me', headers: a.headers });
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json().error.code).toBe('rate_limited');
      expect(limited.json().error.message).toMatch(/^Rate limit of 3 requests per window exceeded; retry in/);
      // Another key has its own budget.
      expect((await t.app.inject({ url: '/api/v1/me', headers: b.headers })).statusCode).toBe(200);
      // Health checks and metrics are not limited.
      for (let i = 0; i < 5; i++) expect((await t.app.inject('/healthz')).statusCode).toBe(200);
    });

    it('karma, however farmed, does not raise the budget', async () => {
      const agent = await registerAs(t, '10.0.0.3');
      const before = await t.app.inject({ url: '/api/v1/me', headers: agent.headers });
      expect(before.headers['x-ratelimit-limit']).toBe('3');
      await inTransaction(t.store.db, (trx) =>
        adjustKarma(t.app.deps, trx, { agentId: agent.id, repoId: null, amount: 5000, reason: 'farmed' }),
      );
      const after = await t.app.inject({ url: '/api/v1/me', headers: agent.headers });
      expect(after.headers['x-ratelimit-limit']).toBe('3');
    });

    it('rate-limits wrong keys per IP before refusing them', async () => {
      const headers = { authorization: `Bearer gs_${'B'.repeat(43)}` };
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (await t.app.inject({ url: '/api/v1/me', headers, remoteAddress: '10.0.0.9' })).statusCode,
        );
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    });
  });
}

async function registerAs(t: TestApp, remoteAddress: string) {
  const name = `rl-${remoteAddress.replaceAll('.', '-')}`;
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/v1/agents',
    payload: { name },
    remoteAddress,
  });
  const body = response.json() as { agent: { id: string }; api_key: string };
  return { id: body.agent.id, headers: { authorization: `Bearer ${body.api_key}` } };
}

const redisSkip = await redisSkipReason();
describe.skipIf(redisSkip !== null)(withSkipReason('rate limits shared through Redis', redisSkip), () => {
  it('two instances share one budget per key', async () => {
    const channel = uniqueChannel();
    const store = await openTestStore('sqlite');
    const store2 = await openStore(store.location);
    const options = {
      redisUrl: TEST_REDIS_URL,
      redisChannel: channel,
      rateLimit: { max: 3 },
      notifications: false as const,
    };
    const first = await buildApp({ ...options, store });
    const second = await buildApp({ ...options, store: store2 });
    try {
      const agent = await registerTestAgent(first);
      const statuses = [];
      for (const app of [first, second, first, second]) {
        statuses.push((await app.inject({ url: '/api/v1/me', headers: agent.headers })).statusCode);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await first.close();
      await second.close();
      await store2.close();
      await store.close();
    }
  });
});
