/**
 * The spec's 3.4 flow end to end, on both dialects, through one server that both receives GitHub's
 * webhooks and reports back to the loopback GitHub as the App: the App is installed (so the
 * installation is known and never looked up), a human opens PR #42, an agent reviews through the
 * API, the human approves on GitHub → consensus, reported as a status and one edited comment;
 * GitHub's merge → merged on the PR. And the agent-driven path: an agent's merge through the API
 * is reported on the PR.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMENT_MARKER } from '../../src/github/pr-comment.js';
import { type FakeGitHub, startFakeGitHub } from '../helpers/fake-github.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { mergeReport } from '../server/commit-objects.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';
import { example, type Json, pullRequestPayload, sign } from './github-fixture.js';

const SECRET = 'flow-webhook-secret';
const INSTALLATION = 55;
/** The commit GitHub's merge of PR #42 made on the buffer; the agent's merge is made on it. */
const GITHUB_MERGE = 'c'.repeat(40);
const AUTHOR = { id: 9200001, login: 'flow-author', type: 'User' };
const REVIEWER = { id: 9200002, login: 'flow-reviewer', type: 'User' };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: GitHub flow, in and out`, () => {
    let github: FakeGitHub;
    let t: TestApp;
    let owner: TestAgent;
    let agent: TestAgent;
    let doubter: TestAgent;
    let repo: { id: string };
    let fullName: string;

    const idle = () => t.app.githubOutbound?.idle();
    const deliver = async (event: string, payload: Json) => {
      const body = JSON.stringify(payload);
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/webhooks/github',
        headers: {
          'content-type': 'application/json',
          'x-github-event': event,
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': sign(body, SECRET),
        },
        payload: body,
      });
      expect(response.json().outcome).toBe('handled');
      await idle();
    };
    const statuses = (commit: string) =>
      github
        .find('POST', `/repos/${fullName}/statuses/${commit}`)
        .filter((r) => r.status === 201)
        .map((r) => r.body as { state: string; context: string; description: string })
        .filter((b) => b.context === 'gitswarm/consensus');
    const comments = (pr: number) => github.find('POST', `/repos/${fullName}/issues/${pr}/comments`);
    const edits = () =>
      github
        .find('PATCH', new RegExp(`^/repos/${fullName}/issues/comments/\\d+$`))
        .map((r) => (r.body as { body: string }).body);
    const pullRequest = (action: string, number: number, head: string, extra: Json = {}): Json =>
      pullRequestPayload({ fullName, number, head, author: AUTHOR }, action, extra);
    const streamOf = (number: number) =>
      t.store.db
        .selectFrom('gitswarm_streams')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('github_pr_number', '=', number)
        .executeTakeFirstOrThrow();

    beforeAll(async () => {
      const started = await startFakeGitHub({ installationId: INSTALLATION });
      github = started.github;
      t = await startTestApp(dialect, {
        github: {
          appId: String(started.appId),
          privateKey: started.privateKey,
          webhookSecret: SECRET,
          apiUrl: github.url,
        },
        githubOutbound: { attempts: 3, retryDelayMs: 20 },
      });
      owner = await registerTestAgent(t.app);
      agent = await registerTestAgent(t.app);
      doubter = await registerTestAgent(t.app);
      fullName = `octo-org/flow-${randomUUID().slice(0, 8)}`;
      repo = await createTestRepo(t.app, owner, {
        github_full_name: fullName,
        ownership_model: 'open',
        human_review_weight: 3,
        consensus_threshold: 0.7,
      });
      const installed = example('installation', 'created');
      installed.installation.id = INSTALLATION;
      installed.repositories = [{ id: 880002, full_name: fullName, name: 'flow', private: false }];
      await deliver('installation', installed);
    });
    afterAll(async () => {
      await t?.close();
      await github?.close();
    });

    it('3.4: opened → pending and one comment; reviews → success, the comment edited; merged on GitHub', async () => {
      const head = 'b'.repeat(40);
      const opened = pullRequest('opened', 42, head);
      await deliver('pull_request', opened);
      const stream = await streamOf(42);
      expect(stream).toMatchObject({ source: 'github_pr', status: 'in_review' });
      expect(statuses(head).map((s) => s.state)).toEqual(['pending']);
      expect(comments(42)).toHaveLength(1);
      expect((comments(42)[0]?.body as { body?: string } | undefined)?.body?.startsWith(COMMENT_MARKER)).toBe(
        true,
      );

      for (const [reviewer, verdict] of [
        [agent, 'approve'],
        [doubter, 'request_changes'],
      ] as const) {
        const reviewed = await callApi(t.app, reviewer, {
          method: 'POST',
          url: `/streams/${stream.id}/reviews`,
          payload: { verdict },
        });
        expect(reviewed.status).toBe(201);
      }
      await idle();
      expect(statuses(head).at(-1)?.state).toBe('pending');

      // The human approves on GitHub, weighing 3: (1 + 3) / 5 ≥ 0.7.
      const approval = example('pull_request_review', 'submitted');
      approval.repository.full_name = fullName;
      approval.pull_request = structuredClone(opened.pull_request);
      approval.review = {
        ...approval.review,
        user: { ...approval.review.user, ...REVIEWER },
        state: 'approved',
        author_association: 'COLLABORATOR',
        commit_id: head,
      };
      await deliver('pull_request_review', approval);
      expect(statuses(head).at(-1)).toMatchObject({
        state: 'success',
        description: expect.stringMatching(/^Consensus reached/),
      });
      expect(comments(42)).toHaveLength(1);
      expect(edits().at(-1)).toContain('**Consensus reached**');

      await deliver(
        'pull_request',
        pullRequest('closed', 42, head, {
          merged: true,
          merge_commit_sha: GITHUB_MERGE,
          merged_by: REVIEWER,
          state: 'closed',
        }),
      );
      expect((await streamOf(42)).status).toBe('merged');
      expect(edits().at(-1)).toContain('**Merged**');
      expect(comments(42)).toHaveLength(1);

      // The installation came from the webhook: never looked up, every call made as it.
      expect(github.find('GET', `/repos/${fullName}/installation`)).toHaveLength(0);
      expect(github.find('POST', `/app/installations/${INSTALLATION}/access_tokens`).length).toBeGreaterThan(
        0,
      );
    });

    it('an agent merges a PR’s stream through the API: reported on the PR', async () => {
      const head = 'd'.repeat(40);
      await deliver('pull_request', pullRequest('opened', 43, head));
      const stream = await streamOf(43);
      expect(comments(43)).toHaveLength(1);
      const approved = await callApi(t.app, agent, {
        method: 'POST',
        url: `/streams/${stream.id}/reviews`,
        payload: { verdict: 'approve' },
      });
      expect(approved.status).toBe(201);
      // The repository's owner merges it through GitSwarm's API, not GitHub.
      const merged = await callApi(t.app, owner, {
        method: 'PATCH',
        url: `/streams/${stream.id}`,
        payload: mergeReport(GITHUB_MERGE, head),
      });
      expect(merged.body.error ?? null).toBeNull();
      expect(merged.status).toBe(200);
      await idle();
      expect((await streamOf(43)).status).toBe('merged');
      expect(statuses(head).at(-1)).toMatchObject({
        state: 'success',
        description: expect.stringMatching(/^Merged into the buffer/),
      });
      expect(edits().at(-1)).toContain('**Merged** into `buffer` as ');
      expect(comments(43)).toHaveLength(1);
      expect(github.find('GET', `/repos/${fullName}/installation`)).toHaveLength(0);
    });
  });
}
