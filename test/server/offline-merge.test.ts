/**
 * Offline merges reported to the server (Mode B): refused without consensus unless the repository
 * allows offline merges; where allowed, a merge without consensus (or of an unreviewed head) is
 * recorded as disputed (stream.merge_disputed, one critical task for the merger), a merge with
 * consensus is not, and every other check still refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { mergeReport, sha } from './commit-objects.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: offline merges re-checked on report`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    let reviewer: TestAgent;
    beforeAll(async () => {
      // A clock that moves on at every reading: a commit recorded after a review is later than it.
      let tick = Date.parse('2026-01-01T00:00:00Z');
      const now = () => {
        tick += 1;
        return new Date(tick);
      };
      t = await startTestApp(dialect, { clock: { now } });
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    const api = (agent: TestAgent, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, ...(payload === undefined ? {} : { payload }) });

    /** A review-mode repository with one stream of the author holding one recorded commit. */
    const setUp = async (settings: Record<string, unknown>) => {
      const repo = await createTestRepo(t.app, owner, {
        merge_mode: 'review',
        ownership_model: 'guild',
        ...settings,
      });
      expect(
        (await api(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id })).status,
      ).toBe(201);
      expect(
        (await api(owner, 'POST', `/repos/${repo.id}/access`, { agent_id: author.id, access_level: 'write' }))
          .status,
      ).toBe(201);
      const created = await api(author, 'POST', `/repos/${repo.id}/streams`, {});
      expect(created.status).toBe(201);
      const stream = created.body.stream as { id: string };
      const head = sha();
      expect((await api(author, 'POST', `/streams/${stream.id}/commits`, { commit: head })).status).toBe(201);
      return { repo, stream, head };
    };
    const disputes = async (streamId: string) =>
      t.store.db
        .selectFrom('gitswarm_activity_log')
        .selectAll()
        .where('event_type', '=', 'stream.merge_disputed')
        .where('target_id', '=', streamId)
        .execute();

    it('refuses an offline merge without consensus where offline merges are refused (the default)', async () => {
      const { repo, stream, head } = await setUp({});
      expect(repo.metadata).toEqual({});
      const report = { ...mergeReport(sha(), head), offline: true };
      const refused = await api(author, 'PATCH', `/streams/${stream.id}`, report);
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('no_consensus');
      expect(await disputes(stream.id)).toEqual([]);
    });

    it('records an offline merge without consensus as disputed, with one critical task for the merger', async () => {
      const { repo, stream, head } = await setUp({ offline_merges: 'allow' });
      expect(repo.metadata).toEqual({ settings: { offline_merges: 'allow' } });
      // Without the offline flag the rule is unchanged.
      const report = mergeReport(sha(), head);
      expect((await api(author, 'PATCH', `/streams/${stream.id}`, report)).body.error.code).toBe(
        'no_consensus',
      );
      const merged = await api(author, 'PATCH', `/streams/${stream.id}`, { ...report, offline: true });
      expect(merged.status).toBe(200);
      expect(merged.body.stream.status).toBe('merged');
      const events = await disputes(stream.id);
      expect(events).toHaveLength(1);
      const metadata = events[0]?.metadata as {
        merge_commit: string;
        reason: string;
        task_id: string;
        consensus: { reached: boolean };
      };
      expect(metadata).toMatchObject({ merge_commit: report.merge_commit, consensus: { reached: false } });
      expect(metadata.reason).toMatch(/no consensus/);
      const task = await t.store.db
        .selectFrom('gitswarm_tasks')
        .selectAll()
        .where('id', '=', metadata.task_id)
        .executeTakeFirstOrThrow();
      expect(task).toMatchObject({ priority: 'critical', assigned_to: author.id, repo_id: repo.id });
      expect(task.title).toMatch(/Disputed offline merge/);
      // Reported again (a retry): nothing new.
      expect((await api(author, 'PATCH', `/streams/${stream.id}`, { ...report, offline: true })).status).toBe(
        200,
      );
      expect(await disputes(stream.id)).toHaveLength(1);
    });

    it('records no dispute when the offline merge had consensus, and disputes an unreviewed head', async () => {
      const agreed = await setUp({ offline_merges: 'allow' });
      expect(
        (await api(reviewer, 'POST', `/streams/${agreed.stream.id}/reviews`, { verdict: 'approve' })).status,
      ).toBe(201);
      const ok = await api(author, 'PATCH', `/streams/${agreed.stream.id}`, {
        ...mergeReport(sha(), agreed.head),
        offline: true,
      });
      expect(ok.status).toBe(200);
      expect(await disputes(agreed.stream.id)).toEqual([]);

      // Approved, then a commit nobody reviewed (verdicts kept when stale, so consensus stands),
      // merged offline: the head was never approved, so the merge is disputed.
      const later = await setUp({ offline_merges: 'allow', stale_reviews: 'keep' });
      expect(
        (await api(reviewer, 'POST', `/streams/${later.stream.id}/reviews`, { verdict: 'approve' })).status,
      ).toBe(201);
      const unreviewed = sha();
      expect(
        (await api(author, 'POST', `/streams/${later.stream.id}/commits`, { commit: unreviewed })).status,
      ).toBe(201);
      expect((await api(author, 'GET', `/streams/${later.stream.id}/consensus`)).body.consensus.reached).toBe(
        true,
      );
      const report = { ...mergeReport(sha(), unreviewed), offline: true };
      expect(
        (await api(author, 'PATCH', `/streams/${later.stream.id}`, { ...report, offline: undefined })).body
          .error.code,
      ).toBe('commit_mismatch');
      expect((await api(author, 'PATCH', `/streams/${later.stream.id}`, report)).status).toBe(200);
      const events = await disputes(later.stream.id);
      expect(events).toHaveLength(1);
      const metadata = events[0]?.metadata as { reason: string; consensus: { reached: boolean } } | undefined;
      expect(metadata?.reason).toMatch(/recorded after its last approval/);
      expect(metadata?.consensus.reached).toBe(true);
    });

    it('still refuses what is not about consensus: a merge of the wrong head, a stranger, the flag without merged', async () => {
      const { stream } = await setUp({ offline_merges: 'allow' });
      const wrong = await api(author, 'PATCH', `/streams/${stream.id}`, {
        ...mergeReport(sha(), sha()),
        offline: true,
      });
      expect(wrong.status).toBe(409);
      expect(wrong.body.error.code).toBe('commit_mismatch');
      const stranger = await registerTestAgent(t.app);
      const forbidden = await api(stranger, 'PATCH', `/streams/${stream.id}`, {
        ...mergeReport(sha(), sha()),
        offline: true,
      });
      expect(forbidden.status).toBe(403);
      const flagOnly = await api(author, 'PATCH', `/streams/${stream.id}`, {
        status: 'in_review',
        offline: true,
      });
      expect(flagOnly.status).toBe(400);
      expect(await disputes(stream.id)).toEqual([]);
    });

    it('takes offline_merges as a setting: refuse or allow, nothing else', async () => {
      const repo = await createTestRepo(t.app, owner);
      expect(
        (await api(owner, 'PATCH', `/repos/${repo.id}`, { offline_merges: 'allow' })).body.repo.metadata,
      ).toEqual({
        settings: { offline_merges: 'allow' },
      });
      expect((await api(owner, 'PATCH', `/repos/${repo.id}`, { offline_merges: 'sometimes' })).status).toBe(
        400,
      );
    });
  });
}
