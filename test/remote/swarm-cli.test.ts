/**
 * Spec 3.2 in Mode B: swarm mode on two connected clones committing at once. Each commit pushes
 * its stream, is reported, and merges into the shared buffer through the connected merge path (a
 * compare-and-swap push; the loser of the race fetches, merges again and retries): both land.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface CommitJson {
  commit: string;
  stream_id: string;
  merged: boolean;
  buffer_head: string;
  push_retries: number;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: swarm mode on two clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('one');
      b = world.clone('two');
      expect((await a.run(['init', '--server', server.url, '--mode', 'swarm'])).code).toBe(0);
      const alice = await a.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      const repoId = alice.json<{ server: { repo_id: string } }>().server.repo_id;
      expect((await b.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      expect((await b.run(['agent', 'register', 'bob'])).code).toBe(0);
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('both clones commit at once: both merge into the buffer, which holds both changes', async () => {
      expect((await a.run(['workspace', 'create', '--as', 'alice'])).code).toBe(0);
      expect((await b.run(['workspace', 'create', '--as', 'bob'])).code).toBe(0);
      a.write('alice.txt', 'from alice\n', join(a.dir, '.worktrees', 'alice'));
      b.write('bob.txt', 'from bob\n', join(b.dir, '.worktrees', 'bob'));
      const [ra, rb] = await Promise.all([
        a.run(['commit', '-m', 'Alice adds a file', '--as', 'alice', '--json']),
        b.run(['commit', '-m', 'Bob adds a file', '--as', 'bob', '--json']),
      ]);
      expect(ra.code, ra.stderr + ra.stdout).toBe(0);
      expect(rb.code, rb.stderr + rb.stdout).toBe(0);
      const [ca, cb] = [ra.json<CommitJson>(), rb.json<CommitJson>()];
      expect(ca.merged && cb.merged).toBe(true);
      // Each says how often its buffer push lost the race (the merge made again on the new head).
      for (const retries of [ca.push_retries, cb.push_retries]) expect(Number.isInteger(retries)).toBe(true);
      const buffer = a.git(['ls-remote', 'origin', 'refs/heads/buffer']).split('\t')[0] ?? '';
      expect([ca.buffer_head, cb.buffer_head]).toContain(buffer);
      a.git(['fetch', '-q', 'origin', 'buffer']);
      expect(a.git(['show', 'origin/buffer:alice.txt'])).toBe('from alice');
      expect(a.git(['show', 'origin/buffer:bob.txt'])).toBe('from bob');
      for (const commit of [ca.commit, cb.commit]) {
        expect(a.git(['merge-base', '--is-ancestor', commit, 'origin/buffer'])).toBe('');
      }
    });

    it('four agents of one clone commit at once: all four merge, taking turns (no push of theirs loses a race)', async () => {
      const agents = ['carol', 'dave', 'erin', 'frank'];
      for (const agent of agents) {
        expect((await a.run(['agent', 'register', agent])).code).toBe(0);
        expect((await a.run(['workspace', 'create', '--as', agent])).code).toBe(0);
        a.write(`${agent}.txt`, `from ${agent}\n`, join(a.dir, '.worktrees', agent));
      }
      const runs = await Promise.all(
        agents.map((agent) => a.run(['commit', '-m', `${agent} adds a file`, '--as', agent, '--json'])),
      );
      for (const run of runs) expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(runs.every((run) => run.json<CommitJson>().merged)).toBe(true);
      // The clone's publish lock: each merges on the head the one before pushed (racing each
      // other, they lost pushes and merged again).
      expect(runs.map((run) => run.json<CommitJson>().push_retries)).toEqual([0, 0, 0, 0]);
      a.git(['fetch', '-q', 'origin', 'buffer']);
      for (const agent of agents) expect(a.git(['show', `origin/buffer:${agent}.txt`])).toBe(`from ${agent}`);
    });

    it('a merged swarm stream takes the next commit and merges it too', async () => {
      a.write('alice.txt', 'from alice, again\n', join(a.dir, '.worktrees', 'alice'));
      const run = await a.run(['commit', '-m', 'Alice again', '--as', 'alice', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const commit = run.json<CommitJson>();
      expect(commit.merged).toBe(true);
      expect(a.git(['ls-remote', 'origin', 'refs/heads/buffer']).split('\t')[0]).toBe(commit.buffer_head);
      const nothing = await a.run(['commit', '-m', 'x', '--as', 'alice']);
      expect(nothing.code).toBe(1);
      expect(nothing.stderr).toMatch(/Nothing to commit/);
    });
  });
}
