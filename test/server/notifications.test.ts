import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPrivateTarget,
  notificationId,
  signPayload,
  verifySignature,
} from '../../src/core/notifications/notifications.js';
import { type App, buildApp } from '../../src/server/app.js';
import { openStore, type Store } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore, withSkipReason } from '../helpers/store.js';
import {
  createTestRepo,
  redisSkipReason,
  registerTestAgent,
  startTestApp,
  TEST_REDIS_URL,
  type TestAgent,
  type TestApp,
  uniqueChannel,
} from './helpers.js';
import {
  type ReceivedDelivery as Delivery,
  patchRepo,
  setWebhook,
  startReceiver,
  waitFor,
} from './webhook-helpers.js';

/** The signature a receiver computes on its own: HMAC-SHA256 of the raw bytes with the shared secret. */
function independentSignature(secret: string, raw: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

it('signs as sha256=<hex HMAC-SHA256> and verifies in constant time', () => {
  const body = '{"a":"é ✓"}';
  const signature = signPayload('secret', body);
  expect(signature).toBe(independentSignature('secret', Buffer.from(body, 'utf8')));
  expect(verifySignature('secret', body, independentSignature('secret', Buffer.from(body, 'utf8')))).toBe(
    true,
  );
  expect(verifySignature('secret', body, independentSignature('other', Buffer.from(body, 'utf8')))).toBe(
    false,
  );
  expect(verifySignature('secret', body, signature.slice(0, -1))).toBe(false);
  expect(verifySignature('secret', '{"a":1}', signPayload('secret', '{"a":1}'))).toBe(true);
  const signatureA1 = signPayload('secret', '{"a":1}');
  expect(verifySignature('secret', '{"a":2}', signatureA1)).toBe(false);
  expect(verifySignature('other', '{"a":1}', signatureA1)).toBe(false);
  expect(notificationId('e1', 'a1')).toBe(notificationId('e1', 'a1'));
  expect(notificationId('e1', 'a1')).toMatch(
    /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
});

it('knows private targets: loopback, private, link-local, mapped IPv4', async () => {
  for (const url of [
    'http://127.0.0.1/x',
    'http://10.1.2.3/x',
    'http://192.168.0.1/x',
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://localhost:8080/x',
  ]) {
    expect(await isPrivateTarget(url), url).toBe(true);
  }
  for (const url of ['https://93.184.216.34/x', 'http://[2606:4700::1111]/x']) {
    expect(await isPrivateTarget(url), url).toBe(false);
  }
});

describe('webhook deliveries into private networks are off by default', () => {
  it('records a failure and never connects', async () => {
    const receiver = await startReceiver();
    const t = await startTestApp('sqlite', { notifications: { baseDelayMs: 1, maxAttempts: 2 } });
    try {
      const owner = await registerTestAgent(t.app);
      const listener = await registerTestAgent(t.app);
      await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
      const repo = await createTestRepo(t.app, owner);
      await patchRepo(t.app, owner, repo.id, 'ssrf');
      await t.app.notifications?.idle();
      expect(receiver.deliveries).toHaveLength(0);
      const failed = await t.app.inject({
        url: '/api/v1/me/notifications?status=failed',
        headers: listener.headers,
      });
      expect(failed.json().notifications[0].last_error).toMatch(/private network/);
    } finally {
      receiver.server.close();
      await t.close();
    }
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: webhook notifications`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let listener: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect, {
        notifications: { baseDelayMs: 5, maxAttempts: 3, timeoutMs: 2000, allowPrivateTargets: true },
      });
      owner = await registerTestAgent(t.app);
      listener = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('settings: validated, the secret shown once and on rotation', async () => {
      const bad = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/me/notification-settings',
        headers: listener.headers,
        payload: { webhook_url: 'ftp://example.org/x' },
      });
      expect(bad.statusCode).toBe(400);
      const unknownEvent = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/me/notification-settings',
        headers: listener.headers,
        payload: { webhook_url: 'https://example.org/x', events: ['nope'] },
      });
      expect(unknownEvent.statusCode).toBe(400);
      const first = await setWebhook(t.app, listener, { webhook_url: 'https://example.org/x' });
      expect(first.webhook_secret).toMatch(/^[0-9a-f]{64}$/);
      expect(first.settings).toEqual({
        webhook_url: 'https://example.org/x',
        events: [],
        enabled: true,
        has_secret: true,
        circuit: {
          target: 'example.org:443',
          state: 'closed',
          consecutive_failures: 0,
          open_until: null,
          last_error: null,
        },
      });
      const again = await setWebhook(t.app, listener, { events: ['stream.merged'] });
      expect(again.webhook_secret).toBeUndefined();
      const rotated = await setWebhook(t.app, listener, { rotate_secret: true });
      expect(rotated.webhook_secret).toMatch(/^[0-9a-f]{64}$/);
      expect(rotated.webhook_secret).not.toBe(first.webhook_secret);
      const read = await t.app.inject({ url: '/api/v1/me/notification-settings', headers: listener.headers });
      expect(read.json().settings).toEqual({
        webhook_url: 'https://example.org/x',
        events: ['stream.merged'],
        enabled: true,
        has_secret: true,
        circuit: {
          target: 'example.org:443',
          state: 'closed',
          consecutive_failures: 0,
          open_until: null,
          last_error: null,
        },
      });
    });

    it('delivers matching events, signed with the secret, recorded delivered; not its own events', async () => {
      const receiver = await startReceiver();
      try {
        const { webhook_secret: secret } = await setWebhook(t.app, listener, {
          webhook_url: receiver.url,
          events: ['repo.settings_changed'],
          rotate_secret: true,
        });
        const repo = await createTestRepo(t.app, owner);
        // Not ASCII, so the signed bytes must be the UTF-8 bytes sent.
        await patchRepo(t.app, owner, repo.id, 'first é ✓');
        await t.app.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(1);
        const delivery = receiver.deliveries[0] as Delivery;
        expect(delivery.headers['x-gitswarm-event']).toBe('repo.settings_changed');
        expect(delivery.headers['x-gitswarm-signature']).toBe(
          independentSignature(secret as string, delivery.raw),
        );
        expect(delivery.headers['x-gitswarm-signature']).not.toBe(
          independentSignature('not the secret', delivery.raw),
        );
        const payload = JSON.parse(delivery.body);
        expect(payload).toMatchObject({
          type: 'repo.settings_changed',
          event: {
            repo_id: repo.id,
            agent_id: owner.id,
            metadata: { changes: { description: 'first é ✓' } },
          },
        });
        expect(delivery.headers['x-gitswarm-delivery']).toBe(payload.id);
        const list = await t.app.inject({ url: '/api/v1/me/notifications', headers: listener.headers });
        expect(list.json().notifications[0]).toMatchObject({
          id: payload.id,
          type: 'repo.settings_changed',
          status: 'delivered',
          attempts: 1,
          last_error: null,
          read: false,
        });
        const read = await t.app.inject({
          method: 'POST',
          url: '/api/v1/me/notifications/read',
          headers: listener.headers,
          payload: { ids: [payload.id] },
        });
        expect(read.json()).toEqual({ updated: 1 });
        // The listener's own change is not sent back to it.
        const ownRepo = await createTestRepo(t.app, listener);
        await patchRepo(t.app, listener, ownRepo.id, 'mine');
        await t.app.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(1);
      } finally {
        receiver.server.close();
      }
    });

    it('retries with backoff until delivered, and records failures after the last attempt', async () => {
      const flaky = await startReceiver([500, 503]);
      try {
        await setWebhook(t.app, listener, { webhook_url: flaky.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'retry');
        await t.app.notifications?.idle();
        expect(flaky.deliveries).toHaveLength(3);
        const delivered = await t.app.inject({
          url: '/api/v1/me/notifications?status=delivered&limit=1',
          headers: listener.headers,
        });
        expect(delivered.json().notifications[0]).toMatchObject({
          status: 'delivered',
          attempts: 3,
          last_error: null,
        });
      } finally {
        flaky.server.close();
      }
      const down = await startReceiver([500, 500, 500, 500]);
      try {
        await setWebhook(t.app, listener, { webhook_url: down.url });
        const repo = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, repo.id, 'fail');
        await t.app.notifications?.idle();
        const failed = await t.app.inject({
          url: '/api/v1/me/notifications?status=failed',
          headers: listener.headers,
        });
        expect(failed.json().notifications.length).toBeGreaterThan(0);
        expect(failed.json().notifications[0]).toMatchObject({
          status: 'failed',
          attempts: 3,
          last_error: 'HTTP 500',
        });
      } finally {
        down.server.close();
      }
    });

    it('never notifies about repositories the agent cannot read', async () => {
      const receiver = await startReceiver();
      try {
        await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
        const secret = await createTestRepo(t.app, owner, { is_private: true });
        const open = await createTestRepo(t.app, owner);
        await patchRepo(t.app, owner, secret.id, 'hidden');
        await patchRepo(t.app, owner, open.id, 'visible');
        await t.app.notifications?.idle();
        expect(receiver.deliveries.map((d) => JSON.parse(d.body).event.repo_id)).toEqual([open.id]);
      } finally {
        receiver.server.close();
      }
    });
  });
}

for (const dialect of DIALECTS) {
  it(`${dialectLabel(dialect)}: a restarted server resumes the retries it owed`, async () => {
    const receiver = await startReceiver([500]);
    const store = await openTestStore(dialect);
    const options = {
      store,
      rateLimit: false as const,
      notifications: { baseDelayMs: 60_000, maxAttempts: 3, allowPrivateTargets: true },
    };
    try {
      const before = await buildApp(options);
      await before.ready();
      const owner = await registerTestAgent(before);
      const listener = await registerTestAgent(before);
      await setWebhook(before, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
      const repo = await createTestRepo(before, owner);
      await patchRepo(before, owner, repo.id, 'before the restart');
      // The first attempt is recorded; its retry is a minute away when the server stops.
      const owed = await waitFor(() =>
        store.db
          .selectFrom('gitswarm_agent_notifications')
          .selectAll()
          .where('agent_id', '=', listener.id)
          .where('attempts', '=', 1)
          .executeTakeFirst(),
      );
      await before.close();
      expect(receiver.deliveries).toHaveLength(1);
      expect(owed).toMatchObject({ delivered: false, attempts: 1, last_error: 'HTTP 500' });
      expect(owed.next_attempt_at).not.toBeNull();

      // Two minutes later a new server starts on the same database and makes the retry.
      const later = await buildApp({ ...options, clock: { now: () => new Date(Date.now() + 120_000) } });
      try {
        await later.ready();
        await later.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(2);
        expect(receiver.deliveries[1]?.headers['x-gitswarm-delivery']).toBe(owed.id);
        const listed = await later.inject({ url: '/api/v1/me/notifications', headers: listener.headers });
        expect(listed.json().notifications[0]).toMatchObject({
          id: owed.id,
          status: 'delivered',
          attempts: 2,
        });
      } finally {
        await later.close();
      }
    } finally {
      receiver.server.close();
      await store.close();
    }
  });
}

it('retries on time with a coarse clock: a sweep that finds its row not yet due comes back for it', async () => {
  const receiver = await startReceiver([500, 500]);
  // Readings in steps of 100 ms: a timer set for a 5 ms retry fires while the clock still reads
  // the time before the row is due.
  const coarse = { now: () => new Date(Math.floor(Date.now() / 100) * 100) };
  const t = await startTestApp('sqlite', {
    clock: coarse,
    notifications: { baseDelayMs: 5, maxAttempts: 3, allowPrivateTargets: true },
  });
  try {
    const owner = await registerTestAgent(t.app);
    const listener = await registerTestAgent(t.app);
    await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
    const repo = await createTestRepo(t.app, owner);
    await patchRepo(t.app, owner, repo.id, 'coarse');
    await t.app.notifications?.idle();
    expect(receiver.deliveries).toHaveLength(3);
    const listed = await t.app.inject({ url: '/api/v1/me/notifications', headers: listener.headers });
    expect(listed.json().notifications[0]).toMatchObject({ status: 'delivered', attempts: 3 });
  } finally {
    receiver.server.close();
    await t.close();
  }
}, 10_000);

for (const dialect of DIALECTS) {
  it(`${dialectLabel(dialect)}: the retry schedule doubles from the base delay, measured on the server's clock`, async () => {
    const base = 40;
    const receiver = await startReceiver([500, 502, 503, 500]);
    // A clock the test moves: each recorded next_attempt_at is exactly "the attempt's time + delay".
    let now = Date.parse('2030-01-01T00:00:00.000Z');
    const clock = { now: () => new Date(now) };
    const t = await startTestApp(dialect, {
      clock,
      notifications: { baseDelayMs: base, maxAttempts: 4, allowPrivateTargets: true },
    });
    try {
      const owner = await registerTestAgent(t.app);
      const listener = await registerTestAgent(t.app);
      await setWebhook(t.app, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
      const repo = await createTestRepo(t.app, owner);
      await patchRepo(t.app, owner, repo.id, 'backoff');
      const row = (attempts: number) =>
        waitFor(() =>
          t.store.db
            .selectFrom('gitswarm_agent_notifications')
            .selectAll()
            .where('agent_id', '=', listener.id)
            .where('attempts', '=', attempts)
            .executeTakeFirst(),
        );
      const schedule: (string | null)[] = [];
      const attemptedAt: number[] = [];
      for (let n = 1; n <= 4; n++) {
        attemptedAt.push(now);
        const recorded = await row(n);
        schedule.push(recorded.next_attempt_at);
        // Not due before its time: the receiver has seen exactly n attempts while the clock stands.
        expect(receiver.deliveries).toHaveLength(n);
        // Move the clock well past the due time; the dispatcher, polling, makes the next attempt.
        now += 10 * 60_000;
      }
      const at = (ms: number) => new Date(ms).toISOString();
      expect(schedule).toEqual([
        at(attemptedAt[0]! + base),
        at(attemptedAt[1]! + 2 * base),
        at(attemptedAt[2]! + 4 * base),
        // The last attempt failed: no retry planned.
        null,
      ]);
      const failed = await row(4);
      expect(failed).toMatchObject({ delivered: false, last_error: 'HTTP 500' });
    } finally {
      receiver.close();
      await t.close();
    }
  });
}

const redisSkip = await redisSkipReason();
describe.skipIf(redisSkip !== null)(
  withSkipReason('notifications with two instances on Redis', redisSkip),
  () => {
    let store: TestStore;
    let store2: Store;
    let first: App;
    let second: App;
    beforeAll(async () => {
      store = await openTestStore('sqlite');
      store2 = await openStore(store.location);
      const options = {
        redisUrl: TEST_REDIS_URL,
        redisChannel: uniqueChannel(),
        rateLimit: false as const,
        notifications: { baseDelayMs: 5, maxAttempts: 2, allowPrivateTargets: true },
      };
      first = await buildApp({ ...options, store });
      second = await buildApp({ ...options, store: store2 });
      await first.ready();
      await second.ready();
    });
    afterAll(async () => {
      await first.close();
      await second.close();
      await store2.close();
      await store.close();
    });

    it('an event heard by both instances is delivered once', async () => {
      const receiver = await startReceiver();
      try {
        const owner = await registerTestAgent(first);
        const listener = await registerTestAgent(second);
        await setWebhook(second, listener, { webhook_url: receiver.url, events: ['repo.settings_changed'] });
        const repo = await createTestRepo(first, owner);
        const heard = (app: App) =>
          new Promise<void>((resolve) => {
            const stop = app.events.subscribe((event) => {
              if (event.event_type === 'repo.settings_changed') {
                stop();
                resolve();
              }
            });
          });
        const both = Promise.all([heard(first), heard(second)]);
        await patchRepo(first, owner, repo.id, 'once');
        await both;
        await first.notifications?.idle();
        await second.notifications?.idle();
        expect(receiver.deliveries).toHaveLength(1);
        const rows = await store.db
          .selectFrom('gitswarm_agent_notifications')
          .selectAll()
          .where('agent_id', '=', listener.id)
          .execute();
        expect(rows.map((r) => r.delivered)).toEqual([true]);
      } finally {
        receiver.server.close();
      }
    });
  },
);
