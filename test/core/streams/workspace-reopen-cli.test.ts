/**
 * `gitswarm workspace reopen` on the command line: after a red run reverted an agent's merge,
 * `commit` and `workspace destroy` point to it; run in the reverted stream's worktree (no --as)
 * it carries the work over; the fix merges and a green `stabilize` completes the critical task.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../../cli/helpers.js';
import { storeEnv } from '../../cli/in-process.js';
import { CHECK_SCRIPT } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm workspace reopen`, () => {
    let repo: TestRepo | undefined;
    let env: Record<string, string>;
    beforeAll(async () => {
      env = await storeEnv(dialect);
    });
    afterEach(() => {
      repo?.close();
      repo = undefined;
    });

    async function ok(r: TestRepo, args: string[], cwd?: string) {
      const run = await r.run(args, cwd ? { cwd } : {});
      expect(run.code, `${args.join(' ')}: ${run.stderr} ${run.stdout}`).toBe(0);
      return run;
    }

    /**
     * A swarm repository whose stabilize command fails on a file holding BROKEN, an owner and an
     * author, and the author's workspace with one commit adding `file` = BROKEN (merged at once).
     */
    async function brokenSwarm(owner: string, author: string, file: string) {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      r.write('check.sh', CHECK_SCRIPT);
      r.git(['add', '-A']);
      r.git(['commit', '-q', '-m', 'Add the test suite']);
      await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'sh check.sh']);
      await ok(r, ['agent', 'register', owner]);
      await ok(r, ['agent', 'register', author]);
      const ws = (await ok(r, ['workspace', 'create', '--as', author, '--json'])).json<{
        stream: { id: string; name: string };
        worktree: string;
      }>();
      r.write(`${file}.txt`, 'BROKEN\n', ws.worktree);
      await ok(r, ['commit', '-m', `Add ${file}`, '--as', author]);
      return { r, ws };
    }

    it('red → revert → commit and destroy point to reopen → reopen in the worktree → fix → green completes the task', async () => {
      const { r, ws } = await brokenSwarm('owl', 'fox', 'f');
      r.write('f-notes.txt', 'half done\n', ws.worktree);

      const red = await r.run(['stabilize', '--json']);
      expect(red.code).toBe(1);
      const redJson = red.json<{ reverted: boolean; task_number: number; breaking_stream_id: string }>();
      expect(redJson).toMatchObject({ reverted: true, breaking_stream_id: ws.stream.id });

      // In the worktree, without --as: the dead ends name the way forward.
      const commit = await r.run(['commit', '-m', 'More', '--json'], { cwd: ws.worktree });
      expect(commit.code).toBe(1);
      expect(commit.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
        code: 'invalid_state',
        hint: expect.stringContaining('gitswarm workspace reopen --as fox'),
      });
      const destroy = await r.run(['workspace', 'destroy'], { cwd: ws.worktree });
      expect(destroy.code).toBe(1);
      expect(destroy.stderr).toContain('hint: Stream');
      expect(destroy.stderr).toContain('gitswarm workspace reopen --as fox');

      const text = await ok(r, ['workspace', 'reopen'], ws.worktree);
      expect(text.stdout).toContain(`Reopened ${ws.stream.name} as stream ${ws.stream.name}-reopened`);
      expect(text.stdout).toContain('Your uncommitted changes are carried over.');
      expect(text.stdout).toContain(`Linked to critical task #${redJson.task_number}.`);
      expect(readFileSync(join(ws.worktree, 'f-notes.txt'), 'utf8')).toBe('half done\n');
      expect(readFileSync(join(ws.worktree, 'f.txt'), 'utf8')).toBe('BROKEN\n');
      // Reopening twice: the new stream is not reverted.
      const twice = await r.run(['workspace', 'reopen', '--json'], { cwd: ws.worktree });
      expect(twice.code).toBe(1);
      expect(twice.json<{ error: { code: string } }>().error.code).toBe('invalid_state');

      r.write('f.txt', 'fixed\n', ws.worktree);
      const fixed = (await ok(r, ['commit', '-m', 'Fix f', '--json'], ws.worktree)).json<{
        merged: boolean;
      }>();
      expect(fixed.merged).toBe(true);
      const green = (await ok(r, ['stabilize', '--json'])).json<{
        result: string;
        closed_task_ids: string[];
      }>();
      expect(green.result).toBe('green');
      expect(green.closed_task_ids).toHaveLength(1);
      const task = (await ok(r, ['task', 'show', String(redJson.task_number), '--json'])).json<{
        task: { status: string };
      }>();
      expect(task.task.status).toBe('completed');
      // The reverted stream stays reverted; the reopened one merged.
      const list = (await ok(r, ['workspace', 'list', '--json'])).json<{
        workspaces: { stream_name: string; stream_status: string }[];
      }>();
      expect(list.workspaces).toMatchObject([
        { stream_name: `${ws.stream.name}-reopened`, stream_status: 'merged' },
      ]);
    });

    it('reopen --json names the stream, refuses another agent’s with forbidden', async () => {
      const { r, ws } = await brokenSwarm('elk', 'yak', 'y');
      expect((await r.run(['stabilize'])).code).toBe(1);
      const forbidden = await r.run(['workspace', 'reopen', ws.stream.id, '--as', 'elk', '--json']);
      expect(forbidden.code).toBe(1);
      expect(forbidden.json<{ error: { code: string } }>().error.code).toBe('forbidden');
      const json = (await ok(r, ['workspace', 'reopen', ws.stream.name, '--as', 'yak', '--json'])).json<{
        stream: { name: string; status: string };
        reopened_from: { id: string; status: string };
        worktree: string;
        carried_over: boolean;
        reapplied: { merge_commit: string; revert_commit: string; commit: string }[];
        task_number: number;
      }>();
      expect(json).toMatchObject({
        stream: { name: `${ws.stream.name}-reopened`, status: 'active' },
        reopened_from: { id: ws.stream.id, status: 'reverted' },
        worktree: ws.worktree,
        carried_over: false,
      });
      expect(json.reapplied).toHaveLength(1);
      expect(json.task_number).toBeGreaterThan(0);
    });
  });
}
