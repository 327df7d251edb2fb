/**
 * `GET /agents/:id/karma`: the agent's karma in each repository the caller may read, and the
 * total (shown only; no rule reads it). `/me` keeps showing the total.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adjustKarma } from '../../src/core/governance/karma.js';
import { inTransaction } from '../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { callApi, createTestRepo, registerTestAgent, startTestApp, type TestApp } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: karma per repository over HTTP`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    it('lists karma per readable repository with the total', async () => {
      const owner = await registerTestAgent(t.app);
      const worker = await registerTestAgent(t.app);
      const stranger = await registerTestAgent(t.app);
      const open = await createTestRepo(t.app, owner);
      const hidden = await createTestRepo(t.app, owner, { is_private: true });
      await inTransaction(t.store.db, async (trx) => {
        await adjustKarma(t.app.deps, trx, {
          agentId: worker.id,
          repoId: open.id,
          amount: 5,
          reason: 'test',
        });
        await adjustKarma(t.app.deps, trx, {
          agentId: worker.id,
          repoId: hidden.id,
          amount: 30,
          reason: 'test',
        });
      });

      const asOwner = await callApi(t.app, owner, { method: 'GET', url: `/agents/${worker.name}/karma` });
      expect(asOwner.status).toBe(200);
      expect(asOwner.body).toEqual({
        agent_id: worker.id,
        total: 35,
        repositories: [
          { repo_id: hidden.id, repo_name: hidden.name, karma: 30 },
          { repo_id: open.id, repo_name: open.name, karma: 5 },
        ],
      });
      // A private repository the caller cannot read is left out (the total is public, as on /agents/:id).
      for (const caller of [stranger, null]) {
        const seen = await callApi(t.app, caller, { method: 'GET', url: `/agents/${worker.id}/karma` });
        expect(seen.body.repositories).toEqual([{ repo_id: open.id, repo_name: open.name, karma: 5 }]);
      }
      expect((await callApi(t.app, worker, { method: 'GET', url: '/me' })).body.agent.karma).toBe(35);
      const missing = await callApi(t.app, owner, { method: 'GET', url: '/agents/nobody-here/karma' });
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('agent_not_found');
    });
  });
}
