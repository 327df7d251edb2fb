/**
 * Server stabilization runs are durable jobs: leased by one instance at a time and renewed while
 * they run, taken over when their instance's lease lapses, given back to the queue by an
 * instance that shuts down, ended as `error` after too many starts, and never left `running`.
 * Several instances share one database here (two apps on one store); the run whose server
 * process is killed with SIGKILL is in stabilize-kill.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/server/app.js';
import { WEBSOCKET_PATH } from '../../src/server/plugins/websocket.js';
import { newId } from '../../src/util/ids.js';
import { CHECK_COMMAND, HELD_CHECK_COMMAND, releaseHeldRuns } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { startTestApp, type TestApp } from '../server/helpers.js';
import { connectWs, type WsMessage } from '../server/ws-client.js';
import {
  type HostedRepo,
  mergeWork,
  seedHostedRepo,
  startRun,
  TEST_RUN_TIMING,
  waitForRun,
  waitForRunState,
} from './hosted-stabilize-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: durable stabilization runs`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    }, 120_000);

    async function setUp(settings: Record<string, unknown> = {}, instanceId = 'instance-a') {
      const t: TestApp = await startTestApp(dialect, {
        hosting: { instanceId, stabilizeRuns: TEST_RUN_TIMING },
      });
      cleanups.push(() => t.close());
      const hosted: HostedRepo = await seedHostedRepo(t.app, settings);
      cleanups.push(() => hosted.git.cleanup());
      await mergeWork(t.app, hosted, hosted.owner, { 'a.txt': 'fine\n' });
      return { ...t, hosted, repo: hosted.repo };
    }

    /** Another server instance on the same database. */
    async function anotherInstance(t: TestApp, instanceId: string): Promise<App> {
      const app = await buildApp({
        store: t.store,
        rateLimit: false,
        notifications: false,
        hosting: { instanceId, stabilizeRuns: TEST_RUN_TIMING },
      });
      await app.ready();
      cleanups.push(() => app.close());
      return app;
    }

    /** The row a server that died mid-run leaves: running, leased by it until `leaseUntil`. */
    async function orphanRun(
      t: TestApp,
      hosted: HostedRepo,
      fields: { leaseUntil: string; attempts: number },
    ) {
      const id = newId();
      const now = new Date().toISOString();
      await t.store.db
        .insertInto('gitswarm_stabilize_runs')
        .values({
          id,
          repo_id: hosted.repo.id,
          requested_by: hosted.owner.id,
          status: 'running',
          lease_owner: 'instance-dead',
          lease_until: fields.leaseUntil,
          attempts: fields.attempts,
          created_at: now,
          started_at: now,
        })
        .execute();
      return id;
    }

    it('a run whose instance died is taken over once its lease lapses, and finishes', async () => {
      const t = await setUp();
      const { app, hosted, repo } = t;
      const runId = await orphanRun(t, hosted, {
        leaseUntil: new Date(Date.now() + 1200).toISOString(),
        attempts: 1,
      });
      // While the lease holds, nobody takes the run.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const held = await t.store.db
        .selectFrom('gitswarm_stabilize_runs')
        .selectAll()
        .where('id', '=', runId)
        .executeTakeFirstOrThrow();
      expect(held).toMatchObject({ status: 'running', lease_owner: 'instance-dead', attempts: 1 });

      const run = await waitForRun(app, hosted.owner, repo.id, runId);
      expect(run).toMatchObject({ status: 'green', attempts: 2, error: null });
      expect(run.log_tail).toContain('taken over by instance-a (start 2 of at most 3)');
      expect(run.log_tail).toContain('all good');
      const row = await t.store.db
        .selectFrom('gitswarm_stabilize_runs')
        .selectAll()
        .where('id', '=', runId)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ lease_owner: null, lease_until: null });
      expect(row.finished_at).not.toBeNull();
    }, 120_000);

    it('a run started too often ends as error instead of running again', async () => {
      const t = await setUp();
      const runId = await orphanRun(t, t.hosted, {
        leaseUntil: new Date(Date.now() - 1000).toISOString(),
        attempts: TEST_RUN_TIMING.maxAttempts,
      });
      const run = await waitForRun(t.app, t.hosted.owner, t.repo.id, runId);
      expect(run).toMatchObject({ status: 'error', attempts: TEST_RUN_TIMING.maxAttempts, tag: null });
      expect(run.error).toContain('started 3 time(s)');
      // No stabilization was recorded for it.
      const history = await t.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('id')
        .where('repo_id', '=', t.repo.id)
        .execute();
      expect(history).toHaveLength(0);
    }, 120_000);

    it('a server shutting down mid-run puts the run back in the queue; another instance finishes it', async () => {
      const t = await setUp({ stabilize_command: HELD_CHECK_COMMAND });
      const { app, hosted, repo } = t;
      const started = await startRun(app, hosted.owner, repo.id);
      await waitForRunState(app, hosted.owner, repo.id, started.run.id, (r) => r.log_tail.includes(`run at`));
      const closing = Date.now();
      await app.close();
      // Close stopped the command (its process tree killed) instead of waiting the 20 s it holds.
      expect(Date.now() - closing).toBeLessThan(2500);
      releaseHeldRuns(hosted.git.dir);
      const row = await t.store.db
        .selectFrom('gitswarm_stabilize_runs')
        .selectAll()
        .where('id', '=', started.run.id)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'queued', lease_owner: null, lease_until: null, attempts: 0 });
      expect(row.log_tail).toContain('the server is shutting down');
      // The interrupted run judged nothing.
      const recorded = await t.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(recorded).toHaveLength(0);

      const b = await anotherInstance(t, 'instance-b');
      const run = await waitForRun(b, hosted.owner, repo.id, started.run.id);
      expect(run).toMatchObject({ status: 'green', attempts: 1 });
      expect(run.log_tail).toContain('started by instance-b');
    }, 120_000);

    it('two instances: concurrent requests make one run, executed once though it outlasts the lease', async () => {
      const t = await setUp({ stabilize_command: `sleep 2.5; ${CHECK_COMMAND}` });
      const { app, hosted, repo } = t;
      const b = await anotherInstance(t, 'instance-b');
      const responses = await Promise.all([
        startRun(app, hosted.owner, repo.id),
        startRun(b, hosted.maintainer, repo.id),
        startRun(b, hosted.owner, repo.id),
        startRun(app, hosted.maintainer, repo.id),
      ]);
      expect(new Set(responses.map((r) => r.run.id)).size).toBe(1);
      expect(responses.filter((r) => r.status === 202)).toHaveLength(1);
      const runId = responses[0]?.run.id as string;
      const run = await waitForRun(b, hosted.owner, repo.id, runId);
      // The run took longer than a lease; its holder renewed it, so nobody took it over.
      expect(run).toMatchObject({ status: 'green', attempts: 1 });
      expect(run.log_tail).not.toContain('taken over');
      const green = await t.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(green).toHaveLength(1);
    }, 120_000);

    it('progress reaches WebSocket subscribers as stabilize.progress events, through to the verdict', async () => {
      const { app, hosted, repo } = await setUp();
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      const ws = await connectWs(`ws://127.0.0.1:${port}${WEBSOCKET_PATH}`, hosted.owner.headers);
      cleanups.push(() => ws.close());
      await ws.next((m) => m.type === 'welcome');
      ws.send({ type: 'subscribe', repo_id: repo.id, events: ['stabilize.progress'] });
      await ws.next((m) => m.type === 'subscribed');

      const started = await startRun(app, hosted.owner, repo.id);
      const isRunEvent = (m: WsMessage) =>
        m.type === 'event' && (m.event as { target_id: string }).target_id === started.run.id;
      const events: { event_type: string; metadata: Record<string, unknown> }[] = [];
      for (;;) {
        const message = await ws.next(isRunEvent);
        const event = message.event as { event_type: string; metadata: Record<string, unknown> };
        events.push(event);
        if (!['queued', 'running'].includes(String(event.metadata.status))) break;
      }
      expect(events.every((e) => e.event_type === 'stabilize.progress')).toBe(true);
      expect(events[0]?.metadata).toMatchObject({ run_id: started.run.id, status: 'queued' });
      expect(events.some((e) => String(e.metadata.line).includes('run at'))).toBe(true);
      const run = await waitForRun(app, hosted.owner, repo.id, started.run.id);
      expect(events.at(-1)?.metadata).toMatchObject({
        status: 'green',
        tag: run.tag,
        buffer_commit: run.buffer_commit,
      });
    }, 120_000);
  });
}
