/**
 * `workspace create --from-stream STREAM`: a new stream whose branch starts at another stream's
 * head (its commits carried over) and builds on the buffer, in both modes through one core rule
 * (stream-records.ts getFromStream). Connected, a stream made on another clone is fetched on
 * demand; the server refuses what the rule refuses and the clone takes back what it made.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import { storeEnv } from '../cli/in-process.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string };
}
interface Created {
  stream: { id: string; name: string; branch: string; base_branch: string; parent_stream_id: string | null };
  worktree: string;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: workspace create --from-stream (Mode A)`, () => {
    let repo: TestRepo | undefined;
    let env: Record<string, string>;
    beforeAll(async () => {
      env = await storeEnv(dialect);
    });
    afterEach(() => {
      repo?.close();
      repo = undefined;
    });

    it('starts at the stream’s head on the buffer; refused with --depends-on and for a merged stream', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      expect((await r.run(['init', '--mode', 'review'])).code).toBe(0);
      for (const name of ['alice', 'bob', 'carol']) {
        expect((await r.run(['agent', 'register', name])).code).toBe(0);
      }
      const ok = async (args: string[]) => {
        const run = await r.run(args);
        expect(run.code, `${args.join(' ')}: ${run.stderr}${run.stdout}`).toBe(0);
        return run;
      };
      // Bob's half-done stream; carol goes on from it.
      const first = (
        await ok(['workspace', 'create', '--as', 'bob', '--name', 'half', '--json'])
      ).json<Created>();
      r.write('half.txt', 'half done\n', first.worktree);
      await ok(['commit', '-m', 'Half of it', '--as', 'bob']);
      const head = r.git(['rev-parse', 'HEAD'], first.worktree);

      const both = await r.run([
        'workspace',
        'create',
        '--as',
        'carol',
        '--from-stream',
        'half',
        '--depends-on',
        'half',
        '--json',
      ]);
      expect(both.code).toBe(2);
      expect(both.json<ErrorBody>().error.code).toBe('invalid_input');

      const created = (
        await ok(['workspace', 'create', '--as', 'carol', '--from-stream', 'half', '--json'])
      ).json<Created>();
      expect(created.stream).toMatchObject({ base_branch: 'buffer', parent_stream_id: null });
      expect(r.git(['rev-parse', 'HEAD'], created.worktree)).toBe(head);
      // Carol goes on from there: her commit is on top of bob's.
      r.write('rest.txt', 'the rest\n', created.worktree);
      await ok(['commit', '-m', 'The rest', '--as', 'carol']);
      expect(r.git(['rev-parse', 'HEAD^'], created.worktree)).toBe(head);
      await ok(['workspace', 'destroy', '--as', 'carol']);

      // A merged stream's commits are on the buffer already: refused, nothing made.
      await ok(['review', 'submit', 'half', '--as', 'bob']);
      await ok(['review', 'submit', 'half', 'approve', '--as', 'alice']);
      await ok(['merge', 'half', '--as', 'alice']);
      const refused = await r.run([
        'workspace',
        'create',
        '--as',
        'carol',
        '--from-stream',
        'half',
        '--json',
      ]);
      expect(refused.code).toBe(1);
      expect(refused.json<ErrorBody>().error.code).toBe('invalid_state');
      expect(r.git(['worktree', 'list'])).not.toContain('carol');
    });
  });

  describe(`${dialectLabel(dialect)} server: workspace create --from-stream across two clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;
    let repoId: string;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('laptop');
      b = world.clone('desktop');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await a.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      repoId = alice.json<{ server: { repo_id: string } }>().server.repo_id;
      expect((await b.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      expect((await b.run(['agent', 'register', 'bob'])).code).toBe(0);
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('a stream made on the other clone is fetched on demand; the new one starts at its head', async () => {
      const first = await a.run(['workspace', 'create', '--as', 'alice', '--name', 'half', '--json']);
      expect(first.code, first.stderr).toBe(0);
      const source = first.json<Created>();
      a.write('half.txt', 'half done\n', source.worktree);
      expect((await a.run(['commit', '-m', 'Half of it', '--as', 'alice'])).code).toBe(0);
      const head = a.git(['rev-parse', 'HEAD'], source.worktree);
      // Clone B has never seen the branch.
      expect(b.git(['branch', '--list', source.stream.branch])).toBe('');

      const run = await b.run(['workspace', 'create', '--as', 'bob', '--from-stream', 'half', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const created = run.json<Created>();
      expect(created.stream).toMatchObject({ base_branch: 'buffer', parent_stream_id: null });
      expect(created.worktree).toBe(join(b.dir, '.worktrees', 'bob'));
      expect(b.git(['rev-parse', 'HEAD'], created.worktree)).toBe(head);
      expect(b.git(['rev-parse', source.stream.branch])).toBe(head);
      expect(a.git(['ls-remote', 'origin', `refs/heads/${created.stream.branch}`]).split('\t')[0]).toBe(head);
      const recorded = (await (await fetch(`${server.url}/api/v1/streams/${created.stream.id}`)).json()) as {
        stream: { metadata: Record<string, unknown>; base_branch: string };
      };
      expect(recorded.stream.metadata).toEqual({ from_stream: source.stream.id });

      // Bob's commit goes on top of alice's and pushes.
      b.write('rest.txt', 'the rest\n', created.worktree);
      expect((await b.run(['commit', '-m', 'The rest', '--as', 'bob'])).code).toBe(0);
      expect(b.git(['rev-parse', 'HEAD^'], created.worktree)).toBe(head);
      expect((await b.run(['workspace', 'destroy', '--as', 'bob'])).code).toBe(0);
    });

    it('the server refuses --from-stream with --depends-on; the clone takes back what it made', async () => {
      const before = a.git(['ls-remote', 'origin', 'refs/heads/stream/*']);
      const refused = await b.run([
        'workspace',
        'create',
        '--as',
        'bob',
        '--from-stream',
        'half',
        '--depends-on',
        'half',
        '--json',
      ]);
      expect(refused.code).toBe(2);
      expect(refused.json<ErrorBody>().error.code).toBe('invalid_input');
      expect(a.git(['ls-remote', 'origin', 'refs/heads/stream/*'])).toBe(before);
      expect(b.git(['worktree', 'list'])).not.toContain('.worktrees/bob');
    });
  });
}
