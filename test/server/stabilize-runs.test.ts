/**
 * Mode C stabilization over HTTP: `POST /repos/:id/stabilize {}` queues a run the server executes
 * with the CLI's stabilization engine in the bubblewrap sandbox; `GET …/runs/:runId` shows it;
 * `POST /repos/:id/promote {}` promotes on the server, green-gated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getTask } from '../../src/core/tasks/tasks.js';
import { CHECK_COMMAND } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  type HostedRepo,
  mergeWork,
  seedHostedRepo,
  startRun,
  TEST_RUN_TIMING,
  waitForRun,
} from '../hosting/hosted-stabilize-fixture.js';
import { callApi, registerTestAgent, startTestApp, type TestApp } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: server stabilization runs`, () => {
    const apps: TestApp[] = [];
    const repos: HostedRepo[] = [];
    afterEach(async () => {
      for (const t of apps.splice(0)) await t.close();
      for (const hosted of repos.splice(0)) hosted.git.cleanup();
    }, 120_000);

    async function setUp(settings: Record<string, unknown> = {}) {
      const t = await startTestApp(dialect, { hosting: { stabilizeRuns: TEST_RUN_TIMING } });
      apps.push(t);
      const hosted = await seedHostedRepo(t.app, settings);
      repos.push(hosted);
      const [alice, bob, carol] = [
        await registerTestAgent(t.app),
        await registerTestAgent(t.app),
        await registerTestAgent(t.app),
      ];
      return { ...t, hosted, repo: hosted.repo, git: hosted.git, alice, bob, carol };
    }

    it('green: 202 queued, then the run tags the tested buffer commit; the log tail has the output', async () => {
      const { app, hosted, repo, git, alice } = await setUp();
      const { bufferHead } = await mergeWork(app, hosted, alice, { 'a.txt': 'fine\n' });
      const started = await startRun(app, alice, repo.id);
      expect(started.status).toBe(202);
      expect(started.run).toMatchObject({ status: 'queued', buffer_commit: null, attempts: 0 });

      const run = await waitForRun(app, alice, repo.id, started.run.id);
      expect(run).toMatchObject({
        id: started.run.id,
        status: 'green',
        buffer_commit: bufferHead,
        breaking_stream_id: null,
        reverted: false,
        task_id: null,
        error: null,
        attempts: 1,
      });
      expect(run.tag).toMatch(/^green\/\d{8}T\d{6}Z$/);
      expect(await git.rev(run.tag as string)).toBe(bufferHead);
      expect(run.log_tail).toContain('all good');
      expect(run.log_tail).toContain('sandbox bubblewrap');
      expect(run.log_tail).toContain(`run at ${bufferHead.slice(0, 12)}: ${CHECK_COMMAND}`);
      // The same record as the CLI's: the history lists it.
      const history = await callApi(app, alice, {
        method: 'GET',
        url: `/repos/${repo.id}/stabilize/history`,
      });
      expect(history.body.stabilizations[0]).toMatchObject({
        result: 'green',
        tag: run.tag,
        buffer_commit: bufferHead,
      });

      // A finished run does not block the next one.
      const next = await startRun(app, alice, repo.id);
      expect(next.status).toBe(202);
      expect(next.run.id).not.toBe(run.id);
      expect((await waitForRun(app, alice, repo.id, next.run.id)).status).toBe('green');
    }, 120_000);

    it('red: bisection finds the culprit among several merges, reverts it and files a critical task for its author', async () => {
      const { app, hosted, repo, git, alice, bob, carol } = await setUp();
      await mergeWork(app, hosted, alice, { 'a.txt': 'fine\n' });
      const first = await startRun(app, alice, repo.id);
      expect((await waitForRun(app, alice, repo.id, first.run.id)).status).toBe('green');

      const bobs = await mergeWork(app, hosted, bob, { 'b.txt': 'BROKEN\n' }, 'Break things');
      await mergeWork(app, hosted, carol, { 'c.txt': 'fine too\n' });
      const alices = await mergeWork(app, hosted, alice, { 'a2.txt': 'more\n' });
      const started = await startRun(app, carol, repo.id);
      const run = await waitForRun(app, carol, repo.id, started.run.id);
      expect(run).toMatchObject({
        status: 'red',
        buffer_commit: alices.bufferHead,
        breaking_stream_id: bobs.streamId,
        reverted: true,
        tag: null,
      });
      expect(run.log_tail).toContain('bisecting 3 merge(s) since green/');
      expect(run.log_tail).toContain('FAIL: b.txt is broken');
      // The revert is on the buffer; the others' work stays.
      const head = await git.rev('buffer');
      expect(await git.run(['rev-parse', `${head}^`])).toBe(alices.bufferHead);
      expect(await git.exitCode(['cat-file', '-e', `${head}:b.txt`])).not.toBe(0);
      expect(await git.show('buffer', 'c.txt')).toBe('fine too');
      const task = await getTask(app.deps.store.db, repo.id, run.task_id as string);
      expect(task).toMatchObject({ priority: 'critical', assigned_to: bob.id });

      // With the culprit reverted, the next run is green again.
      const again = await startRun(app, alice, repo.id);
      expect(await waitForRun(app, alice, repo.id, again.run.id)).toMatchObject({
        status: 'green',
        buffer_commit: head,
      });
    }, 120_000);

    it('one run per repository: concurrent requests get the same run; 200 for the one already there', async () => {
      const { app, hosted, repo, alice, bob } = await setUp({
        stabilize_command: `sleep 1; ${CHECK_COMMAND}`,
      });
      await mergeWork(app, hosted, alice, { 'a.txt': 'fine\n' });
      const responses = await Promise.all([
        startRun(app, alice, repo.id),
        startRun(app, bob, repo.id),
        startRun(app, alice, repo.id),
        startRun(app, hosted.owner, repo.id),
      ]);
      const ids = new Set(responses.map((r) => r.run.id));
      expect(ids.size).toBe(1);
      expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 202]);
      const rows = await app.deps.store.db
        .selectFrom('gitswarm_stabilize_runs')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows).toHaveLength(1);
      const run = await waitForRun(app, alice, repo.id, [...ids][0] as string);
      expect(run.status).toBe('green');
    }, 120_000);

    it('promote: refused before a green run (not_green), then fast-forwards main to the green commit', async () => {
      const { app, hosted, repo, git, alice } = await setUp();
      const { bufferHead } = await mergeWork(app, hosted, alice, { 'a.txt': 'fine\n' });
      const mainBefore = await git.rev('main');
      const early = await callApi(app, hosted.maintainer, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('not_green');
      expect(await git.rev('main')).toBe(mainBefore);

      const started = await startRun(app, alice, repo.id);
      expect((await waitForRun(app, alice, repo.id, started.run.id)).status).toBe('green');
      // A writer may stabilize but not promote (maintain+, as gitswarm promote).
      const writer = await callApi(app, alice, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(writer.status).toBe(403);
      // A Mode B report is refused: the server moves the refs of the repositories it holds.
      const report = await callApi(app, hosted.maintainer, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: { to_commit: bufferHead },
      });
      expect(report.status).toBe(400);

      const promoted = await callApi(app, hosted.maintainer, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toEqual({ promoted: true, from_commit: mainBefore, to_commit: bufferHead });
      expect(await git.rev('main')).toBe(bufferHead);
      const again = await callApi(app, hosted.maintainer, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(again.body).toEqual({ promoted: false, from_commit: bufferHead, to_commit: bufferHead });
      const history = await callApi(app, alice, { method: 'GET', url: `/repos/${repo.id}/promote/history` });
      expect(history.body.promotions[0]).toMatchObject({ to_commit: bufferHead, triggered_by: 'manual' });
    }, 120_000);

    it('refusals: no write access (403), no stabilize command (409), a repository the server does not hold (400)', async () => {
      const { app, hosted, repo } = await setUp({ is_private: true });
      const stranger = await registerTestAgent(app);
      const denied = await startRun(app, stranger, repo.id);
      expect([403, 404]).toContain(denied.status);

      const bare = await seedHostedRepo(app, { stabilize_command: null });
      repos.push(bare);
      const none = await startRun(app, bare.owner, bare.repo.id);
      expect(none.status).toBe(409);
      expect(none.body.error.code).toBe('invalid_state');

      const modeB = await callApi(app, hosted.owner, {
        method: 'POST',
        url: '/repos',
        payload: { name: `mode-b-${Date.now()}`, stabilize_command: 'true' },
      });
      const notHeld = await startRun(app, hosted.owner, modeB.body.repo.id);
      expect(notHeld.status).toBe(400);
      expect(notHeld.body.error.code).toBe('invalid_input');
      // Nothing was queued by any refusal.
      expect(
        await app.deps.store.db.selectFrom('gitswarm_stabilize_runs').select('id').execute(),
      ).toHaveLength(0);
      // Half a Mode B report is neither a report nor a start.
      const half = await callApi(app, hosted.owner, {
        method: 'POST',
        url: `/repos/${repo.id}/stabilize`,
        payload: { buffer_commit: 'a'.repeat(40) },
      });
      expect(half.status).toBe(400);
      expect(half.body.error.code).toBe('invalid_input');
      const forcedReport = await callApi(app, hosted.owner, {
        method: 'POST',
        url: `/repos/${modeB.body.repo.id}/promote`,
        payload: { to_commit: 'a'.repeat(40), force: true },
      });
      expect(forcedReport.status).toBe(400);
      const unknown = await callApi(app, hosted.owner, {
        method: 'GET',
        url: `/repos/${repo.id}/stabilize/runs/00000000-0000-4000-8000-000000000000`,
      });
      expect(unknown.status).toBe(404);
    }, 120_000);
  });
}
