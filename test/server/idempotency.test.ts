import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo } from '../../src/core/repos/repos.js';
import { type App, buildApp } from '../../src/server/app.js';
import { ABANDONED_AFTER_MS } from '../../src/server/plugins/idempotency.js';
import {
  DIALECTS,
  dialectLabel,
  openTestStore,
  postgresServerSkipReason,
  withSkipReason,
} from '../helpers/store.js';
import { registerTestAgent, startTestApp, type TestAgent, type TestApp } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Idempotency-Key`, () => {
    let t: TestApp;
    let agent: TestAgent;
    let other: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect);
      agent = await registerTestAgent(t.app);
      other = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    const countRepos = async (name: string) =>
      (await t.store.db.selectFrom('gitswarm_repos').select('id').where('name', '=', name).execute()).length;

    it('replays the stored response for the same key and body; the write happens once', async () => {
      const request = {
        method: 'POST' as const,
        url: '/api/v1/repos',
        headers: { ...agent.headers, 'idempotency-key': 'create-1' },
        payload: { name: 'idem-repo' },
      };
      const first = await t.app.inject(request);
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const second = await t.app.inject(request);
      expect(second.statusCode).toBe(201);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.json()).toEqual(first.json());
      expect(await countRepos('idem-repo')).toBe(1);
    });

    it('refuses the same key with a different body: 409 idempotency_key_reused, nothing written', async () => {
      const headers = { ...agent.headers, 'idempotency-key': 'create-2' };
      await t.app.inject({ method: 'POST', url: '/api/v1/repos', headers, payload: { name: 'idem-a' } });
      const reused = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers,
        payload: { name: 'idem-b' },
      });
      expect(reused.statusCode).toBe(409);
      expect(reused.json().error.code).toBe('idempotency_key_reused');
      expect(await countRepos('idem-b')).toBe(0);
    });

    it('never keeps an answer that carries a webhook signing secret', async () => {
      const response = await t.app.inject({
        method: 'PUT',
        url: '/api/v1/me/notification-settings',
        headers: { ...agent.headers, 'idempotency-key': 'secret-1' },
        payload: { webhook_url: 'https://hooks.example.com/gitswarm', events: [] },
      });
      expect(response.statusCode).toBe(200);
      const secret = response.json().webhook_secret as string;
      expect(secret.length).toBeGreaterThan(16);
      const kept = await t.store.db.selectFrom('gitswarm_idempotency_keys').selectAll().execute();
      expect(JSON.stringify(kept)).not.toContain(secret);
    });

    it('keys are per agent', async () => {
      const payload = { name: 'idem-shared' };
      const a = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: { ...agent.headers, 'idempotency-key': 'same' },
        payload,
      });
      const b = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: { ...other.headers, 'idempotency-key': 'same' },
        payload,
      });
      expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
      expect(b.headers['idempotent-replayed']).toBeUndefined();
      expect(await countRepos('idem-shared')).toBe(2);
    });

    it('replays refusals (4xx) too, but not malformed keys', async () => {
      const repo = (
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/repos',
          headers: agent.headers,
          payload: { name: 'idem-c' },
        })
      ).json().repo;
      const request = {
        method: 'POST' as const,
        url: `/api/v1/repos/${repo.id}/maintainers`,
        headers: { ...agent.headers, 'idempotency-key': 'add-nobody' },
        payload: { agent_id: 'nobody-yet' },
      };
      expect((await t.app.inject(request)).statusCode).toBe(404);
      const replay = await t.app.inject(request);
      expect(replay.statusCode).toBe(404);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json().error.code).toBe('agent_not_found');

      const bad = await t.app.inject({
        method: 'POST',
        url: '/api/v1/repos',
        headers: { ...agent.headers, 'idempotency-key': 'has space' },
        payload: { name: 'idem-d' },
      });
      expect(bad.statusCode).toBe(400);
      expect(await countRepos('idem-d')).toBe(0);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Idempotency-Key when the handler fails after a commit`, () => {
    it('a 500 after a committed transaction: the retry replays that transaction instead of running it', async () => {
      const store = await openTestStore(dialect);
      const app = await buildApp({ store, rateLimit: false, notifications: false });
      // A handler that commits a repository, then fails once (a crash between two steps).
      let failures = 1;
      app.post('/api/v1/test/two-steps', async (request, reply) => {
        const repo = await createRepo(app.deps, { name: (request.body as { name: string }).name });
        if (failures-- > 0) throw new Error('failed after the commit');
        reply.code(201);
        return { repo_id: repo.id };
      });
      await app.ready();
      try {
        const agent = await registerTestAgent(app);
        const request = {
          method: 'POST' as const,
          url: '/api/v1/test/two-steps',
          headers: { ...agent.headers, 'idempotency-key': 'two-steps' },
          payload: { name: 'two-steps' },
        };
        expect((await app.inject(request)).statusCode).toBe(500);
        const retried = await app.inject(request);
        expect(retried.statusCode).toBe(201);
        expect(retried.headers['idempotent-replayed']).toBe('true');
        const repos = await store.db
          .selectFrom('gitswarm_repos')
          .select('id')
          .where('name', '=', 'two-steps')
          .execute();
        expect(repos.map((r) => r.id)).toEqual([retried.json().repo_id]);
        const again = await app.inject(request);
        expect(again.json()).toEqual(retried.json());
      } finally {
        await app.close();
        await store.close();
      }
    });
  });
}

/** A promise with its resolver outside: the test opens it when it wants the held request to go on. */
function barrier() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * An app with test-only write routes that the test steers from outside: a request can be held
 * inside its handler (so a second request really overlaps it), and a route answers with the status
 * the test asks for. The clock is the test's, so a held key can be made abandoned.
 */
async function startSteeredApp(dialect: (typeof DIALECTS)[number]) {
  const store = await openTestStore(dialect);
  let now = Date.parse('2030-01-01T00:00:00.000Z');
  const clock = { now: () => new Date(now) };
  const app: App = await buildApp({ store, rateLimit: false, notifications: false, clock });
  const held: { entered: () => void; release: Promise<void> }[] = [];
  let runs = 0;
  // Creates the repository, then waits at the next barrier the test queued (if any) before answering.
  app.post('/api/v1/test/held', async (request, reply) => {
    runs += 1;
    const gate = held.shift();
    if (gate) {
      gate.entered();
      await gate.release;
    }
    const repo = await createRepo(app.deps, { name: (request.body as { name: string }).name });
    reply.code(201);
    return { repo_id: repo.id, run: runs };
  });
  // Commits a repository, then fails once (a server error after a commit).
  let failuresLeft = 1;
  app.post('/api/v1/test/commit-then-fail', async (request, reply) => {
    runs += 1;
    const repo = await createRepo(app.deps, { name: (request.body as { name: string }).name });
    if (failuresLeft-- > 0) throw new Error('failed after the commit');
    reply.code(201);
    return { repo_id: repo.id };
  });
  // Answers with the status in the body (a server error or a rate-limit refusal), writing nothing.
  app.post('/api/v1/test/status', async (request, reply) => {
    runs += 1;
    const { status } = request.body as { status: number };
    reply.code(status);
    return { error: { code: status === 429 ? 'rate_limited' : 'internal_error', message: 'test' } };
  });
  await app.ready();
  const agent = await registerTestAgent(app);
  return {
    app,
    store,
    agent,
    runs: () => runs,
    advance: (ms: number) => {
      now += ms;
    },
    /** Queues a barrier: the next /test/held request announces `entered` and waits for `release()`. */
    hold() {
      const entered = barrier();
      const release = barrier();
      held.push({ entered: entered.open, release: release.opened });
      return { entered: entered.opened, release: release.open };
    },
    async keyRow(key: string) {
      return store.db
        .selectFrom('gitswarm_idempotency_keys')
        .selectAll()
        .where('key', '=', `${agent.id}:${key}`)
        .executeTakeFirst();
    },
    async countRepos(name: string) {
      return (await store.db.selectFrom('gitswarm_repos').select('id').where('name', '=', name).execute())
        .length;
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Idempotency-Key with overlapping requests`, () => {
    let s: Awaited<ReturnType<typeof startSteeredApp>>;
    beforeAll(async () => {
      s = await startSteeredApp(dialect);
    });
    afterAll(async () => {
      await s.close();
    });

    const held = (key: string, name: string) => ({
      method: 'POST' as const,
      url: '/api/v1/test/held',
      headers: { ...s.agent.headers, 'idempotency-key': key },
      payload: { name },
    });

    it('a duplicate that arrives while the first is inside its handler is refused (409 invalid_state); later ones replay', async () => {
      const gate = s.hold();
      const first = s.app.inject(held('overlap', 'idem-overlap'));
      await gate.entered;
      // The first request is running now, its key claimed and not finished.
      expect((await s.keyRow('overlap'))?.status_code).toBe(0);
      const duplicate = await s.app.inject(held('overlap', 'idem-overlap'));
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json().error.code).toBe('invalid_state');
      expect(duplicate.json().error.message).toMatch(/still running/);
      expect(duplicate.json().error.hint).toContain(`${ABANDONED_AFTER_MS / 1000} s`);
      expect(s.runs()).toBe(1);
      // Still refused at exactly the abandonment age: only older than that is abandoned.
      s.advance(ABANDONED_AFTER_MS);
      expect((await s.app.inject(held('overlap', 'idem-overlap'))).statusCode).toBe(409);
      expect(s.runs()).toBe(1);
      gate.release();
      const answered = await first;
      expect(answered.statusCode).toBe(201);
      expect(answered.headers['idempotent-replayed']).toBeUndefined();
      const replay = await s.app.inject(held('overlap', 'idem-overlap'));
      expect(replay.statusCode).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(answered.json());
      expect(s.runs()).toBe(1);
      expect(await s.countRepos('idem-overlap')).toBe(1);
    });

    it('a key abandoned by a request that never finished is taken over; the old request can no longer write', async () => {
      const gate = s.hold();
      const stalled = s.app.inject(held('abandoned', 'idem-abandoned'));
      await gate.entered;
      const claimed = await s.keyRow('abandoned');
      // One millisecond past the abandonment age: a retry takes the key over and runs the handler.
      s.advance(ABANDONED_AFTER_MS + 1);
      const retryGate = s.hold();
      const retry = s.app.inject(held('abandoned', 'idem-abandoned'));
      await retryGate.entered;
      const taken = await s.keyRow('abandoned');
      expect(taken?.created_at).not.toBe(claimed?.created_at);
      expect(taken?.status_code).toBe(0);
      // The stalled request wakes up while the retry still runs: its claim is gone, its write must not commit.
      gate.release();
      const late = await stalled;
      expect(late.statusCode).toBe(409);
      expect(late.json().error.code).toBe('invalid_state');
      expect(await s.countRepos('idem-abandoned')).toBe(0);
      retryGate.release();
      const takeover = await retry;
      expect(takeover.statusCode).toBe(201);
      // Nothing had committed under the old claim: nothing to replay.
      expect(takeover.headers['idempotent-replayed']).toBeUndefined();
      expect((await s.keyRow('abandoned'))?.status_code).toBe(201);
      expect(await s.countRepos('idem-abandoned')).toBe(1);
      // The stored answer is the takeover's.
      const replay = await s.app.inject(held('abandoned', 'idem-abandoned'));
      expect(replay.json()).toEqual(takeover.json());
    });

    it('a 500 after a commit releases the key at once: a retry at the same instant takes it over and replays', async () => {
      const request = {
        method: 'POST' as const,
        url: '/api/v1/test/commit-then-fail',
        headers: { ...s.agent.headers, 'idempotency-key': 'commit-then-fail' },
        payload: { name: 'idem-commit-then-fail' },
      };
      expect((await s.app.inject(request)).statusCode).toBe(500);
      const kept = await s.keyRow('commit-then-fail');
      expect(kept).toMatchObject({ status_code: 0 });
      expect(kept?.effects).toHaveLength(1);
      // The clock has not moved: only a key released as abandoned can be taken over now.
      const retried = await s.app.inject(request);
      expect(retried.statusCode).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBe('true');
      expect(await s.countRepos('idem-commit-then-fail')).toBe(1);
    });

    for (const status of [500, 503, 429]) {
      it(`a ${status} answer is not stored: the key is released and a retry runs the handler again`, async () => {
        const key = `status-${status}`;
        const request = {
          method: 'POST' as const,
          url: '/api/v1/test/status',
          headers: { ...s.agent.headers, 'idempotency-key': key },
          payload: { status },
        };
        const before = s.runs();
        const first = await s.app.inject(request);
        expect(first.statusCode).toBe(status);
        expect(await s.keyRow(key)).toBeUndefined();
        const retried = await s.app.inject(request);
        expect(retried.statusCode).toBe(status);
        expect(retried.headers['idempotent-replayed']).toBeUndefined();
        expect(s.runs()).toBe(before + 2);
      });
    }

    for (const status of [400, 428, 499]) {
      it(`a ${status} answer is stored and replayed without running the handler`, async () => {
        const key = `status-${status}`;
        const request = {
          method: 'POST' as const,
          url: '/api/v1/test/status',
          headers: { ...s.agent.headers, 'idempotency-key': key },
          payload: { status },
        };
        const before = s.runs();
        expect((await s.app.inject(request)).statusCode).toBe(status);
        expect((await s.keyRow(key))?.status_code).toBe(status);
        const replay = await s.app.inject(request);
        expect(replay.statusCode).toBe(status);
        expect(replay.headers['idempotent-replayed']).toBe('true');
        expect(s.runs()).toBe(before + 1);
      });
    }
  });
}

// The claim of an abandoned key is a compare-and-swap. PostgreSQL makes the race deterministic: a
// row lock held by the test stops both retries at their claim (after both have read the row).
{
  const skip = postgresServerSkipReason('postgres');
  describe.skipIf(skip !== null)(
    withSkipReason('postgres: two retries racing for one abandoned key', skip),
    () => {
      let s: Awaited<ReturnType<typeof startSteeredApp>>;
      beforeAll(async () => {
        s = await startSteeredApp('postgres');
      });
      afterAll(async () => {
        await s?.close();
      });

      it('both read the abandoned row, one claims it, the other is refused; the write happens once', async () => {
        const request = {
          method: 'POST' as const,
          url: '/api/v1/test/held',
          headers: { ...s.agent.headers, 'idempotency-key': 'race' },
          payload: { name: 'idem-race' },
        };
        const gate = s.hold();
        const stalled = s.app.inject(request);
        await gate.entered;
        s.advance(ABANDONED_AFTER_MS + 1);
        const key = `${s.agent.id}:race`;
        const waitingClaims = async () => {
          const { rows } = await sql<{ n: string }>`
            select count(*) as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
              and query ilike '%update%gitswarm_idempotency_keys%'`.execute(s.store.db);
          return Number(rows[0]?.n);
        };
        const runsBefore = s.runs();
        let retries: Promise<Awaited<ReturnType<typeof s.app.inject>>[]> | undefined;
        await s.store.db.transaction().execute(async (trx) => {
          await sql`select key from gitswarm_idempotency_keys where key = ${key} for update`.execute(trx);
          retries = Promise.all([s.app.inject(request), s.app.inject(request)]);
          const deadline = Date.now() + 10_000;
          while ((await waitingClaims()) < 2) {
            if (Date.now() > deadline) throw new Error('the two retries never both reached their claim');
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        });
        const answers = await (retries as NonNullable<typeof retries>);
        // Only the retry that claimed the key ran the handler.
        expect(s.runs() - runsBefore).toBe(1);
        expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 409]);
        expect(answers.find((r) => r.statusCode === 409)?.json().error.code).toBe('invalid_state');
        gate.release();
        expect((await stalled).statusCode).toBe(409);
        expect(await s.countRepos('idem-race')).toBe(1);
      });
    },
  );
}
