/**
 * The cascade of a connected commit: a stream built on another in the same clone is replayed onto
 * the parent's new head, its branch pushed and the new head reported as its author's commit; a
 * dirty worktree defers it; a conflict is reported to the server as the dependent's conflict.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface CommitJson {
  commit: string;
  stream_id: string;
  cascade: {
    stream_id: string;
    outcome: string;
    head?: string;
    onto?: string;
    paths?: string[];
    reason?: string;
  }[];
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: cascade of a connected commit`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let parentId: string;
    let childId: string;
    const aliceTree = () => join(a.dir, '.worktrees', 'alice');
    const bobTree = () => join(a.dir, '.worktrees', 'bob');
    const commit = async (agent: string, message: string) => {
      const run = await a.run(['commit', '-m', message, '--as', agent, '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      return run.json<CommitJson>();
    };
    const serverStream = async (id: string) =>
      ((await (await fetch(`${server.url}/api/v1/streams/${id}`)).json()) as { stream: { status: string } })
        .stream;
    const serverCommits = async (id: string) =>
      (
        (await (await fetch(`${server.url}/api/v1/streams/${id}/commits`)).json()) as {
          commits: { commit_hash: string; change_id: string | null }[];
        }
      ).commits;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('desk');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      expect((await a.run(['agent', 'register', 'alice'])).code).toBe(0);
      expect((await a.run(['agent', 'register', 'bob'])).code).toBe(0);
      const parent = await a.run(['workspace', 'create', '--as', 'alice', '--name', 'base', '--json']);
      parentId = parent.json<{ stream: { id: string } }>().stream.id;
      a.write('a.txt', 'one\n', aliceTree());
      await commit('alice', 'Base work');
      const child = await a.run(['workspace', 'create', '--as', 'bob', '--depends-on', 'base', '--json']);
      expect(child.code, child.stderr).toBe(0);
      childId = child.json<{ stream: { id: string } }>().stream.id;
      a.write('b.txt', 'bob\n', bobTree());
      await commit('bob', 'Bob builds on it');
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('a commit on the parent replays the dependent, pushes it and reports its new head', async () => {
      a.write('a2.txt', 'two\n', aliceTree());
      const result = await commit('alice', 'More base work');
      expect(result.cascade).toHaveLength(1);
      const [outcome] = result.cascade;
      expect(outcome).toMatchObject({ stream_id: childId, outcome: 'rebased', onto: result.commit });
      const head = outcome?.head ?? '';
      expect(a.git(['rev-parse', 'HEAD'], bobTree())).toBe(head);
      expect(a.git(['show', `${head}:a2.txt`])).toBe('two');
      expect(a.git(['show', `${head}:b.txt`])).toBe('bob');
      expect(a.git(['ls-remote', 'origin', `refs/heads/stream/${childId}`]).split('\t')[0]).toBe(head);
      const commits = await serverCommits(childId);
      expect(commits.at(-1)?.commit_hash).toBe(head);
      expect(commits.at(-1)?.change_id).toBe(commits.at(0)?.change_id);
    });

    it('a dependent with uncommitted changes is deferred, untouched', async () => {
      a.write('wip.txt', 'wip\n', bobTree());
      const before = a.git(['rev-parse', 'HEAD'], bobTree());
      a.write('a3.txt', 'three\n', aliceTree());
      const result = await commit('alice', 'Third');
      expect(result.cascade).toEqual([{ stream_id: childId, outcome: 'deferred', reason: 'worktree_dirty' }]);
      expect(a.git(['rev-parse', 'HEAD'], bobTree())).toBe(before);
      rmSync(join(bobTree(), 'wip.txt'));
    });

    it('a conflict is reported to the server as the dependent’s, and nothing moves', async () => {
      a.write('a.txt', 'bob says\n', bobTree());
      await commit('bob', 'Bob edits a.txt');
      const before = a.git(['rev-parse', 'HEAD'], bobTree());
      a.write('a.txt', 'alice says\n', aliceTree());
      const result = await commit('alice', 'Alice edits a.txt');
      expect(result.cascade).toEqual([
        { stream_id: childId, outcome: 'conflicted', paths: ['a.txt'], onto: result.commit },
      ]);
      expect(a.git(['rev-parse', 'HEAD'], bobTree())).toBe(before);
      expect((await serverStream(childId)).status).toBe('conflicted');
      expect((await serverStream(parentId)).status).toBe('active');
    });
  });
}
