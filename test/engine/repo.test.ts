import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTag,
  findGitRepo,
  isAncestor,
  listFirstParentMerges,
  listTags,
  readLooseRefs,
  readRef,
  resolveCommit,
} from '../../src/engine/repo.js';
import { GitSwarmError } from '../../src/errors.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, TEST_IDENTITY, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(GitSwarmError);
  await expect(promise).rejects.toMatchObject({ code });
}

describe('findGitRepo', () => {
  it('finds the repository from its root and from a subdirectory', async () => {
    const expected = { root: repo.dir, commonDir: join(repo.dir, '.git') };
    expect(await findGitRepo(repo.dir)).toEqual(expected);
    mkdirSync(join(repo.dir, 'a', 'b'), { recursive: true });
    expect(await findGitRepo(join(repo.dir, 'a', 'b'))).toEqual(expected);
  });

  it('finds the main repository from inside a linked worktree', async () => {
    const wt = repo.tempPath('linked');
    await repo.run(['worktree', 'add', '-q', '--detach', wt, 'main']);
    mkdirSync(join(wt, 'sub'));
    expect(await findGitRepo(join(wt, 'sub'))).toEqual({ root: repo.dir, commonDir: join(repo.dir, '.git') });
  });

  it('leaves unusual layouts to git: a separate git directory, GIT_DIR', async () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-layouts-')));
    try {
      const work = join(base, 'work');
      const gitDir = join(base, 'store.git');
      await repo.run(['init', '-q', '--separate-git-dir', gitDir, work], base);
      mkdirSync(join(work, 'sub'));
      expect((await findGitRepo(join(work, 'sub'))).commonDir).toBe(gitDir);
      const bare = join(base, 'bare.git');
      await repo.run(['init', '-q', '--bare', bare], base);
      expect(await findGitRepo(bare)).toEqual({ root: bare, commonDir: bare });
      const previous = process.env.GIT_DIR;
      process.env.GIT_DIR = bare;
      try {
        expect(await findGitRepo(repo.dir)).toEqual({ root: bare, commonDir: bare });
      } finally {
        if (previous === undefined) delete process.env.GIT_DIR;
        else process.env.GIT_DIR = previous;
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('reads a bare repository from disk as git does: itself, from a linked worktree, inside a checkout', async () => {
    const base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-bare-')));
    try {
      // A server's data dir inside a project folder: the bare repository is not the project's.
      await repo.run(['init', '-q', join(base, 'project')], base);
      const bare = join(base, 'project', 'data', 'x.git');
      await repo.run(['clone', '-q', '--bare', repo.dir, bare], base);
      const linked = join(base, 'linked');
      await repo.run(['worktree', 'add', '-q', '--detach', linked, 'main'], bare);
      mkdirSync(join(linked, 'sub'));
      const git = recordGitCalls();
      const found = await withCommandEnv(git.env, async () => [
        await findGitRepo(bare),
        await findGitRepo(join(bare, 'refs', 'heads')),
        await findGitRepo(join(linked, 'sub')),
      ]);
      expect(found).toEqual([
        { root: bare, commonDir: bare },
        { root: bare, commonDir: bare },
        { root: bare, commonDir: bare },
      ]);
      expect(git.calls()).toEqual([]);
      for (const dir of [bare, join(linked, 'sub')]) {
        expect(await repo.run(['rev-parse', '--path-format=absolute', '--git-common-dir'], dir)).toBe(bare);
      }
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('throws not_a_git_repo outside a repository', async () => {
    const outside = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-nogit-')));
    try {
      await expectCode(findGitRepo(outside), 'not_a_git_repo');
      await expectCode(findGitRepo(join(outside, 'missing')), 'not_a_git_repo');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('readLooseRefs', () => {
  it('reads loose branch refs and HEAD like rev-parse, and gives up on anything else', async () => {
    const main = await repo.rev('main');
    const feat = await repo.commitOn('feat', { 'f.txt': 'f\n' });
    expect(await readLooseRefs(repo.dir, ['HEAD', 'refs/heads/feat', 'refs/heads/main'])).toEqual([
      main,
      feat,
      main,
    ]);
    const wt = repo.tempPath('loose-wt');
    await repo.run(['worktree', 'add', '-q', wt, 'feat']);
    expect(await readLooseRefs(wt, ['HEAD', 'refs/heads/main'])).toEqual([feat, main]);
    await repo.run(['checkout', '-q', '--detach', 'main'], wt);
    expect(await readLooseRefs(wt, ['HEAD'])).toEqual([main]);
    // Missing, packed, non-branch: ask git.
    expect(await readLooseRefs(repo.dir, ['refs/heads/nope'])).toBeNull();
    expect(await readLooseRefs(repo.dir, ['refs/tags/x'])).toBeNull();
    await repo.run(['pack-refs', '--all', '--prune']);
    expect(await readLooseRefs(repo.dir, ['refs/heads/feat'])).toBeNull();
    expect(await readLooseRefs(join(repo.dir, 'missing'), ['HEAD'])).toBeNull();
  });
});

describe('refs and ancestry', () => {
  it('reads refs and resolves commits, null when missing', async () => {
    const main = await repo.rev('main');
    expect(await readRef(repo.dir, 'refs/heads/main')).toBe(main);
    expect(await readRef(repo.dir, 'refs/heads/nope')).toBeNull();
    expect(await resolveCommit(repo.dir, 'main')).toBe(main);
    expect(await resolveCommit(repo.dir, main)).toBe(main);
    expect(await resolveCommit(repo.dir, 'nope')).toBeNull();
  });

  it('answers ancestry', async () => {
    const main = await repo.rev('main');
    const feat = await repo.commitOn('feat', { 'a.txt': 'a\n' });
    expect(await isAncestor(repo.dir, main, feat)).toBe(true);
    expect(await isAncestor(repo.dir, feat, main)).toBe(false);
    expect(await isAncestor(repo.dir, main, main)).toBe(true);
  });

  it('lists first-parent merges oldest first, from exclusive', async () => {
    const base = await repo.rev('main');
    const merges: string[] = [];
    for (const name of ['s1', 's2', 's3']) {
      const side = await repo.commitOn(name, { [`${name}.txt`]: `${name}\n` }, undefined, base);
      const head = await repo.rev('main');
      const tree = await repo.run(['merge-tree', '--write-tree', head, side]);
      const merge = await repo.run(['commit-tree', tree, '-p', head, '-p', side, '-m', `merge ${name}`]);
      await repo.run(['update-ref', 'refs/heads/main', merge, head]);
      merges.push(merge);
    }
    expect(await listFirstParentMerges(repo.dir, null, 'main')).toEqual(merges);
    expect(await listFirstParentMerges(repo.dir, merges[0] as string, merges[2] as string)).toEqual(
      merges.slice(1),
    );
    expect(await listFirstParentMerges(repo.dir, merges[2] as string, merges[2] as string)).toEqual([]);
  });
});

describe('tags', () => {
  it('creates annotated tags and lists them with their commits', async () => {
    const main = await repo.rev('main');
    const next = await repo.commitOn('main', { 'x.txt': 'x\n' });
    await createTag(repo.dir, {
      name: 'green/1',
      commit: main,
      message: 'Green at 1.',
      author: TEST_IDENTITY,
    });
    await createTag(repo.dir, {
      name: 'green/2',
      commit: next,
      message: 'Green at 2.',
      author: TEST_IDENTITY,
    });
    await createTag(repo.dir, { name: 'other', commit: next, message: 'Other.', author: TEST_IDENTITY });
    expect(await repo.run(['cat-file', '-t', 'green/1'])).toBe('tag');
    expect(await listTags(repo.dir, 'green/*')).toEqual([
      { name: 'green/1', commit: main },
      { name: 'green/2', commit: next },
    ]);
    expect(await listTags(repo.dir, 'none/*')).toEqual([]);
    await expectCode(
      createTag(repo.dir, { name: 'green/1', commit: next, message: 'Again.', author: TEST_IDENTITY }),
      'already_exists',
    );
  });
});

describe('hostile input', () => {
  it('rejects option-like and escaping names before git sees them', async () => {
    await expectCode(readRef(repo.dir, '--output=/tmp/x'), 'invalid_name');
    await expectCode(readRef(repo.dir, 'refs/heads/../../x'), 'invalid_name');
    await expectCode(resolveCommit(repo.dir, '-h'), 'invalid_input');
    await expectCode(isAncestor(repo.dir, '--all', 'main'), 'invalid_input');
    await expectCode(listFirstParentMerges(repo.dir, '../x', 'main'), 'invalid_input');
    const main = await repo.rev('main');
    await expectCode(
      createTag(repo.dir, { name: '-f', commit: main, message: 'x', author: TEST_IDENTITY }),
      'invalid_name',
    );
    await expectCode(
      createTag(repo.dir, { name: '../x', commit: main, message: 'x', author: TEST_IDENTITY }),
      'invalid_name',
    );
    await expectCode(listTags(repo.dir, '--contains=HEAD'), 'invalid_input');
  });
});
