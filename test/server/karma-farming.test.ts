/**
 * The karma-farming attack of issue 10 over HTTP: A's repository X, a free deposit, ten
 * 1000-credit bounties claimed by A's puppet P with its own streams and approved by A. P is paid
 * the credits and earns no karma; in B's `karma_threshold` repository P may not write, and in B's
 * `open`-model repository P's approval weighs the base weight against B's and a maintainer's change
 * requests, so the stream does not merge.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: karma cannot be farmed over HTTP`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    const call = (agent: TestAgent, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    async function recordStream(agent: TestAgent, repoId: string, task?: string) {
      const id = randomBytes(6).toString('hex');
      const response = await call(agent, 'POST', `/repos/${repoId}/streams`, {
        id,
        name: `work-${id}`,
        base_branch: 'buffer',
        ...(task ? { task } : {}),
      });
      return { id, status: response.status, body: response.body };
    }

    it('ten self-funded bounties pay the puppet credits and open nothing in B’s repositories', async () => {
      const a = await registerTestAgent(t.app);
      const p = await registerTestAgent(t.app);
      const b = await registerTestAgent(t.app);
      const m = await registerTestAgent(t.app);
      const x = await createTestRepo(t.app, a);
      expect((await call(a, 'POST', `/repos/${x.id}/budget/deposit`, { amount: 10_000 })).status).toBe(201);
      for (let round = 1; round <= 10; round++) {
        const task = (
          await call(a, 'POST', `/repos/${x.id}/tasks`, { title: `Chore ${round}`, amount: 1000 })
        ).body.task;
        expect((await recordStream(p, x.id, task.id)).status).toBe(201);
        const [claim] = (await call(p, 'GET', `/tasks/${task.id}`)).body.claims;
        expect((await call(p, 'POST', `/claims/${claim.id}/submit`)).status).toBe(200);
        const paid = await call(a, 'POST', `/claims/${claim.id}/review`, { verdict: 'approve' });
        expect(paid.body).toMatchObject({ payout: 1000 });
      }
      expect((await call(a, 'GET', `/repos/${x.id}/budget`)).body.budget).toMatchObject({
        paid_out_credits: 10_000,
      });
      expect((await call(p, 'GET', `/agents/${p.id}/karma`)).body).toEqual({
        agent_id: p.id,
        total: 0,
        repositories: [],
      });

      // Y: write access from 100 karma in Y. P is refused what needs write.
      const y = await createTestRepo(t.app, b, { agent_access: 'karma_threshold', min_karma: 100 });
      const refusedTask = await call(p, 'POST', `/repos/${y.id}/tasks`, { title: 'Mine now' });
      expect(refusedTask.status).toBe(403);
      expect(refusedTask.body.error.code).toBe('forbidden');
      expect((await recordStream(p, y.id)).status).toBe(403);

      // Y2: open model. A's stream, P approves, B and the maintainer M ask for changes.
      const y2 = await createTestRepo(t.app, b, {
        merge_mode: 'review',
        ownership_model: 'open',
        consensus_threshold: 0.66,
      });
      expect((await call(b, 'POST', `/repos/${y2.id}/maintainers`, { agent_id: m.id })).status).toBe(201);
      const stream = await recordStream(a, y2.id);
      expect(stream.status).toBe(201);
      const commit = await call(a, 'POST', `/streams/${stream.id}/commits`, {
        commit: randomBytes(20).toString('hex'),
        change_id: `I${randomBytes(20).toString('hex')}`,
        message: 'Take over',
      });
      expect(commit.status).toBe(201);
      for (const [reviewer, verdict] of [
        [p, 'approve'],
        [b, 'request_changes'],
        [m, 'request_changes'],
      ] as const) {
        expect((await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict })).status).toBe(201);
      }
      const consensus = (await call(a, 'GET', `/streams/${stream.id}/consensus`)).body.consensus;
      expect(consensus).toMatchObject({ reached: false, reason: 'below_threshold' });
      expect(consensus.ratio).toBeCloseTo(1 / 3, 9);
      const merge = await call(a, 'POST', `/streams/${stream.id}/merge`);
      expect(merge.status).toBe(409);
      expect(merge.body.error.code).toBe('no_consensus');
    });
  });
}
