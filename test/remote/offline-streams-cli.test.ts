/**
 * Committing and reviewing while the server is down (spec 6.4, the Mode B contract's offline
 * rules): the branch is pushed to the shared remote (reachable), the commit report, the submit and
 * the verdict go into each clone's outbox (exit 0, a notice on stderr), reads come from the cache
 * marked stale; after the restart `gitswarm sync` replays them in order, each once.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface SyncJson {
  pushed: number;
  pending: number;
  failed: number;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: streams while the server is down`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;
    let streamId: string;
    const api = async <T>(path: string) => (await (await fetch(`${server.url}/api/v1${path}`)).json()) as T;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('plane');
      b = world.clone('office');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await a.run(['agent', 'register', 'alice', '--json']);
      const registered = alice.json<{ api_key: string; server: { repo_id: string } }>();
      expect((await b.run(['init', '--server', server.url, '--repo', registered.server.repo_id])).code).toBe(
        0,
      );
      expect((await b.run(['agent', 'register', 'bob'])).code).toBe(0);
      const added = await fetch(`${server.url}/api/v1/repos/${registered.server.repo_id}/maintainers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${registered.api_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ agent_id: 'bob' }),
      });
      expect(added.status).toBe(201);
      const created = await a.run([
        'workspace',
        'create',
        '--as',
        'alice',
        '--name',
        'offline-work',
        '--json',
      ]);
      streamId = created.json<{ stream: { id: string } }>().stream.id;
      a.write('one.txt', 'one\n', join(a.dir, '.worktrees', 'alice'));
      expect((await a.run(['commit', '-m', 'One', '--as', 'alice'])).code).toBe(0);
      // Clone B reads the stream, its consensus and the repository while the server is up (cached).
      expect((await b.run(['consensus', 'offline-work', '--as', 'bob'])).code).toBe(0);
      expect((await b.run(['diff', 'offline-work', '--as', 'bob'])).code).toBe(0);
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('while it is down: commit, submit and review are queued (exit 0); reads are stale', async () => {
      await server.stop();
      a.write('two.txt', 'two\n', join(a.dir, '.worktrees', 'alice'));
      const commit = await a.run(['commit', '-m', 'Two', '--as', 'alice', '--json']);
      expect(commit.code, commit.stderr + commit.stdout).toBe(0);
      expect(commit.stderr).toMatch(/queued/i);
      const two = commit.json<{ commit: string; merged: boolean }>();
      expect(two.merged).toBe(false);
      // The branch went to the shared remote, which is up.
      expect(a.git(['ls-remote', 'origin', `refs/heads/stream/${streamId}`]).split('\t')[0]).toBe(two.commit);

      const submit = await a.run(['review', 'submit', 'offline-work', '--as', 'alice', '--json']);
      expect(submit.code, submit.stderr + submit.stdout).toBe(0);
      expect(submit.json<{ stream: { status: string } }>().stream.status).toBe('in_review');

      const review = await b.run(['review', 'submit', 'offline-work', 'approve', '--as', 'bob', '--json']);
      expect(review.code, `${review.stderr}|${review.stdout}`).toBe(0);
      expect(review.stderr).toMatch(/queued/i);
      expect(review.json()).toMatchObject({ review: { reviewer_name: 'bob', verdict: 'approve' } });

      const stale = await b.run(['consensus', 'offline-work', '--json']);
      expect(stale.code, stale.stderr).toBe(0);
      expect(stale.stderr).toMatch(/stale|cache/i);
      expect(stale.json()).toMatchObject({ stale: true, reached: false });
      const diff = await b.run(['diff', 'offline-work', '--json']);
      expect(diff.code, diff.stderr).toBe(0);
      expect(diff.json()).toMatchObject({ stale: true, files: ['one.txt', 'two.txt'] });

      // What needs the server's decision is refused with exit 4 and nothing made.
      const create = await b.run(['workspace', 'create', '--as', 'bob', '--json']);
      expect(create.code).toBe(4);
    });

    it('after the restart, sync replays each clone’s outbox in order, each event once', async () => {
      await server.start();
      const syncA = await a.run(['sync', '--json']);
      expect(syncA.code, syncA.stderr + syncA.stdout).toBe(0);
      expect(syncA.json<SyncJson>()).toMatchObject({ pushed: 2, pending: 0, failed: 0 });
      const syncB = await b.run(['sync', '--json']);
      expect(syncB.json<SyncJson>()).toMatchObject({ pushed: 1, pending: 0, failed: 0 });
      for (const clone of [a, b]) {
        expect((await clone.run(['sync', '--json'])).json<SyncJson>()).toMatchObject({
          pushed: 0,
          pending: 0,
        });
      }
      const commits = await api<{ commits: { message: string }[] }>(`/streams/${streamId}/commits`);
      expect(commits.commits.map((c) => c.message)).toEqual(['One', 'Two']);
      const { stream } = await api<{ stream: { status: string } }>(`/streams/${streamId}`);
      expect(stream.status).toBe('in_review');
      const reviews = await api<{ reviews: { verdict: string; head_commit: string | null }[] }>(
        `/streams/${streamId}/reviews`,
      );
      expect(reviews.reviews).toHaveLength(1);
      const consensus = await b.run(['consensus', 'offline-work', '--json']);
      expect(consensus.json()).toMatchObject({ reached: true, approvals: 1 });
      expect(consensus.json<{ stale?: boolean }>().stale).toBeUndefined();
    });
  });
}
