/**
 * `gitswarm status` on a connected clone: streams, the merge queue (consensus as the server
 * computes it) and the server's reachability, in Mode A's shape plus `server`; with the server
 * stopped, the clone's own part with `reachable: false` and `stale: true` (exit 0).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';
import { shapeOf } from './shapes.js';

interface StatusJson {
  streams: { id: string; agent: string; status: string }[];
  queue: { stream_id: string; ready: boolean; approvals: number }[];
  workspaces: unknown[];
  counts?: { streams: Record<string, number>; queue: number };
  limit?: number;
  server?: { url: string; repo_id: string; reachable: boolean; outbox_pending: number };
  stale?: boolean;
  [key: string]: unknown;
}

function savedKey(clone: TestClone, agent: string): string {
  const file = JSON.parse(readFileSync(clone.credentialsFile, 'utf8'));
  const servers = Object.values(file.servers) as { agents: { agent_name: string; api_key: string }[] }[];
  const found = servers.flatMap((s) => s.agents).find((a) => a.agent_name === agent);
  if (!found) throw new Error(`no key for ${agent}`);
  return found.api_key;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: status connected`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let local: TestRepo;
    let repoId: string;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      clone = world.clone();
      local = createTestRepo({ inProcess: true });
      for (const side of [clone, local]) {
        expect(
          (await side.run(['init', '--mode', 'review', ...(side === clone ? ['--server', server.url] : [])]))
            .code,
        ).toBe(0);
        expect((await side.run(['agent', 'register', 'alice'])).code).toBe(0);
        expect((await side.run(['agent', 'register', 'bob'])).code).toBe(0);
      }
      repoId = JSON.parse((await clone.run(['init', '--json'])).stdout).server.repo_id;
    });
    afterAll(async () => {
      local?.close();
      world?.close();
      await server?.close();
    });

    it('shows the server’s streams and merge queue in Mode A’s shape, plus the server', async () => {
      // Mode A: bob's stream in review, approved by alice.
      expect((await local.run(['workspace', 'create', '--as', 'bob', '--name', 'feature'])).code).toBe(0);
      local.write('.worktrees/bob/feature.txt', 'x\n');
      expect((await local.run(['commit', '-m', 'feature', '--as', 'bob'])).code).toBe(0);
      const localStream = JSON.parse((await local.run(['status', '--json'])).stdout).streams[0].id as string;
      expect((await local.run(['review', 'submit', localStream, '--as', 'bob'])).code).toBe(0);
      expect((await local.run(['review', 'submit', localStream, 'approve', '--as', 'alice'])).code).toBe(0);

      // Connected: the same, recorded on the server over its API (the git side is not this test's).
      const bob = { authorization: `Bearer ${savedKey(clone, 'bob')}`, 'content-type': 'application/json' };
      const alice = {
        authorization: `Bearer ${savedKey(clone, 'alice')}`,
        'content-type': 'application/json',
      };
      const api = (path: string, headers: Record<string, string>, body: unknown) =>
        fetch(`${server.url}/api/v1${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      const streamId = randomBytes(6).toString('hex');
      expect((await api(`/repos/${repoId}/streams`, bob, { id: streamId, name: 'feature' })).status).toBe(
        201,
      );
      const commit = clone.git(['rev-parse', 'HEAD']);
      expect((await api(`/streams/${streamId}/commits`, bob, { commit, message: 'feature' })).status).toBe(
        201,
      );
      expect((await api(`/streams/${streamId}/submit`, bob, {})).status).toBe(200);
      expect((await api(`/streams/${streamId}/reviews`, alice, { verdict: 'approve' })).status).toBeLessThan(
        300,
      );

      const connected = await clone.run(['status', '--json']);
      expect(connected.code, connected.stdout).toBe(0);
      const a = connected.json<StatusJson>();
      const b = JSON.parse((await local.run(['status', '--json'])).stdout) as StatusJson;
      expect(a.server).toEqual({ url: server.url, repo_id: repoId, reachable: true, outbox_pending: 0 });
      expect(a.streams).toEqual([
        expect.objectContaining({ id: streamId, agent: 'bob', status: 'in_review' }),
      ]);
      expect(a.queue).toEqual([expect.objectContaining({ stream_id: streamId, ready: true, approvals: 1 })]);
      expect(a.counts).toMatchObject({ streams: { in_review: 1, live: 1, total: 1 }, queue: 1 });
      const capped = (await clone.run(['status', '--json', '--limit', '1'])).json<StatusJson>();
      expect(capped.limit).toBe(1);
      const { server: _server, workspaces: _a, ...restA } = a;
      const { workspaces: _b, ...restB } = b;
      expect(shapeOf(restA)).toEqual(shapeOf(restB));

      const text = await clone.run(['status']);
      expect(text.stdout).toMatch(new RegExp(`server\\s+${server.url} reachable`));
      expect(text.stdout).toContain('Merge queue');
    });

    it('with the server stopped: this clone only, reachable false and stale (exit 0)', async () => {
      await server.stop();
      try {
        const run = await clone.run(['status', '--json']);
        expect(run.code, run.stdout).toBe(0);
        const body = run.json<StatusJson>();
        expect(body.server).toMatchObject({ reachable: false, repo_id: repoId });
        expect(body.stale).toBe(true);
        expect(body.streams).toEqual([]);
        expect(run.stderr).toMatch(/^warning: Cannot reach the GitSwarm server/m);
        const text = await clone.run(['status']);
        expect(text.stdout).toMatch(/server\s+\S+ unreachable/);
      } finally {
        await server.start();
      }
    });
  });
}
