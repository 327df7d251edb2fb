/**
 * `workspace create --from-pr N` in a connected clone (spec 3.4): a human's pull request, reported
 * by GitHub's webhook (its example payload, signed here), is a stream on the server; an agent
 * starts a workspace at its head (the PR's branch fetched from the remote) and the new stream
 * records the PR's stream as where it started; a PR from a fork starts at the remote's
 * refs/pull/N/head. Refused: an unknown PR, a bad number, with
 * --from-stream, and outside a connected clone.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo } from '../cli/helpers.js';
import { storeEnv } from '../cli/in-process.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

const SECRET = 'from-pr-secret';
const FULL_NAME = 'octo-org/shared';

interface Created {
  stream: { id: string; branch: string; base_branch: string; metadata: Record<string, unknown> };
  worktree: string;
}

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payload, edited field by field
type Json = Record<string, any>;

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as {
  name: string;
  examples: Json[];
}[];

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: workspace create --from-pr`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let prHead: string;
    let prStreamId: string;

    /** GitHub's webhook for PR `number` opened from `branch` at `head` onto the buffer at `base`. */
    async function openPullRequest(number: number, branch: string, head: string, base: string) {
      const payload = structuredClone(
        examples.find((e) => e.name === 'pull_request')?.examples.find((x) => x.action === 'opened'),
      ) as Json;
      payload.repository.full_name = FULL_NAME;
      payload.number = number;
      Object.assign(payload.pull_request, {
        number,
        draft: false,
        html_url: `https://github.com/${FULL_NAME}/pull/${number}`,
      });
      payload.pull_request.head = { ...payload.pull_request.head, ref: branch, sha: head };
      payload.pull_request.base = { ...payload.pull_request.base, ref: 'buffer', sha: base };
      const body = JSON.stringify(payload);
      const response = await fetch(`${server.url}/api/v1/webhooks/github`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'pull_request',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
        },
        body,
      });
      expect(response.status).toBe(200);
    }

    beforeAll(async () => {
      server = await startTestServer(dialect, {
        github: { appId: null, privateKey: null, webhookSecret: SECRET, apiUrl: 'http://127.0.0.1:9' },
      });
      world = new ModeBWorld();
      clone = world.clone('laptop');
      expect((await clone.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await clone.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      const repoId = alice.json<{ server: { repo_id: string } }>().server.repo_id;
      expect((await clone.run(['agent', 'register', 'bob'])).code).toBe(0);
      await server.store.db
        .updateTable('gitswarm_repos')
        .set({ github_full_name: FULL_NAME })
        .where('id', '=', repoId)
        .execute();

      // The human's PR branch on the shared remote, one commit on the buffer.
      const buffer = clone.git(['rev-parse', 'buffer']);
      prHead = clone.git([
        '-c',
        'user.name=Human',
        '-c',
        'user.email=human@example.com',
        'commit-tree',
        `${buffer}^{tree}`,
        '-p',
        buffer,
        '-m',
        'Human work',
      ]);
      clone.git(['push', '-q', 'origin', `${prHead}:refs/heads/feature-42`]);

      await openPullRequest(42, 'feature-42', prHead, buffer);
      const stream = await server.store.db
        .selectFrom('gitswarm_streams')
        .select('id')
        .where('github_pr_number', '=', 42)
        .executeTakeFirstOrThrow();
      prStreamId = stream.id;
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('starts at the pull request’s head, recorded as started from its stream', async () => {
      const run = await clone.run(['workspace', 'create', '--as', 'bob', '--from-pr', '42', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const created = run.json<Created>();
      expect(clone.git(['rev-parse', 'HEAD'], created.worktree)).toBe(prHead);
      const recorded = (await (await fetch(`${server.url}/api/v1/streams/${created.stream.id}`)).json()) as {
        stream: { metadata: Record<string, unknown>; base_branch: string };
      };
      expect(recorded.stream).toMatchObject({ metadata: { from_stream: prStreamId }, base_branch: 'buffer' });
      // Bob reviews the PR's stream through the server, where it counts with GitHub's reviews.
      const review = await clone.run(['review', 'submit', 'pr-42', 'approve', '--as', 'bob', '--json']);
      expect(review.code, review.stderr + review.stdout).toBe(0);
      const reviews = await server.store.db
        .selectFrom('gitswarm_stream_reviews')
        .select(['verdict', 'is_human'])
        .where('stream_id', '=', prStreamId)
        .execute();
      expect(reviews).toEqual([{ verdict: 'approve', is_human: false }]);
      expect((await clone.run(['workspace', 'destroy', '--as', 'bob'])).code).toBe(0);
    });

    it('starts at a pull request from a fork: its head fetched as refs/pull/N/head', async () => {
      const buffer = clone.git(['rev-parse', 'buffer']);
      const forkHead = clone.git([
        '-c',
        'user.name=Forker',
        '-c',
        'user.email=forker@example.com',
        'commit-tree',
        `${buffer}^{tree}`,
        '-p',
        buffer,
        '-m',
        'Fork work',
      ]);
      // GitHub publishes a fork's PR in the base repository only as refs/pull/N/head.
      clone.git(['push', '-q', 'origin', `${forkHead}:refs/pull/43/head`]);
      await openPullRequest(43, 'fork-only-branch', forkHead, buffer);
      expect(clone.git(['ls-remote', 'origin', 'refs/heads/fork-only-branch'])).toBe('');
      const run = await clone.run(['workspace', 'create', '--as', 'bob', '--from-pr', '43', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(clone.git(['rev-parse', 'HEAD'], run.json<Created>().worktree)).toBe(forkHead);
      expect((await clone.run(['workspace', 'destroy', '--as', 'bob'])).code).toBe(0);
    });

    it('refuses an unknown pull request, a bad number and --from-stream with it', async () => {
      const unknown = await clone.run(['workspace', 'create', '--as', 'bob', '--from-pr', '99', '--json']);
      expect(unknown.code).toBe(3);
      expect(unknown.json<{ error: { code: string } }>().error.code).toBe('stream_not_found');
      const bad = await clone.run(['workspace', 'create', '--as', 'bob', '--from-pr', 'x', '--json']);
      expect(bad.code).toBe(2);
      const both = await clone.run([
        'workspace',
        'create',
        '--as',
        'bob',
        '--from-pr',
        '42',
        '--from-stream',
        'pr-42',
        '--json',
      ]);
      expect(both.code).toBe(2);
      expect(clone.git(['worktree', 'list'])).not.toContain('bob');
    });

    it('refuses --from-pr outside a connected clone', async () => {
      const r = createTestRepo({ inProcess: true, env: await storeEnv(dialect) });
      try {
        expect((await r.run(['init', '--mode', 'review'])).code).toBe(0);
        expect((await r.run(['agent', 'register', 'carol'])).code).toBe(0);
        const run = await r.run(['workspace', 'create', '--as', 'carol', '--from-pr', '1', '--json']);
        expect(run.code).toBe(2);
        expect(run.json<{ error: { code: string } }>().error.code).toBe('usage');
      } finally {
        r.close();
      }
    });
  });
}
