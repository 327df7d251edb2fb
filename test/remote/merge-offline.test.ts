/**
 * A merge while the server is down (spec/cli.md, Mode B, "Offline"): in swarm mode no decision is
 * needed, so the clone merges and pushes the buffer (the shared remote still answers) and queues
 * the report; `gitswarm sync` delivers it and the server records the merge. In review mode the
 * same command exits 4 (the merge-cli test).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: merging while the server is down (swarm mode)`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let repoId: string;
    let key: string;

    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as Record<string, Record<string, unknown>>;
    };
    const stream = async (name: string) => {
      const id = `${name}-${dialect}`;
      await api('POST', `/repos/${repoId}/streams`, { id, name, base_branch: 'buffer' });
      clone.git(['fetch', '-q', 'origin']);
      clone.git(['checkout', '-q', '-B', `stream/${id}`, 'origin/buffer']);
      clone.write(`${name}.txt`, `${name}\n`);
      clone.git(['add', '-A']);
      clone.git(['-c', 'user.name=t', '-c', 'user.email=t@x.invalid', 'commit', '-q', '-m', name]);
      await api('POST', `/streams/${id}/commits`, {
        commit: clone.git(['rev-parse', 'HEAD']),
        message: name,
      });
      clone.git(['push', '-q', 'origin', `stream/${id}`]);
      clone.git(['checkout', '-q', 'main']);
      return id;
    };
    const remoteBuffer = () => clone.git(['ls-remote', 'origin', 'refs/heads/buffer']).split('\t')[0];

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      clone = world.clone('laptop');
      clone.git(['push', '-q', 'origin', 'main:buffer']);
      expect((await clone.run(['init', '--server', server.url, '--mode', 'swarm'])).code).toBe(0);
      const reg = await clone.run(['agent', 'register', 'alice', '--json']);
      expect(reg.code, reg.stderr).toBe(0);
      key = reg.json<{ api_key: string }>().api_key;
      repoId = reg.json<{ server: { repo_id: string } }>().server.repo_id;
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('merges and pushes without the server, queues the report, and sync delivers it', async () => {
      const first = await stream('online');
      expect((await clone.run(['merge', first, '--as', 'alice'])).code).toBe(0);
      const id = await stream('offline');

      await server.stop();
      let mergeCommit: string;
      try {
        const merged = await clone.run(['merge', `stream/${id}`, '--as', 'alice', '--json']);
        expect(merged.code, merged.stderr + merged.stdout).toBe(0);
        const body = merged.json<{
          merged: boolean;
          merge_commit: string;
          offline: boolean;
          queued: boolean;
        }>();
        expect(body).toMatchObject({ merged: true, stream_id: id, offline: true, queued: true });
        mergeCommit = body.merge_commit;
        // The shared remote has the merge already; the server will hear of it.
        expect(remoteBuffer()).toBe(mergeCommit);
        expect(merged.stderr).toMatch(/queued/i);
      } finally {
        await server.start();
      }

      const sync = await clone.run(['sync', '--as', 'alice', '--json']);
      expect(sync.code, sync.stderr + sync.stdout).toBe(0);
      expect(sync.json<{ pending: number; failed: number }>()).toMatchObject({ pending: 0, failed: 0 });
      const { stream: recorded } = await api('GET', `/streams/${id}`);
      expect(recorded?.status).toBe('merged');
      const head = await api('GET', `/repos/${repoId}/buffer-head`);
      expect(head.buffer_head).toBe(mergeCommit);
    });
  });
}
