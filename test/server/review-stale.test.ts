/**
 * Reviews follow the code over HTTP (a Mode B server, no clone): a verdict records the head the
 * client last reported; a newly reported commit makes it stale, which GET reviews and GET
 * consensus show, and the merge decision refuses until the reviewer approves the new head.
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

const sha = () => randomBytes(20).toString('hex');

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stale reviews over HTTP`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    let reviewer: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('a new reported head makes the approval stale; re-approving makes it count again', async () => {
      const repo = await createTestRepo(t.app, owner, { ownership_model: 'guild', min_reviews: 1 });
      expect(repo.stale_reviews).toBe('dismiss');
      await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id });
      const stream = (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'feature' })).body
        .stream;
      const first = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: first });
      const given = await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      expect(given.status).toBe(201);
      expect(given.body.review).toMatchObject({ head_commit: first, diff_fingerprint: null, stale: false });
      expect(given.body.consensus).toMatchObject({ reached: true, stale_approvals: 0, head_commit: first });

      const second = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: second });
      const listed = await call(reviewer, 'GET', `/streams/${stream.id}/reviews`);
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ head_commit: second, stale: 1, stale_reviews: 'dismiss' });
      expect(listed.body.reviews).toEqual([
        expect.objectContaining({ reviewer_id: reviewer.id, head_commit: first, stale: true }),
      ]);
      const consensus = await call(reviewer, 'GET', `/streams/${stream.id}/consensus`);
      expect(consensus.body.consensus).toMatchObject({
        reached: false,
        approvals: 0,
        stale_approvals: 1,
        stale_rejections: 0,
        stale_reviews: 'dismiss',
        head_commit: second,
      });
      const refused = await call(author, 'POST', `/streams/${stream.id}/merge`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('no_consensus');

      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      const approved = await call(author, 'POST', `/streams/${stream.id}/merge`);
      expect(approved.status).toBe(200);
      expect(approved.body.consensus).toMatchObject({ reached: true, stale_approvals: 0 });
    });

    it('stale_reviews is a repository setting: keep makes stale verdicts count; bad values are 400', async () => {
      const repo = await createTestRepo(t.app, owner, { ownership_model: 'guild', min_reviews: 1 });
      const bad = await call(owner, 'PATCH', `/repos/${repo.id}`, { stale_reviews: 'forget' });
      expect(bad.status).toBe(400);
      const set = await call(owner, 'PATCH', `/repos/${repo.id}`, { stale_reviews: 'keep' });
      expect(set.status).toBe(200);
      expect(set.body.repo.stale_reviews).toBe('keep');
      await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id });
      const stream = (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'kept' })).body.stream;
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
      const consensus = await call(reviewer, 'GET', `/streams/${stream.id}/consensus`);
      expect(consensus.body.consensus).toMatchObject({
        reached: true,
        approvals: 1,
        stale_approvals: 1,
        stale_reviews: 'keep',
      });
    });
  });
}
