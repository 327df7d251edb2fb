/**
 * `gitswarm sync` from the CLI against a real server (both databases): the server down (exit 4 and
 * what waits), then up (each queued write once, in order), again (nothing), a write refused for
 * good (kept, shown, dropped with --drop), a repository with no server (exit 2), and a Mode A
 * repository migrated by `sync --server URL` and connected.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueRequest } from '../../src/remote/outbox.js';
import { openStore } from '../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string; hint?: string; pending?: number; failed?: number };
}

interface SyncJson {
  pushed: number;
  pulled: number;
  pending: number;
  failed: number;
  failed_entries: { id: string; seq: number; command: string; target: string; last_error: string }[];
  server: { url: string; repo_id: string };
  dropped?: { id: string };
  migrated?: Record<string, number>;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: gitswarm sync`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let repoId: string;

    /** Queues writes in the clone's outbox as a command would have while the server was down. */
    const queue = async (writes: { command: string; method: string; path: string; body?: unknown }[]) => {
      const store = await openStore(join(clone.dir, '.gitswarm', 'federation.db'), { migrate: false });
      try {
        for (const write of writes) {
          await enqueueRequest(store.db, { serverUrl: server.url, repoId, agent: 'alice', ...write });
        }
      } finally {
        await store.close();
      }
    };
    const tasksTitled = async (title: string) =>
      (await server.store.db.selectFrom('gitswarm_tasks').select('id').where('title', '=', title).execute())
        .length;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      clone = world.clone('laptop');
      expect((await clone.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const reg = await clone.run(['agent', 'register', 'alice', '--json']);
      expect(reg.code, reg.stderr).toBe(0);
      repoId = reg.json<{ server: { repo_id: string } }>().server.repo_id;
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('exits 4 with what waits while the server is down, then sends each queued write once, in order', async () => {
      await queue([
        {
          command: 'task create',
          method: 'POST',
          path: `/repos/${repoId}/tasks`,
          body: { title: 'first offline task' },
        },
        {
          command: 'task create',
          method: 'POST',
          path: `/repos/${repoId}/tasks`,
          body: { title: 'second offline task' },
        },
      ]);
      await server.stop();
      const down = await clone.run(['sync', '--json']);
      expect(down.code).toBe(4);
      const status = await clone.run(['status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.json<{ server: unknown }>().server).toMatchObject({
        reachable: false,
        outbox_pending: 2,
      });
      expect(down.json<ErrorBody>().error).toMatchObject({
        code: 'server_unreachable',
        pending: 2,
        failed: 0,
      });
      await server.start();
      const up = await clone.run(['sync', '--json']);
      expect(up.code, up.stderr).toBe(0);
      expect(up.json<SyncJson>()).toMatchObject({
        pushed: 2,
        pending: 0,
        failed: 0,
        failed_entries: [],
        server: { url: server.url, repo_id: repoId },
      });
      expect(await tasksTitled('first offline task')).toBe(1);
      expect(await tasksTitled('second offline task')).toBe(1);
      const numbers = await server.store.db
        .selectFrom('gitswarm_tasks')
        .select(['title', 'number'])
        .where('repo_id', '=', repoId)
        .orderBy('number')
        .execute();
      expect(numbers.map((t) => t.title)).toEqual(['first offline task', 'second offline task']);
      const again = await clone.run(['sync', '--json']);
      expect(again.json<SyncJson>()).toMatchObject({ pushed: 0, pulled: 0, pending: 0, failed: 0 });
      expect((await clone.run(['status', '--json'])).json<{ server: unknown }>().server).toMatchObject({
        reachable: true,
        outbox_pending: 0,
      });
      expect(await tasksTitled('first offline task')).toBe(1);
    });

    it('keeps a write the server refuses for good, shows it, and drops it with --drop', async () => {
      await queue([
        {
          command: 'commit',
          method: 'POST',
          path: '/streams/no-such-stream/commits',
          body: { commit: 'a'.repeat(40) },
        },
        {
          command: 'task create',
          method: 'POST',
          path: `/repos/${repoId}/tasks`,
          body: { title: 'after the refusal' },
        },
      ]);
      const synced = await clone.run(['sync', '--json']);
      expect(synced.code, synced.stderr).toBe(0);
      const result = synced.json<SyncJson>();
      expect(result).toMatchObject({ pushed: 1, pending: 0, failed: 1 });
      expect(result.failed_entries).toEqual([
        expect.objectContaining({
          command: 'commit',
          target: 'POST /streams/no-such-stream/commits',
          last_error: expect.stringMatching(/^404 stream_not_found/),
        }),
      ]);
      expect(await tasksTitled('after the refusal')).toBe(1);
      const text = await clone.run(['sync']);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('1 refused by the server');
      expect(text.stdout).toContain('gitswarm sync --drop ID');
      expect(text.stdout).toContain('POST /streams/no-such-stream/commits');
      const entry = result.failed_entries[0];
      if (!entry) throw new Error('no failed entry');
      const unknown = await clone.run(['sync', '--drop', '#999', '--json']);
      expect(unknown.code).toBe(3);
      expect(unknown.json<ErrorBody>().error.code).toBe('not_found');
      const dropped = await clone.run(['sync', '--drop', `#${entry.seq}`, '--json']);
      expect(dropped.code, dropped.stderr).toBe(0);
      expect(dropped.json<SyncJson>()).toMatchObject({ dropped: { id: entry.id }, pending: 0, failed: 0 });
      expect((await clone.run(['sync', '--json'])).json<SyncJson>()).toMatchObject({
        pushed: 0,
        failed: 0,
        failed_entries: [],
      });
    });

    it('refuses sync on a repository with no server (exit 2), and migrates one with --server URL', async () => {
      const local = world.clone('mode-a');
      expect((await local.run(['init', '--mode', 'review'])).code).toBe(0);
      expect((await local.run(['agent', 'register', 'carol'])).code).toBe(0);
      expect((await local.run(['task', 'create', 'Local task', '--as', 'carol'])).code).toBe(0);
      const none = await local.run(['sync', '--json']);
      expect(none.code).toBe(2);
      expect(none.json<ErrorBody>().error).toMatchObject({ code: 'usage' });
      expect(none.json<ErrorBody>().error.hint).toContain('sync --server URL');
      const migrated = await local.run(['sync', '--server', server.url, '--json']);
      expect(migrated.code, migrated.stderr + migrated.stdout).toBe(0);
      const body = migrated.json<SyncJson>();
      expect(body.migrated).toMatchObject({ agents: 1, tasks: 1 });
      expect(body.server.url).toBe(server.url);
      const config = JSON.parse(readFileSync(join(local.dir, '.gitswarm', 'config.json'), 'utf8'));
      expect(config.server).toEqual({ url: server.url, repo_id: body.server.repo_id, remote: 'origin' });
      // Connected now: sync is an ordinary sync.
      const after = await local.run(['sync', '--json', '--as', 'carol']);
      expect(after.code, after.stderr + after.stdout).toBe(0);
      expect(after.json<SyncJson>()).toMatchObject({ pushed: 0, pending: 0, failed: 0 });
    });
  });
}
