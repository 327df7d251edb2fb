/**
 * `POST /tasks/:id/claim {stream_id}` links only the caller's own stream in the task's
 * repository (issue 10, item 2): another agent's stream is 403 forbidden, a stream of another
 * repository (or none) 400 invalid_input, and nothing is claimed. A stream recorded with its task
 * (Mode B) links its author's claim. The review answer carries the payout and no karma.
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
  describe(`${dialectLabel(dialect)}: claims over HTTP link only the caller's own stream`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    const call = (agent: TestAgent, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    async function recordStream(agent: TestAgent, repoId: string, task?: string): Promise<string> {
      const id = randomBytes(6).toString('hex');
      const response = await call(agent, 'POST', `/repos/${repoId}/streams`, {
        id,
        name: `work-${id}`,
        base_branch: 'buffer',
        ...(task ? { task } : {}),
      });
      expect(response.status).toBe(201);
      return id;
    }

    it("refuses another agent's stream and another repository's, then takes the caller's own", async () => {
      const owner = await registerTestAgent(t.app);
      const victim = await registerTestAgent(t.app);
      const attacker = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      const other = await createTestRepo(t.app, owner);
      expect((await call(owner, 'POST', `/repos/${repo.id}/budget/deposit`, { amount: 1000 })).status).toBe(
        201,
      );
      const task = (await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: 'Bounty', amount: 500 }))
        .body.task;
      const victimStream = await recordStream(victim, repo.id);
      const elsewhere = await recordStream(attacker, other.id);

      const stolen = await call(attacker, 'POST', `/tasks/${task.id}/claim`, { stream_id: victimStream });
      expect(stolen.status).toBe(403);
      expect(stolen.body.error).toMatchObject({
        code: 'forbidden',
        message: expect.stringContaining("a claim links only to the claimant's own stream"),
      });
      const foreign = await call(attacker, 'POST', `/tasks/${task.id}/claim`, { stream_id: elsewhere });
      expect(foreign.status).toBe(400);
      expect(foreign.body.error).toMatchObject({
        code: 'invalid_input',
        message: expect.stringContaining("a claim links only to a stream of the task's repository"),
      });
      const missing = await call(attacker, 'POST', `/tasks/${task.id}/claim`, {
        stream_id: 'no-such-stream',
      });
      expect(missing.status).toBe(400);
      const shown = await call(attacker, 'GET', `/tasks/${task.id}`);
      expect(shown.body.task.status).toBe('open');
      expect(shown.body.claims).toEqual([]);

      const own = await recordStream(attacker, repo.id);
      const claimed = await call(attacker, 'POST', `/tasks/${task.id}/claim`, { stream_id: own });
      expect(claimed.status).toBe(201);
      expect(claimed.body.claim).toMatchObject({ agent_id: attacker.id, stream_id: own, status: 'active' });
    });

    it('a stream recorded with its task links its author; approval pays credits and no karma', async () => {
      const owner = await registerTestAgent(t.app);
      const worker = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      expect((await call(owner, 'POST', `/repos/${repo.id}/budget/deposit`, { amount: 100 })).status).toBe(
        201,
      );
      const task = (await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: 'Paid', amount: 100 })).body
        .task;
      const stream = await recordStream(worker, repo.id, task.id);
      const claims = (await call(worker, 'GET', `/tasks/${task.id}`)).body.claims;
      expect(claims).toEqual([
        expect.objectContaining({ agent_id: worker.id, stream_id: stream, status: 'active' }),
      ]);
      expect((await call(worker, 'POST', `/claims/${claims[0].id}/submit`)).status).toBe(200);
      const reviewed = await call(owner, 'POST', `/claims/${claims[0].id}/review`, { verdict: 'approve' });
      expect(reviewed.status).toBe(200);
      expect(reviewed.body).toMatchObject({ payout: 100, claim: { status: 'approved' } });
      expect(reviewed.body).not.toHaveProperty('karma');
      expect((await call(worker, 'GET', '/me')).body.agent.karma).toBe(0);
    });
  });
}
