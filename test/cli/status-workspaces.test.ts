/**
 * `gitswarm status` in swarm mode shows the agents at work: each live workspace with its agent,
 * stream, head and commits ahead of the buffer, also when its stream has merged (every swarm
 * commit merges at once) and keeps taking commits. SQLite runs the real binary (build first),
 * PostgreSQL runs in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, type TestRepo } from './helpers.js';
import { storeEnv } from './in-process.js';

interface WorkspaceJson {
  agent: string;
  stream_id: string;
  stream_status: string;
  head: string | null;
  ahead: number | null;
  worktree: string;
}

interface StatusJson {
  buffer_head: string;
  workspaces: WorkspaceJson[];
  streams: { id: string; status: string }[];
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm status lists live workspaces`, () => {
    let repo: TestRepo;

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect), inProcess: dialect !== 'sqlite' });
    });
    afterAll(() => repo.close());

    async function ok<T = Record<string, unknown>>(args: string[]): Promise<T> {
      const run = await repo.run([...args, '--json']);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      return run.json<T>();
    }

    it('a merged swarm stream that keeps taking commits is shown at work, with its head and what is ahead', async () => {
      await ok(['init', '--mode', 'swarm']);
      for (const name of ['alice', 'bob']) await ok(['agent', 'register', name]);
      const empty = await repo.run(['status']);
      expect(empty.stdout).toContain('No active streams');

      const alice = await ok<{ stream: { id: string }; worktree: string }>([
        'workspace',
        'create',
        '--as',
        'alice',
      ]);
      const bob = await ok<{ stream: { id: string }; worktree: string }>([
        'workspace',
        'create',
        '--as',
        'bob',
      ]);
      repo.write('README.md', '# alice was here\n', alice.worktree);
      const first = await ok<{ commit: string; merged: boolean }>([
        'commit',
        '-m',
        'Alice 1',
        '--as',
        'alice',
      ]);
      expect(first.merged).toBe(true);
      repo.write('alice.txt', 'two\n', alice.worktree);
      const second = await ok<{ commit: string; merged: boolean }>([
        'commit',
        '-m',
        'Alice 2',
        '--as',
        'alice',
      ]);
      expect(second.merged).toBe(true);

      // Bob, still on the old buffer, changes the same line: his swarm merge conflicts.
      repo.write('README.md', '# bob was here\n', bob.worktree);
      const conflicted = await repo.run(['commit', '-m', 'Bob 1', '--as', 'bob', '--json']);
      expect(conflicted.code).not.toBe(0);
      expect(conflicted.json<{ error: { code: string } }>().error.code).toBe('conflict');
      const bobHead = repo.git(['rev-parse', `stream/${bob.stream.id}`]);

      const status = await ok<StatusJson>(['status']);
      expect(status.buffer_head).toBe(repo.git(['rev-parse', 'buffer']));
      expect(status.workspaces).toEqual([
        expect.objectContaining({
          agent: 'alice',
          stream_id: alice.stream.id,
          stream_status: 'merged',
          head: second.commit,
          ahead: 0,
          worktree: alice.worktree,
        }),
        expect.objectContaining({
          agent: 'bob',
          stream_id: bob.stream.id,
          stream_status: 'conflicted',
          head: bobHead,
          ahead: 1,
        }),
      ]);
      expect(status.streams.map((s) => s.id)).toEqual([bob.stream.id]);

      const shown = await repo.run(['status']);
      expect(shown.code).toBe(0);
      expect(shown.stdout).not.toContain('No active streams');
      expect(shown.stdout).toMatch(/^Workspaces$/m);
      expect(shown.stdout).toMatch(
        new RegExp(
          `^alice\\s+${alice.stream.id}\\s+\\S+\\s+active \\(merged\\)\\s+${second.commit.slice(0, 7)}\\s+0 ahead$`,
          'm',
        ),
      );
      expect(shown.stdout).toMatch(
        new RegExp(
          `^bob\\s+${bob.stream.id}\\s+\\S+\\s+conflicted\\s+${bobHead.slice(0, 7)}\\s+1 ahead$`,
          'm',
        ),
      );

      // A destroyed workspace is no longer at work.
      await ok(['workspace', 'destroy', '--as', 'alice']);
      const after = await ok<StatusJson>(['status']);
      expect(after.workspaces.map((w) => w.agent)).toEqual(['bob']);
    });
  });
}
