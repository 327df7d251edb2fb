/**
 * worktreeBranchAt with real git: what it reads from a linked worktree's files must be what
 * `git worktree list` says, and wherever the files are not the usual ones, git answers.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listWorktrees, worktreeBranchAt } from '../../src/engine/worktree-list.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

/** worktreeBranchAt, and the git processes it started. */
async function branchAt(path: string): Promise<{ branch: string | null; git: string[] }> {
  const calls = recordGitCalls();
  const branch = await withCommandEnv(calls.env, () => worktreeBranchAt(repo.dir, path));
  return { branch, git: calls.calls().map((call) => call.split(' ').slice(0, 2).join(' ')) };
}

describe('worktreeBranchAt', () => {
  it("reads a linked worktree's branch, or its detached state, from its files", async () => {
    const nowhere = join(repo.dir, '.worktrees', 'ada');
    // No linked worktree at all: nothing there, no git.
    expect(await branchAt(nowhere)).toEqual({ branch: null, git: [] });

    await repo.commitOn('stream/s1', { 'a.txt': 'a\n' });
    const ada = join(repo.dir, '.worktrees', 'ada');
    const bo = join(repo.dir, '.worktrees', 'bo');
    await repo.run(['worktree', 'add', '-q', ada, 'stream/s1']);
    await repo.run(['worktree', 'add', '-q', '--detach', bo, 'main']);
    expect(await branchAt(ada)).toEqual({ branch: 'stream/s1', git: [] });
    expect(await branchAt(bo)).toEqual({ branch: null, git: [] });
    // Each answer is git's own.
    const listed = await listWorktrees(repo.dir);
    expect(listed.find((w) => w.path === ada)?.branch).toBe('stream/s1');
    expect(listed.find((w) => w.path === bo)?.branch).toBeNull();
  });

  it('asks git where the files are not the usual ones', async () => {
    await repo.commitOn('stream/s1', { 'a.txt': 'a\n' });
    const ada = join(repo.dir, '.worktrees', 'ada');
    await repo.run(['worktree', 'add', '-q', ada, 'stream/s1']);

    // No folder where other worktrees exist: git may still list one there.
    expect(await branchAt(join(repo.dir, '.worktrees', 'cy'))).toEqual({
      branch: null,
      git: ['worktree list'],
    });
    // The main worktree itself.
    expect(await branchAt(repo.dir)).toEqual({ branch: 'main', git: ['worktree list'] });

    // A `.git` file planted in a folder, naming this repository's admin folder of another
    // worktree: the admin folder does not point back at it, so git answers (nothing there).
    const forged = join(repo.dir, '.worktrees', 'forged');
    mkdirSync(forged, { recursive: true });
    writeFileSync(join(forged, '.git'), `gitdir: ${join(repo.dir, '.git', 'worktrees', 'ada')}\n`);
    expect(await branchAt(forged)).toEqual({ branch: null, git: ['worktree list'] });

    // The folder removed by hand: git still knows the worktree, and says so.
    rmSync(ada, { recursive: true, force: true });
    expect(await branchAt(ada)).toEqual({ branch: 'stream/s1', git: ['worktree list'] });
  });
});
