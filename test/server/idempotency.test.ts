import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo } from '../../src/core/repos.js';
import { buildApp } from '../../src/server/app.js';
import { DIALECTS, dialectLabel, openTestStore } from '../helpers/store.js';
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

    it('concurrent duplicates: one runs, the other is refused or replayed, never both written', async () => {
      const request = {
        method: 'POST' as const,
        url: '/api/v1/repos',
        headers: { ...agent.headers, 'idempotency-key': 'race' },
        payload: { name: 'idem-race' },
      };
      const results = await Promise.all([t.app.inject(request), t.app.inject(request)]);
      const statuses = results.map((r) => r.statusCode).sort();
      expect([
        [201, 201],
        [201, 409],
      ]).toContainEqual(statuses);
      expect(await countRepos('idem-race')).toBe(1);
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
