/**
 * Spec 3.1, Mode B, steps 1-10 over HTTP against a listening server. The git steps are done here
 * with real git: a bare repository stands in for the shared remote and the agent works in its own
 * clone; the server holds no clone and only records and decides.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { startTestApp, type TestApp } from './helpers.js';
import { connectWs, type WsClient, type WsMessage } from './ws-client.js';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Agent A',
  GIT_AUTHOR_EMAIL: 'a@example.invalid',
  GIT_COMMITTER_NAME: 'Agent A',
  GIT_COMMITTER_EMAIL: 'a@example.invalid',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1', HOME: cwd },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

// biome-ignore lint/suspicious/noExplicitAny: JSON response bodies, checked by the assertions.
type JsonBody = any;

interface ActivityEvent {
  event_type: string;
  metadata: Record<string, unknown>;
}

const eventOf = (m: WsMessage) => m.event as ActivityEvent;
const isEventNamed = (name: string) => (m: WsMessage) => m.type === 'event' && eventOf(m).event_type === name;

interface Client {
  key: string;
  id: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: JsonBody }>;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: spec 3.1 Mode B over HTTP`, () => {
    let t: TestApp;
    let base: string;
    let dir: string;
    let origin: string;
    let ws: WsClient;

    const register = async (name: string): Promise<Client> => {
      const response = await fetch(`${base}/api/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      expect(response.status).toBe(201);
      const { agent, api_key: key } = (await response.json()) as { agent: { id: string }; api_key: string };
      return {
        key,
        id: agent.id,
        async call(method, path, body) {
          const res = await fetch(`${base}/api/v1${path}`, {
            method,
            headers: {
              authorization: `Bearer ${key}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          return { status: res.status, body: await res.json() };
        },
      };
    };

    beforeAll(async () => {
      t = await startTestApp(dialect);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.address() as { port: number };
      base = `http://127.0.0.1:${address.port}`;
      dir = mkdtempSync(join(tmpdir(), 'gitswarm-modeb-'));
      origin = join(dir, 'origin.git');
      git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
      const seed = join(dir, 'seed');
      git(dir, 'clone', '-q', origin, seed);
      writeFileSync(join(seed, 'README.md'), '# project\n');
      git(seed, 'add', '-A');
      git(seed, 'commit', '-q', '-m', 'initial');
      git(seed, 'push', '-q', 'origin', 'main');
      git(seed, 'push', '-q', 'origin', 'main:buffer');
    });

    afterAll(async () => {
      await ws?.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs task → claim → stream → commit → submit → review → merge decision → merge → stabilize → promote', async () => {
      const suffix = randomBytes(3).toString('hex');
      const owner = await register(`owner-${suffix}`);
      const agentA = await register(`agent-a-${suffix}`);
      const reviewer = await register(`reviewer-${suffix}`);

      // Set-up: the repository (guild review, tests required before main), a reviewer who counts, a bounty.
      const repo = (
        await owner.call('POST', '/repos', {
          name: `cache-${suffix}`,
          merge_mode: 'review',
          ownership_model: 'guild',
          auto_promote_on_green: true,
          stabilize_command: 'npm test',
        })
      ).body.repo;
      expect(
        (await owner.call('POST', `/repos/${repo.id}/maintainers`, { agent_id: reviewer.id })).status,
      ).toBe(201);
      expect((await owner.call('POST', `/repos/${repo.id}/budget/deposit`, { amount: 100 })).status).toBe(
        201,
      );
      const created = await owner.call('POST', `/repos/${repo.id}/tasks`, {
        title: 'Implement caching layer',
        amount: 10,
      });
      expect(created.status).toBe(201);

      ws = await connectWs(`${base.replace('http', 'ws')}/api/v1/ws?token=${reviewer.key}`);
      ws.send({ type: 'subscribe', repo_id: repo.id });
      await ws.next((m) => m.type === 'subscribed');

      // 1. GET /repos/:id/tasks
      const tasks = await agentA.call('GET', `/repos/${repo.id}/tasks`);
      expect(tasks.status).toBe(200);
      const task = tasks.body.tasks.find((x: { title: string }) => x.title === 'Implement caching layer');
      expect(task).toMatchObject({ status: 'open', amount: 10 });

      // 2. POST /tasks/:id/claim (the claimant is the key's owner; an agentId in the body is refused)
      expect((await agentA.call('POST', `/tasks/${task.id}/claim`, { agentId: owner.id })).status).toBe(400);
      const claim = await agentA.call('POST', `/tasks/${task.id}/claim`);
      expect(claim.status).toBe(201);
      expect(claim.body.claim).toMatchObject({ agent_id: agentA.id, status: 'active' });

      // 3. POST /repos/:id/streams with the client's stream id; then the CLI branches from buffer.
      const streamId = randomBytes(6).toString('hex');
      const stream = await agentA.call('POST', `/repos/${repo.id}/streams`, {
        id: streamId,
        name: 'caching-layer',
        task: task.id,
        base_branch: 'buffer',
      });
      expect(stream.status).toBe(201);
      expect(stream.body.stream).toMatchObject({
        id: streamId,
        agent_id: agentA.id,
        branch: `stream/${streamId}`,
        base_branch: 'buffer',
        status: 'active',
        task_id: task.id,
      });
      const retried = await agentA.call('POST', `/repos/${repo.id}/streams`, {
        id: streamId,
        name: 'caching-layer',
        task: task.id,
        base_branch: 'buffer',
      });
      expect(retried.status).toBe(200);
      expect(retried.body.created).toBe(false);
      const work = join(dir, 'agent-a');
      git(dir, 'clone', '-q', origin, work);
      git(work, 'fetch', '-q', 'origin', 'buffer');
      git(work, 'checkout', '-q', '-b', `stream/${streamId}`, 'origin/buffer');

      // 4. The agent writes code locally.
      writeFileSync(join(work, 'cache.js'), 'export const cache = new Map();\n');

      // 5. Commit locally (with a Change-Id), record it, push the stream branch.
      const changeId = `I${randomBytes(20).toString('hex')}`;
      git(work, 'add', '-A');
      git(work, 'commit', '-q', '-m', `Add caching layer\n\nChange-Id: ${changeId}`);
      const commit = git(work, 'rev-parse', 'HEAD');
      const recorded = await agentA.call('POST', `/streams/${streamId}/commits`, {
        commit,
        change_id: changeId,
        message: 'Add caching layer',
      });
      expect(recorded.status).toBe(201);
      expect(recorded.body.commit).toMatchObject({ commit_hash: commit, change_id: changeId });
      git(work, 'push', '-q', 'origin', `stream/${streamId}`);
      const committedEvent = await ws.next(isEventNamed('stream.committed'));
      expect(eventOf(committedEvent).metadata.commit).toBe(commit);

      // Asking to merge before any review: refused, nothing changes.
      const early = await agentA.call('POST', `/streams/${streamId}/merge`);
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('no_consensus');

      // 6. Submit for review.
      const submitted = await agentA.call('POST', `/streams/${streamId}/submit`);
      expect(submitted.status).toBe(200);
      expect(submitted.body.stream).toMatchObject({ status: 'in_review', review_status: 'in_review' });

      // 7. Reviews: never the author; the reviewer is always the key's owner.
      const selfReview = await agentA.call('POST', `/streams/${streamId}/reviews`, { verdict: 'approve' });
      expect(selfReview.status).toBe(403);
      expect(selfReview.body.error.code).toBe('self_review');
      const spoofed = await agentA.call('POST', `/streams/${streamId}/reviews`, {
        verdict: 'approve',
        reviewerId: reviewer.id,
      });
      expect(spoofed.status).toBe(400);
      const review = await reviewer.call('POST', `/streams/${streamId}/reviews`, {
        verdict: 'approve',
        feedback: 'Looks good.',
        tested: true,
      });
      expect(review.status).toBe(201);
      expect(review.body.review).toMatchObject({ reviewer_id: reviewer.id, verdict: 'approve' });
      expect(review.body.consensus).toMatchObject({ reached: true, model: 'guild', approvals: 1 });
      expect((await agentA.call('GET', `/streams/${streamId}/consensus`)).body.consensus.reached).toBe(true);

      // 8. The merge decision, then the CLI merges and pushes, then reports the merge.
      const decision = await agentA.call('POST', `/streams/${streamId}/merge`);
      expect(decision.status).toBe(200);
      expect(decision.body).toMatchObject({
        approved: true,
        buffer_branch: 'buffer',
        branch: `stream/${streamId}`,
      });
      git(work, 'fetch', '-q', 'origin', 'buffer');
      git(work, 'checkout', '-q', '-b', 'buffer', 'origin/buffer');
      git(
        work,
        'merge',
        '-q',
        '--no-ff',
        '-m',
        `Merge stream caching-layer into buffer`,
        `stream/${streamId}`,
      );
      git(work, 'push', '-q', 'origin', 'buffer');
      const mergeCommit = git(work, 'rev-parse', 'HEAD');
      // The report carries the commit's raw object: the server checks its id and reads its parents.
      const mergeReport = {
        status: 'merged',
        merge_commit: mergeCommit,
        commit_object: `${git(work, 'cat-file', 'commit', mergeCommit)}\n`,
      };
      const merged = await agentA.call('PATCH', `/streams/${streamId}`, mergeReport);
      expect(merged.status).toBe(200);
      expect(merged.body.stream.status).toBe('merged');
      const again = await agentA.call('PATCH', `/streams/${streamId}`, mergeReport);
      expect(again.status).toBe(200);
      expect(git(origin, 'rev-parse', 'buffer')).toBe(mergeCommit);
      const mergedEvent = await ws.next(isEventNamed('stream.merged'));
      expect(eventOf(mergedEvent).metadata.merge_commit).toBe(mergeCommit);
      // The merge's consequences ran: the linked claim was handed in, the author earned karma.
      const claimAfter = (await agentA.call('GET', '/me/claims')).body.claims[0];
      expect(claimAfter).toMatchObject({ task_id: task.id, stream_id: streamId, status: 'submitted' });
      expect((await agentA.call('GET', '/me')).body.agent.karma).toBeGreaterThan(0);

      // Promoting before a green stabilization is refused.
      const notGreen = await owner.call('POST', `/repos/${repo.id}/promote`, { to_commit: mergeCommit });
      expect(notGreen.status).toBe(409);
      expect(notGreen.body.error.code).toBe('not_green');

      // 9. Stabilization (run by a maintainer or a CI runner with a maintain grant): green, and the
      // repository auto-promotes. The author may not report results on its own merge.
      const tag = `green/${Date.now()}`;
      git(work, 'tag', tag, mergeCommit);
      git(work, 'push', '-q', 'origin', tag);
      const green = { result: 'green', tag, buffer_commit: mergeCommit, duration_ms: 1234 };
      expect((await agentA.call('POST', `/repos/${repo.id}/stabilize`, green)).status).toBe(403);
      const stabilized = await reviewer.call('POST', `/repos/${repo.id}/stabilize`, {
        result: 'green',
        tag,
        buffer_commit: mergeCommit,
        duration_ms: 1234,
      });
      expect(stabilized.status).toBe(201);
      expect(stabilized.body).toMatchObject({ promote: true, stabilization: { result: 'green', tag } });

      // 10. The CLI fast-forwards main and pushes; the promotion is recorded (maintain+ only).
      const mainBefore = git(work, 'rev-parse', 'origin/main');
      git(work, 'checkout', '-q', '-b', 'local-main', 'origin/main');
      git(work, 'merge', '-q', '--ff-only', 'buffer');
      git(work, 'push', '-q', 'origin', 'local-main:main');
      const byAuthor = await agentA.call('POST', `/repos/${repo.id}/promote`, { to_commit: mergeCommit });
      expect(byAuthor.status).toBe(403);
      const promoted = await owner.call('POST', `/repos/${repo.id}/promote`, {
        from: 'buffer',
        to: 'main',
        from_commit: mainBefore,
        to_commit: mergeCommit,
      });
      expect(promoted.status).toBe(201);
      expect(promoted.body.promotion).toMatchObject({
        from_branch: 'buffer',
        to_branch: 'main',
        from_commit: mainBefore,
        to_commit: mergeCommit,
        triggered_by: 'manual',
        agent_id: owner.id,
      });
      expect(git(origin, 'rev-parse', 'main')).toBe(mergeCommit);
      await ws.next(isEventNamed('buffer.promoted'));

      const history = await reviewer.call('GET', `/repos/${repo.id}/promote/history`);
      expect(history.body.promotions).toHaveLength(1);
      const stabilizations = await reviewer.call('GET', `/repos/${repo.id}/stabilize/history`);
      expect(stabilizations.body.stabilizations[0]).toMatchObject({
        result: 'green',
        buffer_commit: mergeCommit,
      });
      const events = ws.received
        .filter((m) => m.type === 'event')
        .map((m) => (m.event as { event_type: string }).event_type);
      expect(events).toEqual(
        expect.arrayContaining([
          'task.claimed',
          'stream.created',
          'stream.committed',
          'stream.submitted',
          'stream.reviewed',
          'stream.merged',
          'buffer.stabilized',
          'buffer.promoted',
        ]),
      );
      expect(events.indexOf('stream.created')).toBeLessThan(events.indexOf('stream.merged'));
      expect(events.indexOf('stream.merged')).toBeLessThan(events.indexOf('buffer.promoted'));
    });
  });
}
