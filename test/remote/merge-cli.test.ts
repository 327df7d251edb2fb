/**
 * `merge`, `promote` and `stabilize` typed on two connected clones ("two machines") against a real
 * server: the same flags, `--json` shapes and exit codes as Mode A; refusals are the server's
 * (exit 1 with its code), a server that is down is exit 4.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_COMMAND, CHECK_SCRIPT } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string; hint?: string };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: merge, promote and stabilize on connected clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let laptop: TestClone;
    let runner: TestClone;
    let repoId: string;
    const keys: Record<string, string> = {};

    const api = async (agent: string, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${keys[agent]}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await response.json()) as Record<string, never>;
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
      return json as Record<string, { id: string; branch: string }>;
    };

    /** A stream of `agent` made in `clone` as a connected clone makes it: recorded, committed, pushed. */
    const stream = async (clone: TestClone, agent: string, name: string, files: Record<string, string>) => {
      const id = `${name}-${dialect}`;
      await api(agent, 'POST', `/repos/${repoId}/streams`, { id, name, base_branch: 'buffer' });
      clone.git(['fetch', '-q', 'origin']);
      clone.git(['checkout', '-q', '-B', `stream/${id}`, 'origin/buffer']);
      for (const [path, content] of Object.entries(files)) clone.write(path, content);
      clone.git(['add', '-A']);
      clone.git(['-c', 'user.name=t', '-c', 'user.email=t@x.invalid', 'commit', '-q', '-m', name]);
      const commit = clone.git(['rev-parse', 'HEAD']);
      await api(agent, 'POST', `/streams/${id}/commits`, { commit, message: name });
      clone.git(['push', '-q', 'origin', `stream/${id}`]);
      clone.git(['checkout', '-q', 'main']);
      return id;
    };

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      laptop = world.clone('laptop');
      laptop.write('check.sh', CHECK_SCRIPT);
      laptop.git(['add', '-A']);
      laptop.git(['-c', 'user.name=t', '-c', 'user.email=t@x.invalid', 'commit', '-q', '-m', 'tests']);
      laptop.git(['push', '-q', 'origin', 'main', 'main:buffer']);
      expect((await laptop.run(['init', '--server', server.url, '--mode', 'review'])).code).toBe(0);
      const alice = await laptop.run(['agent', 'register', 'alice', '--json']);
      expect(alice.code, alice.stderr).toBe(0);
      const registered = alice.json<{ api_key: string; server: { repo_id: string } }>();
      keys.alice = registered.api_key;
      repoId = registered.server.repo_id;
      runner = world.clone('runner');
      expect((await runner.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      const bob = await runner.run(['agent', 'register', 'bob', '--json']);
      expect(bob.code, bob.stderr).toBe(0);
      keys.bob = bob.json<{ api_key: string }>().api_key;
      await api('alice', 'PATCH', `/repos/${repoId}`, { stabilize_command: CHECK_COMMAND, sandbox: 'none' });
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('merge: refused without consensus (exit 1, the server’s code), merged once approved', async () => {
      const id = await stream(runner, 'bob', 'feature', { 'feature.txt': 'feature\n' });
      const refused = await runner.run(['merge', 'feature', '--as', 'bob', '--json']);
      expect(refused.code).toBe(1);
      expect(refused.json<ErrorBody>().error.code).toBe('no_consensus');

      await api('bob', 'POST', `/streams/${id}/submit`, {});
      await api('alice', 'POST', `/streams/${id}/reviews`, { verdict: 'approve' });
      const merged = await runner.run(['merge', `stream/${id}`, '--as', 'bob', '--json']);
      expect(merged.code, merged.stderr + merged.stdout).toBe(0);
      const body = merged.json<{
        merged: boolean;
        stream_id: string;
        merge_commit: string;
        buffer_head: string;
      }>();
      expect(body).toMatchObject({ merged: true, stream_id: id, push_retries: 0 });
      expect(body.buffer_head).toBe(body.merge_commit);
      expect(laptop.git(['ls-remote', 'origin', 'refs/heads/buffer']).split('\t')[0]).toBe(body.merge_commit);
      const text = await runner.run(['merge', id, '--as', 'bob']);
      expect(text.code).toBe(1); // merged already: the server says so
    });

    it('stabilize and promote from the other machine: green tags and pushes, promote moves main', async () => {
      const green = await laptop.run(['stabilize', '--as', 'alice', '--json']);
      expect(green.code, green.stderr + green.stdout).toBe(0);
      const result = green.json<{ result: string; tag: string; buffer_commit: string }>();
      expect(result.result).toBe('green');
      expect(laptop.git(['ls-remote', 'origin', `refs/tags/${result.tag}`])).not.toBe('');

      const promoted = await laptop.run(['promote', '--as', 'alice', '--json']);
      expect(promoted.code, promoted.stderr + promoted.stdout).toBe(0);
      expect(promoted.json()).toMatchObject({
        promoted: true,
        to_commit: result.buffer_commit,
        target: 'main',
      });
      expect(laptop.git(['ls-remote', 'origin', 'refs/heads/main']).split('\t')[0]).toBe(
        result.buffer_commit,
      );
      const forced = await laptop.run(['promote', '--force', '--as', 'alice', '--json']);
      expect(forced.code).toBe(2);
    });

    it('stabilize red exits 1: the culprit reverted on the remote, the task filed by the server', async () => {
      const id = await stream(runner, 'bob', 'breaks', { 'broken.txt': 'BROKEN\n' });
      await api('bob', 'POST', `/streams/${id}/submit`, {});
      await api('alice', 'POST', `/streams/${id}/reviews`, { verdict: 'approve' });
      expect((await runner.run(['merge', id, '--as', 'bob'])).code).toBe(0);
      const red = await laptop.run(['stabilize', '--as', 'alice', '--json']);
      expect(red.code, red.stderr).toBe(1);
      expect(red.json()).toMatchObject({
        result: 'red',
        breaking_stream_id: id,
        reverted: true,
        revert_decision: 'reverted',
        task_id: expect.any(String),
        task_number: expect.any(Number),
      });
    });

    it('a server that is down: exit 4 server_unreachable, nothing pushed', async () => {
      const head = laptop.git(['ls-remote', 'origin', 'refs/heads/buffer']);
      await server.stop();
      try {
        const down = await runner.run(['merge', 'feature', '--as', 'bob', '--json']);
        expect(down.code).toBe(4);
        expect(down.json<ErrorBody>().error.code).toBe('server_unreachable');
        // The repository as last read (cached): review mode needs the server's decision.
        expect(down.json<ErrorBody>().error.message).toContain('review mode needs its decision');
      } finally {
        await server.start();
      }
      expect(laptop.git(['ls-remote', 'origin', 'refs/heads/buffer'])).toBe(head);
    });
  });
}
