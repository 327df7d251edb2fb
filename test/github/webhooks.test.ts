/**
 * The GitHub webhook receiver on both dialects, driven by GitHub's own example payloads
 * (@octokit/webhooks-examples) pointed at the test's repository and signed here with node:crypto:
 * the seed's 3.4 flow (a human opens PR #42, an agent reviews through the API, the human approves
 * on GitHub → weighted consensus, GitHub's merge → merged), synchronize making reviews stale, a
 * dismissed review, a PR closed unmerged, pushes to the buffer and main, installations, and the
 * refusals (forged signature, a signature over a re-serialised body, a replayed delivery, an
 * unlinked repository, an unknown event, an oversize body, a review before its PR, self-review, a
 * server without a secret).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRepo, updateRepoSettings } from '../../src/core/repos/repos.js';
import { findInstallationFor } from '../../src/github/installations.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';
import { example, type Json, pullRequestPayload, sign as signWith } from './github-fixture.js';

const SECRET = 'test-webhook-secret';
const OWNER_NAME = 'octo-org';
const GITHUB_CONFIG = { appId: null, privateKey: null, webhookSecret: SECRET, apiUrl: 'http://127.0.0.1:9' };

function sign(body: string | Buffer, secret = SECRET): string {
  return signWith(body, secret);
}

function sha(n: number): string {
  return n.toString(16).padStart(40, 'a');
}

const AUTHOR = { id: 9100001, login: 'human-author', type: 'User' };
const REVIEWER = { id: 9100002, login: 'human-reviewer', type: 'User' };
const STRANGER = { id: 9100003, login: 'drive-by', type: 'User' };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: GitHub webhooks`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let agentA: TestAgent;
    let agentB: TestAgent;
    let repo: { id: string };
    let fullName: string;

    async function deliver(
      event: string,
      payload: Json | string,
      options: { id?: string; signature?: string | null } = {},
    ) {
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const id = options.id ?? randomUUID();
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': id,
      };
      if (options.signature !== null) headers['x-hub-signature-256'] = options.signature ?? sign(body);
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/webhooks/github',
        headers,
        payload: body,
      });
      return { status: response.statusCode, body: response.json() as Json, id, raw: body };
    }

    /** GitHub's pull_request example for `action`, pointed at PR `number` of the linked repository. */
    function pullRequest(action: string, number: number, head: string, extra: Json = {}): Json {
      return pullRequestPayload({ fullName, number, head, author: AUTHOR }, action, extra);
    }

    function review(action: string, pr: Json, user: Json, state: string, association = 'COLLABORATOR'): Json {
      const r = example('pull_request_review', action);
      r.repository.full_name = fullName;
      r.pull_request = structuredClone(pr.pull_request);
      r.review = {
        ...r.review,
        user: { ...r.review.user, ...user },
        state,
        author_association: association,
        commit_id: pr.pull_request.head.sha,
      };
      return r;
    }

    async function streamOf(number: number) {
      return t.store.db
        .selectFrom('gitswarm_streams')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('github_pr_number', '=', number)
        .orderBy('created_at', 'desc')
        .execute();
    }

    async function countRows(
      table: 'gitswarm_activity_log' | 'gitswarm_stream_reviews' | 'gitswarm_streams',
    ) {
      const row = await t.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    beforeAll(async () => {
      // A clock that moves on at every reading: a head recorded later is newer.
      let tick = Date.parse('2026-01-01T00:00:00Z');
      const now = () => {
        tick += 1;
        return new Date(tick);
      };
      t = await startTestApp(dialect, { github: GITHUB_CONFIG, clock: { now } });
      owner = await registerTestAgent(t.app);
      agentA = await registerTestAgent(t.app);
      agentB = await registerTestAgent(t.app);
      fullName = `${OWNER_NAME}/repo-${randomUUID().slice(0, 8)}`;
      // Open model: a human's verdict weighs 3, a new agent's 1; 0.7 of the weight must approve.
      repo = await createTestRepo(t.app, owner, {
        github_full_name: fullName,
        ownership_model: 'open',
        human_review_weight: 3,
        consensus_threshold: 0.7,
      });
    });
    afterAll(async () => {
      await t?.close();
    });

    it('links a repository once: owner/name checked, the same name (any case) refused elsewhere', async () => {
      const bad = await callApi(t.app, owner, {
        method: 'POST',
        url: '/repos',
        payload: { name: 'bad-link', github_full_name: 'not a name' },
      });
      expect(bad.status).toBe(400);
      const other = await createTestRepo(t.app, owner);
      const taken = await callApi(t.app, owner, {
        method: 'PATCH',
        url: `/repos/${other.id}`,
        payload: { github_full_name: fullName.toUpperCase() },
      });
      expect(taken.status).toBe(409);
      expect(taken.body.error.code).toBe('already_exists');
      // The rule is the core's: a passed council proposal (no actor) is refused alike.
      await expect(
        updateRepoSettings(t.app.deps, t.store.db, {
          repo: await getRepo(t.store.db, other.id),
          actor: null,
          changes: { github_full_name: fullName },
        }),
      ).rejects.toMatchObject({ code: 'already_exists' });
      const read = await callApi(t.app, owner, { method: 'GET', url: `/repos/${repo.id}` });
      expect(read.body.repo.github_full_name).toBe(fullName);
    });

    it('3.4: a human opens PR #42, an agent reviews, the human approves on GitHub, GitHub merges', async () => {
      const opened = await deliver('pull_request', pullRequest('opened', 42, sha(1)));
      expect(opened.status).toBe(200);
      expect(opened.body).toEqual({ ok: true, delivery_id: opened.id, outcome: 'handled' });
      const [stream] = await streamOf(42);
      expect(stream).toMatchObject({
        source: 'github_pr',
        github_pr_number: 42,
        github_pr_url: `https://github.com/${fullName}/pull/42`,
        branch: 'feature-42',
        base_branch: 'buffer',
        status: 'in_review',
      });
      const author = await t.store.db
        .selectFrom('gitswarm_agents')
        .selectAll()
        .where('id', '=', stream?.agent_id as string)
        .executeTakeFirstOrThrow();
      expect(author).toMatchObject({ name: 'gh-human-author', is_human: true });
      const id = stream?.id as string;

      // The agents review through the API: one approves, one asks for changes.
      for (const [agent, verdict] of [
        [agentA, 'approve'],
        [agentB, 'request_changes'],
      ] as const) {
        const r = await callApi(t.app, agent, {
          method: 'POST',
          url: `/streams/${id}/reviews`,
          payload: { verdict },
        });
        expect(r.status).toBe(201);
      }
      const before = await callApi(t.app, agentA, { method: 'GET', url: `/streams/${id}/consensus` });
      expect(before.body.consensus).toMatchObject({ reached: false, ratio: 0.5 });

      // The human approves on GitHub: weighted 3, (1 + 3) / 5 = 0.8 ≥ 0.7 (unweighted it would be 2/3).
      const approved = await deliver(
        'pull_request_review',
        review('submitted', JSON.parse(opened.raw), REVIEWER, 'approved'),
      );
      expect(approved.body.outcome).toBe('handled');
      const after = await callApi(t.app, agentA, { method: 'GET', url: `/streams/${id}/consensus` });
      expect(after.body.consensus).toMatchObject({
        reached: true,
        model: 'open',
        approvals: 2,
        rejections: 1,
      });
      expect(after.body.consensus.ratio).toBeCloseTo(0.8);
      const human = await t.store.db
        .selectFrom('gitswarm_stream_reviews')
        .selectAll()
        .where('stream_id', '=', id)
        .where('is_human', '=', true)
        .execute();
      expect(human).toHaveLength(1);

      // The author's own review on GitHub never counts.
      const self = await deliver(
        'pull_request_review',
        review('submitted', JSON.parse(opened.raw), AUTHOR, 'approved'),
      );
      expect(self.status).toBe(202);
      expect(self.body.outcome).toMatch(/^ignored: self_review/);

      // GitHub's merge into the buffer.
      const mergeCommit = sha(1000);
      const closed = await deliver(
        'pull_request',
        pullRequest('closed', 42, sha(1), {
          merged: true,
          merge_commit_sha: mergeCommit,
          merged_by: REVIEWER,
          state: 'closed',
        }),
      );
      expect(closed.body.outcome).toBe('handled');
      const [merged] = await streamOf(42);
      expect(merged?.status).toBe('merged');
      const mergeRow = await t.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('merge_commit', '=', mergeCommit)
        .executeTakeFirstOrThrow();
      expect(mergeRow).toMatchObject({ stream_id: id, target_branch: 'buffer' });
      const head = await t.store.db
        .selectFrom('gitswarm_buffer_heads')
        .select('head_commit')
        .where('repo_id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(head.head_commit).toBe(mergeCommit);
      const events = await callApi(t.app, owner, {
        method: 'GET',
        url: `/repos/${repo.id}/activity?limit=200`,
      });
      const names = (events.body.events ?? events.body.activity ?? []).map(
        (e: Json) => e.event_type ?? e.event,
      );
      for (const name of ['stream.created', 'stream.reviewed', 'stream.merged'])
        expect(names).toContain(name);
      expect(names).not.toContain('stream.merge_disputed');
    });

    it('synchronize records the new head: earlier verdicts go stale; closing unmerged abandons', async () => {
      const opened = await deliver('pull_request', pullRequest('opened', 44, sha(2)));
      expect(opened.body.outcome).toBe('handled');
      const [stream] = await streamOf(44);
      const id = stream?.id as string;
      await callApi(t.app, agentA, {
        method: 'POST',
        url: `/streams/${id}/reviews`,
        payload: { verdict: 'approve' },
      });
      const sync = await deliver('pull_request', pullRequest('synchronize', 44, sha(3)));
      expect(sync.body.outcome).toBe('handled');
      const reviews = await callApi(t.app, agentA, { method: 'GET', url: `/streams/${id}/reviews` });
      expect(reviews.body).toMatchObject({ head_commit: sha(3), stale: 1 });
      const consensus = await callApi(t.app, agentA, { method: 'GET', url: `/streams/${id}/consensus` });
      expect(consensus.body.consensus).toMatchObject({ reached: false, stale_approvals: 1 });
      const closed = await deliver(
        'pull_request',
        pullRequest('closed', 44, sha(3), { merged: false, state: 'closed' }),
      );
      expect(closed.body.outcome).toBe('handled');
      expect((await streamOf(44))[0]?.status).toBe('abandoned');
    });

    it('a review ties to the head it saw: a late synchronize changes nothing; a review of an older commit is ignored', async () => {
      const opened = await deliver('pull_request', pullRequest('opened', 47, sha(11)));
      const [stream] = await streamOf(47);
      const id = stream?.id as string;
      // The review on the new head arrives before the synchronize that announces it.
      const newer = pullRequest('synchronize', 47, sha(12));
      const approved = await deliver('pull_request_review', review('submitted', newer, REVIEWER, 'approved'));
      expect(approved.body.outcome).toBe('handled');
      const reviews = await callApi(t.app, agentA, { method: 'GET', url: `/streams/${id}/reviews` });
      expect(reviews.body).toMatchObject({ head_commit: sha(12), stale: 0 });
      const late = await deliver('pull_request', newer);
      expect(late.status).toBe(202);
      // A review given on the first head, delivered now, does not count for the newer code.
      const old = review('submitted', JSON.parse(opened.raw), REVIEWER, 'changes_requested');
      old.pull_request.head.sha = sha(12);
      const ignored = await deliver('pull_request_review', old);
      expect(ignored.status).toBe(202);
      expect(ignored.body.outcome).toMatch(/^ignored: review of commit/);
      const after = await t.store.db
        .selectFrom('gitswarm_stream_reviews')
        .select('verdict')
        .where('stream_id', '=', id)
        .execute();
      expect(after).toEqual([{ verdict: 'approve' }]);
    });

    it('a draft PR is a stream at work until it is ready for review', async () => {
      const draft = await deliver('pull_request', pullRequest('opened', 48, sha(13), { draft: true }));
      expect(draft.body.outcome).toBe('handled');
      expect((await streamOf(48))[0]?.status).toBe('active');
      const ready = await deliver('pull_request', pullRequest('ready_for_review', 48, sha(13)));
      expect(ready.body.outcome).toBe('handled');
      expect((await streamOf(48))[0]?.status).toBe('in_review');
    });

    it('a review before its PR records the stream from the review; the late opened changes nothing; dismissal withdraws', async () => {
      const pr = pullRequest('opened', 43, sha(4));
      const early = await deliver(
        'pull_request_review',
        review('submitted', pr, REVIEWER, 'changes_requested'),
      );
      expect(early.body.outcome).toBe('handled');
      const [stream] = await streamOf(43);
      const reviews = await t.store.db
        .selectFrom('gitswarm_stream_reviews')
        .selectAll()
        .where('stream_id', '=', stream?.id as string)
        .execute();
      expect(reviews).toMatchObject([{ verdict: 'request_changes', is_human: true }]);
      const late = await deliver('pull_request', pr);
      expect(late.status).toBe(202);
      expect(await streamOf(43)).toHaveLength(1);
      const dismissed = await deliver('pull_request_review', review('dismissed', pr, REVIEWER, 'dismissed'));
      expect(dismissed.body.outcome).toBe('handled');
      const left = await t.store.db
        .selectFrom('gitswarm_stream_reviews')
        .select('id')
        .where('stream_id', '=', stream?.id as string)
        .execute();
      expect(left).toHaveLength(0);
      // A drive-by reviewer on a public repository gives no verdict.
      const driveBy = await deliver(
        'pull_request_review',
        review('submitted', pr, STRANGER, 'approved', 'NONE'),
      );
      expect(driveBy.status).toBe(202);
      expect(driveBy.body.outcome).toMatch(/not a collaborator/);
    });

    it('a merge on GitHub without consensus is recorded, and disputed; a review of a closed unknown PR is dropped', async () => {
      const opened = await deliver('pull_request', pullRequest('opened', 45, sha(9)));
      expect(opened.body.outcome).toBe('handled');
      const [stream] = await streamOf(45);
      const mergeCommit = sha(2000);
      const closed = await deliver(
        'pull_request',
        pullRequest('closed', 45, sha(9), {
          merged: true,
          merge_commit_sha: mergeCommit,
          merged_by: REVIEWER,
        }),
      );
      expect(closed.body.outcome).toBe('handled');
      expect((await streamOf(45))[0]?.status).toBe('merged');
      const disputes = await t.store.db
        .selectFrom('gitswarm_activity_log')
        .select('metadata')
        .where('event_type', '=', 'stream.merge_disputed')
        .where('target_id', '=', stream?.id as string)
        .execute();
      expect(disputes).toHaveLength(1);
      // The same merge redelivered under a new id changes nothing either.
      const again = await deliver(
        'pull_request',
        pullRequest('closed', 45, sha(9), {
          merged: true,
          merge_commit_sha: mergeCommit,
          merged_by: REVIEWER,
        }),
      );
      expect(again.status).toBe(202);

      const gone = pullRequest('closed', 46, sha(10), { state: 'closed' });
      const late = await deliver('pull_request_review', review('submitted', gone, REVIEWER, 'approved'));
      expect(late.status).toBe(202);
      expect(late.body.outcome).toMatch(/closed and has no live stream/);
      expect(await streamOf(46)).toHaveLength(0);
    });

    it('pushes: the buffer head recorded; a push to main recorded as a promotion', async () => {
      const toBuffer = example('push');
      Object.assign(toBuffer, {
        ref: 'refs/heads/buffer',
        before: sha(1000),
        after: sha(1001),
        deleted: false,
      });
      toBuffer.repository.full_name = fullName;
      expect((await deliver('push', toBuffer)).body.outcome).toBe('handled');
      const head = await t.store.db
        .selectFrom('gitswarm_buffer_heads')
        .select('head_commit')
        .where('repo_id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(head.head_commit).toBe(sha(1001));
      const toMain = {
        ...structuredClone(toBuffer),
        ref: 'refs/heads/main',
        before: sha(5),
        after: sha(1001),
      };
      expect((await deliver('push', toMain)).body.outcome).toBe('handled');
      const promotion = await t.store.db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(promotion).toMatchObject({ to_branch: 'main', to_commit: sha(1001), from_commit: sha(5) });
      const tag = { ...structuredClone(toBuffer), ref: 'refs/tags/v1' };
      expect((await deliver('push', tag)).status).toBe(202);
    });

    it('installation events keep the installations current', async () => {
      const created = example('installation', 'created');
      created.installation.id = 770001;
      created.repositories = [{ id: 880001, full_name: fullName, name: 'x', private: false }];
      expect((await deliver('installation', created)).body.outcome).toBe('handled');
      expect((await findInstallationFor(t.store.db, fullName.toUpperCase()))?.installation_id).toBe(770001);
      const removed = example('installation_repositories', 'removed');
      removed.installation.id = 770001;
      removed.repositories_removed = [{ id: 880001, full_name: fullName }];
      expect((await deliver('installation_repositories', removed)).body.outcome).toBe('handled');
      expect(await findInstallationFor(t.store.db, fullName)).toBeNull();
      const added = example('installation_repositories', 'added');
      added.installation.id = 770001;
      added.repositories_added = [{ id: 880001, full_name: fullName }];
      await deliver('installation_repositories', added);
      expect((await findInstallationFor(t.store.db, fullName))?.installation_id).toBe(770001);
      const deleted = example('installation', 'deleted');
      deleted.installation.id = 770001;
      await deliver('installation', deleted);
      expect(await findInstallationFor(t.store.db, fullName)).toBeNull();
    });

    it('refuses forged and re-serialised signatures; verifies the raw bytes', async () => {
      const payload = pullRequest('opened', 50, sha(6));
      // GitHub's exact bytes may be spaced in any way: the signature covers those bytes.
      const raw = JSON.stringify(payload, null, 3);
      const streamsBefore = await countRows('gitswarm_streams');
      const forged = await deliver('pull_request', raw, { signature: sign(raw, 'not-the-secret') });
      expect(forged.status).toBe(401);
      expect(forged.body.error.code).toBe('invalid_signature');
      const missing = await deliver('pull_request', raw, { signature: null });
      expect(missing.status).toBe(401);
      // A signature over the re-serialised (compact) JSON does not match the bytes sent.
      const reserialised = await deliver('pull_request', raw, { signature: sign(JSON.stringify(payload)) });
      expect(reserialised.status).toBe(401);
      expect(await countRows('gitswarm_streams')).toBe(streamsBefore);
      const genuine = await deliver('pull_request', raw);
      expect(genuine.status).toBe(200);
      expect(await countRows('gitswarm_streams')).toBe(streamsBefore + 1);
    });

    it('a replayed delivery answers 200 and changes nothing', async () => {
      const pr = pullRequest('opened', 51, sha(7));
      const first = await deliver('pull_request', pr);
      const reviewed = await deliver('pull_request_review', review('submitted', pr, REVIEWER, 'approved'));
      expect(reviewed.body.outcome).toBe('handled');
      const activity = await countRows('gitswarm_activity_log');
      const reviews = await countRows('gitswarm_stream_reviews');
      for (const again of [first, reviewed]) {
        const replay = await deliver(
          again.id === first.id ? 'pull_request' : 'pull_request_review',
          again.raw,
          {
            id: again.id,
          },
        );
        expect(replay.status).toBe(200);
        expect(replay.body.outcome).toBe('duplicate');
      }
      expect(await countRows('gitswarm_activity_log')).toBe(activity);
      expect(await countRows('gitswarm_stream_reviews')).toBe(reviews);
      // Delivery ids older than the retention are pruned as new deliveries arrive.
      await t.store.db
        .insertInto('gitswarm_github_deliveries')
        .values({
          delivery_id: 'ancient',
          event: 'push',
          action: null,
          repo_id: null,
          outcome: 'handled',
          received_at: '2025-01-01T00:00:00.000Z',
        })
        .execute();
      await deliver('ping', { zen: 'Keep it logically awesome.' });
      const ancient = await t.store.db
        .selectFrom('gitswarm_github_deliveries')
        .select('delivery_id')
        .where('delivery_id', '=', 'ancient')
        .execute();
      expect(ancient).toHaveLength(0);
    });

    it('acknowledges and ignores unlinked repositories and unknown events', async () => {
      const streams = await countRows('gitswarm_streams');
      const unlinked = pullRequest('opened', 60, sha(8));
      unlinked.repository.full_name = 'someone-else/elsewhere';
      const answer = await deliver('pull_request', unlinked);
      expect(answer.status).toBe(202);
      expect(answer.body.outcome).toMatch(/not linked/);
      const issue = await deliver('issues', example('issues'));
      expect(issue.status).toBe(202);
      expect(await countRows('gitswarm_streams')).toBe(streams);
    });

    it('refuses a body over 25 MB (413) and a body that is not JSON', async () => {
      const huge = Buffer.alloc(25 * 1024 * 1024 + 1, 0x20);
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/webhooks/github',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
        },
        payload: huge,
      });
      expect(response.statusCode).toBe(413);
      const notJson = await deliver('push', 'not json');
      expect(notJson.status).toBe(400);
    });

    it('a server without a webhook secret accepts no delivery', async () => {
      const bare = await startTestApp(dialect);
      try {
        const body = JSON.stringify(example('push'));
        const response = await bare.app.inject({
          method: 'POST',
          url: '/api/v1/webhooks/github',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-github-delivery': randomUUID(),
            'x-hub-signature-256': sign(body),
          },
          payload: body,
        });
        expect(response.statusCode).toBe(503);
        expect(response.json().error.code).toBe('github_not_configured');
      } finally {
        await bare.close();
      }
    });
  });
}
