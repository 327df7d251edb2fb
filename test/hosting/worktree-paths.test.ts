/**
 * Path confinement for the files API: the pure normal form (what is refused and why), and the
 * filesystem walk that never goes through a symlink and never accepts a device or fifo.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGitSwarmError } from '../../src/errors.js';
import {
  isGitDirName,
  normaliseWorktreePath,
  resolveWorktreePath,
} from '../../src/hosting/worktree-paths.js';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isGitSwarmError(error)) return error.code;
    throw error;
  }
  return 'accepted';
}

async function asyncRefusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    if (isGitSwarmError(error)) return error.code;
    throw error;
  }
  return 'accepted';
}

describe('normaliseWorktreePath', () => {
  it('normalises repeated slashes, "." components and a trailing slash', () => {
    expect(normaliseWorktreePath('a//b/./c/')).toBe('a/b/c');
    expect(normaliseWorktreePath('./src/index.ts')).toBe('src/index.ts');
    expect(normaliseWorktreePath('é/naïve file.txt')).toBe('é/naïve file.txt');
    expect(normaliseWorktreePath('.gitignore')).toBe('.gitignore');
    expect(normaliseWorktreePath('.github/workflows/ci.yml')).toBe('.github/workflows/ci.yml');
    expect(normaliseWorktreePath('a/.gitmodules')).toBe('a/.gitmodules');
    expect(normaliseWorktreePath('', { allowRoot: true })).toBe('');
    expect(normaliseWorktreePath('./', { allowRoot: true })).toBe('');
  });

  it.each([
    ['', 'names no file'],
    ['.', 'names no file'],
    ['/', 'absolute'],
    ['/etc/passwd', 'absolute'],
    ['..', 'parent'],
    ['../outside', 'parent'],
    ['a/../../b', 'parent'],
    ['a/../b', 'parent, even staying inside'],
    ['a/..', 'parent at the end'],
    ['.git', 'git dir'],
    ['.git/config', 'git config'],
    ['.GIT/config', 'upper case'],
    ['.Git/HEAD', 'mixed case'],
    ['a/.git/b', 'nested git dir'],
    ['a/.git', 'nested git dir at the end'],
    ['.git./config', 'trailing dot (NTFS)'],
    ['.git /config', 'trailing space (NTFS)'],
    ['.git. . /config', 'trailing dots and spaces'],
    ['.git::$INDEX_ALLOCATION/config', 'NTFS stream'],
    ['git~1/config', 'NTFS short name'],
    ['GIT~1', 'NTFS short name, upper case'],
    ['.g\u200cit/config', 'HFS ignorable code point'],
    ['\ufeff.git/config', 'byte order mark'],
    ['a\0b', 'NUL'],
    ['a\nb', 'newline'],
    ['a\rb', 'carriage return'],
    ['a\tb', 'tab'],
    ['a\u001bb', 'escape'],
    ['a\u007fb', 'DEL'],
    ['a\u0085b', 'C1 control'],
    ['a\\b', 'backslash'],
    ['..\\..\\x', 'backslash traversal'],
    ['a\ud800b', 'lone surrogate'],
    [`${'x'.repeat(256)}`, 'component too long'],
    [`${'a/'.repeat(2100)}b`, 'path too long'],
  ])('refuses %j (%s) with invalid_path', (input) => {
    expect(refusal(() => normaliseWorktreePath(input))).toBe('invalid_path');
  });

  it('knows the names git protects', () => {
    for (const name of ['.git', '.GIT', '.git.', '.git ', 'git~1', '.g\u200dit', '.git::$DATA']) {
      expect(isGitDirName(name), name).toBe(true);
    }
    for (const name of ['.gitignore', '.github', 'git', 'x.git', '.gitx', 'git~', '.git-blame-ignore-revs']) {
      expect(isGitDirName(name), name).toBe(false);
    }
  });
});

describe('resolveWorktreePath', () => {
  let base: string;
  let root: string;
  let outside: string;

  beforeAll(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-paths-')));
    root = join(base, 'worktree');
    outside = join(base, 'outside');
    mkdirSync(join(root, 'src', 'deep'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(root, 'src', 'a.ts'), 'a\n');
    writeFileSync(join(outside, 'secret'), 'secret\n');
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync('src', join(root, 'inner'));
    symlinkSync('a.ts', join(root, 'src', 'alias.ts'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('describes what is there, without following the last component', async () => {
    expect(await resolveWorktreePath(root, 'src/a.ts')).toMatchObject({ path: 'src/a.ts', type: 'file' });
    expect(await resolveWorktreePath(root, 'src')).toMatchObject({ type: 'dir' });
    expect(await resolveWorktreePath(root, 'src/alias.ts')).toMatchObject({ type: 'symlink' });
    expect(await resolveWorktreePath(root, 'escape')).toMatchObject({ type: 'symlink' });
    expect(await resolveWorktreePath(root, '', { allowRoot: true })).toMatchObject({
      type: 'dir',
      absolute: root,
    });
  });

  it('reports missing parents, outermost first', async () => {
    const resolved = await resolveWorktreePath(root, 'new/dir/file.txt');
    expect(resolved.type).toBeNull();
    expect(resolved.missingParents).toEqual(['new', 'new/dir']);
    expect(resolved.absolute).toBe(join(root, 'new', 'dir', 'file.txt'));
  });

  it('never goes through a symlink, inside or outside the worktree', async () => {
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'escape/secret'))).toBe('invalid_path');
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'escape/new-file'))).toBe('invalid_path');
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'inner/a.ts'))).toBe('invalid_path');
  });

  it('refuses fifos and a file used as a directory', async () => {
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'pipe'))).toBe('invalid_path');
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'pipe/x'))).toBe('invalid_path');
    expect(await asyncRefusal(() => resolveWorktreePath(root, 'src/a.ts/x'))).toBe('invalid_state');
  });

  it('refuses a device', async () => {
    expect(await asyncRefusal(() => resolveWorktreePath('/dev', 'null'))).toBe('invalid_path');
  });
});
