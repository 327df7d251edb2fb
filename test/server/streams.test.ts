/**
 * Stream routes (Mode B records): the state machine through PATCH, idempotent reports, refusals
 * that change nothing, and the acting agent taken from the key only.
 */
import { randomBytes } from 'node:crypto';
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
  describe(`${dialectLabel(dialect)}: stream routes`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    let reviewer: TestAgent;
    let outsider: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    /** A repository where `reviewer` is a maintainer (so its approval counts under guild). */
    const setUp = async (settings: Record<string, unknown> = {}) => {
      const repo = await createTestRepo(t.app, owner, settings);
      await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id });
      if (settings.is_private) {
        await call(owner, 'POST', `/repos/${repo.id}/access`, { agent_id: author.id, access_level: 'write' });
      }
      const stream = (
        await call(author, 'POST', `/repos/${repo.id}/streams`, {
          name: `s-${randomBytes(2).toString('hex')}`,
        })
      ).body.stream;
      return { repo, stream };
    };

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      reviewer = await registerTestAgent(t.app);
      outsider = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('creates with a server id by default, refuses author fields, bad ids and taken names', async () => {
      const repo = await createTestRepo(t.app, owner);
      const created = await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'feature' });
      expect(created.status).toBe(201);
      expect(created.body.stream).toMatchObject({
        name: 'feature',
        agent_id: author.id,
        base_branch: 'buffer',
      });
      expect(created.body.stream.id).toMatch(/^[0-9a-f]{12}$/);
      expect(created.body.stream.branch).toBe(`stream/${created.body.stream.id}`);
      const spoofed = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'x',
        agentId: owner.id,
      });
      expect(spoofed.status).toBe(400);
      const taken = await call(reviewer, 'POST', `/repos/${repo.id}/streams`, { name: 'feature' });
      expect(taken.status).toBe(409);
      const stolenId = await call(reviewer, 'POST', `/repos/${repo.id}/streams`, {
        id: created.body.stream.id,
        name: 'y',
      });
      expect(stolenId.status).toBe(409);
      for (const id of ['-bad', '../x', 'a b', 'x'.repeat(37)]) {
        expect((await call(author, 'POST', `/repos/${repo.id}/streams`, { id, name: 'z' })).status, id).toBe(
          400,
        );
      }
      expect((await call(author, 'POST', `/repos/${repo.id}/streams`, { branch: 'main..x' })).status).toBe(
        400,
      );
      const listed = await call(null, 'GET', `/repos/${repo.id}/streams?status=active`);
      expect(listed.body.streams).toHaveLength(1);
      expect((await call(null, 'GET', `/repos/${repo.id}/streams?status=weird`)).status).toBe(400);
      expect((await call(null, 'GET', '/streams/nope')).status).toBe(404);
    });

    it('commits: the author only, idempotent per commit hash, malformed hashes refused', async () => {
      const { stream } = await setUp();
      const commit = sha();
      const first = await call(author, 'POST', `/streams/${stream.id}/commits`, { commit, message: 'One' });
      expect(first.status).toBe(201);
      const again = await call(author, 'POST', `/streams/${stream.id}/commits`, { commit, message: 'One' });
      expect(again.status).toBe(200);
      expect(again.body.created).toBe(false);
      expect((await call(reviewer, 'POST', `/streams/${stream.id}/commits`, { commit: sha() })).status).toBe(
        403,
      );
      expect((await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: 'HEAD~1' })).status).toBe(
        400,
      );
      expect(
        (await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha(), change_id: 'Ixyz' }))
          .status,
      ).toBe(400);
      const commits = await call(null, 'GET', `/streams/${stream.id}/commits`);
      expect(commits.body.commits.map((c: { commit_hash: string }) => c.commit_hash)).toEqual([commit]);
    });

    it('merge decision: refusals change nothing; empty streams and unmet consensus are 409', async () => {
      const { stream } = await setUp();
      const empty = await call(author, 'POST', `/streams/${stream.id}/merge`);
      expect(empty.status).toBe(409);
      expect(empty.body.error.code).toBe('empty_stream');
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
      const noConsensus = await call(author, 'POST', `/streams/${stream.id}/merge`);
      expect(noConsensus.body.error).toMatchObject({ code: 'no_consensus', consensus: { reached: false } });
      const reportedEarly = await call(author, 'PATCH', `/streams/${stream.id}`, mergeReport(sha(), sha()));
      expect(reportedEarly.status).toBe(409);
      const unchanged = await call(null, 'GET', `/streams/${stream.id}`);
      expect(unchanged.body.stream.status).toBe('active');
      const merges = await t.store.db
        .selectFrom('gitswarm_merges')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges).toHaveLength(0);
      const pending = await t.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(pending.every((op) => op.status !== 'pending')).toBe(true);
    });

    it('gated mode: only maintainers may merge', async () => {
      const { repo, stream } = await setUp({ merge_mode: 'gated' });
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() });
      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      const byAuthor = await call(author, 'POST', `/streams/${stream.id}/merge`);
      expect(byAuthor.status).toBe(403);
      const byReviewer = await call(reviewer, 'POST', `/streams/${stream.id}/merge`);
      expect(byReviewer.body).toMatchObject({ approved: true, buffer_branch: repo.buffer_branch });
    });

    it('PATCH walks the state machine: review, withdraw, conflict, resume, merge, revert', async () => {
      const { stream } = await setUp();
      const commit = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit });
      expect(
        (await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'in_review' })).body.stream.status,
      ).toBe('in_review');
      expect(
        (await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'active' })).body.stream.status,
      ).toBe('active');
      const conflicted = await call(author, 'PATCH', `/streams/${stream.id}`, {
        status: 'conflicted',
        conflict: { paths: ['src/a.ts'], onto: sha() },
      });
      expect(conflicted.body.stream).toMatchObject({
        status: 'conflicted',
        conflict: { paths: ['src/a.ts'] },
      });
      expect((await call(reviewer, 'PATCH', `/streams/${stream.id}`, { status: 'active' })).status).toBe(403);
      expect(
        (await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'active' })).body.stream.conflict,
      ).toBe(null);
      expect(
        (await call(author, 'PATCH', `/streams/${stream.id}`, { metadata: { pr: 4 } })).body.stream.metadata,
      ).toEqual({ pr: 4 });
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, {})).status).toBe(400);
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'merged' })).status).toBe(400);
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'bogus' })).status).toBe(400);

      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      const report = mergeReport(sha(), commit);
      const mergeCommit = report.merge_commit;
      const merged = await call(author, 'PATCH', `/streams/${stream.id}`, report);
      expect(merged.body.stream.status).toBe('merged');
      const other = await setUp();
      expect((await call(author, 'PATCH', `/streams/${other.stream.id}`, report)).status).toBe(409);
      expect((await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: sha() })).status).toBe(
        409,
      );
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, { status: 'abandoned' })).status).toBe(
        409,
      );

      const revertCommit = sha();
      expect(
        (
          await call(author, 'PATCH', `/streams/${stream.id}`, {
            status: 'reverted',
            revert_commit: revertCommit,
          })
        ).status,
      ).toBe(403);
      const reverted = await call(owner, 'PATCH', `/streams/${stream.id}`, {
        status: 'reverted',
        revert_commit: revertCommit,
        reason: 'Broke the build.',
      });
      expect(reverted.body.stream.status).toBe('reverted');
      const merge = await t.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .executeTakeFirstOrThrow();
      expect(merge).toMatchObject({ merge_commit: mergeCommit, revert_commit: revertCommit });
      const activity = await call(null, 'GET', `/streams/${stream.id}`);
      expect(activity.body.stream.status).toBe('reverted');
    });

    it('a red stabilization with its evidence files one critical task for the culprit’s author', async () => {
      const { repo, stream } = await setUp();
      const commit = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit });
      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      const base = sha();
      const report = mergeReport(base, commit);
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, report)).status).toBe(200);
      const red = { result: 'red', breaking_stream_id: stream.id, buffer_commit: report.merge_commit };
      const first = await call(reviewer, 'POST', `/repos/${repo.id}/stabilize`, {
        ...red,
        passing_commit: base,
        details: { command: 'npm test', log_excerpt: '1 failing: parses dates' },
      });
      expect(first.status).toBe(201);
      expect(first.body.culprit).toEqual({ stream_id: stream.id, status: 'confirmed', reason: null });
      expect(first.body.stabilization).toMatchObject({ breaking_stream_id: stream.id });
      expect(first.body.stabilization.details).toMatchObject({ task_id: first.body.task_id, reported: true });
      const task = (await call(null, 'GET', `/tasks/${first.body.task_id}`)).body.task;
      expect(task).toMatchObject({ priority: 'critical', status: 'open', assigned_to: author.id });
      expect(task.title).toContain(stream.name);
      expect(task.description).toContain('1 failing: parses dates');

      // Reported again by another runner, the parent's green now recorded: the same open task.
      expect(
        (await call(owner, 'POST', `/repos/${repo.id}/stabilize`, { result: 'green', buffer_commit: base }))
          .body.task_id,
      ).toBeNull();
      const again = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, red);
      expect(again.body).toMatchObject({ task_id: first.body.task_id, culprit: { status: 'confirmed' } });
      // Red without a stream to blame files nothing.
      const unblamed = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        result: 'red',
        buffer_commit: report.merge_commit,
      });
      expect(unblamed.body).toMatchObject({ task_id: null, culprit: null });
      const other = await setUp();
      const elsewhere = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        ...red,
        breaking_stream_id: other.stream.id,
      });
      expect(elsewhere.status).toBe(404);
    });

    it('DELETE abandons (author or maintainer), and reviews of abandoned streams are refused', async () => {
      const { stream } = await setUp();
      expect((await call(outsider, 'DELETE', `/streams/${stream.id}`)).status).toBe(403);
      const abandoned = await call(author, 'DELETE', `/streams/${stream.id}`, { reason: 'Superseded.' });
      expect(abandoned.body.stream.status).toBe('abandoned');
      expect((await call(author, 'DELETE', `/streams/${stream.id}`)).status).toBe(200);
      const review = await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      expect(review.status).toBe(409);
      const second = await setUp();
      // A stream built on it now builds on the buffer (its client rebases the branch).
      const child = await call(author, 'POST', `/repos/${second.repo.id}/streams`, {
        name: `child-${randomBytes(2).toString('hex')}`,
        depends_on: second.stream.id,
      });
      expect(child.body.stream.base_branch).toBe(second.stream.branch);
      expect((await call(reviewer, 'DELETE', `/streams/${second.stream.id}`)).body.stream.status).toBe(
        'abandoned',
      );
      const moved = await call(null, 'GET', `/streams/${child.body.stream.id}`);
      expect(moved.body.stream).toMatchObject({
        status: 'active',
        base_branch: 'buffer',
        parent_stream_id: second.stream.id,
      });
    });

    it('reviews: replace the earlier verdict, list with names, consensus numbers', async () => {
      const { stream } = await setUp();
      await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, {
        verdict: 'request_changes',
        feedback: 'No.',
      });
      const changed = await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      expect(changed.body.stream.review_status).toBe('approved');
      const reviews = await call(null, 'GET', `/streams/${stream.id}/reviews`);
      expect(reviews.body.reviews).toEqual([
        expect.objectContaining({
          reviewer_id: reviewer.id,
          reviewer_name: reviewer.name,
          verdict: 'approve',
        }),
      ]);
      const consensus = await call(null, 'GET', `/streams/${stream.id}/consensus`);
      expect(consensus.body).toEqual({
        stream_id: stream.id,
        consensus: expect.objectContaining({ reached: true, approvals: 1, rejections: 0, model: 'guild' }),
      });
      expect(
        (await call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'maybe' })).status,
      ).toBe(400);
    });

    it('diff needs a server clone: 409 invalid_state for Mode B repositories', async () => {
      const { stream } = await setUp();
      for (const path of ['diff', 'diff/full']) {
        const response = await call(author, 'GET', `/streams/${stream.id}/${path}`);
        expect(response.status).toBe(409);
        expect(response.body.error).toMatchObject({
          code: 'invalid_state',
          hint: `Diff in your clone: git diff buffer...${stream.branch} (or gitswarm diff ${stream.id} there).`,
        });
      }
    });

    it('private repositories: streams hidden from outsiders, writes refused', async () => {
      const { stream } = await setUp({ is_private: true });
      expect((await call(outsider, 'GET', `/streams/${stream.id}`)).status).toBe(403);
      expect((await call(null, 'GET', `/streams/${stream.id}`)).status).toBe(401);
      expect(
        (await call(outsider, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' })).status,
      ).toBe(403);
      expect((await call(reviewer, 'GET', `/streams/${stream.id}`)).status).toBe(200);
    });

    it('private repositories: the stream list (access and page read together) refuses outsiders', async () => {
      const { repo, stream } = await setUp({ is_private: true });
      const refused = await call(outsider, 'GET', `/repos/${repo.id}/streams`);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      expect(refused.body.streams).toBeUndefined();
      // A malformed cursor does not come before the refusal.
      expect((await call(outsider, 'GET', `/repos/${repo.id}/streams?cursor=nope`)).status).toBe(403);
      expect((await call(null, 'GET', `/repos/${repo.id}/streams`)).status).toBe(401);
      expect(
        (await call(outsider, 'GET', '/repos/00000000-0000-4000-8000-000000000000/streams')).status,
      ).toBe(404);
      const listed = await call(reviewer, 'GET', `/repos/${repo.id}/streams`);
      expect(listed.status).toBe(200);
      expect(listed.body.streams.map((s: { id: string }) => s.id)).toEqual([stream.id]);
      expect(listed.body.next_cursor).toBeNull();
      expect((await call(reviewer, 'GET', `/repos/${repo.id}/streams?cursor=nope`)).status).toBe(400);
    });
  });
}
