/**
 * The cascade of a connected merge (as Mode A's merge cascades): once the server recorded the
 * merge, the merged stream's dependents whose worktrees are in this clone are replayed onto the
 * merge commit, pushed and reported (the server has them build on the buffer now); a dependent
 * whose replay conflicts with what another clone merged meanwhile is reported to the server as
 * that stream's rebase conflict (`stream.conflicted`).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface MergeJson {
  merged: boolean;
  merge_commit: string;
  cascade: { stream_id: string; outcome: string; head?: string; onto?: string; paths?: string[] }[];
}
interface ServerStream {
  status: string;
  base_branch: string;
  conflict: { operation: string; onto: string; paths: string[] } | null;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: cascade of a connected merge`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;
    let repoId: string;

    const ok = async (clone: TestClone, args: string[]) => {
      const run = await clone.run(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}${run.stdout}`).toBe(0);
      return run;
    };
    const tree = (clone: TestClone, agent: string) => join(clone.dir, '.worktrees', agent);
    /** A workspace of `agent` with one commit of `files`; its stream id. */
    const work = async (
      clone: TestClone,
      agent: string,
      name: string,
      files: Record<string, string>,
      dependsOn?: string,
    ) => {
      const created = await ok(clone, [
        'workspace',
        'create',
        '--as',
        agent,
        '--name',
        name,
        ...(dependsOn ? ['--depends-on', dependsOn] : []),
        '--json',
      ]);
      for (const [path, content] of Object.entries(files)) clone.write(path, content, tree(clone, agent));
      await ok(clone, ['commit', '-m', `${name}: work`, '--as', agent]);
      return created.json<{ stream: { id: string } }>().stream.id;
    };
    const approve = async (clone: TestClone, author: string, name: string) => {
      await ok(clone, ['review', 'submit', name, '--as', author]);
      await ok(a, ['review', 'submit', name, 'approve', '--as', 'alice']);
    };
    const serverStream = async (id: string) =>
      ((await (await fetch(`${server.url}/api/v1/streams/${id}`)).json()) as { stream: ServerStream }).stream;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('desk');
      b = world.clone('other');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await a.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      repoId = alice.json<{ server: { repo_id: string } }>().server.repo_id;
      await ok(a, ['agent', 'register', 'carol']);
      await ok(a, ['agent', 'register', 'dave']);
      await ok(b, ['init', '--server', server.url, '--repo', repoId]);
      await ok(b, ['agent', 'register', 'bob']);
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('a merge replays the dependent onto the merge commit, pushes it and reports it', async () => {
      await work(a, 'dave', 'base', { 'base.txt': 'base\n' });
      const childId = await work(a, 'carol', 'child', { 'child.txt': 'child\n' }, 'base');
      await approve(a, 'dave', 'base');
      const merged = (await ok(a, ['merge', 'base', '--as', 'dave', '--json'])).json<MergeJson>();
      expect(merged.cascade).toHaveLength(1);
      expect(merged.cascade[0]).toMatchObject({
        stream_id: childId,
        outcome: 'rebased',
        onto: merged.merge_commit,
      });
      const head = merged.cascade[0]?.head ?? '';
      expect(a.git(['rev-parse', 'HEAD'], tree(a, 'carol'))).toBe(head);
      expect(a.git(['rev-parse', `${head}^`])).toBe(merged.merge_commit);
      expect(b.git(['ls-remote', 'origin', `refs/heads/stream/${childId}`]).split('\t')[0]).toBe(head);
      const child = await serverStream(childId);
      expect(child).toMatchObject({ status: 'active', base_branch: 'buffer' });
      const commits = (
        (await (await fetch(`${server.url}/api/v1/streams/${childId}/commits`)).json()) as {
          commits: { commit_hash: string }[];
        }
      ).commits;
      expect(commits.at(-1)?.commit_hash).toBe(head);
      await ok(a, ['workspace', 'destroy', '--as', 'dave']);
      await ok(a, ['workspace', 'destroy', '--as', 'carol']);
    });

    it('a dependent conflicting with what another clone merged is reported as its rebase conflict', async () => {
      await work(a, 'dave', 'base2', { 'base2.txt': 'base two\n' });
      const childId = await work(a, 'carol', 'child2', { 'shared.txt': 'carol\n' }, 'base2');
      // Meanwhile, on the other machine, bob merges his own shared.txt.
      await work(b, 'bob', 'other', { 'shared.txt': 'bob\n' });
      await approve(b, 'bob', 'other');
      await ok(b, ['merge', 'other', '--as', 'bob']);

      await approve(a, 'dave', 'base2');
      const before = a.git(['rev-parse', 'HEAD'], tree(a, 'carol'));
      const merged = (await ok(a, ['merge', 'base2', '--as', 'dave', '--json'])).json<MergeJson>();
      expect(merged.cascade).toEqual([
        { stream_id: childId, outcome: 'conflicted', paths: ['shared.txt'], onto: merged.merge_commit },
      ]);
      expect(a.git(['rev-parse', 'HEAD'], tree(a, 'carol'))).toBe(before);
      const child = await serverStream(childId);
      expect(child.status).toBe('conflicted');
      expect(child.conflict).toMatchObject({
        operation: 'rebase',
        onto: merged.merge_commit,
        paths: ['shared.txt'],
      });
      const activity = (await (
        await fetch(`${server.url}/api/v1/repos/${repoId}/activity?limit=100`)
      ).json()) as {
        activity?: { event_type: string; target_id: string | null; metadata: Record<string, unknown> }[];
      };
      const events = activity.activity ?? [];
      expect(
        events.some(
          (e) =>
            e.event_type === 'stream.conflicted' &&
            e.target_id === childId &&
            e.metadata.operation === 'rebase',
        ),
      ).toBe(true);
    });
  });

  describe(`${dialectLabel(dialect)} server: swarm mode, a commit that merges cascades`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('desk');
      expect((await a.run(['init', '--server', server.url, '--mode', 'swarm'])).code).toBe(0);
      for (const agent of ['alice', 'dave', 'carol']) {
        expect((await a.run(['agent', 'register', agent])).code).toBe(0);
      }
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('the parent’s commit merges at once and replays the dependent onto the merge', async () => {
      const tree = (agent: string) => join(a.dir, '.worktrees', agent);
      expect((await a.run(['workspace', 'create', '--as', 'dave', '--name', 'p'])).code).toBe(0);
      const child = await a.run(['workspace', 'create', '--as', 'carol', '--depends-on', 'p', '--json']);
      expect(child.code, child.stderr).toBe(0);
      const childId = child.json<{ stream: { id: string } }>().stream.id;
      a.write('c.txt', 'child\n', tree('carol'));
      // Its parent has not merged: the child's commit is pushed and recorded, its merge refused.
      const early = await a.run(['commit', '-m', 'Child work', '--as', 'carol', '--json']);
      expect(early.code).toBe(1);
      expect(early.json<{ error: { code: string } }>().error.code).toBe('dependency_unmerged');
      const childHead = a.git(['rev-parse', 'HEAD'], tree('carol'));

      a.write('p.txt', 'parent\n', tree('dave'));
      const run = await a.run(['commit', '-m', 'Parent work', '--as', 'dave', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const result = run.json<{ merged: boolean; buffer_head: string; cascade: MergeJson['cascade'] }>();
      expect(result.merged).toBe(true);
      expect(result.cascade).toHaveLength(1);
      expect(result.cascade[0]).toMatchObject({
        stream_id: childId,
        outcome: 'rebased',
        onto: result.buffer_head,
      });
      const head = result.cascade[0]?.head ?? '';
      expect(head).not.toBe(childHead);
      expect(a.git(['rev-parse', `${head}^`])).toBe(result.buffer_head);
      expect(a.git(['rev-parse', 'HEAD'], tree('carol'))).toBe(head);
      expect(a.git(['ls-remote', 'origin', `refs/heads/stream/${childId}`]).split('\t')[0]).toBe(head);
    });
  });
}
