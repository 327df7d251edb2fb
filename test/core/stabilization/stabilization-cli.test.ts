/** `gitswarm stabilize` on the command line (in-process runCli), on every dialect. */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../../cli/helpers.js';
import { runInProcess, storeEnv } from '../../cli/in-process.js';
import { CHECK_SCRIPT } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';

interface StabilizeJson {
  result: 'green' | 'red' | 'flaky';
  tag?: string;
  buffer_commit: string;
  breaking_stream_id?: string | null;
  reverted?: boolean;
  task_id?: string | null;
  task_number?: number | null;
  log_path: string;
  runs: number;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm stabilize`, () => {
    let repo: TestRepo | undefined;
    // One store per dialect for the file: each test's repository is its own row in it.
    let env: Record<string, string>;
    beforeAll(async () => {
      env = await storeEnv(dialect);
    });
    afterEach(() => {
      repo?.close();
      repo = undefined;
    });

    async function ok(r: TestRepo, args: string[]) {
      const run = await r.run(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr} ${run.stdout}`).toBe(0);
      return run;
    }

    async function swarmCommit(r: TestRepo, agent: string, file: string, content: string) {
      const ws = (await ok(r, ['workspace', 'create', '--as', agent, '--json'])).json<{
        stream: { id: string };
        worktree: string;
      }>();
      r.write(file, content, ws.worktree);
      const commit = (await ok(r, ['commit', '-m', `Add ${file}`, '--as', agent, '--json'])).json<{
        merged: boolean;
      }>();
      expect(commit.merged).toBe(true);
      return ws.stream.id;
    }

    it('green exits 0 with the tag; red exits 1 with the culprit, the revert and the task; progress on stderr', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      r.write('check.sh', CHECK_SCRIPT);
      r.git(['add', '-A']);
      r.git(['commit', '-q', '-m', 'Add the test suite']);
      await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'sh check.sh', '--json']);
      await ok(r, ['agent', 'register', 'ant']);
      await ok(r, ['agent', 'register', 'bee']);

      await swarmCommit(r, 'ant', 'a.txt', 'fine\n');
      const green = await ok(r, ['stabilize', '--json']);
      const greenJson = green.json<StabilizeJson>();
      expect(greenJson).toMatchObject({
        result: 'green',
        buffer_commit: r.git(['rev-parse', 'buffer']),
        runs: 1,
      });
      expect(greenJson.tag).toMatch(/^green\/\d{8}T\d{6}Z$/);
      expect(r.git(['rev-parse', `${greenJson.tag}^{commit}`])).toBe(greenJson.buffer_commit);
      expect(greenJson.log_path.startsWith(join(r.dir, '.gitswarm', 'logs'))).toBe(true);
      expect(green.stderr).toContain('stabilize: run at');
      // Not a terminal: the command's own output stays in the log file only.
      expect(green.stderr).not.toContain('all good');

      const beeStream = await swarmCommit(r, 'bee', 'b.txt', 'BROKEN\n');
      const tested = r.git(['rev-parse', 'buffer']);
      const red = await r.run(['stabilize', '--as', 'ant', '--json']);
      expect(red.code).toBe(1);
      const redJson = red.json<StabilizeJson>();
      expect(redJson).toMatchObject({
        result: 'red',
        buffer_commit: tested,
        breaking_stream_id: beeStream,
        reverted: true,
      });
      expect(redJson.task_id).toBeTruthy();
      const task = (await ok(r, ['task', 'show', String(redJson.task_number), '--json'])).json<{
        task: { priority: string; title: string };
      }>();
      expect(task.task.priority).toBe('critical');
      expect(r.git(['rev-parse', 'buffer^'])).toBe(tested);

      // On a terminal the test output streams to stderr; the text result goes to stdout.
      const tty = await runInProcess(['stabilize'], { cwd: r.dir, env: r.env, isTTY: true });
      expect(tty.code).toBe(0);
      expect(tty.stderr).toContain('all good');
      expect(tty.stdout).toContain('Green');
      expect(tty.stdout).toContain('Log: ');

      // promote takes main to the newest green commit.
      const promoted = (await ok(r, ['promote', '--json'])).json<{ promoted: boolean; to_commit: string }>();
      expect(promoted).toMatchObject({ promoted: true, to_commit: r.git(['rev-parse', 'buffer']) });
    });

    it('refuses without bubblewrap on PATH, with how to fix it, and runs once sandbox is none', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'true', '--json']);
      await ok(r, ['agent', 'register', 'owner']);
      const noBwrap = { PATH: '/nonexistent-gitswarm-bin' };
      const refused = await r.run(['stabilize', '--json'], { env: noBwrap });
      expect(refused.code).toBe(1);
      expect(refused.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
        code: 'sandbox_unavailable',
        hint: expect.stringContaining('gitswarm config sandbox none'),
      });
      await ok(r, ['config', 'sandbox', 'none', '--as', 'owner']);
      const unsandboxed = await r.run(['stabilize', '--json'], { env: noBwrap });
      expect(unsandboxed.code, unsandboxed.stderr).toBe(0);
      expect(unsandboxed.json<StabilizeJson>().result).toBe('green');
    });
  });
}
