/**
 * Worktrees added with one git process (src/engine/linked-worktree.ts): git must take them for its
 * own (list, status, commit, remove, prune, fsck), and where anything is not as expected git adds
 * the worktree itself, with its own refusals, leaving nothing of the fast path behind.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addWorktree, removeWorktree, withDetachedWorktree } from '../../src/engine/worktrees.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

/** `git worktree list --porcelain` as {path, head, branch} records. */
async function listed(): Promise<Array<Record<string, string>>> {
  const out = await repo.run(['worktree', 'list', '--porcelain']);
  return out.split('\n\n').map((block) =>
    Object.fromEntries(
      block.split('\n').map((line) => {
        const [key, ...rest] = line.split(' ');
        return [key as string, rest.join(' ')];
      }),
    ),
  );
}

function adminFolders(): string[] {
  const dir = join(repo.dir, '.git', 'worktrees');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('a worktree added without git worktree add', () => {
  it('is one git process, and git takes it for its own: listed, clean, committed to, pruned never, removed', async () => {
    await repo.branch('stream/a');
    const path = repo.tempPath('wt-a');
    const gitCalls = recordGitCalls();
    await withCommandEnv(gitCalls.env, () => addWorktree(repo.dir, { path, branch: 'stream/a' }));
    expect(gitCalls.commands()).toEqual(['read-tree']);

    expect(await listed()).toContainEqual(
      expect.objectContaining({
        worktree: path,
        HEAD: await repo.rev('main'),
        branch: 'refs/heads/stream/a',
      }),
    );
    // Locked only while its admin folder is written, as git locks a worktree it is adding.
    expect(await repo.run(['worktree', 'list', '--porcelain'])).not.toMatch(/^locked/m);
    expect(readFileSync(join(path, 'lines.txt'), 'utf8')).toBe('one\ntwo\nthree\nfour\nfive\n');
    expect(await repo.run(['status', '--porcelain'], path)).toBe('');
    // Plumbing that trusts the index without looking at the files sees it clean too.
    expect(await repo.exitCode(['diff-index', '--quiet', 'HEAD'], path)).toBe(0);

    await repo.run(['worktree', 'prune']);
    expect(await listed()).toHaveLength(2);

    writeFileSync(join(path, 'new.txt'), 'new\n');
    await repo.run(['add', 'new.txt'], path);
    await repo.run(['commit', '-q', '-m', 'In the worktree'], path);
    expect(await repo.show('stream/a', 'new.txt')).toBe('new');
    expect(await repo.run(['rev-parse', '--git-common-dir'], path)).toBe(join(repo.dir, '.git'));

    await repo.run(['worktree', 'remove', path]);
    expect(existsSync(path)).toBe(false);
    expect(adminFolders()).toEqual([]);
    expect(await repo.exitCode(['fsck', '--no-progress'])).toBe(0);
  });

  it('detached at a commit: HEAD is the commit, and the folder is gone afterwards', async () => {
    const side = await repo.commitOn('side', { 'side.txt': 'side\n' });
    const gitCalls = recordGitCalls();
    const seen = await withCommandEnv(gitCalls.env, () =>
      withDetachedWorktree(repo.dir, side, async (path) => ({
        path,
        head: await repo.run(['rev-parse', 'HEAD'], path),
        symbolic: await repo.exitCode(['symbolic-ref', '-q', 'HEAD'], path),
        file: readFileSync(join(path, 'side.txt'), 'utf8'),
        status: await repo.run(['status', '--porcelain'], path),
      })),
    );
    expect(seen).toMatchObject({ head: side, symbolic: 1, file: 'side\n', status: '' });
    expect(
      gitCalls.commands().filter((command) => command !== 'rev-parse' && command !== 'symbolic-ref'),
    ).toEqual(['read-tree', 'status']);
    expect(existsSync(seen.path)).toBe(false);
    expect(adminFolders()).toEqual([]);
  });

  it('eight at once: eight admin folders, each worktree on its own branch', async () => {
    const paths = Array.from({ length: 8 }, (_, i) => repo.tempPath(`same-name-${i}/wt`));
    for (let i = 0; i < 8; i++) await repo.branch(`stream/${i}`);
    await Promise.all(paths.map((path, i) => addWorktree(repo.dir, { path, branch: `stream/${i}` })));
    // Every worktree folder is called `wt`: git's naming adds a number after the second.
    expect(adminFolders().sort()).toEqual(['wt', 'wt1', 'wt2', 'wt3', 'wt4', 'wt5', 'wt6', 'wt7']);
    const branches = (await listed()).map((entry) => entry.branch).sort();
    expect(branches).toEqual(['refs/heads/main', ...paths.map((_, i) => `refs/heads/stream/${i}`)].sort());
    for (const [i, path] of paths.entries()) {
      expect(await repo.run(['symbolic-ref', 'HEAD'], path)).toBe(`refs/heads/stream/${i}`);
      expect(await repo.run(['status', '--porcelain'], path)).toBe('');
    }
  });

  it('beside git listing and pruning worktrees at the same moment: git fails on none, and each is whole', async () => {
    const paths = Array.from({ length: 8 }, (_, i) => repo.tempPath(`busy-${i}`));
    for (let i = 0; i < 8; i++) await repo.branch(`stream/busy-${i}`);
    let adding = true;
    const failures: string[] = [];
    const watch = async (args: string[]) => {
      while (adding) {
        await repo.run(args).catch((error: Error) => failures.push(`${args.join(' ')}: ${error.message}`));
      }
    };
    const watchers = [watch(['worktree', 'list', '--porcelain']), watch(['worktree', 'prune'])];
    await Promise.all(paths.map((path, i) => addWorktree(repo.dir, { path, branch: `stream/busy-${i}` })));
    adding = false;
    await Promise.all(watchers);
    expect(failures).toEqual([]);
    const listed = (await repo.run(['worktree', 'list', '--porcelain'])).split('\n');
    for (const [i, path] of paths.entries()) {
      expect(listed).toContain(`worktree ${path}`);
      expect(await repo.run(['symbolic-ref', 'HEAD'], path)).toBe(`refs/heads/stream/busy-${i}`);
      expect(await repo.run(['status', '--porcelain'], path)).toBe('');
    }
  });

  it('checks out into its own folder and leaves the main worktree alone, also with a core.worktree in the config', async () => {
    // The main worktree's uncommitted change must survive: a checkout sent there would undo it.
    writeFileSync(join(repo.dir, 'lines.txt'), 'changed, not committed\n');
    await repo.run(['config', 'core.worktree', repo.dir]);
    await repo.branch('stream/elsewhere');
    const path = repo.tempPath('own-folder');
    await addWorktree(repo.dir, { path, branch: 'stream/elsewhere' });
    expect(readFileSync(join(repo.dir, 'lines.txt'), 'utf8')).toBe('changed, not committed\n');
    expect(readFileSync(join(path, 'lines.txt'), 'utf8')).toBe('one\ntwo\nthree\nfour\nfive\n');
    expect(readFileSync(join(path, '.git'), 'utf8')).toMatch(/^gitdir: /);
  });

  it('names its admin folder safely after a folder with spaces, dots and other characters', async () => {
    await repo.branch('stream/odd');
    const path = repo.tempPath('..odd name;$(x)');
    await addWorktree(repo.dir, { path, branch: 'stream/odd' });
    expect(adminFolders()).toEqual(['odd-name---x-']);
    expect(await repo.run(['status', '--porcelain'], path)).toBe('');
    await repo.run(['worktree', 'remove', path]);
    expect(adminFolders()).toEqual([]);
  });

  it('cut short before its checkout (a crash): git lists it on its branch, and it is removed as any other', async () => {
    await repo.branch('stream/cut');
    const path = repo.tempPath('cut');
    await addWorktree(repo.dir, { path, branch: 'stream/cut' });
    // What a crash between the admin folder and `read-tree` leaves: no index, no files, the `.git` file.
    rmSync(join(repo.dir, '.git', 'worktrees', 'cut', 'index'));
    for (const entry of readdirSync(path)) if (entry !== '.git') rmSync(join(path, entry));
    expect(await listed()).toContainEqual(
      expect.objectContaining({ worktree: path, branch: 'refs/heads/stream/cut' }),
    );
    await removeWorktree(repo.dir, path);
    expect(existsSync(path)).toBe(false);
    expect(adminFolders()).toEqual([]);
    await addWorktree(repo.dir, { path, branch: 'stream/cut' });
    expect(await repo.run(['status', '--porcelain'], path)).toBe('');
  });

  it('of a bare repository (a server-held one, Mode C): one git process too', async () => {
    const bare = repo.tempPath('server.git');
    await repo.run(['clone', '-q', '--bare', repo.dir, bare]);
    await repo.run(['branch', 'stream/bare', 'main'], bare);
    const path = repo.tempPath('bare-wt');
    const gitCalls = recordGitCalls();
    await withCommandEnv(gitCalls.env, () => addWorktree(bare, { path, branch: 'stream/bare' }));
    expect(gitCalls.commands()).toEqual(['read-tree']);
    expect(await repo.run(['status', '--porcelain'], path)).toBe('');
    expect(await repo.run(['rev-parse', '--is-bare-repository'], path)).toBe('false');
    writeFileSync(join(path, 'server.txt'), 'written on the server\n');
    await repo.run(['add', 'server.txt'], path);
    await repo.run(['commit', '-q', '-m', 'On the server'], path);
    expect(await repo.run(['show', 'stream/bare:server.txt'], bare)).toBe('written on the server');
    expect(await repo.run(['worktree', 'list', '--porcelain'], bare)).toContain(`worktree ${path}\n`);
  });
});

describe('where git must add the worktree', () => {
  it('a branch checked out elsewhere: git refuses, as it would, and the fast path left nothing', async () => {
    await repo.branch('stream/b');
    await addWorktree(repo.dir, { path: repo.tempPath('first'), branch: 'stream/b' });
    const second = repo.tempPath('second');
    const gitCalls = recordGitCalls();
    await expect(
      withCommandEnv(gitCalls.env, () => addWorktree(repo.dir, { path: second, branch: 'stream/b' })),
    ).rejects.toMatchObject({ code: 'git_failed' });
    expect(gitCalls.commands()).toEqual(['worktree']);
    expect(existsSync(second)).toBe(false);
    expect(adminFolders()).toEqual(['first']);
  });

  it('a missing branch: the checkout fails, nothing is left, and git gives its own error', async () => {
    const path = repo.tempPath('nowhere');
    const gitCalls = recordGitCalls();
    await expect(
      withCommandEnv(gitCalls.env, () => addWorktree(repo.dir, { path, branch: 'stream/missing' })),
    ).rejects.toMatchObject({ code: 'git_failed', message: expect.stringMatching(/git worktree failed/) });
    expect(gitCalls.commands()).toEqual(['read-tree', 'worktree']);
    expect(existsSync(path)).toBe(false);
    expect(adminFolders()).toEqual([]);
  });

  it('a folder with files in it: git refuses and the files stay', async () => {
    await repo.branch('stream/c');
    const path = repo.tempPath('full');
    mkdirSync(path);
    writeFileSync(join(path, 'mine.txt'), 'mine\n');
    await expect(addWorktree(repo.dir, { path, branch: 'stream/c' })).rejects.toMatchObject({
      code: 'git_failed',
    });
    expect(readdirSync(path)).toEqual(['mine.txt']);
    expect(adminFolders()).toEqual([]);
  });

  it('detached at a revision that is not a full commit id: git resolves it', async () => {
    const gitCalls = recordGitCalls();
    const head = await withCommandEnv(gitCalls.env, () =>
      withDetachedWorktree(repo.dir, 'main', (path) => repo.run(['rev-parse', 'HEAD'], path)),
    );
    expect(head).toBe(await repo.rev('main'));
    expect(gitCalls.commands()[0]).toBe('worktree');
  });

  it('an empty folder is used as it is', async () => {
    await repo.branch('stream/d');
    const path = repo.tempPath('empty');
    mkdirSync(path);
    await addWorktree(repo.dir, { path, branch: 'stream/d' });
    expect(await repo.run(['symbolic-ref', 'HEAD'], path)).toBe('refs/heads/stream/d');
  });

  it.each([
    ['per-worktree config', ['extensions.worktreeConfig', 'true']],
    ['sparse checkout', ['core.sparseCheckout', 'true']],
    ['an include', ['include.path', '/dev/null']],
  ])('a repository with %s: git worktree add', async (_, [name, value]) => {
    await repo.run(['config', name as string, value as string]);
    await repo.branch('stream/e');
    const path = repo.tempPath('by-git');
    const gitCalls = recordGitCalls();
    await withCommandEnv(gitCalls.env, () => addWorktree(repo.dir, { path, branch: 'stream/e' }));
    expect(gitCalls.commands()).toEqual(['worktree']);
    expect(await repo.run(['symbolic-ref', 'HEAD'], path)).toBe('refs/heads/stream/e');
  });
});
