/**
 * Mode C from end to end over HTTP only: a repository the server holds (`POST /repos {server_git:
 * true}`, a bare repository in its data dir), files written and committed through the API (swarm
 * mode merges each commit), then `POST /repos/:id/stabilize {}` and `POST /repos/:id/promote {}`.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { gitOut } from '../../src/engine/git.js';
import { TEST_ENV } from '../helpers/git-fixture.js';
import { CHECK_COMMAND, CHECK_SCRIPT } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createHostedRepo, createHostedStream, type FilesServer } from '../server/files-fixture.js';
import { callApi, registerTestAgent, startTestApp, type TestAgent } from '../server/helpers.js';
import { startRun, TEST_RUN_TIMING, waitForRun } from './hosted-stabilize-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode C stabilization over HTTP only`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('commit through the files API, stabilize green, promote; a broken commit is red, bisected and reverted', async () => {
      const dataDir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-stabilize-e2e-')));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const t = await startTestApp(dialect, {
        hosting: { dataDir, allowLocalClone: true, stabilizeRuns: TEST_RUN_TIMING },
      });
      cleanups.push(() => t.close());
      const server: FilesServer = { ...t, dataDir, outside: join(dataDir, 'outside'), port: 0 };
      const owner = await registerTestAgent(t.app);
      const repo = await createHostedRepo(server, owner, {
        merge_mode: 'swarm',
        stabilize_command: CHECK_COMMAND,
      });
      const bare = (args: string[]) => gitOut(args, { cwd: repo.dir, env: TEST_ENV });

      const commitFiles = async (author: TestAgent, files: Record<string, string>) => {
        const stream = await createHostedStream(server, repo, author);
        for (const [path, content] of Object.entries(files)) {
          const put = await callApi(t.app, author, {
            method: 'PUT',
            url: `/streams/${stream.id}/files/${path}`,
            payload: { content },
          });
          expect([200, 201], JSON.stringify(put.body)).toContain(put.status);
        }
        const committed = await callApi(t.app, author, {
          method: 'POST',
          url: `/streams/${stream.id}/commits`,
          payload: { message: `Add ${Object.keys(files).join(', ')}` },
        });
        expect(committed.status, JSON.stringify(committed.body)).toBe(201);
        expect(committed.body.merged).toBe(true);
        return stream.id;
      };

      await commitFiles(owner, { 'check.sh': CHECK_SCRIPT, 'a.txt': 'fine\n' });
      const tested = await bare(['rev-parse', 'refs/heads/buffer']);
      const mainBefore = await bare(['rev-parse', 'refs/heads/main']);
      const notYet = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(notYet.body.error?.code).toBe('not_green');

      const green = await startRun(t.app, owner, repo.id);
      expect(green.status).toBe(202);
      const greenRun = await waitForRun(t.app, owner, repo.id, green.run.id);
      expect(greenRun).toMatchObject({ status: 'green', buffer_commit: tested });
      expect(await bare(['rev-parse', `${greenRun.tag}^{commit}`])).toBe(tested);
      const promoted = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/promote`,
        payload: {},
      });
      expect(promoted.body).toEqual({ promoted: true, from_commit: mainBefore, to_commit: tested });
      expect(await bare(['rev-parse', 'refs/heads/main'])).toBe(tested);

      const bob = await registerTestAgent(t.app);
      const carol = await registerTestAgent(t.app);
      const bobs = await commitFiles(bob, { 'b.txt': 'BROKEN\n' });
      await commitFiles(carol, { 'c.txt': 'fine too\n' });
      const red = await startRun(t.app, carol, repo.id);
      const redRun = await waitForRun(t.app, carol, repo.id, red.run.id);
      expect(redRun).toMatchObject({ status: 'red', breaking_stream_id: bobs, reverted: true });
      expect(redRun.task_id).not.toBeNull();
      expect(await gitOut(['ls-tree', '--name-only', 'refs/heads/buffer'], { cwd: repo.dir })).not.toContain(
        'b.txt',
      );
      // main never received the broken code.
      expect(await bare(['rev-parse', 'refs/heads/main'])).toBe(tested);
    }, 150_000);
  });
}
