/**
 * The stream commands on connected clones, through the real CLI against a real server on a free
 * port, with a bare remote and two clones ("two machines"): alice creates a workspace and commits
 * on clone A; bob, on clone B, sees the stream, diffs it (fetched on demand) and approves;
 * consensus reads the same on both. Same flags, --json shapes and exit codes as Mode A.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string; hint?: string };
}
interface Created {
  stream: { id: string; name: string; branch: string; base_branch: string; parent_stream_id: string | null };
  worktree: string;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: streams across two clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;
    let repoId: string;
    let stream: Created['stream'];

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('laptop');
      b = world.clone('ci');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await a.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      const registered = alice.json<{ api_key: string; server: { repo_id: string } }>();
      repoId = registered.server.repo_id;
      expect((await b.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      const bob = await b.run(['agent', 'register', 'bob', '--json']);
      expect(bob.code, bob.stderr).toBe(0);
      // The owner makes bob a maintainer, so his approval counts (guild model).
      const added = await fetch(`${server.url}/api/v1/repos/${repoId}/maintainers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${registered.api_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'bob' }),
      });
      expect(added.status, await added.text()).toBe(201);
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('workspace create on clone A pushes the branch and records the stream with its id', async () => {
      const run = await a.run(['workspace', 'create', '--as', 'alice', '--name', 'caching', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const created = run.json<Created>();
      stream = created.stream;
      expect(created.worktree).toBe(join(a.dir, '.worktrees', 'alice'));
      expect(stream).toMatchObject({ name: 'caching', branch: `stream/${stream.id}`, base_branch: 'buffer' });
      expect(a.git(['rev-parse', `stream/${stream.id}`], world.bare)).toBe(
        a.git(['rev-parse', 'buffer'], world.bare),
      );
      const recorded = (await (await fetch(`${server.url}/api/v1/streams/${stream.id}`)).json()) as {
        stream: { agent_id: string; name: string };
      };
      expect(recorded.stream.name).toBe('caching');

      const listed = await a.run(['workspace', 'list', '--json']);
      expect(listed.json<{ workspaces: unknown[] }>().workspaces).toMatchObject([
        { agent_name: 'alice', stream_id: stream.id, stream_name: 'caching', stream_status: 'active' },
      ]);
      expect((await b.run(['workspace', 'list', '--json'])).json()).toEqual({ workspaces: [] });
      const again = await a.run(['workspace', 'create', '--as', 'alice', '--json']);
      expect(again.code).toBe(1);
      expect(again.json<ErrorBody>().error.code).toBe('invalid_state');
    });

    it('commit on clone A pushes and reports; the text output is the same as Mode A', async () => {
      a.write('cache.txt', 'cached\n', join(a.dir, '.worktrees', 'alice'));
      const run = await a.run(['commit', '-m', 'Add a cache', '--as', 'alice', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const commit = run.json<{ commit: string; change_id: string; stream_id: string; merged: boolean }>();
      expect(commit).toMatchObject({ stream_id: stream.id, merged: false });
      expect(commit.change_id).toMatch(/^I[0-9a-f]{40}$/);
      expect(a.git(['rev-parse', `stream/${stream.id}`], world.bare)).toBe(commit.commit);
      const commits = (await (await fetch(`${server.url}/api/v1/streams/${stream.id}/commits`)).json()) as {
        commits: { commit_hash: string; change_id: string }[];
      };
      expect(commits.commits).toMatchObject([{ commit_hash: commit.commit, change_id: commit.change_id }]);
      const nothing = await a.run(['commit', '-m', 'again', '--as', 'alice']);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toMatch(/Nothing to commit/);

      const submitted = await a.run(['review', 'submit', 'caching', '--as', 'alice', '--json']);
      expect(submitted.code, submitted.stderr).toBe(0);
      expect(submitted.json<{ stream: { review_status: string; status: string } }>().stream.status).toBe(
        'in_review',
      );
    });

    it('clone B diffs the stream (fetched on demand) and approves; consensus is the same on both clones', async () => {
      const diff = await b.run(['diff', 'caching', '--json']);
      expect(diff.code, diff.stderr + diff.stdout).toBe(0);
      expect(diff.json()).toMatchObject({
        stream_id: stream.id,
        base: 'buffer',
        head: stream.branch,
        files: ['cache.txt'],
      });
      expect(diff.json<{ diff: string }>().diff).toContain('+cached');
      const text = await b.run(['diff', stream.id, '--stat']);
      expect(text.stdout).toContain('cache.txt');

      const review = await b.run([
        'review',
        'submit',
        stream.branch,
        'approve',
        '-m',
        'good',
        '--tested',
        '--as',
        'bob',
        '--json',
      ]);
      expect(review.code, review.stderr + review.stdout).toBe(0);
      expect(review.json()).toMatchObject({
        review: { stream_id: stream.id, reviewer_name: 'bob', verdict: 'approve', tested: true },
        consensus: { reached: true, approvals: 1 },
      });
      const [onA, onB] = await Promise.all([
        a.run(['consensus', 'caching', '--json']),
        b.run(['consensus', 'caching', '--json']),
      ]);
      expect(onA.code).toBe(0);
      expect(onA.json()).toEqual(onB.json());
      expect(onA.json()).toMatchObject({ stream_id: stream.id, reached: true, approvals: 1 });
      const reviews = await a.run(['review', 'list', 'caching', '--json']);
      expect(reviews.json()).toMatchObject({
        stream_id: stream.id,
        stale: 0,
        reviews: [{ reviewer_name: 'bob', verdict: 'approve', tested: true, stale: false }],
      });
      expect((await a.run(['review', 'list', 'caching'])).stdout).toMatch(/bob\s+approve\s+tested/);
    });

    it('the author cannot approve their own stream: the server refuses, exit 1', async () => {
      const run = await a.run(['review', 'submit', 'caching', 'approve', '--as', 'alice', '--json']);
      expect(run.code).toBe(1);
      expect(run.json<ErrorBody>().error.code).toBe('self_review');
    });

    it('workspace create --depends-on a stream of clone A, from clone B, fetches it; destroy --abandon tells the server', async () => {
      const run = await b.run(['workspace', 'create', '--as', 'bob', '--depends-on', 'caching', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const created = run.json<Created>();
      expect(created.stream).toMatchObject({ parent_stream_id: stream.id, base_branch: stream.branch });
      expect(b.git(['rev-parse', 'HEAD'], created.worktree)).toBe(
        a.git(['rev-parse', stream.branch], world.bare),
      );
      const destroyed = await b.run(['workspace', 'destroy', '--abandon', '--as', 'bob', '--json']);
      expect(destroyed.code, destroyed.stderr).toBe(0);
      expect(destroyed.json()).toEqual({
        stream_id: created.stream.id,
        worktree: created.worktree,
        abandoned: true,
      });
      expect(existsSync(created.worktree)).toBe(false);
      const recorded = (await (await fetch(`${server.url}/api/v1/streams/${created.stream.id}`)).json()) as {
        stream: { status: string };
      };
      expect(recorded.stream.status).toBe('abandoned');
    });

    it('bad input: an unknown stream (exit 3), a rejected push (exit 1, nothing reported), a missing remote (exit 1, nothing recorded)', async () => {
      const unknown = await b.run(['diff', 'no-such-stream', '--json']);
      expect(unknown.code).toBe(3);
      expect(unknown.json<ErrorBody>().error.code).toBe('stream_not_found');

      const hook = join(world.bare, 'hooks', 'pre-receive');
      writeFileSync(hook, '#!/bin/sh\necho "frozen" >&2\nexit 1\n', { mode: 0o755 });
      try {
        a.write('more.txt', 'more\n', join(a.dir, '.worktrees', 'alice'));
        const refused = await a.run(['commit', '-m', 'More', '--as', 'alice', '--json']);
        expect(refused.code).toBe(1);
        expect(refused.json<ErrorBody>().error).toMatchObject({ code: 'git_failed' });
        expect(refused.json<ErrorBody>().error.message).toMatch(/could not push/);
        const commits = (await (await fetch(`${server.url}/api/v1/streams/${stream.id}/commits`)).json()) as {
          commits: unknown[];
        };
        expect(commits.commits).toHaveLength(1);
      } finally {
        const { rmSync } = await import('node:fs');
        rmSync(hook);
      }

      const before = (
        (await (await fetch(`${server.url}/api/v1/repos/${repoId}/streams`)).json()) as { streams: unknown[] }
      ).streams.length;
      b.git(['remote', 'rename', 'origin', 'elsewhere']);
      try {
        const missing = await b.run(['workspace', 'create', '--as', 'bob', '--json']);
        expect(missing.code).toBe(1);
        expect(missing.json<ErrorBody>().error).toMatchObject({ code: 'git_failed' });
        expect(missing.json<ErrorBody>().error.hint).toContain('git remote add origin');
        expect(existsSync(join(b.dir, '.worktrees', 'bob'))).toBe(false);
      } finally {
        b.git(['remote', 'rename', 'elsewhere', 'origin']);
      }
      const after = (
        (await (await fetch(`${server.url}/api/v1/repos/${repoId}/streams`)).json()) as { streams: unknown[] }
      ).streams.length;
      expect(after).toBe(before);
    });
  });
}
