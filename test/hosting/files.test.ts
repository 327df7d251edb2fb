/**
 * The files API's operations on a real git worktree: reads and writes with blob ids equal to git's,
 * preconditions, tree and status against HEAD, patches all or nothing, and every hostile input
 * refused with the worktree, the repository and everything outside unchanged (`git fsck` clean).
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGitSwarmError } from '../../src/errors.js';
import {
  applyWorktreePatch,
  deleteWorktreeFile,
  listWorktreeTree,
  parseEtagList,
  readWorktreeFile,
  serialiseWorktreeWrite,
  worktreeStatus,
  writeWorktreeFile,
} from '../../src/hosting/files.js';
import { fsckClean, snapshotTree } from '../helpers/files-fixture.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

const MAX = 1024 * 1024;

async function refusal(
  fn: () => Promise<unknown>,
): Promise<{ code: string; details?: Record<string, unknown> }> {
  try {
    await fn();
  } catch (error) {
    if (isGitSwarmError(error)) return { code: error.code, details: error.details };
    throw error;
  }
  return { code: 'accepted' };
}

describe('worktree files', () => {
  let repo: TestRepo;
  let wt: string;
  let outside: string;
  let base: string;

  beforeEach(async () => {
    repo = await makeRepo();
    base = repo.tempPath('');
    wt = repo.tempPath('wt');
    await repo.run(['worktree', 'add', '-q', '-b', 'stream/s1', wt, 'main']);
    outside = repo.tempPath('outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'do not touch\n');
  });
  afterEach(() => repo.cleanup());

  const write = (path: string, content: string | Buffer, extra: Record<string, unknown> = {}) =>
    serialiseWorktreeWrite(wt, () =>
      writeWorktreeFile(wt, path, { content: Buffer.from(content), maxFileBytes: MAX, ...extra }),
    );

  /** Runs `attempt`, expects the code, and checks nothing changed anywhere and git is sound. */
  const expectRefusedUnchanged = async (attempt: () => Promise<unknown>, code: string | string[]) => {
    const before = snapshotTree(base);
    const result = await refusal(attempt);
    if (Array.isArray(code)) expect(code).toContain(result.code);
    else expect(result.code).toBe(code);
    expect(snapshotTree(base)).toEqual(before);
    await fsckClean(repo.dir);
    return result;
  };

  it('writes and reads bytes with the blob id git computes', async () => {
    const binary = Buffer.from([0, 1, 2, 255, 10, 0]);
    const written = await write('src/new/bin.dat', binary);
    expect(written).toMatchObject({ path: 'src/new/bin.dat', size: 6, created: true });
    const gitBlob = await repo.run(['hash-object', '--no-filters', 'src/new/bin.dat'], wt);
    expect(written.blob).toBe(gitBlob);
    const read = await readWorktreeFile(wt, 'src//new/./bin.dat');
    expect(read).toMatchObject({ path: 'src/new/bin.dat', type: 'file', blob: gitBlob, size: 6 });
    expect(read.content.equals(binary)).toBe(true);
    const replaced = await write('README.md', 'changed\n');
    expect(replaced.created).toBe(false);
    expect(readFileSync(join(wt, 'README.md'), 'utf8')).toBe('changed\n');
  });

  it('keeps the mode of a file it replaces', async () => {
    writeFileSync(join(wt, 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(wt, 'run.sh'), 0o755);
    await write('run.sh', '#!/bin/sh\necho hi\n');
    expect(statSync(join(wt, 'run.sh')).mode & 0o777).toBe(0o755);
  });

  it('checks If-Match and If-None-Match against the blob id', async () => {
    const current = (await readWorktreeFile(wt, 'README.md')).blob;
    const ok = await write('README.md', 'v2\n', { ifMatch: [current] });
    expect(ok.blob).not.toBe(current);
    const stale = await expectRefusedUnchanged(
      () => write('README.md', 'v3\n', { ifMatch: [current] }),
      'precondition_failed',
    );
    expect(stale.details).toMatchObject({ path: 'README.md', current_blob: ok.blob });
    await expectRefusedUnchanged(() => write('absent.txt', 'x', { ifMatch: ['*'] }), 'precondition_failed');
    await expectRefusedUnchanged(
      () => write('README.md', 'x', { ifNoneMatch: ['*'] }),
      'precondition_failed',
    );
    expect((await write('fresh.txt', 'x', { ifNoneMatch: ['*'] })).created).toBe(true);
    expect(parseEtagList(`"${current}", W/"abc"`)).toEqual([current, 'abc']);
    expect(parseEtagList('*')).toEqual(['*']);
  });

  it('refuses a file over the limit with 413 and writes nothing', async () => {
    await expectRefusedUnchanged(
      () =>
        serialiseWorktreeWrite(wt, () =>
          writeWorktreeFile(wt, 'big.bin', { content: Buffer.alloc(MAX + 1), maxFileBytes: MAX }),
        ),
      'payload_too_large',
    );
  });

  it.each([
    ['../outside/secret', 'invalid_path'],
    ['../../etc/passwd', 'invalid_path'],
    [`/${'tmp'}/evil`, 'invalid_path'],
    ['.git/config', 'invalid_path'],
    ['.git/hooks/pre-commit', 'invalid_path'],
    ['.GIT/config', 'invalid_path'],
    ['sub/.git/config', 'invalid_path'],
    ['a\0b', 'invalid_path'],
    ['bad\nname', 'invalid_path'],
    ['bell\u0007', 'invalid_path'],
    ['', 'invalid_path'],
  ])('refuses a write to %j and changes nothing', async (path, code) => {
    await expectRefusedUnchanged(() => write(path, 'pwned\n'), code);
  });

  it('never writes through a symlink, nor to one', async () => {
    symlinkSync(outside, join(wt, 'escape'));
    symlinkSync(join(outside, 'secret'), join(wt, 'secret-link'));
    await expectRefusedUnchanged(() => write('escape/secret', 'pwned\n'), 'invalid_path');
    await expectRefusedUnchanged(() => write('escape/new.txt', 'pwned\n'), 'invalid_path');
    await expectRefusedUnchanged(() => write('secret-link', 'pwned\n'), 'invalid_path');
    await expectRefusedUnchanged(() => readWorktreeFile(wt, 'escape/secret'), 'invalid_path');
    await expectRefusedUnchanged(() => deleteWorktreeFile(wt, 'escape/secret'), 'invalid_path');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
  });

  it('reads a symlink as its target text, and deletes the link, never the target', async () => {
    symlinkSync(join(outside, 'secret'), join(wt, 'secret-link'));
    const read = await readWorktreeFile(wt, 'secret-link');
    expect(read.type).toBe('symlink');
    expect(read.content.toString()).toBe(join(outside, 'secret'));
    await serialiseWorktreeWrite(wt, () => deleteWorktreeFile(wt, 'secret-link'));
    expect(existsSync(join(wt, 'secret-link'))).toBe(false);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
  });

  it('refuses fifos and directories as files', async () => {
    execFileSync('mkfifo', [join(wt, 'pipe')]);
    await expectRefusedUnchanged(() => readWorktreeFile(wt, 'pipe'), 'invalid_path');
    await expectRefusedUnchanged(() => write('pipe', 'x'), 'invalid_path');
    mkdirSync(join(wt, 'dir'));
    await expectRefusedUnchanged(() => readWorktreeFile(wt, 'dir'), 'invalid_path');
    await expectRefusedUnchanged(() => write('dir', 'x'), 'invalid_state');
    await expectRefusedUnchanged(() => write('README.md/x', 'x'), 'invalid_state');
    await expectRefusedUnchanged(() => readWorktreeFile(wt, 'absent.txt'), 'not_found');
  });

  it('deletes a file, prunes the directories it empties, honours If-Match', async () => {
    await write('a/b/c.txt', 'c\n');
    const stale = await expectRefusedUnchanged(
      () => deleteWorktreeFile(wt, 'a/b/c.txt', { ifMatch: ['0'.repeat(40)] }),
      'precondition_failed',
    );
    expect(stale.details?.current_blob).toMatch(/^[0-9a-f]{40}$/);
    const deleted = await deleteWorktreeFile(wt, 'a/b/c.txt');
    expect(deleted.path).toBe('a/b/c.txt');
    expect(existsSync(join(wt, 'a'))).toBe(false);
    await expectRefusedUnchanged(() => deleteWorktreeFile(wt, 'a/b/c.txt'), 'not_found');
    await expectRefusedUnchanged(() => deleteWorktreeFile(wt, '.git'), 'invalid_path');
  });

  it('lists the tree with uncommitted changes, never .git, never following symlinks', async () => {
    await write('src/x.ts', 'x\n');
    symlinkSync(outside, join(wt, 'escape'));
    const top = await listWorktreeTree(wt);
    expect(top.map((e) => [e.path, e.type])).toEqual([
      ['README.md', 'file'],
      ['escape', 'symlink'],
      ['lines.txt', 'file'],
      ['src', 'dir'],
    ]);
    const readme = top.find((e) => e.path === 'README.md');
    expect(readme?.blob).toBe(await repo.run(['rev-parse', 'HEAD:README.md'], wt));
    const all = await listWorktreeTree(wt, '', { recursive: true });
    expect(all.map((e) => e.path)).toEqual(['README.md', 'escape', 'lines.txt', 'src/x.ts']);
    expect(all.find((e) => e.path === 'escape')).toMatchObject({ size: outside.length });
    expect((await listWorktreeTree(wt, 'src')).map((e) => e.path)).toEqual(['src/x.ts']);
    expect((await refusal(() => listWorktreeTree(wt, 'escape'))).code).toBe('invalid_path');
    expect((await refusal(() => listWorktreeTree(wt, '.git'))).code).toBe('invalid_path');
    expect((await refusal(() => listWorktreeTree(wt, 'nope'))).code).toBe('not_found');
  });

  it('reports status against HEAD: added, modified, deleted', async () => {
    expect(await worktreeStatus(wt)).toEqual([]);
    await write('new.txt', 'n\n');
    await write('README.md', 'changed\n');
    await deleteWorktreeFile(wt, 'lines.txt');
    expect(await worktreeStatus(wt)).toEqual([
      { path: 'README.md', change: 'modified' },
      { path: 'lines.txt', change: 'deleted' },
      { path: 'new.txt', change: 'added' },
    ]);
  });

  it('serialises writes to one worktree in order', async () => {
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        serialiseWorktreeWrite(wt, async () => {
          order.push(i);
          await writeWorktreeFile(wt, 'counter.txt', { content: Buffer.from(`${i}\n`), maxFileBytes: MAX });
          await new Promise((r) => setTimeout(r, 1));
          order.push(i);
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => [i, i]).flat());
    expect(readFileSync(join(wt, 'counter.txt'), 'utf8')).toBe('19\n');
  });

  describe('patches', () => {
    const patchOf = (text: string) => Buffer.from(text);
    const apply = (text: string) =>
      serialiseWorktreeWrite(wt, () => applyWorktreePatch(wt, { patch: patchOf(text), maxFileBytes: MAX }));

    it('applies a diff (modify, add, delete) and lists what it touched', async () => {
      const result = await apply(
        [
          'diff --git a/lines.txt b/lines.txt',
          '--- a/lines.txt',
          '+++ b/lines.txt',
          '@@ -1,3 +1,3 @@',
          ' one',
          '-two',
          '+TWO',
          ' three',
          'diff --git a/added.txt b/added.txt',
          'new file mode 100644',
          '--- /dev/null',
          '+++ b/added.txt',
          '@@ -0,0 +1 @@',
          '+hello',
          'diff --git a/README.md b/README.md',
          'deleted file mode 100644',
          '--- a/README.md',
          '+++ /dev/null',
          '@@ -1 +0,0 @@',
          '-hello',
          '',
        ].join('\n'),
      );
      expect(result.paths).toEqual(['README.md', 'added.txt', 'lines.txt']);
      expect(readFileSync(join(wt, 'lines.txt'), 'utf8')).toBe('one\nTWO\nthree\nfour\nfive\n');
      expect(readFileSync(join(wt, 'added.txt'), 'utf8')).toBe('hello\n');
      expect(existsSync(join(wt, 'README.md'))).toBe(false);
    });

    it('refuses a patch whose hunk does not apply, naming it, and changes nothing', async () => {
      const result = await expectRefusedUnchanged(
        () =>
          apply(
            [
              'diff --git a/added.txt b/added.txt',
              'new file mode 100644',
              '--- /dev/null',
              '+++ b/added.txt',
              '@@ -0,0 +1 @@',
              '+first file of the patch applies',
              'diff --git a/lines.txt b/lines.txt',
              '--- a/lines.txt',
              '+++ b/lines.txt',
              '@@ -3,2 +3,2 @@',
              ' three',
              '-not what is there',
              '+x',
              '',
            ].join('\n'),
          ),
        'patch_rejected',
      );
      expect(result.details?.hunks).toEqual([
        { path: 'lines.txt', line: 3, reason: 'the hunk does not match' },
      ]);
    });

    it.each([
      [
        '.git/config',
        'diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n@@ -1 +1,2 @@\n x\n+[core]\n',
        'invalid_path',
      ],
      [
        '.git/hooks (new file)',
        'diff --git a/.git/hooks/post-checkout b/.git/hooks/post-checkout\nnew file mode 100755\n--- /dev/null\n+++ b/.git/hooks/post-checkout\n@@ -0,0 +1 @@\n+#!/bin/sh\n',
        'invalid_path',
      ],
      [
        'a/.GIT/x',
        'diff --git a/a/.GIT/x b/a/.GIT/x\nnew file mode 100644\n--- /dev/null\n+++ b/a/.GIT/x\n@@ -0,0 +1 @@\n+x\n',
        'invalid_path',
      ],
      [
        '../ escape',
        'diff --git a/../outside/secret b/../outside/secret\n--- a/../outside/secret\n+++ b/../outside/secret\n@@ -1 +1 @@\n-do not touch\n+pwned\n',
        'any',
      ],
      ['absolute path', '--- /dev/null\n+++ /tmp/gitswarm-evil\n@@ -0,0 +1 @@\n+x\n', 'any'],
      [
        'a rename into .git',
        'diff --git a/README.md b/.git/README.md\nsimilarity index 100%\nrename from README.md\nrename to .git/README.md\n',
        'invalid_path',
      ],
      [
        'a submodule',
        'diff --git a/sub b/sub\nnew file mode 160000\nindex 0000000..1111111\n--- /dev/null\n+++ b/sub\n@@ -0,0 +1 @@\n+Subproject commit 1111111111111111111111111111111111111111\n',
        'invalid_path',
      ],
      ['not a diff', 'hello, world\n', 'patch_rejected'],
    ])('refuses a patch touching %s and changes nothing', async (_name, text, code) => {
      // A path that escapes is refused by the confinement (400) or by git itself (409): a 4xx either way.
      await expectRefusedUnchanged(
        () => apply(text),
        code === 'any' ? ['invalid_path', 'patch_rejected'] : code,
      );
    });

    it('never writes through a symlink a patch created, in the same patch or later', async () => {
      const link = [
        'diff --git a/link b/link',
        'new file mode 120000',
        '--- /dev/null',
        '+++ b/link',
        '@@ -0,0 +1 @@',
        `+${outside}`,
        '\\ No newline at end of file',
        '',
      ].join('\n');
      const through = [
        'diff --git a/link/secret b/link/secret',
        '--- a/link/secret',
        '+++ b/link/secret',
        '@@ -1 +1 @@',
        '-do not touch',
        '+pwned',
        '',
      ].join('\n');
      const created = [
        'diff --git a/link/new b/link/new',
        'new file mode 100644',
        '--- /dev/null',
        '+++ b/link/new',
        '@@ -0,0 +1 @@',
        '+pwned',
        '',
      ].join('\n');
      // In one patch: git refuses to go beyond the symlink it is creating.
      const both = await expectRefusedUnchanged(() => apply(link + created), 'patch_rejected');
      expect(JSON.stringify(both.details)).toContain('link');
      // The symlink alone is written (a patch may create one) …
      await apply(link);
      expect(lstatSync(join(wt, 'link')).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(wt, 'link'))).toBe(outside);
      // … and then never written through: by patch, by write, by delete.
      await expectRefusedUnchanged(() => apply(through), 'invalid_path');
      await expectRefusedUnchanged(() => apply(created), 'invalid_path');
      await expectRefusedUnchanged(() => write('link/secret', 'pwned\n'), 'invalid_path');
      await expectRefusedUnchanged(() => write('link', 'pwned\n'), 'invalid_path');
      await expectRefusedUnchanged(() => deleteWorktreeFile(wt, 'link/secret'), 'invalid_path');
      expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
      expect(existsSync(join(outside, 'new'))).toBe(false);
    });

    it('undoes a patch that leaves a file over the limit (413)', async () => {
      const line = `${'x'.repeat(1000)}\n`;
      const lines = Array.from({ length: 1100 }, () => `+${line}`).join('');
      const text = `diff --git a/huge.txt b/huge.txt\nnew file mode 100644\n--- /dev/null\n+++ b/huge.txt\n@@ -0,0 +1,1100 @@\n${lines}`;
      await expectRefusedUnchanged(() => apply(text), 'payload_too_large');
    });
  });
});
