/**
 * The governance nouns on a connected clone (agent, maintainer, access, config, stage, budget):
 * each command changes the server's state, leaves the clone's local store alone, and prints the
 * same `--json` shape (keys and value types) and exit code as the same command in Mode A.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, createTestRepo, type TestRepo } from '../cli/helpers.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';
import { shapeOf } from './shapes.js';

/** The same command lines, in order, on both sides. */
const SCRIPT: readonly (readonly string[])[] = [
  ['agent', 'list'],
  ['agent', 'show', 'bob'],
  ['maintainer', 'add', 'bob', '--as', 'alice'],
  ['maintainer', 'list'],
  ['maintainer', 'remove', 'bob', '--as', 'alice'],
  ['access', 'grant', 'bob', 'write', '--as', 'alice'],
  ['access', 'list'],
  ['agent', 'show', 'bob'],
  ['access', 'revoke', 'bob', '--as', 'alice'],
  ['config'],
  ['config', 'merge_mode'],
  ['config', 'consensus_threshold', '0.75', '--as', 'alice'],
  ['config', 'consensus_threshold', '0.75', '--as', 'alice'],
  ['stage'],
  ['stage', 'advance', '--force', 'growth', '--as', 'alice'],
  ['budget', 'deposit', '100', '--as', 'alice'],
  ['budget'],
  ['budget', 'history'],
  // Refusals: the same code and exit on both sides.
  ['maintainer', 'add', 'bob', '--as', 'bob'],
  ['config', 'merge_mode', 'swarm', '--as', 'bob'],
  ['config', 'no_such_key'],
  ['budget', 'deposit', '5', '--as', 'bob'],
  ['agent', 'show', 'nobody'],
];

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: governance nouns connected`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let local: TestRepo;
    let repoId: string;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      clone = world.clone();
      local = createTestRepo({ inProcess: true });
      for (const side of [clone, local]) {
        expect((await side.run(['init'].concat(side === clone ? ['--server', server.url] : []))).code).toBe(
          0,
        );
        expect((await side.run(['agent', 'register', 'alice'])).code).toBe(0);
        expect((await side.run(['agent', 'register', 'bob'])).code).toBe(0);
      }
      repoId = JSON.parse((await clone.run(['init', '--json'])).stdout).server.repo_id;
    });
    afterAll(async () => {
      local?.close();
      world?.close();
      await server?.close();
    });

    it('prints what Mode A prints, command by command', async () => {
      for (const line of SCRIPT) {
        const connected: CliRun = await clone.run([...line, '--json']);
        const alone: CliRun = await local.run([...line, '--json']);
        const label = line.join(' ');
        expect(connected.code, `${label}: ${connected.stdout}`).toBe(alone.code);
        const a = connected.json<Record<string, unknown>>();
        const b = alone.json<Record<string, unknown>>();
        if (alone.code !== 0) {
          expect((a.error as { code: string }).code, label).toBe((b.error as { code: string }).code);
          continue;
        }
        expect(shapeOf(a), label).toEqual(shapeOf(b));
      }
    });

    it('changed the server, not the local store', async () => {
      // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked by the assertions.
      const get = async (path: string) => (await fetch(`${server.url}/api/v1${path}`)).json() as Promise<any>;
      const repo = (await get(`/repos/${repoId}`)).repo;
      expect(repo.consensus_threshold).toBe(0.75);
      expect(repo.stage).toBe('growth');
      expect((await get(`/repos/${repoId}/budget`)).budget.total_credits).toBe(100);
      // The clone's own store knows no agents: governance lives on the server.
      const { openStore } = await import('../../src/store/index.js');
      const store = await openStore(`${clone.dir}/.gitswarm/federation.db`);
      try {
        const agents = await store.db.selectFrom('gitswarm_agents').select('name').execute();
        expect(agents).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('text output for people works too', async () => {
      const text = await clone.run(['maintainer', 'list']);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^alice\s+owner/m);
      const budget = await clone.run(['budget']);
      expect(budget.stdout).toMatch(/available\s+100/);
    });
  });
}
