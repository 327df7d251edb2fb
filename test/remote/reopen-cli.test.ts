/**
 * `gitswarm workspace reopen` on a connected clone: a stabilization on another machine reverted
 * the stream's merge on the shared buffer; its author, in its own clone, reopens it. The server
 * decides (author, reverted) and records the new stream (reopened_from, its re-applied commit,
 * the red's critical task); the clone re-applies the change on the remote's buffer head, keeps
 * the uncommitted work in the same worktree and pushes the new branch.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_COMMAND, CHECK_SCRIPT } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string };
}

interface StreamJson {
  id: string;
  name: string;
  branch: string;
  status: string;
  metadata: Record<string, unknown>;
  task_id: string | null;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: workspace reopen on a connected clone`, () => {
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
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    const bobTree = () => join(runner.dir, '.worktrees', 'bob');

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

    it('red on one machine reverts; the author reopens in its own clone with the change and its work', async () => {
      const created = await runner.run(['workspace', 'create', '--as', 'bob', '--name', 'breaks', '--json']);
      expect(created.code, created.stderr).toBe(0);
      const old = created.json<{ stream: StreamJson }>().stream;
      runner.write('broken.txt', 'BROKEN\n', bobTree());
      expect((await runner.run(['commit', '-m', 'Break it', '--as', 'bob'])).code).toBe(0);
      expect((await api('bob', 'POST', `/streams/${old.id}/submit`, {})).status).toBe(200);
      expect((await api('alice', 'POST', `/streams/${old.id}/reviews`, { verdict: 'approve' })).status).toBe(
        201,
      );
      const merged = await runner.run(['merge', old.id, '--as', 'bob']);
      expect(merged.code, merged.stderr).toBe(0);

      // The other machine's stabilization finds the culprit and reverts it on the remote.
      const red = await laptop.run(['stabilize', '--as', 'alice', '--json']);
      expect(red.code, red.stderr).toBe(1);
      const redJson = red.json<{ reverted: boolean; task_number: number; breaking_stream_id: string }>();
      expect(redJson).toMatchObject({ reverted: true, breaking_stream_id: old.id });
      const revertedBuffer = laptop.git(['ls-remote', 'origin', 'refs/heads/buffer']).split('\t')[0] ?? '';

      // Someone else may not reopen it; nothing is made.
      const branchesBefore = runner.git(['ls-remote', 'origin', 'refs/heads/stream/*']);
      const forbidden = await laptop.run(['workspace', 'reopen', old.id, '--as', 'alice', '--json']);
      expect(forbidden.code).toBe(1);
      expect(forbidden.json<ErrorBody>().error.code).toBe('forbidden');
      expect(runner.git(['ls-remote', 'origin', 'refs/heads/stream/*'])).toBe(branchesBefore);

      // The author goes on, with uncommitted work in its worktree (this clone has not fetched the revert).
      runner.write('notes.txt', 'half done\n', bobTree());
      const run = await runner.run(['workspace', 'reopen', '--as', 'bob', '--json']);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const result = run.json<{
        stream: StreamJson;
        reopened_from: StreamJson;
        worktree: string;
        head: string;
        reapplied: { merge_commit: string; revert_commit: string; commit: string }[];
        carried_over: boolean;
        task_number: number | null;
      }>();
      expect(result.stream.name).toBe('breaks-reopened');
      expect(result.reopened_from).toMatchObject({ id: old.id, status: 'reverted' });
      expect(result.carried_over).toBe(true);
      expect(result.task_number).toBe(redJson.task_number);
      expect(result.worktree).toBe(bobTree());
      expect(result.reapplied).toHaveLength(1);
      expect(result.reapplied[0]?.commit).toBe(result.head);
      // The head is the remote's reverted buffer plus the change again.
      expect(runner.git(['rev-parse', `${result.head}^`])).toBe(revertedBuffer);
      expect(runner.git(['show', `${result.head}:broken.txt`])).toBe('BROKEN');
      // The same worktree, on the new branch, the work still uncommitted.
      expect(runner.git(['symbolic-ref', 'HEAD'], bobTree())).toBe(`refs/heads/${result.stream.branch}`);
      expect(runner.git(['rev-parse', 'HEAD'], bobTree())).toBe(result.head);
      expect(readFileSync(join(bobTree(), 'notes.txt'), 'utf8')).toBe('half done\n');
      expect(runner.git(['status', '--porcelain'], bobTree())).toBe('?? notes.txt');
      // Pushed, and recorded on the server as Mode A records it.
      expect(laptop.git(['ls-remote', 'origin', `refs/heads/${result.stream.branch}`]).split('\t')[0]).toBe(
        result.head,
      );
      const recorded = (await api('bob', 'GET', `/streams/${result.stream.id}`)).json.stream as StreamJson;
      expect(recorded).toMatchObject({ status: 'active', metadata: { reopened_from: old.id } });
      expect(recorded.task_id).not.toBeNull();
      const commits = (await api('bob', 'GET', `/streams/${result.stream.id}/commits`)).json.commits as {
        commit_hash: string;
      }[];
      expect(commits.map((c) => c.commit_hash)).toEqual([result.head]);

      // The new stream is not reverted: reopening it again is refused by the server.
      const twice = await runner.run(['workspace', 'reopen', '--as', 'bob', '--json']);
      expect(twice.code).toBe(1);
      expect(twice.json<ErrorBody>().error.code).toBe('invalid_state');

      // A report naming other merges than the reverted ones is refused.
      const bogus = await api('bob', 'POST', `/streams/${old.id}/reopen`, {
        id: `bogus-${dialect}`,
        base_commit: revertedBuffer,
        reapplied: [{ merge_commit: revertedBuffer, revert_commit: revertedBuffer, commit: result.head }],
      });
      expect(bogus.status).toBe(409);
      expect((bogus.json.error as { code: string }).code).toBe('commit_mismatch');
    });
  });
}
