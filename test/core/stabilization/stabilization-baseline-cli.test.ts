/**
 * `gitswarm stabilize` on a repository with a history of its own: `init` records the buffer's
 * baseline, a red run bisects only GitSwarm's merges after it, and the CLI and the critical task
 * say the same thing about the culprit (a GitSwarm merge, or "no single merge"). A command that
 * cannot start is `stabilization_error`, exit 1, naming what is missing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../../cli/helpers.js';
import { storeEnv } from '../../cli/in-process.js';
import { CHECK_SCRIPT } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';

interface RedJson {
  result: string;
  buffer_commit: string;
  breaking_stream_id: string | null;
  culprit_commit: string | null;
  blame: string;
  task_number: number | null;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize bisects only what GitSwarm merged`, () => {
    let repo: TestRepo | undefined;
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

    /** A merge made by the project itself, outside GitSwarm, on main. */
    function projectMerge(r: TestRepo, branch: string, file: string, content: string): string {
      r.git(['checkout', '-q', '-b', branch]);
      r.write(file, content);
      r.git(['add', '-A']);
      r.git(['commit', '-q', '-m', `Project: ${branch}`]);
      r.git(['checkout', '-q', 'main']);
      r.git(['merge', '-q', '--no-ff', '-m', `Merge ${branch}`, branch]);
      return r.git(['rev-parse', 'HEAD']);
    }

    async function swarmCommit(r: TestRepo, agent: string, file: string, content: string) {
      const ws = (await ok(r, ['workspace', 'create', '--as', agent, '--json'])).json<{
        stream: { id: string; name: string };
        worktree: string;
      }>();
      r.write(file, content, ws.worktree);
      await ok(r, ['commit', '-m', `Add ${file}`, '--as', agent, '--json']);
      return ws.stream;
    }

    async function setUp(r: TestRepo) {
      r.write('check.sh', CHECK_SCRIPT);
      r.git(['add', '-A']);
      r.git(['commit', '-q', '-m', 'Add the test suite']);
    }

    async function taskDescription(r: TestRepo, number: number | null): Promise<string> {
      expect(number).toBeTruthy();
      return (await ok(r, ['task', 'show', String(number), '--json'])).json<{
        task: { description: string };
      }>().task.description;
    }

    it('a red merge in the project’s own history before init is never a candidate: the GitSwarm merge is blamed, in the CLI and the task alike', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      await setUp(r);
      const broke = projectMerge(r, 'upstream-break', 'p.txt', 'BROKEN upstream\n');
      const fixed = projectMerge(r, 'upstream-fix', 'p.txt', 'fixed upstream\n');
      const baseline = r.git(['rev-parse', 'main']);
      const init = await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'sh check.sh', '--json']);
      expect(init.json<{ repo: { buffer_baseline: string } }>().repo.buffer_baseline).toBe(baseline);
      // A second init changes nothing, the baseline included.
      const again = await ok(r, ['init', '--json']);
      expect(again.json<{ created: boolean; repo: { buffer_baseline: string } }>()).toMatchObject({
        created: false,
        repo: { buffer_baseline: baseline },
      });
      await ok(r, ['agent', 'register', 'ant1']);
      await ok(r, ['agent', 'register', 'bee1']);
      await swarmCommit(r, 'ant1', 'a.txt', 'fine\n');
      await ok(r, ['workspace', 'destroy', '--as', 'ant1']);
      const bees = await swarmCommit(r, 'bee1', 'b.txt', 'BROKEN by bee\n');

      const red = await r.run(['stabilize', '--json']);
      expect(red.code, red.stderr).toBe(1);
      const json = red.json<RedJson>();
      expect(json).toMatchObject({ result: 'red', breaking_stream_id: bees.id });
      expect(json.culprit_commit).not.toBe(broke);
      expect(json.culprit_commit).not.toBe(fixed);
      expect(json.blame).toBe(
        `the merge of stream ${bees.name} (${bees.id}) at ${json.culprit_commit?.slice(0, 12)}`,
      );
      expect(red.stderr).toContain(
        `bisecting 2 merge(s) since the baseline ${baseline.slice(0, 12)} (gitswarm init)`,
      );
      // The task tells the same story, in the same words.
      const description = await taskDescription(r, json.task_number);
      expect(description).toContain(`bisection blames ${json.blame}.`);
      expect(description).toContain(`Culprit merge: ${json.culprit_commit}`);
      expect(description).not.toContain(broke);
      expect(description).not.toContain(fixed);
      // The revert's subject names the merge it undoes and the red commit.
      expect(r.git(['log', '-1', '--format=%s', 'buffer'])).toBe(
        `Revert merge ${json.culprit_commit?.slice(0, 12)} of stream ${bees.name} (red at ${json.buffer_commit.slice(0, 12)})`,
      );
    });

    it('a project already red at init blames no GitSwarm merge: "no single merge" in the CLI and the task', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      await setUp(r);
      const broke = projectMerge(r, 'upstream-break', 'p.txt', 'BROKEN upstream\n');
      await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'sh check.sh']);
      await ok(r, ['agent', 'register', 'ant2']);
      await swarmCommit(r, 'ant2', 'a.txt', 'fine\n');
      const before = r.git(['rev-parse', 'buffer']);

      const red = await r.run(['stabilize', '--json']);
      expect(red.code, red.stderr).toBe(1);
      const json = red.json<RedJson>();
      expect(json).toMatchObject({
        result: 'red',
        breaking_stream_id: null,
        culprit_commit: null,
        blame: 'no single merge',
      });
      expect(red.stderr).toContain('fails at the baseline');
      expect(r.git(['rev-parse', 'buffer'])).toBe(before);
      const description = await taskDescription(r, json.task_number);
      expect(description).toContain('bisection blames no single merge.');
      expect(description).not.toContain('Culprit');
      expect(description).not.toContain(broke);

      // The text output says the same.
      const text = await r.run(['stabilize']);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('bisection blames no single merge.');
      expect(text.stdout).toContain(`Critical task #${json.task_number} is already open for it`);
    });

    it('a command that cannot start is stabilization_error, exit 1, naming what is missing, with --json', async () => {
      const r = createTestRepo({ inProcess: true, env });
      repo = r;
      await setUp(r);
      await ok(r, ['init', '--mode', 'swarm', '--stabilize-cmd', 'gitswarm-no-such-tool run']);
      await ok(r, ['agent', 'register', 'ant3']);
      await swarmCommit(r, 'ant3', 'a.txt', 'BROKEN\n');
      const json = await r.run(['stabilize', '--json']);
      expect(json.code).toBe(1);
      const error = json.json<{
        error: { code: string; message: string; hint: string } & Record<string, unknown>;
      }>().error;
      expect(error).toMatchObject({
        code: 'stabilization_error',
        result: 'error',
        error_kind: 'could_not_start',
      });
      expect(error.message).toContain('`gitswarm-no-such-tool` not found (exit 127)');
      expect(error.hint).toContain('gitswarm config stabilize_command');
      const text = await r.run(['stabilize']);
      expect(text.code).toBe(1);
      expect(text.stderr).toContain(
        'error: the stabilize command could not start: `gitswarm-no-such-tool` not found',
      );
      expect(text.stderr).toContain('hint: ');
      const tasks = (await ok(r, ['task', 'list', '--json'])).json<{ tasks: unknown[] }>();
      expect(tasks.tasks).toEqual([]);
    });
  });
}
