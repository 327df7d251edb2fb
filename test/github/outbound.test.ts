/**
 * Back to GitHub, through the server's API on both dialects, against the loopback GitHub: the
 * `gitswarm/consensus` status (pending with the numbers, success at consensus and on merge), the
 * one consensus comment created then edited, `gitswarm/stabilize` on buffer commits, deliveries
 * that neither block nor fail the request and are retried; the GitHub clone URL; the proxies and
 * their refusals.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitHubClient } from '../../src/github/client.js';
import { COMMENT_MARKER } from '../../src/github/pr-comment.js';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { mergeReport, sha } from '../server/commit-objects.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';

const FULL_NAME = 'octo-org/widgets';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: GitHub outbound`, () => {
    let github: FakeGitHub;
    let t: TestApp;
    const logs: string[] = [];
    let owner: TestAgent;
    let author: TestAgent;
    let first: TestAgent;
    let second: TestAgent;
    let repo: { id: string; name: string };
    let streamId: string;
    let head: string;

    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });
    const idle = () => t.app.githubOutbound?.idle();
    const statuses = (commit: string, context: string) =>
      github
        .find('POST', `/repos/${FULL_NAME}/statuses/${commit}`)
        .filter((r) => r.status === 201)
        .map((r) => r.body as { state: string; context: string; description: string })
        .filter((b) => b.context === context);
    const link = (repoId: string, fullName: string | null) =>
      t.store.db
        .updateTable('gitswarm_repos')
        .set({ github_full_name: fullName })
        .where('id', '=', repoId)
        .execute();

    beforeAll(async () => {
      const started = await startFakeGitHub({ installationId: 55 });
      github = started.github;
      const client = new GitHubClient({
        appId: started.appId,
        privateKey: started.privateKey,
        apiUrl: github.url,
      });
      const stream = new Writable({
        write(chunk, _encoding, done) {
          logs.push(String(chunk));
          done();
        },
      });
      t = await startTestApp(dialect, {
        githubClient: client,
        githubOutbound: { attempts: 3, retryDelayMs: 20 },
        logger: { level: 'debug', stream },
      });
      [owner, author, first, second] = (await Promise.all(
        ['owner', 'author', 'first', 'second'].map(() => registerTestAgent(t.app)),
      )) as [TestAgent, TestAgent, TestAgent, TestAgent];
      repo = await createTestRepo(t.app, owner, { ownership_model: 'open', consensus_threshold: 0.75 });
      await link(repo.id, FULL_NAME);
      const created = await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'pr-42' });
      expect(created.status).toBe(201);
      streamId = created.body.stream.id;
      head = sha();
      expect((await call(author, 'POST', `/streams/${streamId}/commits`, { commit: head })).status).toBe(201);
      // The commit's report reads the stream at its own pace: let it finish before the stream is a
      // pull request's, or it may read the link below and post one more status.
      await idle();
      // The stream record the webhook receiver makes for PR #42.
      await t.store.db
        .updateTable('gitswarm_streams')
        .set({
          source: 'github_pr',
          github_pr_number: 42,
          github_pr_url: `https://github.com/${FULL_NAME}/pull/42`,
        })
        .where('id', '=', streamId)
        .execute();
      await idle();
    });
    afterAll(async () => {
      await t?.close();
      await github?.close();
    });

    it('reports consensus on the PR head: pending with the numbers, then success, in one edited comment', async () => {
      const review = (agent: TestAgent, verdict: string) =>
        call(agent, 'POST', `/streams/${streamId}/reviews`, { verdict });
      expect((await review(first, 'request_changes')).status).toBe(201);
      await idle();
      expect(statuses(head, 'gitswarm/consensus').at(-1)).toEqual({
        state: 'pending',
        context: 'gitswarm/consensus',
        description:
          'Waiting for consensus (below threshold): 0 approvals, 1 changes requested, weight 0.00 / 0.75',
      });
      expect((await review(second, 'approve')).status).toBe(201);
      await idle();
      expect(statuses(head, 'gitswarm/consensus').at(-1)?.description).toBe(
        'Waiting for consensus (below threshold): 1 approval, 1 changes requested, weight 0.50 / 0.75',
      );
      expect((await review(first, 'approve')).status).toBe(201);
      await idle();
      expect(statuses(head, 'gitswarm/consensus').map((s) => s.state)).toEqual([
        'pending',
        'pending',
        'success',
      ]);
      expect(statuses(head, 'gitswarm/consensus').at(-1)?.description).toBe(
        'Consensus reached: 2 approvals, 0 changes requested, weight 1.00 / 0.75',
      );

      const created = github.find('POST', `/repos/${FULL_NAME}/issues/42/comments`);
      expect(created).toHaveLength(1);
      const edits = github.find('PATCH', /^\/repos\/octo-org\/widgets\/issues\/comments\/\d+$/);
      expect(edits).toHaveLength(2);
      const row = await t.store.db
        .selectFrom('gitswarm_github_pr_comments')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(row.pr_number).toBe(42);
      expect(edits.map((e) => e.path)).toEqual([
        `/repos/${FULL_NAME}/issues/comments/${row.comment_id}`,
        `/repos/${FULL_NAME}/issues/comments/${row.comment_id}`,
      ]);
      const lastBody = (edits.at(-1)?.body as { body: string } | undefined)?.body ?? '';
      expect(lastBody.startsWith(COMMENT_MARKER)).toBe(true);
      expect(lastBody).toContain('**Consensus reached**');
      expect(lastBody).toContain('| Approvals | 2 |');

      // Every delivery was made as the installation, with a token minted under the App JWT.
      const mints = github.find('POST', '/app/installations/55/access_tokens');
      expect(mints.length).toBeGreaterThanOrEqual(1);
      expect(mints.every((m) => m.auth === 'jwt')).toBe(true);
      const deliveries = github.requests.filter(
        (r) => r.path.includes('/statuses/') || r.path.includes('/comments'),
      );
      expect(
        deliveries.every((r) => r.auth === 'token' && r.headers.authorization?.startsWith('token ghs_')),
      ).toBe(true);

      // A report with nothing new (another event of the same change) sends nothing again.
      const sent = github.requests.length;
      await t.app.githubOutbound?.reportStream(streamId);
      expect(github.requests.length).toBe(sent);
    });

    it('reads the PR head from GitHub (conditionally) when no commit of the stream is known', async () => {
      const created = await call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'pr-43' });
      const id = created.body.stream.id as string;
      // The creation's own report must have read the stream before it is linked to the PR, or it
      // may read the PR head itself and the reads counted below would depend on timing.
      await idle();
      await t.store.db
        .updateTable('gitswarm_streams')
        .set({ source: 'github_pr', github_pr_number: 43 })
        .where('id', '=', id)
        .execute();
      const prHead = sha();
      github.pullHeads.set(`${FULL_NAME}#43`, prHead);
      expect((await call(first, 'POST', `/streams/${id}/reviews`, { verdict: 'comment' })).status).toBe(201);
      await idle();
      expect((await call(second, 'POST', `/streams/${id}/reviews`, { verdict: 'approve' })).status).toBe(201);
      await idle();
      expect(statuses(prHead, 'gitswarm/consensus').map((s) => s.state)).toEqual(['pending', 'success']);
      const reads = github.find('GET', `/repos/${FULL_NAME}/pulls/43`);
      expect(reads.map((r) => r.status)).toEqual([200, 304]);
      expect(github.find('POST', `/repos/${FULL_NAME}/issues/43/comments`)).toHaveLength(1);
    });

    it('reports an agent’s merge on the PR, waiting out a rate limit, and retries through an outage', async () => {
      github.rateLimitNext('retry-after');
      const limitedFrom = github.requests.length;
      const merged = await call(author, 'PATCH', `/streams/${streamId}`, mergeReport(sha(), head));
      expect(merged.status).toBe(200);
      await idle();
      expect(statuses(head, 'gitswarm/consensus').at(-1)).toMatchObject({
        state: 'success',
        description: expect.stringMatching(/^Merged into the buffer: 2 approvals/),
      });
      const edits = github.find('PATCH', /^\/repos\/octo-org\/widgets\/issues\/comments\/\d+$/);
      expect((edits.at(-1)?.body as { body: string } | undefined)?.body ?? '').toContain(
        '**Merged** into `buffer` as ',
      );
      expect(github.find('POST', `/repos/${FULL_NAME}/issues/42/comments`)).toHaveLength(1);
      // The first delivery met the 403 rate limit and was sent again after it lifted.
      const [limited, retried] = github.requests.slice(limitedFrom);
      expect(limited?.status).toBe(403);
      expect(retried).toMatchObject({ method: limited?.method, path: limited?.path, status: 201 });

      // GitHub does not answer: the request that caused the event is not held up by it.
      const buffer = await t.store.db
        .selectFrom('gitswarm_merges')
        .select('merge_commit')
        .where('stream_id', '=', streamId)
        .executeTakeFirstOrThrow();
      const release = github.hold();
      const heldFrom = github.requests.length;
      const green = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        result: 'green',
        buffer_commit: buffer.merge_commit,
      });
      expect(green.status).toBe(201);
      await github.waitFor((requests) => requests.length > heldFrom);
      // Then it answers 502 twice: the status arrives on the third try.
      github.failNext(2);
      release();
      await idle();
      expect(statuses(buffer.merge_commit, 'gitswarm/stabilize')).toEqual([
        {
          state: 'success',
          context: 'gitswarm/stabilize',
          description: expect.stringMatching(/^Stabilization green/),
        },
      ]);
      expect(logs.join('')).toContain('GitHub delivery failed');
      const red = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        result: 'red',
        buffer_commit: buffer.merge_commit,
      });
      expect(red.status).toBe(201);
      await idle();
      expect(statuses(buffer.merge_commit, 'gitswarm/stabilize').map((s) => s.state)).toEqual([
        'success',
        'failure',
      ]);

      // A GitHub that stays down: three tries (the configured bound), then the delivery is given up.
      github.failNext(10);
      const triesFrom = github.requests.length;
      const flaky = await call(owner, 'POST', `/repos/${repo.id}/stabilize`, {
        result: 'flaky',
        buffer_commit: buffer.merge_commit,
      });
      expect(flaky.status).toBe(201);
      await idle();
      const tries = github.requests.slice(triesFrom);
      expect(tries.map((r) => r.status)).toEqual([502, 502, 502]);
      github.failNext(0);
      expect(logs.join('')).toMatch(/"attempt":3,"willRetry":false/);
    });

    it('gives a reader of a linked repository an HTTPS clone URL with a fresh installation token', async () => {
      const answer = await call(first, 'GET', `/repos/${repo.id}/clone-url`);
      expect(answer.status).toBe(200);
      const host = new URL(github.url).host;
      const match = new RegExp(`^http://x-access-token:(ghs_[0-9a-f]+)@${host}/${FULL_NAME}\\.git$`).exec(
        answer.body.url,
      );
      expect(match).not.toBeNull();
      const token = match?.[1] ?? '';
      expect(github.tokens.get(token)).toBeGreaterThan(Date.now() + 50 * 60_000);
      expect(Date.parse(answer.body.expires_at)).toBe(github.tokens.get(token));
      // No key, no token; nor for an agent who may not read a private repository.
      expect((await call(null, 'GET', `/repos/${repo.id}/clone-url`)).body.error.code).toBe('unauthorized');
      const hidden = await createTestRepo(t.app, owner, { is_private: true });
      await link(hidden.id, 'octo-org/hidden');
      const refused = await call(first, 'GET', `/repos/${hidden.id}/clone-url`);
      expect([403, 404]).toContain(refused.status);
      expect(JSON.stringify(refused.body)).not.toContain('x-access-token');
      // The token never reaches the log.
      expect(logs.join('')).not.toContain(token);
    });

    it('proxies contents, tree and commits with the installation token, cached by ETag', async () => {
      github.files.set(`${FULL_NAME}:src/app.ts`, 'export const answer = 42;\n');
      const url = `/api/v1/repos/${repo.id}/github/contents/src/app.ts?ref=main`;
      const one = await t.app.inject({ method: 'GET', url, headers: first.headers });
      expect(one.statusCode).toBe(200);
      expect(one.headers['x-github-cache']).toBe('miss');
      const file = one.json() as { type: string; path: string; content: string };
      expect(file).toMatchObject({ type: 'file', path: 'src/app.ts' });
      expect(Buffer.from(file.content, 'base64').toString()).toBe('export const answer = 42;\n');
      const two = await t.app.inject({ method: 'GET', url, headers: first.headers });
      expect(two.headers['x-github-cache']).toBe('hit');
      expect(two.json()).toEqual(file);
      const reads = github.find('GET', `/repos/${FULL_NAME}/contents/src/app.ts`);
      expect(reads.at(-1)?.headers['if-none-match']).toMatch(/^W\/"/);
      expect(reads.at(-1)?.query.get('ref')).toBe('main');
      expect(reads.every((r) => r.auth === 'token')).toBe(true);

      const tree = await call(first, 'GET', `/repos/${repo.id}/github/tree?recursive=true`);
      expect(tree.status).toBe(200);
      expect(tree.body.tree.some((entry: { path: string }) => entry.path.includes('/'))).toBe(true);
      const treeRead = github.find('GET', /\/git\/trees\//).at(-1);
      expect(treeRead?.path).toBe(`/repos/${FULL_NAME}/git/trees/main`);
      expect(treeRead?.query.get('recursive')).toBe('1');

      const commits = await call(first, 'GET', `/repos/${repo.id}/github/commits?ref=buffer&per_page=5`);
      expect(commits.status).toBe(200);
      expect(Array.isArray(commits.body)).toBe(true);
      expect(commits.body[0].sha).toMatch(/^[0-9a-f]{40}$/);
      expect(github.find('GET', `/repos/${FULL_NAME}/commits`).at(-1)?.query.get('sha')).toBe('buffer');
    });

    it('refuses bad paths and refs before GitHub sees them, and maps GitHub’s 404', async () => {
      const before = github.requests.length;
      const get = (path: string) =>
        t.app.inject({
          method: 'GET',
          url: `/api/v1/repos/${repo.id}/github/${path}`,
          headers: first.headers,
        });
      for (const path of [
        'contents/a/..%2Fb',
        'contents/..%2F..%2Fetc/passwd',
        'contents/%2Fetc/passwd',
        'contents/a%01b',
        'contents/a%5Cb',
      ]) {
        const refused = await get(path);
        expect({ path, status: refused.statusCode, code: refused.json().error.code }).toEqual({
          path,
          status: 400,
          code: 'invalid_path',
        });
      }
      const badRef = await get('tree?ref=..%2Fmain');
      expect(badRef.statusCode).toBe(400);
      expect(github.requests.length).toBe(before);
      const missing = await get('contents/no/such/file.txt');
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('not_found');
      expect((await call(null, 'GET', `/repos/${repo.id}/github/commits`)).status).toBe(401);
      const unlinked = await createTestRepo(t.app, owner);
      const notLinked = await call(first, 'GET', `/repos/${unlinked.id}/github/commits`);
      expect(notLinked.status).toBe(409);
      expect(notLinked.body.error.code).toBe('github_not_linked');
    });
  });
}

describe('GitHub routes without an App', () => {
  let t: TestApp;
  let agent: TestAgent;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    agent = await registerTestAgent(t.app);
  });
  afterAll(() => t.close());

  it('answer 503 github_not_configured for a linked repository', async () => {
    const repo = await createTestRepo(t.app, agent);
    await t.store.db
      .updateTable('gitswarm_repos')
      .set({ github_full_name: FULL_NAME })
      .where('id', '=', repo.id)
      .execute();
    for (const url of [`/repos/${repo.id}/github/commits`, `/repos/${repo.id}/clone-url`]) {
      const answer = await callApi(t.app, agent, { method: 'GET', url });
      expect({ url, status: answer.status, code: answer.body.error?.code }).toEqual({
        url,
        status: 503,
        code: 'github_not_configured',
      });
    }
  });
});
