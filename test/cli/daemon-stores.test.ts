/**
 * The command server's open stores (src/cli/daemon/open-stores.ts) as its commands use them: every
 * command that reads or writes the store borrows it from the server, `init` included, so the
 * server opens each store once and a command does not pay for opening and checking its schema.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenStores, type OpenStores } from '../../src/cli/daemon/open-stores.js';
import { setStoreLender } from '../../src/cli/daemon/store-seam.js';
import { makeRepo, TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';
import { runInProcess } from './in-process.js';

let stores: OpenStores | undefined;
let repo: TestRepo | undefined;
afterEach(async () => {
  setStoreLender(undefined);
  await stores?.closeAll();
  repo?.cleanup();
  stores = undefined;
  repo = undefined;
});

describe('commands in the command server', () => {
  it('init, a second init and the commands after borrow one store, which stays open', async () => {
    repo = await makeRepo();
    const dir = repo.dir;
    stores = createOpenStores();
    setStoreLender(stores);
    const run = (...args: string[]) => runInProcess(args, { cwd: dir, env: TEST_ENV });

    const first = await run('init', '--model', 'solo');
    expect(first.code).toBe(0);
    // Borrowed, not opened for the command and closed after: the server keeps it.
    expect(stores.size).toBe(1);
    const again = await run('init', '--model', 'solo');
    expect(again.stdout).toContain('already initialized');
    expect((await run('agent', 'register', 'owner')).code).toBe(0);
    expect(stores.size).toBe(1);

    // The kept store is the one the commands wrote: a borrower sees the agent.
    const borrowed = await stores.borrow(`${dir}/.gitswarm/federation.db`);
    const agents = await borrowed.store.db.selectFrom('gitswarm_agents').select('name').execute();
    await borrowed.release();
    expect(agents.map((agent) => agent.name)).toEqual(['owner']);
  });
});
