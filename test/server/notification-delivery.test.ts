import { describe, expect, it } from 'vitest';
import { dnsLookup, type HostLookup } from '../../src/core/notifications/notifications.js';
import { buildApp } from '../../src/server/app.js';
import { DIALECTS, dialectLabel, openTestStore } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp, type TestAgent, type TestApp } from './helpers.js';
import {
  patchRepo,
  seedPendingDeliveries,
  setWebhook,
  startHangingServer,
  startReceiver,
  waitFor,
} from './webhook-helpers.js';

/** Names under .hang.test never answer (until the lookup is aborted); others go to the default lookup. */
const hangingLookup: HostLookup = (hostname, signal) =>
  hostname.endsWith('.hang.test')
    ? new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      )
    : dnsLookup(hostname, signal);

async function circuitOf(t: TestApp, agent: TestAgent) {
  const response = await t.app.inject({ url: '/api/v1/me/notification-settings', headers: agent.headers });
  return response.json().settings.circuit as {
    state: 'open' | 'closed';
    consecutive_failures: number;
    open_until: string | null;
    last_error: string | null;
  };
}

function deliveryIds(deliveries: { headers: Record<string, unknown> }[]): string[] {
  return deliveries.map((d) => String(d.headers['x-gitswarm-delivery']));
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: webhook delivery under abuse`, () => {
    it('five agents whose hosts hang or never resolve do not hold up an honest agent', async () => {
      const honest = await startReceiver();
      const hangingA = await startHangingServer();
      const hangingB = await startHangingServer();
      const t = await startTestApp(dialect, {
        notifications: {
          allowPrivateTargets: true,
          lookup: hangingLookup,
          timeoutMs: 400,
          lookupTimeoutMs: 200,
          connectTimeoutMs: 200,
          concurrency: 16,
          targetConcurrency: 2,
          maxAttempts: 3,
          baseDelayMs: 20,
          circuitThreshold: 3,
        },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const good = await registerTestAgent(t.app);
        await setWebhook(t.app, good, { webhook_url: honest.url, events: ['repo.settings_changed'] });
        const badUrls = [
          'http://never.hang.test/hook',
          'http://also.hang.test:8080/hook',
          'http://gone.invalid/hook',
          hangingA.url,
          hangingB.url,
        ];
        const bad: TestAgent[] = [];
        for (const url of badUrls) {
          const agent = await registerTestAgent(t.app);
          await setWebhook(t.app, agent, { webhook_url: url, events: ['repo.settings_changed'] });
          bad.push(agent);
        }
        const repo = await createTestRepo(t.app, owner);
        for (let i = 0; i < 20; i++) await patchRepo(t.app, owner, repo.id, `change ${i}`);

        // Delivery is at least once: on a loaded machine an honest answer can outlast the timeout
        // and come again, so the wait is for 20 distinct deliveries, not 20 requests.
        await waitFor(() => new Set(deliveryIds(honest.deliveries)).size >= 20);
        expect(new Set(deliveryIds(honest.deliveries)).size).toBe(20);
        // The hanging hosts never held more than their share of attempts.
        expect(hangingA.most()).toBeLessThanOrEqual(2);
        expect(hangingB.most()).toBeLessThanOrEqual(2);
        expect(t.app.notifications?.stats().inFlight).toBeLessThanOrEqual(16);
        // Each bad host is given up on: its circuit opens, recorded and shown in the settings.
        for (const agent of bad) {
          const circuit = await waitFor(async () => {
            const c = await circuitOf(t, agent);
            return c.state === 'open' ? c : null;
          });
          expect(circuit.consecutive_failures).toBeGreaterThanOrEqual(3);
          expect(circuit.last_error).toMatch(/timed out|ENOTFOUND|shutting down|Timeout/);
        }
        expect((await circuitOf(t, good)).state).toBe('closed');
      } finally {
        honest.close();
        hangingA.close();
        hangingB.close();
        await t.close();
      }
    }, 20_000);

    it('thousands of pending rows: read a bounded batch at a time, and shutdown returns and keeps them', async () => {
      const hanging = await startHangingServer();
      const store = await openTestStore(dialect);
      try {
        const listenerId = await seedPendingDeliveries(store, hanging.url, 3000);

        // Requests that would hang for a minute: only the shutdown's abort ends them.
        const app = await buildApp({
          store,
          rateLimit: false,
          notifications: {
            allowPrivateTargets: true,
            timeoutMs: 60_000,
            batchSize: 10,
            concurrency: 32,
            targetConcurrency: 4,
          },
        });
        await app.ready();
        await waitFor(() => hanging.open() === 4);
        const stats = app.notifications?.stats();
        expect(stats?.inFlight).toBe(4);
        // One read returned at most the batch size, not the 3,000 pending rows.
        expect(stats?.largestBatch).toBe(10);
        const leased = await store.db
          .selectFrom('gitswarm_agent_notifications')
          .select('id')
          .where('next_attempt_at', '>', new Date(Date.now() + 60_000).toISOString())
          .execute();
        expect(leased).toHaveLength(4);

        await app.close();
        const after = await store.db
          .selectFrom('gitswarm_agent_notifications')
          .select(['delivered', 'attempts', 'next_attempt_at'])
          .where('agent_id', '=', listenerId)
          .execute();
        expect(after).toHaveLength(3000);
        // Every row is still owed, none counted an attempt, and the aborted ones are due at once.
        expect(after.every((r) => !r.delivered && r.attempts === 0 && r.next_attempt_at !== null)).toBe(true);
        expect(after.filter((r) => (r.next_attempt_at as string) > new Date().toISOString())).toHaveLength(0);
      } finally {
        hanging.close();
        await store.close();
      }
    }, 10_000);

    it('a row whose attempt is in flight is not leased again, even after its lease has run out', async () => {
      let offsetMs = 0;
      const clock = { now: () => new Date(Date.now() + offsetMs) };
      const hanging = await startHangingServer();
      const honest = await startReceiver();
      const t = await startTestApp(dialect, {
        clock,
        notifications: { allowPrivateTargets: true, timeoutMs: 60_000 },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const slow = await registerTestAgent(t.app);
        const quick = await registerTestAgent(t.app);
        await setWebhook(t.app, slow, { webhook_url: hanging.url, events: ['repo.settings_changed'] });
        await setWebhook(t.app, quick, { webhook_url: honest.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'first');
        await waitFor(() => hanging.open() === 1 && honest.deliveries.length === 1);
        // An hour later by the clock the first row's lease has run out; its request is still running.
        offsetMs = 3_600_000;
        await patchRepo(t.app, owner, repo.id, 'second');
        // The honest delivery of the second event comes from a queue read made after the jump.
        await waitFor(() => honest.deliveries.length === 2 && hanging.deliveries.length === 2);
        const ids = deliveryIds(hanging.deliveries);
        expect(new Set(ids).size).toBe(2);
        expect(hanging.open()).toBe(2);
      } finally {
        honest.close();
        hanging.close();
        await t.close();
      }
    }, 10_000);

    it("a host that keeps failing opens its circuit: recorded, shown, rows wait; it closes on the host's recovery", async () => {
      let offsetMs = 0;
      const clock = { now: () => new Date(Date.now() + offsetMs) };
      const down = await startReceiver([500, 500]);
      const t = await startTestApp(dialect, {
        clock,
        notifications: {
          allowPrivateTargets: true,
          baseDelayMs: 5,
          maxAttempts: 10,
          circuitThreshold: 2,
          circuitOpenMs: 60_000,
        },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const listener = await registerTestAgent(t.app);
        await setWebhook(t.app, listener, { webhook_url: down.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'one');
        const open = await waitFor(async () => {
          const c = await circuitOf(t, listener);
          return c.state === 'open' ? c : null;
        });
        expect(open).toMatchObject({ consecutive_failures: 2, last_error: 'HTTP 500' });
        const stored = await t.store.db
          .selectFrom('gitswarm_webhook_circuits')
          .selectAll()
          .executeTakeFirstOrThrow();
        expect(stored).toMatchObject({ consecutive_failures: 2, open_until: open.open_until });

        // A new event for the host waits for the circuit to close instead of being tried.
        await patchRepo(t.app, owner, repo.id, 'two');
        const rowsOf = () =>
          t.store.db
            .selectFrom('gitswarm_agent_notifications')
            .select(['attempts', 'delivered', 'next_attempt_at'])
            .where('agent_id', '=', listener.id)
            .execute();
        await waitFor(async () => {
          const rows = await rowsOf();
          return rows.length === 2 && rows.every((r) => r.next_attempt_at === open.open_until);
        });
        expect((await rowsOf()).map((r) => r.attempts).sort()).toEqual([0, 2]);
        expect(down.deliveries).toHaveLength(2);

        // After the open period the host answers again: the rows are delivered and the circuit closes.
        offsetMs = 61_000;
        await patchRepo(t.app, owner, repo.id, 'three');
        await waitFor(async () => {
          const rows = await rowsOf();
          return rows.length === 3 && rows.every((r) => r.delivered);
        });
        expect(await circuitOf(t, listener)).toMatchObject({ state: 'closed', consecutive_failures: 0 });
      } finally {
        down.close();
        await t.close();
      }
    }, 10_000);
  });
}
