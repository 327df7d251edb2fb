import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  commitBody,
  commitTreeOf,
  gitDate,
  type NewCommit,
  readLooseObject,
  writeCommitObject,
  writeLooseObject,
} from '../../src/engine/loose-objects.js';
import { composeMerge } from '../../src/engine/merge.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

const AUTHOR = { name: 'Ada Agent', email: 'ada@agents.example' };
const COMMITTER = { name: 'Bo Büilder', email: 'bo@agents.example' };

async function mergeParts(): Promise<NewCommit> {
  const main = await repo.rev('main');
  const side = await repo.commitOn('side', { 'side.txt': 'side\n' });
  const tree = await repo.run(['rev-parse', `${side}^{tree}`]);
  return {
    tree,
    parents: [main, side],
    author: AUTHOR,
    committer: COMMITTER,
    message: 'Merge side\n\nWhy: ✓\n',
  };
}

describe('writeCommitObject', () => {
  it('writes the very object git commit-tree writes (same id), readable and valid to git', async () => {
    const parts = await mergeParts();
    const now = new Date('2026-11-30T10:20:30.900Z');
    const written = await writeCommitObject(repo.dir, parts, now);
    expect(written).toMatch(/^[0-9a-f]{40}$/);
    const { gitOut } = await import('../../src/engine/git.js');
    const date = gitDate(now);
    const byGit = await gitOut(
      [
        'commit-tree',
        '--no-gpg-sign',
        parts.tree,
        '-p',
        parts.parents[0] as string,
        '-p',
        parts.parents[1] as string,
        '-F',
        '-',
      ],
      {
        cwd: repo.dir,
        input: parts.message,
        env: {
          ...TEST_ENV,
          GIT_AUTHOR_NAME: AUTHOR.name,
          GIT_AUTHOR_EMAIL: AUTHOR.email,
          GIT_COMMITTER_NAME: COMMITTER.name,
          GIT_COMMITTER_EMAIL: COMMITTER.email,
          GIT_AUTHOR_DATE: date,
          GIT_COMMITTER_DATE: date,
        },
      },
    );
    expect(written).toBe(byGit);
    expect(await repo.run(['cat-file', '-t', written as string])).toBe('commit');
    expect(await repo.run(['log', '-1', '--format=%an <%ae>|%cn <%ce>|%B', written as string])).toBe(
      'Ada Agent <ada@agents.example>|Bo Büilder <bo@agents.example>|Merge side\n\nWhy: ✓',
    );
    expect(await repo.exitCode(['fsck', '--strict', '--no-dangling'])).toBe(0);
    // Written again: the same id, the file freshened (as git does, against pruning), and no
    // temporary file left behind.
    const dir = join(repo.dir, '.git', 'objects', (written as string).slice(0, 2));
    const file = join(dir, (written as string).slice(2));
    utimesSync(file, 1_000_000, 1_000_000);
    expect(await writeCommitObject(repo.dir, parts, now)).toBe(written);
    expect(statSync(file).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    expect(readdirSync(dir).filter((name) => name.startsWith('tmp_obj_'))).toEqual([]);
  });

  it('writes into a bare repository too', async () => {
    const bare = repo.tempPath('bare.git');
    await repo.run(['clone', '-q', '--bare', repo.dir, bare]);
    const main = await repo.rev('main');
    const tree = await repo.run(['rev-parse', 'main^{tree}']);
    const oid = await writeCommitObject(bare, {
      tree,
      parents: [main],
      author: AUTHOR,
      committer: AUTHOR,
      message: 'On a bare one\n',
    });
    expect(await repo.run(['cat-file', '-t', oid as string], bare)).toBe('commit');
  });

  it('leaves the commit to git where git could write other bytes or store them elsewhere', async () => {
    const parts = await mergeParts();
    // A date fixed in the environment, another object directory, settings on git's command line.
    for (const name of [
      'GIT_AUTHOR_DATE',
      'GIT_COMMITTER_DATE',
      'GIT_OBJECT_DIRECTORY',
      'GIT_DIR',
      'GIT_COMMON_DIR',
      'GIT_CONFIG_PARAMETERS',
      'GIT_CONFIG_COUNT',
    ]) {
      expect(
        await withCommandEnv({ ...process.env, [name]: '1' }, () => writeCommitObject(repo.dir, parts)),
      ).toBe(null);
    }
    // Idents git would trim, a NUL in the message.
    expect(commitBody({ ...parts, author: { name: 'Ada.', email: 'a@b' } }, new Date())).toBe(null);
    expect(commitBody({ ...parts, committer: { name: 'Bo', email: ' bo@b' } }, new Date())).toBe(null);
    expect(commitBody({ ...parts, message: 'a\0b\n' }, new Date())).toBe(null);
    // A linked worktree's directory, and a directory that is no repository.
    const linked = repo.tempPath('linked');
    await repo.run(['worktree', 'add', '-q', linked, 'side']);
    expect(await writeCommitObject(linked, parts)).toBe(null);
    expect(await writeCommitObject(repo.tempPath('nowhere'), parts)).toBe(null);
    // Another hash or message encoding, shared-repository modes, included files: git's to apply.
    const configPath = join(repo.dir, '.git', 'config');
    const config = readFileSync(configPath, 'utf8');
    for (const setting of [
      '[extensions]\n\tobjectFormat = sha256\n',
      '[extensions]\n\tcompatObjectFormat = sha256\n',
      '[i18n]\n\tcommitEncoding = ISO-8859-1\n',
      '[core]\n\tsharedRepository = group\n',
      '[include]\n\tpath = other.config\n',
      '[includeIf "gitdir:/"]\n\tpath = other.config\n',
    ]) {
      writeFileSync(configPath, config + setting);
      expect(await writeCommitObject(repo.dir, parts), setting).toBe(null);
    }
    writeFileSync(configPath, config);
    expect(await writeCommitObject(repo.dir, parts)).toMatch(/^[0-9a-f]{40}$/);
  });

  it('records the time and the local time zone as git does', async () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata'; // +0530: hours and minutes
    try {
      const parts = await mergeParts();
      const before = Math.floor(Date.now() / 1000);
      const ours = await writeCommitObject(repo.dir, parts);
      const { gitOut } = await import('../../src/engine/git.js');
      const theirs = await gitOut(['commit-tree', parts.tree, '-p', parts.parents[0] as string, '-F', '-'], {
        cwd: repo.dir,
        input: 'x\n',
        env: { ...TEST_ENV, TZ: 'Asia/Kolkata' },
      });
      const dateOf = async (oid: string) =>
        /^author .*> (\d+ [-+]\d{4})$/m.exec(await repo.run(['cat-file', 'commit', oid]))?.[1];
      const [ourSeconds, ourZone] = ((await dateOf(ours as string)) ?? '').split(' ');
      const [gitSeconds, gitZone] = ((await dateOf(theirs)) ?? '').split(' ');
      expect(ourZone).toBe('+0530');
      expect(gitZone).toBe(ourZone);
      expect(Number(ourSeconds)).toBeGreaterThanOrEqual(before);
      expect(Math.abs(Number(gitSeconds) - Number(ourSeconds))).toBeLessThanOrEqual(2);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('writeLooseObject', () => {
  it('writes the empty tree as git hash-object does, and leaves a SHA-256 repository to git', async () => {
    const gitsOwn = await repo.run(['hash-object', '-t', 'tree', '--stdin']);
    const oid = await writeLooseObject(repo.dir, 'tree', Buffer.alloc(0));
    expect(oid).toBe(gitsOwn);
    expect(await repo.run(['cat-file', '-t', oid as string])).toBe('tree');
    expect(await repo.run(['fsck', '--no-progress', '--strict', '--no-dangling'])).toBe('');
    // Written again: the same object, still one file.
    expect(await writeLooseObject(repo.dir, 'tree', Buffer.alloc(0))).toBe(oid);
    expect(readdirSync(join(repo.dir, '.git', 'objects', gitsOwn.slice(0, 2)))).toEqual([gitsOwn.slice(2)]);
    const sha256 = repo.tempPath('sha256');
    await repo.run(['init', '-q', '--object-format=sha256', sha256]);
    expect(await writeLooseObject(sha256, 'tree', Buffer.alloc(0))).toBeNull();
  });
});

describe('commitTreeOf', () => {
  it("reads a commit's tree from its loose object, and asks git for a packed one or elsewhere", async () => {
    const main = await repo.rev('main');
    const tree = await repo.run(['rev-parse', 'main^{tree}']);
    const calls = recordGitCalls();
    expect(await withCommandEnv(calls.env, () => commitTreeOf(repo.dir, main))).toBe(tree);
    expect(calls.calls()).toEqual([]);
    // From a linked worktree's directory, or with another object directory named: git answers.
    const linked = repo.tempPath('linked');
    await repo.run(['worktree', 'add', '-q', '--detach', linked, 'main']);
    expect(await withCommandEnv(calls.env, () => commitTreeOf(linked, main))).toBe(tree);
    const elsewhere = { ...calls.env, GIT_OBJECT_DIRECTORY: join(repo.dir, '.git', 'objects') };
    expect(await withCommandEnv(elsewhere, () => commitTreeOf(repo.dir, main))).toBe(tree);
    expect(calls.calls()).toHaveLength(2);
    // Packed (the loose file is gone): git answers.
    await repo.run(['repack', '-a', '-d', '-q']);
    await repo.run(['prune-packed']);
    expect(await withCommandEnv(calls.env, () => commitTreeOf(repo.dir, main))).toBe(tree);
    expect(calls.calls()).toHaveLength(3);
    // A damaged object file is git's to judge; an unknown commit is an error.
    const unknown = 'f'.repeat(40);
    mkdirSync(join(repo.dir, '.git', 'objects', 'ff'), { recursive: true });
    writeFileSync(join(repo.dir, '.git', 'objects', 'ff', unknown.slice(2)), 'not zlib');
    await expect(commitTreeOf(repo.dir, unknown)).rejects.toMatchObject({ code: 'git_failed' });
    await expect(commitTreeOf(repo.dir, '--help')).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('readLooseObject', () => {
  it('reads an object byte for byte as git cat-file does, and leaves everything else to git', async () => {
    const side = await repo.commitOn('side', { 'naïve.txt': 'ünïcode\n' });
    const blob = await repo.run(['rev-parse', `${side}:naïve.txt`]);
    const calls = recordGitCalls();
    const commit = await withCommandEnv(calls.env, () => readLooseObject(repo.dir, side));
    const blobObject = await withCommandEnv(calls.env, () => readLooseObject(repo.dir, blob));
    expect(calls.calls()).toEqual([]);
    expect(commit?.type).toBe('commit');
    expect(
      commit?.body.equals(Buffer.from(await repo.run(['cat-file', 'commit', side]).then((t) => `${t}\n`))),
    ).toBe(true);
    expect(blobObject).toEqual({ type: 'blob', body: Buffer.from('ünïcode\n') });
    // Not an object id, absent, damaged, or another object directory named: null (git decides).
    expect(await readLooseObject(repo.dir, 'main')).toBeNull();
    expect(await readLooseObject(repo.dir, 'e'.repeat(40))).toBeNull();
    const damaged = 'f'.repeat(40);
    mkdirSync(join(repo.dir, '.git', 'objects', 'ff'), { recursive: true });
    writeFileSync(join(repo.dir, '.git', 'objects', 'ff', damaged.slice(2)), 'not zlib');
    expect(await readLooseObject(repo.dir, damaged)).toBeNull();
    const elsewhere = { ...process.env, GIT_OBJECT_DIRECTORY: join(repo.dir, '.git', 'objects') };
    expect(await withCommandEnv(elsewhere, () => readLooseObject(repo.dir, side))).toBeNull();
    // Packed: no loose file to read.
    await repo.run(['repack', '-a', '-d', '-q']);
    await repo.run(['prune-packed']);
    expect(await readLooseObject(repo.dir, side)).toBeNull();
  });
});

describe('a merge commit', () => {
  it('is written without a commit-tree process, and is the one git would write', async () => {
    const parts = await mergeParts();
    const gitCalls = recordGitCalls();
    const composed = await withCommandEnv(gitCalls.env, () =>
      composeMerge(repo.dir, {
        head: parts.parents[0] as string,
        source: parts.parents[1] as string,
        message: 'Merge side',
        author: AUTHOR,
      }),
    );
    expect(composed.kind).toBe('merged');
    expect(gitCalls.commands()).toEqual(['merge-tree']);
    const commit = (composed as { commit: string }).commit;
    expect(await repo.run(['rev-parse', `${commit}^1`, `${commit}^2`])).toBe(parts.parents.join('\n'));
    expect(await repo.run(['log', '-1', '--format=%an|%cn|%s', commit])).toBe(
      'Ada Agent|Ada Agent|Merge side',
    );
    expect(await repo.exitCode(['fsck', '--strict', '--no-dangling'])).toBe(0);
  });
});
