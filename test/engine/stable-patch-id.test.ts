/**
 * StablePatchId against git's own `git patch-id --stable`, fed the same bytes: the diffs of real
 * changes of every kind (text, new, deleted and empty files, modes, symlinks, binary files, missing
 * final newlines, odd whitespace, several hunks and files), the same diffs cut into chunks at every
 * kind of boundary, and thousands of damaged diffs, which walk the parser's odd corners (hunks
 * whose counts are off, truncated headers, junk lines).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STABLE_DIFF } from '../../src/engine/patch-id.js';
import { type PatchIdHash, StablePatchId } from '../../src/engine/stable-patch-id.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

const TEST_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.com',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.com',
  LC_ALL: 'C',
};

function gitIn(dir: string, args: string[], input?: Buffer): Buffer {
  return execFileSync('git', args, { cwd: dir, env: TEST_ENV, input, maxBuffer: 64 << 20 });
}

/** git's answer: the first patch-id it prints, or null when it prints none. */
function gitsPatchId(dir: string, diff: Buffer): string | null {
  const out = gitIn(dir, ['patch-id', '--stable'], diff).toString('latin1').trim();
  return out === '' ? null : (out.split(/\s+/)[0] as string);
}

function ours(diff: Buffer, cuts: number[] = [], algorithm: PatchIdHash = 'sha1'): string | null {
  const patchId = new StablePatchId(algorithm);
  let start = 0;
  for (const cut of [...cuts, diff.length]) {
    patchId.update(diff.subarray(start, Math.max(start, cut)));
    start = Math.max(start, cut);
  }
  return patchId.digest();
}

/**
 * Whether a binary file's line comes before any `index` line of the patch: git then hashes object
 * ids it never read (uninitialised memory, a different answer each run), so no answer is right.
 */
function binaryWithoutIndex(diff: Buffer): boolean {
  let started = false;
  let indexed = false;
  for (const line of diff.toString('latin1').split('\n')) {
    if (line.startsWith('diff ')) started = true;
    if (started && line.startsWith('index ') && line.includes('..')) indexed = true;
    if ((line.startsWith('Binary files') || line.startsWith('GIT binary patch')) && !indexed) return true;
  }
  return false;
}

type FileSpec = string | Buffer | { content: string | Buffer; mode?: number } | { link: string } | null;

/** Writes the files (null deletes) in the worktree, commits everything, returns the commit. */
function commitFiles(dir: string, files: Record<string, FileSpec>): string {
  for (const [path, spec] of Object.entries(files)) {
    const file = join(dir, path);
    rmSync(file, { force: true });
    if (spec === null) continue;
    mkdirSync(dirname(file), { recursive: true });
    if (typeof spec === 'object' && 'link' in spec) symlinkSync(spec.link, file);
    else if (typeof spec === 'string' || Buffer.isBuffer(spec)) writeFileSync(file, spec);
    else {
      writeFileSync(file, spec.content);
      chmodSync(file, spec.mode ?? 0o644);
    }
  }
  gitIn(dir, ['add', '-A']);
  gitIn(dir, ['commit', '-q', '--allow-empty', '-m', 'step']);
  return gitIn(dir, ['rev-parse', 'HEAD']).toString().trim();
}

const lines = (count: number, change: Record<number, string> = {}) =>
  Array.from({ length: count }, (_, i) => `${change[i + 1] ?? `line ${i + 1}`}\n`).join('');

/** Changes of every kind, each a commit after the one before. */
const STEPS: Record<string, FileSpec>[] = [
  { 'a.txt': lines(40), 'b.txt': 'one\ntwo\n', 'bin.dat': Buffer.from([0, 1, 2, 3, 255, 0]) },
  { 'a.txt': lines(40, { 3: 'THREE', 30: 'THIRTY' }) }, // two hunks
  { 'c.txt': 'new file\n', 'empty.txt': '' }, // a new file, a new empty one
  { 'b.txt': null, 'empty.txt': null }, // deleted, deleted empty
  { 'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 } },
  { 'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o644 } }, // a mode change alone
  { 'run.sh': { content: '#!/bin/sh\necho bye\n', mode: 0o755 }, 'c.txt': 'changed\n' },
  { 'bin.dat': Buffer.from([0, 9, 9, 9, 255, 0]), 'after-binary.txt': 'text after\n' },
  { 'bin.dat': null, 'z.bin': Buffer.from([0, 0, 0]) },
  { 'no-eol.txt': 'no newline' },
  { 'no-eol.txt': 'no newline either', 'a.txt': lines(40, { 40: 'last' }).slice(0, -1) },
  { 'ws.txt': 'tab\there\r\nvt\vff\fend  \n   leading\n' },
  { 'ws.txt': 'tab here\r\nvt ff end\n leading\n' },
  { link: { link: 'a.txt' } },
  { link: { link: 'c.txt' }, 'dir with space/ü.txt': 'unicode path\n' },
  { 'one.txt': 'x\n' },
  { 'one.txt': 'y\n', 'big.txt': lines(3000, { 1500: 'MIDDLE', 2999: 'END' }) },
  { 'big.txt': lines(3000, { 10: 'A', 1000: 'B', 2000: 'C' }), 'gone.bin': null },
  { 'huge.txt': lines(12000) }, // more than the 64 KiB hashed at a time
];

describe('StablePatchId', () => {
  let repo: TestRepo;
  const diffs: Buffer[] = [];

  beforeAll(async () => {
    repo = await makeRepo();
    const commits = [gitIn(repo.dir, ['rev-parse', 'HEAD']).toString().trim()];
    for (const step of STEPS) commits.push(commitFiles(repo.dir, step));
    // Each step's own diff, a few spans of several steps, and each step backwards.
    const pairs: [string, string][] = [];
    for (let i = 1; i < commits.length; i++) {
      pairs.push([commits[i - 1] as string, commits[i] as string]);
      pairs.push([commits[i] as string, commits[i - 1] as string]);
    }
    pairs.push(
      [commits[0] as string, commits.at(-1) as string],
      [commits[3] as string, commits[11] as string],
    );
    for (const [from, to] of pairs) diffs.push(gitIn(repo.dir, [...STABLE_DIFF, from, to, '--']));
  });
  afterAll(() => repo.cleanup());

  it('gives git patch-id --stable its own answer for the diffs of real changes', () => {
    expect(diffs.length).toBeGreaterThan(30);
    for (const diff of diffs) expect(ours(diff)).toBe(gitsPatchId(repo.dir, diff));
    // The corpus holds what it says: binary files, mode changes, missing final newlines.
    const all = Buffer.concat(diffs).toString('latin1');
    for (const kind of [
      'Binary files',
      'old mode',
      'new file mode',
      'deleted file mode',
      '\\ No newline',
      '\r',
    ])
      expect(all).toContain(kind);
  });

  it('gives the same answer however the bytes are cut into chunks', () => {
    const diff = Buffer.concat(diffs.slice(0, 12));
    const expected = gitsPatchId(repo.dir, diff);
    expect(ours(diff)).toBe(expected);
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const cuts = Array.from({ length: Math.ceil(diff.length / size) }, (_, i) => (i + 1) * size);
      expect(ours(diff, cuts)).toBe(expected);
    }
  });

  it('gives no patch-id for an empty diff or one without a diff line', () => {
    expect(ours(Buffer.alloc(0))).toBeNull();
    expect(ours(Buffer.from('just words\nand more\n'))).toBeNull();
    expect(gitsPatchId(repo.dir, Buffer.from('just words\nand more\n'))).toBeNull();
  });

  it('agrees with git on thousands of damaged diffs', () => {
    let seed = 12345;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % below;
    };
    const junk = [
      '',
      '@@ -1 +1 @@',
      '@@ -x',
      '@@ -3,2 +3',
      '--- a/q',
      '+++ b/q',
      'diff --git a/q b/q',
      'index 1..2',
      'index 12',
      'Binary files a and b differ',
      '\\ No newline at end of file',
      ' ',
      '#',
      'new mode 100755',
    ];
    // Many damaged diffs go to one git process: each is its own "commit" for patch-id to split at.
    const damaged: Buffer[] = [];
    for (let n = 0; n < 1500; n++) {
      const source = (diffs[random(diffs.length)] as Buffer).toString('latin1').split('\n');
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(source.length);
        const kind = random(4);
        if (kind === 0) source.splice(at, 1);
        else if (kind === 1) source.splice(at, 0, junk[random(junk.length)] as string);
        else if (kind === 2) source[at] = (source[at] ?? '').slice(0, random(12));
        else source.splice(at, 0, source[random(source.length)] as string);
      }
      damaged.push(Buffer.from(source.join('\n'), 'latin1'));
    }
    const fenced = Buffer.concat(
      damaged.map((diff, i) =>
        Buffer.concat([
          Buffer.from(`commit ${(i + 1).toString(16).padStart(40, '0')}\n`),
          diff,
          Buffer.from('\n'),
        ]),
      ),
    );
    const answers = new Map<string, string>();
    for (const line of gitIn(repo.dir, ['patch-id', '--stable'], fenced)
      .toString('latin1')
      .trim()
      .split('\n')) {
      const [id, commit] = line.split(' ');
      if (id && commit) answers.set(commit, id);
    }
    let compared = 0;
    let undefinedInGit = 0;
    damaged.forEach((diff, i) => {
      if (binaryWithoutIndex(diff)) {
        undefinedInGit++;
        return;
      }
      const commit = (i + 1).toString(16).padStart(40, '0');
      // Where a patch cannot go on, git starts another, reported under the zero id: each damaged
      // diff's first patch-id is reported under its own fence's id, as ours gives the first.
      const expected = answers.get(commit) ?? null;
      const mine = ours(Buffer.concat([diff, Buffer.from('\n')]));
      if (mine === expected) compared++;
      else
        expect({ diff: diff.toString('latin1'), mine }).toEqual({
          diff: diff.toString('latin1'),
          mine: expected,
        });
    });
    expect(compared + undefinedInGit).toBe(damaged.length);
    expect(compared).toBeGreaterThan(damaged.length * 0.8);
  });

  it("agrees with git on the parser's edge cases", () => {
    const file = (name: string, body: string) =>
      `diff --git a/${name} b/${name}\nindex ${'1'.repeat(40)}..${'2'.repeat(40)} 100644\n${body}`;
    const hunk = '--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n';
    const cases = [
      // A header line that is not a letter ends the patch; the ASCII letters' edges either side.
      ...['@', 'A', 'Z', '[', '`', 'a', 'z', '{', '\xe9'].map((c) => file('x', `${c}line\n${hunk}`)),
      // "\ " lines: skipped when longer than 12 bytes (newline included), else content.
      ...['\\ 12345678\n', '\\ 123456789\n', '\\ 1234567890\n'].map(
        (line) => `${file('x', `--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n${line}+b\n c\n`)}${file('y', hunk)}`,
      ),
      // Malformed hunk headers, then lines that only count if the counts were read right.
      ...[
        '@@ -x +1 @@',
        '@@ -1 -1 @@',
        '@@ -1  +1 @@',
        '@@ -1,2',
        '@@ -1,',
        '@@ -,1 +1 @@',
        '@@ - +1 @@',
        '@@ -1 +x @@',
        '@@ -1 +1,x @@',
        '@@ -1,3 +1 @@',
        '@@ -2 +2,2 @@',
      ].map(
        (header) =>
          `${file('x', `--- a/x\n+++ b/x\n${header}\n-a\n+b\n c\n+d\n@@ -9 +9 @@\n-e\n+f\n`)}${file('y', hunk)}`,
      ),
      // A malformed header whose new count a looser parser would read: the next hunk tells.
      `${file('x', '--- a/x\n+++ b/x\n@@ -1,2x+1 @@\n-a\n c\n@@ -9 +9 @@\n-e\n+f\n')}${file('y', hunk)}`,
      // Object ids longer than git keeps (64 characters), for a binary file.
      `diff --git a/b b/b\nindex ${'a'.repeat(70)}..${'b'.repeat(70)} 100644\nBinary files a/b and b/b differ\n`,
      // An index line without "..": the ids of the one before stay.
      `${file('b', 'Binary files a/b and b/b differ\n')}diff --git a/c b/c\nindex 12\nBinary files a/c and b/c differ\n`,
      // An index line without a mode: its ids end a character before the line does.
      `diff --git a/n b/n\nnew file mode 100644\nindex ${'0'.repeat(40)}..${'3'.repeat(40)}\nBinary files /dev/null and b/n differ\n`,
      // The last line without a newline still counts.
      file('x', '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b'),
    ];
    for (const text of cases) {
      const diff = Buffer.from(text, 'latin1');
      expect({ text, id: ours(diff) }).toEqual({ text, id: gitsPatchId(repo.dir, diff) });
    }
  });

  it('hashes a binary file without an index line (where git reads memory it never wrote) as no ids', () => {
    const diff = 'diff --git a/b b/b\nBinary files a/b and b/b differ\n';
    // The file's hash covers its diff line (spaces removed) and two empty ids; then an empty file's.
    const sum = Buffer.alloc(20);
    for (const part of ['diff--gita/bb/b', '']) {
      const hash = createHash('sha1').update(part).digest();
      let carry = 0;
      for (let i = 0; i < 20; i++) {
        carry += (sum[i] as number) + (hash[i] as number);
        sum[i] = carry & 0xff;
        carry >>= 8;
      }
    }
    expect(ours(Buffer.from(diff))).toBe(sum.toString('hex'));
  });

  it('hashes with SHA-256 in a SHA-256 repository, as git does', () => {
    const dir = repo.tempPath('sha256');
    gitIn(repo.tempPath(''), ['init', '-q', '--object-format=sha256', dir]);
    const first = commitFiles(dir, { 'a.txt': lines(10), 'bin.dat': Buffer.from([0, 1]) });
    const second = commitFiles(dir, { 'a.txt': lines(10, { 5: 'five' }), 'bin.dat': Buffer.from([0, 2]) });
    const diff = gitIn(dir, [...STABLE_DIFF, first, second, '--']);
    const expected = gitsPatchId(dir, diff);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    expect(ours(diff, [], 'sha256')).toBe(expected);
  });
});
