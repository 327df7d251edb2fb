/**
 * Notifications under mutation testing: the signature and the notification id computed apart with
 * node:crypto, the circuit's boundaries on the real store, and the retry schedule's exact times
 * with the server's clock moved by the test (no sleeps: polls with a deadline).
 */
import { createHash, createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  circuitTarget,
  getCircuit,
  notificationId,
  openCircuits,
  recordCircuitFailure,
  recordCircuitSuccess,
  signPayload,
  verifySignature,
} from '../../src/core/notifications/notifications.js';
import {
  earliestDue,
  enqueueNotification,
  fetchDueBatch,
  leaseNotification,
  postponeAgentsNotifications,
  postponeNotifications,
  recordAttempt,
} from '../../src/core/notifications/queue.js';
import type { Clock } from '../../src/util/clock.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp } from '../server/helpers.js';
import {
  patchRepo,
  type Receiver,
  seedPendingDeliveries,
  setWebhook,
  startReceiver,
  waitFor,
} from '../server/webhook-helpers.js';

const hmac = (secret: string, raw: Buffer | string) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

describe('webhook signatures and notification ids', () => {
  it('signs the UTF-8 bytes of the body with HMAC-SHA256, prefixed sha256=', () => {
    const body = '{"a":"é ✓"}';
    expect(signPayload('s3cret', body)).toBe(hmac('s3cret', Buffer.from(body, 'utf8')));
    expect(signPayload('s3cret', body)).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signPayload('other', body)).not.toBe(signPayload('s3cret', body));
  });

  it('verifies only the exact signature of that body and secret', () => {
    const body = '{"x":1}';
    const good = hmac('k', body);
    expect(verifySignature('k', body, good)).toBe(true);
    // Same length, one character changed.
    const flipped = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
    expect(verifySignature('k', body, flipped)).toBe(false);
    // Another length: refused without throwing (timingSafeEqual would throw on unequal lengths).
    expect(verifySignature('k', body, good.slice(0, -2))).toBe(false);
    expect(verifySignature('k', body, '')).toBe(false);
    expect(verifySignature('k', '{"x":2}', good)).toBe(false);
    expect(verifySignature('other', body, good)).toBe(false);
  });

  it('derives the notification id from event and agent as a version-5-shaped UUID', () => {
    for (const [event, agent] of [
      ['e1', 'a1'],
      ['event-2', 'agent-2'],
      ['x', 'y'],
      ['00000000', '1'],
      ['q', 'r'],
    ] as const) {
      const hex = createHash('sha256').update(`${event}:${agent}`).digest('hex');
      const variant = ((Number.parseInt(hex.charAt(16), 16) & 3) | 8).toString(16);
      const expected = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
      const id = notificationId(event, agent);
      expect(id).toBe(expected);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(notificationId(event, agent)).toBe(id);
    }
    expect(notificationId('e1', 'a2')).not.toBe(notificationId('e1', 'a1'));
  });
});

describe('circuit targets', () => {
  it('is the lower-case host and the port, 443 for https and 80 for http by default', () => {
    expect(circuitTarget('https://Example.ORG/hook')).toBe('example.org:443');
    expect(circuitTarget('http://Example.org/hook')).toBe('example.org:80');
    expect(circuitTarget('http://example.org:8080/hook')).toBe('example.org:8080');
    expect(circuitTarget('https://example.org:8443/x')).toBe('example.org:8443');
  });
});

const T0 = '2030-01-01T00:00:00.000Z';
const T1 = '2030-01-01T00:00:01.000Z';
const T2 = '2030-01-01T00:00:02.000Z';
const T3 = '2030-01-01T00:00:03.000Z';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: circuits on the store`, () => {
    let store: TestStore;
    beforeEach(async () => {
      store = await openTestStore(dialect);
    });
    afterEach(async () => {
      await store.close();
    });

    const fail = (target: string, now: string, openUntil: string, error = 'HTTP 500', threshold = 3) =>
      recordCircuitFailure(store.db, { target, error, now, threshold, openUntil });

    it('a host never seen is closed with no failures', async () => {
      expect(await getCircuit(store.db, 'https://new.example/x', T0)).toEqual({
        target: 'new.example:443',
        state: 'closed',
        consecutive_failures: 0,
        open_until: null,
        last_error: null,
      });
      expect((await openCircuits(store.db, T0)).size).toBe(0);
    });

    it('opens exactly at the threshold, once, until openUntil (exclusive), then a failure reopens it', async () => {
      const url = 'http://h.example:81/hook';
      const target = 'h.example:81';
      expect(await fail(target, T0, T2, 'first')).toBeNull();
      expect(await fail(target, T0, T2, 'second')).toBeNull();
      expect(await getCircuit(store.db, url, T0)).toEqual({
        target,
        state: 'closed',
        consecutive_failures: 2,
        open_until: null,
        last_error: 'second',
      });
      // The third failure reaches the threshold of 3: it opens the circuit and says until when.
      expect(await fail(target, T0, T2, 'third')).toBe(T2);
      expect(await getCircuit(store.db, url, T1)).toEqual({
        target,
        state: 'open',
        consecutive_failures: 3,
        open_until: T2,
        last_error: 'third',
      });
      expect([...(await openCircuits(store.db, T1))]).toEqual([[target, T2]]);
      // Another failure while open does not open it again (nor move its end).
      expect(await fail(target, T1, T3, 'fourth')).toBeNull();
      expect((await getCircuit(store.db, url, T1)).open_until).toBe(T2);
      // At the very instant open_until it is closed again.
      expect((await getCircuit(store.db, url, T2)).state).toBe('closed');
      expect((await getCircuit(store.db, url, T2)).open_until).toBeNull();
      expect((await openCircuits(store.db, T2)).size).toBe(0);
      // The probe fails: the run of failures is still past the threshold, so it reopens at once.
      expect(await fail(target, T2, T3, 'probe')).toBe(T3);
      expect((await getCircuit(store.db, url, T2)).consecutive_failures).toBe(5);
    });

    it('a success closes the circuit and starts the run of failures over', async () => {
      const target = 's.example:443';
      const url = 'https://s.example/';
      for (let i = 0; i < 3; i++) await fail(target, T0, T1);
      expect((await getCircuit(store.db, url, T0)).state).toBe('open');
      await recordCircuitSuccess(store.db, target, T0);
      const closed = await getCircuit(store.db, url, T0);
      expect(closed).toMatchObject({ state: 'closed', consecutive_failures: 0, open_until: null });
      const row = await store.db
        .selectFrom('gitswarm_webhook_circuits')
        .selectAll()
        .where('target', '=', target)
        .executeTakeFirstOrThrow();
      expect(row.updated_at).toBe(T0);
      // Two failures after the success stay below the threshold of 3.
      expect(await fail(target, T1, T2)).toBeNull();
      expect(await fail(target, T1, T2)).toBeNull();
      expect((await getCircuit(store.db, url, T1)).consecutive_failures).toBe(2);
      // A success on a host with no failures leaves its row alone (no write).
      await recordCircuitSuccess(store.db, 'other.example:80', T3);
      expect(await store.db.selectFrom('gitswarm_webhook_circuits').select('target').execute()).toHaveLength(
        1,
      );
    });

    it('keeps the first 1000 characters of the error, and a threshold of 1 opens at the first failure', async () => {
      const long = 'e'.repeat(1500);
      expect(await fail('l.example:80', T0, T1, long, 1)).toBe(T1);
      const circuit = await getCircuit(store.db, 'http://l.example/', T0);
      expect(circuit.last_error).toBe('e'.repeat(1000));
      expect(circuit.state).toBe('open');
    });
  });

  describe(`${dialectLabel(dialect)}: the delivery queue on the store`, () => {
    let store: TestStore;
    let a: string;
    let b: string;
    beforeEach(async () => {
      store = await openTestStore(dialect);
      // Two agents with webhooks and no rows yet (the queue's rows need real agents).
      a = await seedPendingDeliveries(store, 'https://a.example/hook', 0);
      b = await seedPendingDeliveries(store, 'https://b.example/hook', 0);
    });
    afterEach(async () => {
      await store.close();
    });

    const add = (id: string, agent: string, due: string) =>
      enqueueNotification(store.db, {
        id,
        agent_id: agent,
        type: 't',
        payload: { n: id },
        due,
        created_at: T0,
      });
    const ID = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
    const dueOf = async (id: string) =>
      (
        await store.db
          .selectFrom('gitswarm_agent_notifications')
          .select('next_attempt_at')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).next_attempt_at;
    const deliver = (id: string) =>
      store.db
        .updateTable('gitswarm_agent_notifications')
        .set({ delivered: true, next_attempt_at: null })
        .where('id', '=', id)
        .execute();

    it('records a row once; reads the due ones (at now included), oldest first, bounded, with exclusions', async () => {
      expect(await add(ID(1), a, T1)).toBe(true);
      expect(await add(ID(1), a, T0)).toBe(false);
      expect(await add(ID(2), a, T0)).toBe(true);
      expect(await add(ID(3), b, T1)).toBe(true);
      expect(await add(ID(4), b, T2)).toBe(true);
      expect(await add(ID(5), a, T0)).toBe(true);
      await deliver(ID(5));
      const ids = async (q: Parameters<typeof fetchDueBatch>[1]) =>
        (await fetchDueBatch(store.db, q)).map((r) => r.id);
      // Due at T1: those due at T0 and at T1 exactly, by due time then id; not the delivered one.
      expect(await ids({ now: T1, limit: 10 })).toEqual([ID(2), ID(1), ID(3)]);
      expect(await ids({ now: T1, limit: 2 })).toEqual([ID(2), ID(1)]);
      expect(await ids({ now: T0, limit: 10 })).toEqual([ID(2)]);
      expect(await ids({ now: T1, limit: 10, excludeIds: [ID(1)] })).toEqual([ID(2), ID(3)]);
      expect(await ids({ now: T2, limit: 10, excludeAgents: [a] })).toEqual([ID(3), ID(4)]);
      expect(await ids({ now: T2, limit: 10, excludeIds: [], excludeAgents: [] })).toHaveLength(4);
      const [row] = await fetchDueBatch(store.db, { now: T0, limit: 1 });
      expect(row).toMatchObject({ id: ID(2), agent_id: a, type: 't', attempts: 0 });
      // The earliest undelivered due time, optionally without some agents' rows.
      expect(await earliestDue(store.db)).toBe(T0);
      expect(await earliestDue(store.db, [a])).toBe(T1);
      expect(await earliestDue(store.db, [a, b])).toBeNull();
    });

    it('leases a row only while it is due, once; postpones only undelivered rows with a due time', async () => {
      await add(ID(1), a, T1);
      expect(await leaseNotification(store.db, ID(1), T0, T3)).toBe(false);
      expect(await dueOf(ID(1))).toBe(T1);
      expect(await leaseNotification(store.db, ID(1), T1, T3)).toBe(true);
      expect(await dueOf(ID(1))).toBe(T3);
      // Leased until T3: not due at T2, so not leased again.
      expect(await leaseNotification(store.db, ID(1), T2, T3)).toBe(false);

      await add(ID(2), a, T0);
      await add(ID(3), a, T0);
      await deliver(ID(3));
      await postponeNotifications(store.db, [ID(2), ID(3)], T2);
      expect(await dueOf(ID(2))).toBe(T2);
      expect(await dueOf(ID(3))).toBeNull();
      await postponeNotifications(store.db, [], T3);
      expect(await dueOf(ID(2))).toBe(T2);
    });

    it('records an attempt with its error cut at 1000 characters', async () => {
      await add(ID(1), a, T0);
      await recordAttempt(store.db, ID(1), {
        delivered: false,
        attempts: 1,
        last_error: 'x'.repeat(1200),
        next_attempt_at: T1,
      });
      const row = await store.db
        .selectFrom('gitswarm_agent_notifications')
        .selectAll()
        .where('id', '=', ID(1))
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ attempts: 1, last_error: 'x'.repeat(1000), next_attempt_at: T1 });
      expect(row.delivered).toBeFalsy();
      await recordAttempt(store.db, ID(1), {
        delivered: true,
        attempts: 2,
        last_error: null,
        next_attempt_at: null,
      });
      const done = await store.db
        .selectFrom('gitswarm_agent_notifications')
        .selectAll()
        .where('id', '=', ID(1))
        .executeTakeFirstOrThrow();
      expect(done).toMatchObject({ attempts: 2, last_error: null, next_attempt_at: null });
      expect(done.delivered).toBeTruthy();
    });

    it("postpones an agent's rows due before the circuit closes, except those in flight", async () => {
      await add(ID(1), a, T0);
      await add(ID(2), a, T0);
      await add(ID(3), a, T3);
      await add(ID(4), b, T0);
      await add(ID(5), a, T2);
      await postponeAgentsNotifications(store.db, [a], T2, [ID(2)]);
      expect(await dueOf(ID(1))).toBe(T2);
      expect(await dueOf(ID(2))).toBe(T0);
      expect(await dueOf(ID(3))).toBe(T3);
      expect(await dueOf(ID(4))).toBe(T0);
      expect(await dueOf(ID(5))).toBe(T2);
      await postponeAgentsNotifications(store.db, [], T3, []);
      await postponeAgentsNotifications(store.db, [a, b], T3, []);
      expect(await dueOf(ID(2))).toBe(T3);
      expect(await dueOf(ID(4))).toBe(T3);
    });
  });

  describe(`${dialectLabel(dialect)}: the retry schedule on the server's clock`, () => {
    let receiver: Receiver;
    afterEach(() => receiver?.close());

    it('retries after base, 2×base, 4×base, then gives up with the last error; signed over the raw bytes', async () => {
      receiver = await startReceiver([500, 502, 503, 500, 200]);
      let nowMs = Date.parse('2030-06-01T12:00:00.000Z');
      const clock: Clock = { now: () => new Date(nowMs) };
      const base = 40;
      const t = await startTestApp(dialect, {
        clock,
        notifications: {
          allowPrivateTargets: true,
          maxAttempts: 4,
          baseDelayMs: base,
          circuitThreshold: 100,
        },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const listener = await registerTestAgent(t.app);
        const { webhook_secret: secret } = await setWebhook(t.app, listener, {
          webhook_url: receiver.url,
          events: ['repo.settings_changed'],
          rotate_secret: true,
        });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'retry me ✓');
        const row = () =>
          t.store.db
            .selectFrom('gitswarm_agent_notifications')
            .selectAll()
            .where('agent_id', '=', listener.id)
            .executeTakeFirst();
        const expectedErrors = ['HTTP 500', 'HTTP 502', 'HTTP 503', 'HTTP 500'];
        for (let n = 1; n <= 4; n++) {
          const after = await waitFor(async () => {
            const r = await row();
            return r && r.attempts === n ? r : null;
          });
          expect(after.delivered).toBeFalsy();
          expect(after.last_error).toBe(expectedErrors[n - 1]);
          if (n < 4) {
            // Due exactly base × 2^(n-1) after the attempt, on the server's clock.
            const due = new Date(nowMs + base * 2 ** (n - 1)).toISOString();
            expect(after.next_attempt_at).toBe(due);
            expect(receiver.deliveries).toHaveLength(n);
            // Move the server's clock to that instant: the retry runs then.
            nowMs += base * 2 ** (n - 1);
          } else {
            // The last of maxAttempts: failed for good, nothing more planned.
            expect(after.next_attempt_at).toBeNull();
          }
        }
        await t.app.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(4);
        for (const delivery of receiver.deliveries) {
          expect(delivery.headers['x-gitswarm-signature']).toBe(hmac(secret as string, delivery.raw));
          expect(delivery.headers['x-gitswarm-event']).toBe('repo.settings_changed');
          expect(delivery.headers['content-type']).toBe('application/json');
          expect(delivery.headers['user-agent']).toBe('gitswarm-notifications');
        }
        const ids = new Set(receiver.deliveries.map((d) => d.headers['x-gitswarm-delivery']));
        expect(ids.size).toBe(1);
      } finally {
        await t.close();
      }
    }, 30_000);

    it('a retry for an event the agent no longer asks for stops, with the reason, and is not sent', async () => {
      receiver = await startReceiver([500]);
      let nowMs = Date.parse('2030-06-03T12:00:00.000Z');
      const clock: Clock = { now: () => new Date(nowMs) };
      const t = await startTestApp(dialect, {
        clock,
        notifications: { allowPrivateTargets: true, maxAttempts: 5, baseDelayMs: 10, circuitThreshold: 100 },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const listener = await registerTestAgent(t.app);
        await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'one');
        const row = () =>
          t.store.db
            .selectFrom('gitswarm_agent_notifications')
            .selectAll()
            .where('agent_id', '=', listener.id)
            .executeTakeFirst()
            .then((r) => r ?? { attempts: 0, delivered: false, next_attempt_at: null, last_error: null });
        await waitFor(async () => (await row()).attempts === 1);
        // The agent stops asking for the event (the settings change drops the dispatcher's cache).
        await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['stream.merged'] });
        nowMs += 10;
        const after = await waitFor(async () => {
          const r = await row();
          return r.attempts === 2 ? r : null;
        });
        expect(after).toMatchObject({
          delivered: false,
          last_error: 'the webhook was removed or turned off, or no longer asks for this event',
          next_attempt_at: null,
        });
        expect(receiver.deliveries).toHaveLength(1);
      } finally {
        await t.close();
      }
    }, 30_000);

    it('opens the circuit at the threshold on the server clock and holds the host’s rows until it closes', async () => {
      receiver = await startReceiver([500, 500]);
      let nowMs = Date.parse('2030-06-02T12:00:00.000Z');
      const clock: Clock = { now: () => new Date(nowMs) };
      const t = await startTestApp(dialect, {
        clock,
        notifications: {
          allowPrivateTargets: true,
          maxAttempts: 5,
          baseDelayMs: 10,
          circuitThreshold: 2,
          circuitOpenMs: 500,
        },
      });
      try {
        const owner = await registerTestAgent(t.app);
        const listener = await registerTestAgent(t.app);
        await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'one');
        const row = () =>
          t.store.db
            .selectFrom('gitswarm_agent_notifications')
            .selectAll()
            .where('agent_id', '=', listener.id)
            .executeTakeFirst()
            .then((r) => r ?? { attempts: 0, delivered: false, next_attempt_at: null });
        await waitFor(async () => (await row()).attempts === 1);
        const target = circuitTarget(receiver.url);
        const start = nowMs;
        expect((await getCircuit(t.store.db, receiver.url, new Date(nowMs).toISOString())).state).toBe(
          'closed',
        );
        nowMs += 10;
        await waitFor(async () => (await row()).attempts === 2);
        // The second failure reached the threshold: open for circuitOpenMs from that attempt.
        const openUntil = new Date(start + 10 + 500).toISOString();
        const circuit = await getCircuit(t.store.db, receiver.url, new Date(nowMs).toISOString());
        expect(circuit).toMatchObject({
          target,
          state: 'open',
          consecutive_failures: 2,
          open_until: openUntil,
        });
        // The retry (due 20 ms later) is pushed to when the circuit closes, without an attempt.
        nowMs += 20;
        await waitFor(async () => (await row()).next_attempt_at === openUntil);
        expect((await row()).attempts).toBe(2);
        expect(receiver.deliveries).toHaveLength(2);
        // Once it closes, the probe succeeds and closes the circuit.
        nowMs = start + 10 + 500;
        await waitFor(async () => (await row()).delivered);
        expect((await row()).attempts).toBe(3);
        // Delivered: no further attempt is planned.
        expect((await row()).next_attempt_at).toBeNull();
        expect(await getCircuit(t.store.db, receiver.url, new Date(nowMs).toISOString())).toMatchObject({
          state: 'closed',
          consecutive_failures: 0,
        });
      } finally {
        await t.close();
      }
    }, 30_000);
  });
}
