/**
 * `review submit STREAM VERDICT` on a connected clone that has never seen the stream: the branch
 * made on another clone is fetched on demand (as `diff` does), so the reviewer has the code its
 * verdict is about; a newer head pushed since is fast-forwarded on the next verdict.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface Created {
  stream: { id: string; name: string; branch: string };
  worktree: string;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: a verdict fetches the stream on demand`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let a: TestClone;
    let b: TestClone;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      a = world.clone('laptop');
      b = world.clone('reviewer');
      expect((await a.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
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

    it('the reviewer’s clone gets the branch with the verdict, and its newer head with the next', async () => {
      const created = await a.run(['workspace', 'create', '--as', 'alice', '--name', 'feature', '--json']);
      expect(created.code, created.stderr).toBe(0);
      const { stream, worktree } = created.json<Created>();
      a.write('feature.txt', 'one\n', worktree);
      expect((await a.run(['commit', '-m', 'Feature', '--as', 'alice'])).code).toBe(0);
      expect((await a.run(['review', 'submit', 'feature', '--as', 'alice'])).code).toBe(0);
      const first = a.git(['rev-parse', 'HEAD'], worktree);
      expect(b.git(['branch', '--list', stream.branch])).toBe('');

      const verdict = await b.run([
        'review',
        'submit',
        'feature',
        'comment',
        '-m',
        'looking',
        '--as',
        'bob',
        '--json',
      ]);
      expect(verdict.code, verdict.stderr + verdict.stdout).toBe(0);
      expect(verdict.json<{ review: { verdict: string } }>().review.verdict).toBe('comment');
      expect(b.git(['rev-parse', `refs/heads/${stream.branch}`])).toBe(first);

      a.write('feature.txt', 'two\n', worktree);
      expect((await a.run(['commit', '-m', 'Feature, better', '--as', 'alice'])).code).toBe(0);
      const second = a.git(['rev-parse', 'HEAD'], worktree);
      const again = await b.run(['review', 'submit', stream.id, 'approve', '--as', 'bob', '--json']);
      expect(again.code, again.stderr + again.stdout).toBe(0);
      expect(b.git(['rev-parse', `refs/heads/${stream.branch}`])).toBe(second);
    });
  });
}
