/**
 * How many git processes the hot commands cost, counted by a `git` on PATH that logs its arguments
 * and runs the real one. Every spawn is paid under the repository lock (and a command server's
 * spawn forks a large process), so one more is a throughput regression (issue 16). Branch heads
 * are read from their loose ref files; git is asked only for what needs its object database.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from './helpers.js';

/** A repository whose commands log their git processes; `spawns` runs one command and returns them. */
function loggedRepo() {
  const bin = mkdtempSync(join(tmpdir(), 'gitswarm-git-log-'));
  const log = join(bin, 'git.log');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  writeFileSync(
    join(bin, 'git'),
    `#!/bin/sh\nif [ -n "$GIT_SPAWN_LOG" ]; then printf '%s\\n' "$*" >> "$GIT_SPAWN_LOG"; fi\nexec ${realGit} "$@"\n`,
  );
  chmodSync(join(bin, 'git'), 0o755);
  const repo = createTestRepo({ env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` } });
  return {
    repo,
    /** Runs `args`, expects success, and returns its output and the git subcommands it ran. */
    async spawns(args: string[]): Promise<{ stdout: string; spawned: string[] }> {
      writeFileSync(log, '');
      const run = await repo.run(args, { env: { GIT_SPAWN_LOG: log } });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      const lines = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
      // The subcommand: the first word that is no option and no `-c name=value`.
      const spawned = lines.map((line) =>
        line.split(' ').find((word) => !word.startsWith('-') && !word.includes('=')),
      );
      return { stdout: run.stdout, spawned: spawned as string[] };
    },
    close() {
      repo.close();
      rmSync(bin, { recursive: true, force: true });
    },
  };
}

describe('sqlite: git processes per landed swarm commit', () => {
  let logged: ReturnType<typeof loggedRepo>;
  let repo: TestRepo;

  beforeAll(() => {
    logged = loggedRepo();
    repo = logged.repo;
  });
  afterAll(() => logged.close());

  it('stages, commits and merges with four git processes (the merge commit is written in-process)', async () => {
    for (const args of [
      ['init', '--mode', 'swarm'],
      ['agent', 'register', 'alice'],
    ]) {
      expect((await repo.run(args)).code).toBe(0);
    }
    const created = (await repo.run(['workspace', 'create', '--as', 'alice', '--json'])).json<{
      worktree: string;
    }>();
    for (let i = 0; i < 2; i++) {
      repo.write('alice.txt', `change ${i}\n`, created.worktree);
      const commit = await logged.spawns(['commit', '-m', `change ${i}`, '--as', 'alice', '--json']);
      expect(JSON.parse(commit.stdout).merged).toBe(true);
      expect(commit.spawned).toEqual(['add', 'commit', 'merge-tree', 'update-ref']);
    }
  });

  it('status reads the heads from the ref files: git only counts commits ahead, once, and reads packed refs', async () => {
    // The buffer is ahead of main, and alice's workspace ahead of nothing: one count each.
    const loose = await logged.spawns(['status', '--json']);
    expect(loose.spawned).toEqual(['rev-list', 'rev-list']);
    execFileSync('git', ['pack-refs', '--all', '--prune'], { cwd: repo.dir });
    const packed = await logged.spawns(['status', '--json']);
    // The heads did not move: the command server remembers its counts; a process of its own counts again.
    const counts = process.env.GITSWARM_NO_DAEMON === '1' ? ['rev-list', 'rev-list'] : [];
    expect(packed.spawned).toEqual(['for-each-ref', ...counts]);
    expect(JSON.parse(packed.stdout)).toEqual(JSON.parse(loose.stdout));
    expect(JSON.parse(loose.stdout).buffer_ahead).toBeGreaterThan(0);
  });

  it('init again in a set-up repository starts no git and names the buffer head', async () => {
    // The refs are packed by the test before: the buffer's head then comes from git once more.
    const packed = await logged.spawns(['init', '--json']);
    expect(packed.spawned).toEqual(['rev-parse']);
    // Moved away and back, the buffer's ref is a loose file again.
    const head = JSON.parse(packed.stdout).buffer_head;
    for (const to of [`${head}^`, head])
      execFileSync('git', ['update-ref', 'refs/heads/buffer', to], { cwd: repo.dir });
    const again = await logged.spawns(['init', '--json']);
    expect(again.spawned).toEqual([]);
    expect(JSON.parse(again.stdout).buffer_head).toBe(
      execFileSync('git', ['rev-parse', 'refs/heads/buffer'], { cwd: repo.dir, encoding: 'utf8' }).trim(),
    );
  });
});

describe('sqlite: git processes of a reviewed stream', () => {
  let logged: ReturnType<typeof loggedRepo>;

  beforeAll(() => {
    logged = loggedRepo();
  });
  afterAll(() => logged.close());

  it('review request: the diff only (its patch id is computed in-process); approval: none; merge: the tree merge and the ref move', async () => {
    const { repo } = logged;
    for (const args of [
      ['init', '--model', 'solo'],
      ['agent', 'register', 'owner'],
      ['agent', 'register', 'coder'],
    ]) {
      expect((await repo.run(args)).code).toBe(0);
    }
    const created = (await repo.run(['workspace', 'create', '--as', 'coder', '--json'])).json<{
      worktree: string;
      stream: { id: string };
    }>();
    repo.write('feature.txt', 'feature\n', created.worktree);
    expect((await logged.spawns(['commit', '-m', 'Add feature', '--as', 'coder'])).spawned).toEqual([
      'add',
      'commit',
    ]);
    const id = created.stream.id;
    expect((await logged.spawns(['review', 'submit', id, '--as', 'coder'])).spawned).toEqual(['diff']);
    expect((await logged.spawns(['review', 'submit', id, 'approve', '--as', 'owner'])).spawned).toEqual([]);
    const merge = await logged.spawns(['merge', id, '--as', 'coder', '--json']);
    // The buffer head's tree is read from its object file: only a merge that changes nothing asks
    // git about ancestry; the merge commit is written in-process.
    expect(merge.spawned).toEqual(['merge-tree', 'update-ref']);
    expect(execFileSync('git', ['show', 'buffer:feature.txt'], { cwd: repo.dir, encoding: 'utf8' })).toBe(
      'feature\n',
    );
  });
});
