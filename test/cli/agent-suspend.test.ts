/**
 * `gitswarm agent suspend|reinstate` on the local store, both dialects: only an admin of the
 * repository may; a suspended agent cannot act (`--as` it fails with agent_suspended, exit 1)
 * until reinstated, and `agent show` still shows it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, type TestRepo } from './helpers.js';
import { storeEnv } from './in-process.js';

interface Reply {
  error: { code: string };
  agent: { name: string; status: string };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm agent suspend`, () => {
    let repo: TestRepo;
    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect), inProcess: true });
      for (const args of [
        ['init', '--name', 'susp'],
        ['agent', 'register', 'owner'],
        ['agent', 'register', 'worker'],
      ]) {
        expect((await repo.run([...args, '--json'])).code).toBe(0);
      }
    });
    afterAll(() => repo.close());

    const json = async (args: string[]) => {
      const run = await repo.run([...args, '--json']);
      return { code: run.code, body: run.json<Reply>() };
    };

    it('refuses a non-admin, suspends for an admin, and the suspended agent cannot act', async () => {
      const byWorker = await json(['agent', 'suspend', 'owner', '--as', 'worker']);
      expect(byWorker.code).toBe(1);
      expect(byWorker.body.error.code).toBe('forbidden');

      const suspended = await json(['agent', 'suspend', 'WORKER', '--as', 'owner']);
      expect(suspended.code).toBe(0);
      expect(suspended.body.agent).toMatchObject({ name: 'worker', status: 'suspended' });

      const acting = await json(['workspace', 'create', '--as', 'worker', '--name', 'w1']);
      expect(acting.code).toBe(1);
      expect(acting.body.error.code).toBe('agent_suspended');
      expect((await json(['agent', 'show', 'worker'])).body.agent.status).toBe('suspended');

      const reinstated = await json(['agent', 'reinstate', 'worker', '--as', 'owner']);
      expect(reinstated.body.agent.status).toBe('active');
      expect((await json(['agent', 'show', 'worker'])).body.agent.status).toBe('active');
    });
  });
}
