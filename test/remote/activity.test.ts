/**
 * `gitswarm activity` on a connected clone: the server's log in Mode A's shape, and `--follow`
 * over the server's WebSocket: events made by another machine are printed as they happen, each
 * once, until the command is interrupted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBufferedIO } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';
import { shapeOf } from './shapes.js';

/** Polls `check` every 20 ms until it is true or 15 s pass. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: activity connected`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let laptop: TestClone;
    let runner: TestClone;
    let local: TestRepo;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      laptop = world.clone('laptop');
      local = createTestRepo({ inProcess: true });
      for (const side of [laptop, local]) {
        expect((await side.run(['init', ...(side === laptop ? ['--server', server.url] : [])])).code).toBe(0);
        expect((await side.run(['agent', 'register', 'alice'])).code).toBe(0);
        expect((await side.run(['budget', 'deposit', '10', '--as', 'alice'])).code).toBe(0);
      }
      const repoId = JSON.parse((await laptop.run(['init', '--json'])).stdout).server.repo_id;
      runner = world.clone('runner');
      expect((await runner.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      expect((await runner.run(['agent', 'register', 'bob'])).code).toBe(0);
    });
    afterAll(async () => {
      local?.close();
      world?.close();
      await server?.close();
    });

    it('lists the server’s log in Mode A’s shape', async () => {
      const connected = await laptop.run(['activity', '--json']);
      const alone = await local.run(['activity', '--json']);
      expect(connected.code, connected.stdout).toBe(0);
      const a = connected.json<{ activity: { event_type: string; agent_name: string | null }[] }>();
      expect(a.activity.map((e) => e.event_type)).toContain('budget.deposited');
      expect(a.activity.find((e) => e.event_type === 'budget.deposited')?.agent_name).toBe('alice');
      // The same event, the same shape (the logs differ: the server repository was made by alice).
      const deposit = (doc: { activity: { event_type: string }[] }) =>
        doc.activity.find((e) => e.event_type === 'budget.deposited');
      expect(shapeOf(deposit(a))).toEqual(shapeOf(deposit(alone.json())));
      expect(Object.keys(a)).toEqual(Object.keys(alone.json()));
      expect((await laptop.run(['activity', '--limit', '0'])).code).toBe(2);
    });

    it('--follow prints another machine’s events as they happen, each once', async () => {
      const controller = new AbortController();
      const io = createBufferedIO({ cwd: laptop.dir, env: laptop.env, signal: controller.signal });
      const running = runCli(['activity', '--follow', '--json', '--as', 'alice', '--limit', '5'], io);
      const lines = () =>
        io.out
          .join('')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      await until(() => lines().length >= 1, 'the first page');
      expect(lines()[0]).toHaveProperty('activity');

      // Another machine acts; the follower hears it over the WebSocket.
      expect((await runner.run(['task', 'create', 'Live one', '--as', 'bob'])).code).toBe(0);
      await until(() => lines().some((line) => line.event_type === 'task.created'), 'task.created');
      expect((await laptop.run(['budget', 'deposit', '5', '--as', 'alice'])).code).toBe(0);
      await until(
        () => lines().filter((line) => line.event_type === 'budget.deposited').length >= 1,
        'the deposit',
      );
      controller.abort();
      expect(await running).toBe(0);
      const events = lines().slice(1);
      const created = events.filter((line) => line.event_type === 'task.created');
      expect(created).toHaveLength(1);
      expect(created[0]?.agent_name).toBe('bob');
      expect(new Set(events.map((line) => line.id)).size).toBe(events.length);
    });

    it('--follow without a key says whose key it needs', async () => {
      const run = await laptop.run(['activity', '--follow', '--json']);
      expect(run.code).toBe(2);
      expect(run.json<{ error: { code: string } }>().error.code).toBe('agent_required');
    });
  });
}
