/**
 * Git from the helper process (git-spawner.ts), on real git: the same bytes, exit codes and errors
 * as git run here; runs at once keep their own output; an abort kills the run; a helper that dies
 * fails its runs and is replaced; with the last user gone git runs from this process again.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { git, gitBytes } from '../../src/engine/git.js';
import { gitSpawner, useGitSpawner } from '../../src/engine/git-spawner.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';
import { startGitHere } from '../helpers/worker-git.js';

let repo: TestRepo;
let release: (() => void) | undefined;
// This file starts from a process that runs git itself, as a CLI command does.
beforeAll(startGitHere);
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => {
  release?.();
  release = undefined;
  repo.cleanup();
});

/** The process id of the parent of the git that runs this alias (read by git's own child shell). */
const gitParent = (cwd: string) =>
  git(['-c', "alias.parent=!awk '{print $4}' /proc/$PPID/stat", 'parent'], { cwd });

describe('git from the helper process', () => {
  it('runs git in the helper, with the same bytes, input, exit codes and errors', async () => {
    release = useGitSpawner();
    const blob = randomBytes(3 << 20); // more than one chunk of output, not valid UTF-8
    writeFileSync(join(repo.dir, 'blob.bin'), blob);
    const id = (await git(['hash-object', '-w', 'blob.bin'], { cwd: repo.dir })).stdout.trim();
    expect(Number((await gitParent(repo.dir)).stdout)).toBe(gitSpawner()?.pid);
    expect((await gitBytes(['cat-file', 'blob', id], { cwd: repo.dir })).equals(blob)).toBe(true);
    expect((await git(['hash-object', '--stdin'], { cwd: repo.dir, input: 'hello\n' })).stdout.trim()).toBe(
      'ce013625030ba8dba906f756967f9e9ca394464a',
    );
    await expect(git(['rev-parse', '--verify', 'nope'], { cwd: repo.dir })).rejects.toMatchObject({
      code: 'git_failed',
      details: { git_exit: 128 },
    });
    const allowed = await git(['rev-parse', '--verify', '--quiet', 'nope'], {
      cwd: repo.dir,
      okExitCodes: [1],
    });
    expect(allowed.exitCode).toBe(1);
    await expect(git(['status'], { cwd: join(repo.dir, 'missing') })).rejects.toMatchObject({
      code: 'git_failed',
      message: expect.stringContaining('Could not run git'),
    });
  });

  it('keeps the output of runs made at once apart', async () => {
    release = useGitSpawner();
    const inputs = Array.from({ length: 24 }, (_, i) => `input ${i}\n`.repeat(1 + i * 500));
    const ids = await Promise.all(
      inputs.map((input) => git(['hash-object', '--stdin'], { cwd: repo.dir, input })),
    );
    const expected = await Promise.all(
      inputs.map((input) => git(['hash-object', '--stdin'], { cwd: repo.dir, input, env: {} })),
    );
    expect(ids.map((r) => r.stdout)).toEqual(expected.map((r) => r.stdout));
    expect(new Set(ids.map((r) => r.stdout)).size).toBe(inputs.length);
  });

  it('kills a run when its signal aborts, before or during it', async () => {
    release = useGitSpawner();
    const slow = ['-c', 'alias.slow=!sleep 5', 'slow'];
    const aborted = new AbortController();
    aborted.abort();
    await expect(git(slow, { cwd: repo.dir, signal: aborted.signal })).rejects.toMatchObject({
      code: 'git_failed',
      message: expect.stringContaining('aborted'),
    });
    const controller = new AbortController();
    const started = Date.now();
    const run = git(slow, { cwd: repo.dir, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(run).rejects.toMatchObject({ message: expect.stringContaining('aborted') });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect((await git(['rev-parse', 'HEAD'], { cwd: repo.dir })).stdout.trim()).toMatch(/^[0-9a-f]{40}$/);
  });

  it('fails the runs of a helper that dies, and starts another for the next', async () => {
    release = useGitSpawner();
    await git(['--version'], { cwd: repo.dir });
    const first = gitSpawner()?.pid as number;
    const run = git(['-c', 'alias.slow=!sleep 5', 'slow'], { cwd: repo.dir });
    setTimeout(() => process.kill(first, 'SIGKILL'), 100);
    await expect(run).rejects.toMatchObject({
      code: 'git_failed',
      message: expect.stringContaining('helper process that runs git exited'),
    });
    expect(Number((await gitParent(repo.dir)).stdout)).not.toBe(first);
    expect(Number((await gitParent(repo.dir)).stdout)).toBe(gitSpawner()?.pid);
  });

  it('shares one helper between users, and runs git here once the last has gone', async () => {
    const releaseFirst = useGitSpawner();
    release = useGitSpawner();
    const helper = gitSpawner();
    releaseFirst();
    releaseFirst(); // a second release of the same use changes nothing
    expect(gitSpawner()).toBe(helper);
    release();
    release = undefined;
    expect(gitSpawner()).toBeUndefined();
    expect(Number((await gitParent(repo.dir)).stdout)).toBe(process.pid);
  });
});
