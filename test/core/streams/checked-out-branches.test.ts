import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { worktreesOnBranch } from '../../../src/engine/worktree-list.js';
import { withCommandEnv } from '../../../src/util/command-env.js';
import { recordGitCalls } from '../../helpers/git-calls.js';
import { makeRepo, type TestRepo } from '../../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
  await repo.branch('buffer');
  await repo.branch('other');
});
afterEach(() => repo.cleanup());

/** What `git worktree list --porcelain` says has `branch` checked out. */
async function fromGit(branch: string): Promise<string[]> {
  const out = await repo.run(['worktree', 'list', '--porcelain']);
  return out
    .split('\n\n')
    .filter((block) => block.includes(`\nbranch refs/heads/${branch}`))
    .map((block) => block.split('\n')[0]?.slice('worktree '.length) as string);
}

describe('worktreesOnBranch', () => {
  it('finds the checkouts of a branch as git worktree list does', async () => {
    expect(await worktreesOnBranch(repo.dir, 'main')).toEqual([repo.dir]);
    expect(await worktreesOnBranch(repo.dir, 'buffer')).toEqual([]);

    const onBuffer = repo.tempPath('on-buffer');
    const detached = repo.tempPath('detached');
    const onOther = repo.tempPath('on-other');
    await repo.run(['worktree', 'add', '-q', onBuffer, 'buffer']);
    await repo.run(['worktree', 'add', '-q', '--detach', detached, 'main']);
    await repo.run(['worktree', 'add', '-q', onOther, 'other']);
    for (const branch of ['main', 'buffer', 'other', 'missing']) {
      expect(await worktreesOnBranch(repo.dir, branch)).toEqual(await fromGit(branch));
    }
    expect(await worktreesOnBranch(repo.dir, 'buffer')).toEqual([onBuffer]);
    // From inside a linked worktree too.
    expect(await worktreesOnBranch(onOther, 'buffer')).toEqual([onBuffer]);

    // The main worktree switches branch; a worktree whose folder is gone is still listed (as git does).
    await repo.run(['checkout', '-q', 'buffer'], onBuffer);
    await repo.run(['worktree', 'remove', '--force', onBuffer]);
    await repo.run(['checkout', '-q', 'buffer']);
    rmSync(onOther, { recursive: true, force: true });
    expect(await worktreesOnBranch(repo.dir, 'buffer')).toEqual([repo.dir]);
    expect(await worktreesOnBranch(repo.dir, 'other')).toEqual(await fromGit('other'));
    expect(await worktreesOnBranch(repo.dir, 'other')).toEqual([onOther]);
  });

  it("reads a bare repository's worktrees from disk too (the server's, Mode C): no git process", async () => {
    const bare = repo.tempPath('bare.git');
    await repo.run(['clone', '-q', '--bare', repo.dir, bare]);
    const linked = repo.tempPath('from-bare');
    await repo.run(['worktree', 'add', '-q', linked, 'buffer'], bare);
    const git = recordGitCalls();
    const found = await withCommandEnv(git.env, async () => ({
      buffer: await worktreesOnBranch(bare, 'buffer'),
      // The bare repository's own HEAD names main, but it has no checkout of it.
      main: await worktreesOnBranch(bare, 'main'),
      fromLinked: await worktreesOnBranch(join(linked), 'buffer'),
    }));
    expect(found).toEqual({ buffer: [linked], main: [], fromLinked: [linked] });
    expect(git.calls()).toEqual([]);
    expect(await repo.run(['symbolic-ref', 'HEAD'], bare)).toBe('refs/heads/main');
  });
});
