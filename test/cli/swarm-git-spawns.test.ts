/**
 * How many git processes a landed swarm commit costs (`gitswarm commit` in swarm mode: stage,
 * commit, merge-tree, commit-tree, update-ref), counted by a `git` on PATH that logs its
 * arguments and runs the real one. Every spawn is paid under the repository lock, so one more is
 * a throughput regression (issue 16); and no `worktree list` or `rev-parse` is needed on this path.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from './helpers.js';

describe('sqlite: git processes per landed swarm commit', () => {
  let repo: TestRepo;
  let bin: string;
  const log = () => join(bin, 'git.log');

  beforeAll(() => {
    bin = mkdtempSync(join(tmpdir(), 'gitswarm-git-log-'));
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\nif [ -n "$GIT_SPAWN_LOG" ]; then printf '%s\\n' "$*" >> "$GIT_SPAWN_LOG"; fi\nexec ${realGit} "$@"\n`,
    );
    chmodSync(join(bin, 'git'), 0o755);
    repo = createTestRepo({ env: { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` } });
  });
  afterAll(() => {
    repo.close();
    rmSync(bin, { recursive: true, force: true });
  });

  it('stages, commits and merges with five git processes', async () => {
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
      writeFileSync(log(), '');
      const run = await repo.run(['commit', '-m', `change ${i}`, '--as', 'alice', '--json'], {
        env: { GIT_SPAWN_LOG: log() },
      });
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.json<{ merged: boolean }>().merged).toBe(true);
      const spawned = readFileSync(log(), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ').find((word) => !word.startsWith('-') && !word.includes('=')));
      expect(spawned).toEqual(['add', 'commit', 'merge-tree', 'commit-tree', 'update-ref']);
    }
  });

  it('status reads the heads from the ref files: git only counts commits ahead, and reads packed refs', async () => {
    const status = async () => {
      writeFileSync(log(), '');
      const run = await repo.run(['status', '--json'], { env: { GIT_SPAWN_LOG: log() } });
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      const spawned = readFileSync(log(), 'utf8').trim().split('\n');
      return {
        json: run.json<Record<string, unknown>>(),
        spawned: spawned.map((line) => line.split(' ')[0]),
      };
    };
    // The buffer is ahead of main, and alice's workspace ahead of nothing: one count each.
    const loose = await status();
    expect(loose.spawned).toEqual(['rev-list', 'rev-list']);
    execFileSync('git', ['pack-refs', '--all', '--prune'], { cwd: repo.dir });
    const packed = await status();
    expect(packed.spawned).toEqual(['for-each-ref', 'rev-list', 'rev-list']);
    expect(packed.json).toEqual(loose.json);
    expect(loose.json.buffer_ahead).toBeGreaterThan(0);
  });
});
