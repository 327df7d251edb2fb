/**
 * Issue 10 item 9, the Mode B report routes' part: hostile stream branches (the buffer, the
 * promote target, HEAD, full refs, another live stream's branch) and out-of-range numbers and
 * lengths get the same 4xx on SQLite and PostgreSQL, and leave nothing recorded.
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

const hex = (n: number) => randomBytes(n).toString('hex');

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode B report input`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let author: TestAgent;
    let other: TestAgent;
    let maintainer: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });
    const streamCount = async (repoId: string) =>
      (await t.store.db.selectFrom('gitswarm_streams').select('id').where('repo_id', '=', repoId).execute())
        .length;

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      author = await registerTestAgent(t.app);
      other = await registerTestAgent(t.app);
      maintainer = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('a stream cannot take a reserved branch, a full ref, the buffer, the promote target or a live stream’s branch', async () => {
      const repo = await createTestRepo(t.app, owner);
      const taken = await call(other, 'POST', `/repos/${repo.id}/streams`, {
        name: 'taken',
        branch: 'feature/x',
      });
      expect(taken.status).toBe(201);
      const hostile: [string, number][] = [
        ['buffer', 400],
        ['main', 400],
        ['Buffer', 400],
        ['MAIN', 400],
        ['buffer/x', 400],
        ['main/sub', 400],
        ['HEAD', 400],
        ['head', 400],
        ['FETCH_HEAD', 400],
        ['ORIG_HEAD', 400],
        ['refs/heads/main', 400],
        ['refs/heads/new', 400],
        ['refs/tags/v1', 400],
        ['heads/main', 400],
        ['tags/v1', 400],
        ['remotes/origin/main', 400],
        ['feature/x', 409],
        ['Feature/X', 409],
        ['feature/x/y', 409],
        ['feature', 409],
        ['-x', 400],
        ['a..b', 400],
        ['x'.repeat(201), 400],
      ];
      for (const [branch, status] of hostile) {
        const response = await call(author, 'POST', `/repos/${repo.id}/streams`, {
          name: `n-${hex(3)}`,
          branch,
        });
        expect(response.status, branch).toBe(status);
        expect(response.body.error.code, branch).toMatch(
          status === 400 ? /^invalid_(name|input)$/ : /^already_exists$/,
        );
      }
      expect(await streamCount(repo.id)).toBe(1);

      // The branch of an abandoned stream is free again; near names that collide with nothing are fine.
      for (const branch of ['mainline', 'buffered/x', 'feature-x', 'my/HEAD-fix']) {
        expect(
          (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: `n-${hex(3)}`, branch })).status,
          branch,
        ).toBe(201);
      }
      expect((await call(other, 'DELETE', `/streams/${taken.body.stream.id}`)).status).toBe(200);
      expect(
        (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'again', branch: 'feature/x' }))
          .status,
      ).toBe(201);
    });

    it("the reserved names follow the repository's own buffer and promote target", async () => {
      const repo = await createTestRepo(t.app, owner, {
        buffer_branch: 'integration',
        promote_target: 'release',
      });
      for (const branch of ['integration', 'release', 'release/1.0']) {
        expect(
          (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: `n-${hex(3)}`, branch })).status,
          branch,
        ).toBe(400);
      }
      expect(
        (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: `n-${hex(3)}`, branch: 'buffer' }))
          .status,
      ).toBe(201);
    });

    it('base_branch is what the stream builds on: the buffer, or its parent’s branch', async () => {
      const repo = await createTestRepo(t.app, owner);
      for (const base_branch of ['main', 'HEAD', 'stream/other']) {
        const response = await call(author, 'POST', `/repos/${repo.id}/streams`, {
          name: `n-${hex(3)}`,
          base_branch,
        });
        expect(response.status, base_branch).toBe(400);
      }
      const parent = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'parent',
        base_branch: 'buffer',
      });
      expect(parent.status).toBe(201);
      const child = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'child',
        depends_on: 'parent',
        base_branch: parent.body.stream.branch,
      });
      expect(child.body.stream).toMatchObject({ base_branch: parent.body.stream.branch });
      expect(
        (
          await call(author, 'POST', `/repos/${repo.id}/streams`, {
            name: 'child2',
            depends_on: 'parent',
            base_branch: 'buffer',
          })
        ).status,
      ).toBe(400);
    });

    it('branch names as long as a branch may be are stored alike on both dialects', async () => {
      const longBuffer = `b${'x'.repeat(149)}`;
      const repo = await createTestRepo(t.app, owner, { merge_mode: 'swarm', buffer_branch: longBuffer });
      expect(repo.buffer_branch).toBe(longBuffer);
      const longBranch = `s/${'y'.repeat(198)}`;
      const parent = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'long',
        branch: longBranch,
      });
      expect(parent.status).toBe(201);
      const child = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'kid',
        depends_on: 'long',
      });
      expect(child.status).toBe(201);
      expect(child.body.stream.base_branch).toBe(longBranch);
      const head = sha();
      await call(author, 'POST', `/streams/${parent.body.stream.id}/commits`, { commit: head });
      const merged = await call(
        author,
        'PATCH',
        `/streams/${parent.body.stream.id}`,
        mergeReport(sha(), head),
      );
      expect(merged.status).toBe(200);
      const merge = await t.store.db
        .selectFrom('gitswarm_merges')
        .select('target_branch')
        .where('stream_id', '=', parent.body.stream.id)
        .executeTakeFirstOrThrow();
      expect(merge.target_branch).toBe(longBuffer);
    });

    it('stabilization numbers and lengths: in range or 400, the same on both dialects', async () => {
      const repo = await createTestRepo(t.app, owner, { merge_mode: 'swarm' });
      await call(owner, 'POST', `/repos/${repo.id}/maintainers`, { agent_id: maintainer.id });
      const stream = (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'one' })).body.stream;
      const head = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: head });
      const report = mergeReport(sha(), head);
      expect((await call(author, 'PATCH', `/streams/${stream.id}`, report)).status).toBe(200);
      const ok = { result: 'green', buffer_commit: report.merge_commit };
      const stabilize = (body: Record<string, unknown>) =>
        call(maintainer, 'POST', `/repos/${repo.id}/stabilize`, body);

      const hostile: [string, Record<string, unknown>][] = [
        ['duration 3e9', { duration_ms: 3e9 }],
        ['duration 2^31', { duration_ms: 2_147_483_648 }],
        ['duration 1e308', { duration_ms: 1e308 }],
        ['negative duration', { duration_ms: -1 }],
        ['fractional duration', { duration_ms: 1.5 }],
        ['duration as text', { duration_ms: 'soon' }],
        ['long tag', { tag: `green/${'t'.repeat(200)}` }],
        ['bad tag', { tag: '../x' }],
        ['long stream id', { result: 'red', breaking_stream_id: 's'.repeat(37) }],
        ['short commit', { buffer_commit: 'abc123' }],
        ['passing commit with green', { passing_commit: sha() }],
        ['breaking stream with green', { breaking_stream_id: stream.id }],
        ['unknown field', { commit: sha() }],
      ];
      for (const [what, change] of hostile) {
        const response = await stabilize({ ...ok, ...change });
        expect(response.status, what).toBe(400);
        expect(response.body.error.code, what).toMatch(/^invalid_(input|name)$/);
      }
      const history = async () =>
        (await call(owner, 'GET', `/repos/${repo.id}/stabilize/history`)).body.stabilizations;
      expect(await history()).toHaveLength(0);

      const longest = await stabilize({ ...ok, duration_ms: 2_147_483_647, tag: `g/${'t'.repeat(198)}` });
      expect(longest.status).toBe(201);
      expect((await history())[0]).toMatchObject({ duration_ms: 2_147_483_647 });

      for (const limit of ['0', '1001', '1e10', '-1', 'x']) {
        for (const path of ['stabilize/history', 'promote/history']) {
          expect(
            (await call(owner, 'GET', `/repos/${repo.id}/${path}?limit=${limit}`)).status,
            `${path} ${limit}`,
          ).toBe(400);
        }
      }
    });

    it('merge, commit and conflict reports: lengths are bounded before the store sees them', async () => {
      const repo = await createTestRepo(t.app, owner, { merge_mode: 'swarm' });
      const stream = (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'one' })).body.stream;
      const head = sha();
      await call(author, 'POST', `/streams/${stream.id}/commits`, { commit: head });
      const tooLongObject = {
        ...mergeReport(sha(), head),
        commit_object: `tree ${sha()}\n${'x'.repeat(100_000)}`,
      };
      const cases: [string, string, string, Record<string, unknown>][] = [
        ['commit object over 100,000 characters', 'PATCH', `/streams/${stream.id}`, tooLongObject],
        [
          'empty commit object',
          'PATCH',
          `/streams/${stream.id}`,
          { ...mergeReport(sha(), head), commit_object: '' },
        ],
        [
          'commit object without a merge',
          'PATCH',
          `/streams/${stream.id}`,
          { status: 'active', commit_object: 'x' },
        ],
        [
          'message over 20,000',
          'POST',
          `/streams/${stream.id}/commits`,
          { commit: sha(), message: 'm'.repeat(20_001) },
        ],
        [
          'conflict with no paths',
          'PATCH',
          `/streams/${stream.id}`,
          { status: 'conflicted', conflict: { paths: [] } },
        ],
        [
          'conflict path over 4096',
          'PATCH',
          `/streams/${stream.id}`,
          { status: 'conflicted', conflict: { paths: ['p'.repeat(4097)] } },
        ],
        ['reason over 2000', 'DELETE', `/streams/${stream.id}`, { reason: 'r'.repeat(2001) }],
        ['stream name over 100', 'POST', `/repos/${repo.id}/streams`, { name: 'n'.repeat(101) }],
        ['stream id over 36', 'POST', `/repos/${repo.id}/streams`, { id: 'i'.repeat(37), name: 'x' }],
      ];
      for (const [what, method, url, body] of cases) {
        const response = await call(author, method, url, body);
        expect(response.status, what).toBe(400);
        expect(response.body.error.code, what).toMatch(/^invalid_(input|name)$/);
      }
      const unchanged = await call(null, 'GET', `/streams/${stream.id}`);
      expect(unchanged.body.stream).toMatchObject({ status: 'active', conflict: null });
      expect(await streamCount(repo.id)).toBe(1);
    });

    it('ids that are not the column’s type get the same answer on both dialects', async () => {
      const repo = await createTestRepo(t.app, owner);
      const listed = await call(author, 'GET', `/repos/${repo.id}/streams?agent_id=not-a-uuid`);
      expect(listed.status).toBe(400);
      expect(listed.body.error.code).toBe('invalid_input');
      const byAuthor = await call(author, 'GET', `/repos/${repo.id}/streams?agent_id=${author.id}`);
      expect(byAuthor.status).toBe(200);
      const notARepo = 'not-a-uuid';
      const cases: [string, string, unknown][] = [
        ['POST', `/repos/${notARepo}/streams`, { name: 'x' }],
        ['GET', `/repos/${notARepo}/streams`, undefined],
        ['POST', `/repos/${notARepo}/stabilize`, { result: 'green', buffer_commit: sha() }],
        ['POST', `/repos/${notARepo}/promote`, { to_commit: sha() }],
        ['GET', `/repos/${notARepo}/buffer-head`, undefined],
        ['PUT', `/repos/${notARepo}/buffer-head`, { commit: sha(), previous: null }],
        ['GET', `/repos/${notARepo}/stabilize/history`, undefined],
        ['PATCH', '/streams/no-such-stream', { status: 'active' }],
        ['POST', '/streams/no-such-stream/commits', { commit: sha() }],
      ];
      for (const [method, url, body] of cases) {
        const response = await call(owner, method, url, body);
        expect(response.status, `${method} ${url}`).toBe(404);
      }
      const stream = (await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'one' })).body.stream;
      const withTask = await call(author, 'POST', `/repos/${repo.id}/streams`, {
        name: 'two',
        task: 'not-a-task',
      });
      expect(withTask.status).toBe(404);
      const red = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        result: 'red',
        buffer_commit: sha(),
        breaking_stream_id: 'no-such-stream',
      });
      expect(red.status).toBe(409);
      expect(
        (
          await call(author, 'POST', `/repos/${repo.id}/streams`, {
            name: 'three',
            depends_on: 'x'.repeat(200),
          })
        ).status,
      ).toBe(404);
      expect(stream.status).toBe('active');
    });
  });
}
