import type { AddressInfo } from 'node:net';
/**
 * Abuse limits beyond one key (issue 10, item 8), each as the attack it stops: many registrations
 * or many keys from one address, registration on a closed or invite-only server, a key that keeps
 * working after rotation or revocation, a suspended agent acting, farmed karma buying a bigger
 * rate-limit tier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustKarma } from '../../src/core/governance/karma.js';
import { buildApp } from '../../src/server/app.js';
import { AGENT_CACHE_MS } from '../../src/server/plugins/auth.js';
import { inTransaction } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, withSkipReason } from '../helpers/store.js';
import {
  redisSkipReason,
  registerTestAgent,
  startTestApp,
  TEST_REDIS_URL,
  type TestAgent,
  type TestApp,
  uniqueChannel,
} from './helpers.js';

const me = (t: TestApp, headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
  t.app.inject({ url: '/api/v1/me', headers, remoteAddress });

async function register(
  t: TestApp,
  name: string,
  extra: Record<string, unknown> = {},
  remoteAddress?: string,
) {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/agents',
    payload: { name, ...extra },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: limits per address`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect, {
        rateLimit: { max: 100, perAddressMax: 12, registrationsMax: 3 },
      });
    });
    afterAll(async () => {
      await t.close();
    });

    it('registrations per address: the fourth from one address is 429, another address still registers', async () => {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await register(t, `reg-${i}`, {}, '10.1.0.1')).statusCode);
      expect(statuses).toEqual([201, 201, 201, 429]);
      const refused = await register(t, 'reg-9', {}, '10.1.0.1');
      expect(refused.json().error.code).toBe('rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect((await register(t, 'reg-other', {}, '10.1.0.2')).statusCode).toBe(201);
      const names = await t.store.db.selectFrom('gitswarm_agents').select('name').execute();
      expect(names.map((row) => row.name)).not.toContain('reg-9');
    });

    it('requests per address: many keys from one address share its budget', async () => {
      const keys: string[] = [];
      for (let i = 0; i < 3; i++) {
        keys.push((await register(t, `many-${i}`, {}, `10.2.0.${i + 1}`)).json().api_key);
      }
      // Five rounds over three keys from one address: 15 requests, 12 allowed per address.
      const statuses = [];
      for (let round = 0; round < 5; round++) {
        for (const key of keys) statuses.push((await me(t, bearer(key), '10.2.9.9')).statusCode);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(12);
      expect(statuses.slice(12)).toEqual([429, 429, 429]);
      // The same keys from their own addresses are not affected.
      expect((await me(t, bearer(keys[0] as string), '10.2.0.1')).statusCode).toBe(200);
    });
  });

  describe(`${dialectLabel(dialect)}: registration modes and invites`, () => {
    let closed: TestApp;
    let invite: TestApp;
    let admin: TestAgent;
    let agent: TestAgent;
    beforeAll(async () => {
      closed = await startTestApp(dialect, { registration: 'closed' });
      // One store, first open (to register the admin), then invite-only.
      const open = await startTestApp(dialect);
      admin = await registerTestAgent(open.app, 'the-admin');
      agent = await registerTestAgent(open.app, 'plain-agent');
      await open.app.close();
      const app = await buildApp({
        store: open.store,
        rateLimit: false,
        notifications: false,
        registration: 'invite',
        roles: { admins: ['THE-ADMIN'] },
      });
      invite = {
        app,
        store: open.store,
        close: async () => {
          await app.close();
          await open.store.close();
        },
      };
    });
    afterAll(async () => {
      await closed?.close();
      await invite?.close();
    });

    it('closed: nothing registers (403 registration_closed)', async () => {
      const response = await register(closed, 'nobody');
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('registration_closed');
      expect(await closed.store.db.selectFrom('gitswarm_agents').select('id').execute()).toEqual([]);
    });

    it('invite: no code or a made-up code is refused; an admin’s code registers once', async () => {
      expect((await register(invite, 'no-code')).json().error.code).toBe('registration_closed');
      const madeUp = await register(invite, 'made-up', { invite: `gsi_${'x'.repeat(32)}` });
      expect(madeUp.statusCode).toBe(403);

      const notAdmin = await invite.app.inject({
        method: 'POST',
        url: '/api/v1/invites',
        headers: agent.headers,
        payload: {},
      });
      expect(notAdmin.statusCode).toBe(403);
      expect(notAdmin.json().error.code).toBe('forbidden');

      const made = await invite.app.inject({
        method: 'POST',
        url: '/api/v1/invites',
        headers: admin.headers,
        payload: { expires_in_hours: 1 },
      });
      expect(made.statusCode).toBe(201);
      const code = made.json().invite.code as string;
      const stored = await invite.store.db.selectFrom('gitswarm_invites').selectAll().execute();
      expect(JSON.stringify(stored)).not.toContain(code);

      expect((await register(invite, 'invited', { invite: code })).statusCode).toBe(201);
      const again = await register(invite, 'invited-twice', { invite: code });
      expect(again.statusCode).toBe(403);
      expect(again.json().error.code).toBe('registration_closed');
      const names = (await invite.store.db.selectFrom('gitswarm_agents').select('name').execute()).map(
        (row) => row.name,
      );
      expect(names).toContain('invited');
      expect(names).not.toContain('no-code');
      expect(names).not.toContain('made-up');
      expect(names).not.toContain('invited-twice');
    });

    it('invite: an expired code is refused', async () => {
      const made = await invite.app.inject({
        method: 'POST',
        url: '/api/v1/invites',
        headers: admin.headers,
        payload: { expires_in_hours: 1 },
      });
      const code = made.json().invite.code as string;
      await invite.store.db
        .updateTable('gitswarm_invites')
        .set({ expires_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '=', made.json().invite.id)
        .execute();
      expect((await register(invite, 'too-late', { invite: code })).statusCode).toBe(403);
    });
  });

  describe(`${dialectLabel(dialect)}: keys and suspension`, () => {
    let t: TestApp;
    let admin: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect, { roles: { admins: ['boss'] } });
      admin = await registerTestAgent(t.app, 'boss');
    });
    afterAll(async () => {
      await t.close();
    });

    it('rotation answers the new key once; the old key fails with 401 at once', async () => {
      const agent = await registerTestAgent(t.app);
      // Resolve the old key first, so it sits in the server's key cache.
      expect((await me(t, agent.headers)).statusCode).toBe(200);
      const rotated = await t.app.inject({
        method: 'POST',
        url: '/api/v1/me/keys/rotate',
        headers: { ...agent.headers, 'idempotency-key': 'rotate-1' },
      });
      expect(rotated.statusCode).toBe(200);
      const newKey = rotated.json().api_key as string;
      expect(newKey).not.toBe(agent.key);
      const old = await me(t, agent.headers);
      expect(old.statusCode).toBe(401);
      expect(old.json().error.code).toBe('unauthorized');
      expect((await me(t, bearer(newKey))).json().agent.id).toBe(agent.id);
      // The key is never kept for a replay, and the old key cannot rotate again.
      const keys = await t.store.db.selectFrom('gitswarm_idempotency_keys').selectAll().execute();
      expect(JSON.stringify(keys)).not.toContain(newKey);
      const replay = await t.app.inject({
        method: 'POST',
        url: '/api/v1/me/keys/rotate',
        headers: { ...agent.headers, 'idempotency-key': 'rotate-1' },
      });
      expect(replay.statusCode).toBe(401);
    });

    it('revocation: by the agent itself or an admin; anyone else is refused', async () => {
      const agent = await registerTestAgent(t.app);
      const other = await registerTestAgent(t.app);
      const byOther = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.id}/keys/revoke`,
        headers: other.headers,
      });
      expect(byOther.statusCode).toBe(403);
      expect((await me(t, agent.headers)).statusCode).toBe(200);
      const byAdmin = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.name}/keys/revoke`,
        headers: admin.headers,
      });
      expect(byAdmin.statusCode).toBe(200);
      expect((await me(t, agent.headers)).statusCode).toBe(401);
      // The admin issues a new key; it works, the revoked one still does not.
      const reissued = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.id}/keys/rotate`,
        headers: admin.headers,
      });
      expect(reissued.statusCode).toBe(200);
      expect((await me(t, bearer(reissued.json().api_key))).statusCode).toBe(200);
      const self = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${other.id}/keys/revoke`,
        headers: other.headers,
      });
      expect(self.statusCode).toBe(200);
      expect((await me(t, other.headers)).statusCode).toBe(401);
    });

    it("a key revoked behind the server's back (another process, no event) stops within AGENT_CACHE_MS", async () => {
      const agent = await registerTestAgent(t.app);
      expect((await me(t, agent.headers)).statusCode).toBe(200);
      // Another instance without a shared event bus: only the database changes.
      await t.store.db
        .updateTable('gitswarm_agents')
        .set({ api_key_hash: null })
        .where('id', '=', agent.id)
        .execute();
      const revokedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, AGENT_CACHE_MS + 50));
      const after = await me(t, agent.headers);
      expect(Date.now() - revokedAt).toBeGreaterThan(AGENT_CACHE_MS);
      expect(after.statusCode).toBe(401);
    });

    it('suspension by an admin: the key gets 403 agent_suspended at once, until reinstated', async () => {
      const agent = await registerTestAgent(t.app);
      const other = await registerTestAgent(t.app);
      expect((await me(t, agent.headers)).statusCode).toBe(200);
      const notAdmin = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.id}/suspend`,
        headers: other.headers,
      });
      expect(notAdmin.statusCode).toBe(403);
      const suspended = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.id}/suspend`,
        headers: admin.headers,
      });
      expect(suspended.statusCode).toBe(200);
      expect(suspended.json().agent.status).toBe('suspended');
      const refused = await me(t, agent.headers);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().error.code).toBe('agent_suspended');
      const write = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: agent.headers,
        payload: { name: 'while-suspended' },
      });
      expect(write.statusCode).toBe(403);
      const reinstated = await t.app.inject({
        method: 'POST',
        url: `/api/v1/agents/${agent.id}/reinstate`,
        headers: admin.headers,
      });
      expect(reinstated.json().agent.status).toBe('active');
      expect((await me(t, agent.headers)).statusCode).toBe(200);
    });
  });

  describe(`${dialectLabel(dialect)}: the ×5 tier`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect, {
        rateLimit: { max: 4, perAddressMax: 1000 },
        roles: { admins: ['tier-admin'], trusted: ['tier-trusted'] },
      });
    });
    afterAll(async () => {
      await t.close();
    });

    it('goes to admins and trusted agents, not to farmed karma', async () => {
      const farmer = await registerTestAgent(t.app, 'tier-farmer');
      await inTransaction(t.store.db, (trx) =>
        adjustKarma(t.app.deps, trx, { agentId: farmer.id, repoId: null, amount: 5000, reason: 'farmed' }),
      );
      const trusted = await registerTestAgent(t.app, 'Tier-Trusted');
      const admin = await registerTestAgent(t.app, 'tier-admin');
      const limit = async (agent: TestAgent) => (await me(t, agent.headers)).headers['x-ratelimit-limit'];
      expect(await limit(farmer)).toBe('4');
      expect(await limit(trusted)).toBe('20');
      expect(await limit(admin)).toBe('20');
    });
  });
}

describe('the five-keys burst from one address, over real HTTP on 127.0.0.1 (bounded: 300 requests)', () => {
  it('lets through no more than the per-address budget, whatever the number of keys', async () => {
    const t = await startTestApp('sqlite', { rateLimit: { max: 1000, perAddressMax: 100 } });
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (t.app.server.address() as AddressInfo).port;
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `burst-${i}` }),
        });
        keys.push(((await response.json()) as { api_key: string }).api_key);
      }
      const statuses = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          fetch(`http://127.0.0.1:${port}/api/v1/me`, {
            headers: bearer(keys[i % keys.length] as string),
          }).then(async (response) => {
            await response.arrayBuffer();
            return response.status;
          }),
        ),
      );
      // Five registrations and 95 requests fill the address's 100.
      expect(statuses.filter((status) => status === 200)).toHaveLength(95);
      expect(statuses.filter((status) => status === 429)).toHaveLength(205);
    } finally {
      await t.close();
    }
  });
});

const redisSkip = await redisSkipReason();
describe.skipIf(redisSkip !== null)(
  withSkipReason('per-address limits shared through Redis', redisSkip),
  () => {
    it('two instances share one budget per address and one registration window', async () => {
      const store = await openTestStore('sqlite');
      const options = {
        store,
        redisUrl: TEST_REDIS_URL,
        redisChannel: uniqueChannel(),
        rateLimit: { max: 100, perAddressMax: 6, registrationsMax: 2 },
        notifications: false as const,
      };
      const a = await buildApp(options);
      const b = await buildApp(options);
      try {
        const registered: number[] = [];
        for (const app of [a, b, a]) {
          const response = await app.inject({
            method: 'POST',
            url: '/api/v1/agents',
            payload: { name: `shared-${registered.length}` },
            remoteAddress: '10.9.0.1',
          });
          registered.push(response.statusCode);
        }
        expect(registered).toEqual([201, 201, 429]);
        const statuses = [];
        for (const app of [a, b, a, b, a]) {
          statuses.push((await app.inject({ url: '/api/v1/agents', remoteAddress: '10.9.0.1' })).statusCode);
        }
        // Two registrations and four listings fill the address's 6, across both instances (the
        // refused registration was stopped by the registration window before it counted).
        expect(statuses).toEqual([200, 200, 200, 200, 429]);
      } finally {
        await a.close();
        await b.close();
        await store.close();
      }
    });
  },
);
