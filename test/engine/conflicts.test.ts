import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  mergeInProgress,
  mergeIntoWorktree,
  pathsWithMarkers,
  readConflicts,
  unmergedPaths,
} from '../../src/engine/conflicts.js';
import { TEST_IDENTITY as ID, makeRepo, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

/** Commits raw bytes (binary allowed; null deletes) on `branch` from `from` through a worktree. */
async function commitBytes(
  branch: string,
  files: Record<string, Buffer | null>,
  from = 'main',
): Promise<string> {
  if (branch === 'main') {
    for (const [name, content] of Object.entries(files)) {
      if (content === null) await repo.run(['rm', '-q', '--', name]);
      else writeFileSync(join(repo.dir, name), content);
    }
    await repo.run(['add', '-A']);
    await repo.run(['commit', '-q', '-m', 'bytes on main']);
    return repo.rev('main');
  }
  const path = repo.tempPath(`wt-${branch.replace(/\//g, '-')}-${Date.now()}-${Math.random()}`);
  const exists = (await repo.exitCode(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])) === 0;
  await repo.run(
    exists ? ['worktree', 'add', '-q', path, branch] : ['worktree', 'add', '-q', '-b', branch, path, from],
  );
  for (const [name, content] of Object.entries(files)) {
    if (content === null) await repo.run(['rm', '-q', '--', name], path);
    else writeFileSync(join(path, name), content);
  }
  await repo.run(['add', '-A'], path);
  await repo.run(['commit', '-q', '-m', `bytes on ${branch}`], path);
  const head = await repo.run(['rev-parse', 'HEAD'], path);
  await repo.run(['worktree', 'remove', '--force', path]);
  return head;
}

describe('readConflicts', () => {
  it('gives base, ours and theirs of a text conflict; nothing for paths that merged', async () => {
    await repo.commitOn('main', { 'f.txt': 'a\nb\nc\n' });
    const ours = await repo.commitOn('stream', { 'f.txt': 'A-ours\nb\nc\n', 'ok.txt': 'mine\n' });
    const theirs = await repo.commitOn('buffer', { 'f.txt': 'A-theirs\nb\nc\n', 'ok2.txt': 'yours\n' });
    const files = await readConflicts(repo.dir, { ours, theirs });
    expect(files).toEqual([
      {
        path: 'f.txt',
        encoding: 'utf8',
        base: 'a\nb\nc\n',
        ours: 'A-ours\nb\nc\n',
        theirs: 'A-theirs\nb\nc\n',
        modes: { base: '100644', ours: '100644', theirs: '100644' },
        sizes: { base: 6, ours: 11, theirs: 13 },
        omitted: [],
      },
    ]);
  });

  it('is empty when the two merge cleanly', async () => {
    const ours = await repo.commitOn('stream', { 'a.txt': 'a\n' });
    const theirs = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    expect(await readConflicts(repo.dir, { ours, theirs })).toEqual([]);
  });

  it('gives null for the side that deleted the file and for the missing base of an add/add', async () => {
    await repo.commitOn('main', { 'gone.txt': 'base\n' });
    const ours = await repo.commitOn('stream', { 'gone.txt': 'edited by us\n', 'new.txt': 'ours new\n' });
    const theirs = await repo.commitOn('buffer', { 'gone.txt': null, 'new.txt': 'theirs new\n' });
    const files = await readConflicts(repo.dir, { ours, theirs });
    expect(files.map((f) => [f.path, f.base, f.ours, f.theirs])).toEqual([
      ['gone.txt', 'base\n', 'edited by us\n', null],
      ['new.txt', null, 'ours new\n', 'theirs new\n'],
    ]);
    expect(files[0]?.modes).toEqual({ base: '100644', ours: '100644', theirs: null });
    expect(files[0]?.sizes.theirs).toBeNull();
    // Reversed: the deleting side is now ours.
    const reversed = await readConflicts(repo.dir, { ours: theirs, theirs: ours });
    expect(reversed[0]).toMatchObject({ path: 'gone.txt', ours: null, theirs: 'edited by us\n' });
  });

  it('gives every side of a file that is not UTF-8 as base64', async () => {
    const base = Buffer.from([0x00, 0xff, 0xfe, 0x01]);
    const mine = Buffer.from([0x00, 0xff, 0xfe, 0x02]);
    const yours = Buffer.from([0x00, 0xff, 0xfe, 0x03]);
    await commitBytes('main', { 'img.bin': base });
    const ours = await commitBytes('stream', { 'img.bin': mine });
    const theirs = await commitBytes('buffer', { 'img.bin': yours });
    const [file] = await readConflicts(repo.dir, { ours, theirs });
    expect(file).toMatchObject({
      path: 'img.bin',
      encoding: 'base64',
      base: base.toString('base64'),
      ours: mine.toString('base64'),
      theirs: yours.toString('base64'),
      sizes: { base: 4, ours: 4, theirs: 4 },
    });
  });

  it('reads paths with spaces, tabs and non-ASCII names byte for byte', async () => {
    const name = 'dir with space/ta\tb-é.txt';
    await repo.commitOn('main', { [name]: 'x\n' });
    const ours = await repo.commitOn('stream', { [name]: 'ours\n' });
    const theirs = await repo.commitOn('buffer', { [name]: 'theirs\n' });
    const files = await readConflicts(repo.dir, { ours, theirs });
    expect(files.map((f) => [f.path, f.ours, f.theirs])).toEqual([[name, 'ours\n', 'theirs\n']]);
  });

  it('leaves out sides over the per-file and total caps, naming them', async () => {
    await repo.commitOn('main', { 'big.txt': 'x\n', 'small.txt': 's\n' });
    const ours = await repo.commitOn('stream', { 'big.txt': `${'o'.repeat(100)}\n`, 'small.txt': 'so\n' });
    const theirs = await repo.commitOn('buffer', { 'big.txt': 'short\n', 'small.txt': 'st\n' });
    const [big, small] = await readConflicts(repo.dir, { ours, theirs, maxFileBytes: 50 });
    expect(big).toMatchObject({ base: 'x\n', ours: null, theirs: 'short\n', omitted: ['ours'] });
    expect(big?.sizes.ours).toBe(101);
    expect(small).toMatchObject({ ours: 'so\n', omitted: [] });
    // A total budget of 10 bytes: the first path's sides use it up (2 + 6), then only what fits.
    const capped = await readConflicts(repo.dir, { ours, theirs, maxFileBytes: 50, maxTotalBytes: 10 });
    expect(capped.map((f) => f.omitted)).toEqual([['ours'], ['ours', 'theirs']]);
    expect(capped[1]).toMatchObject({ base: 's\n', ours: null, theirs: null });
  });

  it('refuses an option-shaped revision', async () => {
    await expect(readConflicts(repo.dir, { ours: '--output=/tmp/x', theirs: 'main' })).rejects.toMatchObject({
      code: 'invalid_input',
    });
  });
});

describe('mergeIntoWorktree', () => {
  async function streamWorktree(files: Record<string, string | null>): Promise<string> {
    await repo.commitOn('stream', files);
    const path = repo.tempPath('stream-wt');
    await repo.run(['worktree', 'add', '-q', path, 'stream']);
    return path;
  }

  it('is up to date when the commit is already in the branch', async () => {
    const wt = await streamWorktree({ 'a.txt': 'a\n' });
    const main = await repo.rev('main');
    const outcome = await mergeIntoWorktree(wt, main, ID);
    expect(outcome).toEqual({ kind: 'up_to_date', head: await repo.rev('stream') });
    expect(await mergeInProgress(wt)).toBeNull();
  });

  it('fast-forwards a branch with nothing of its own', async () => {
    await repo.branch('stream');
    const path = repo.tempPath('ff-wt');
    await repo.run(['worktree', 'add', '-q', path, 'stream']);
    const before = await repo.rev('stream');
    const buffer = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    expect(await mergeIntoWorktree(path, buffer, ID)).toEqual({
      kind: 'fast_forward',
      head: buffer,
      previousHead: before,
    });
    expect(await repo.rev('stream')).toBe(buffer);
    expect(readFileSync(join(path, 'b.txt'), 'utf8')).toBe('b\n');
  });

  it('stages a clean merge with MERGE_HEAD and commits nothing', async () => {
    const wt = await streamWorktree({ 'a.txt': 'a\n' });
    const head = await repo.rev('stream');
    const buffer = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    expect(await mergeIntoWorktree(wt, buffer, ID)).toEqual({ kind: 'staged', head });
    expect(await repo.rev('stream')).toBe(head);
    expect(await mergeInProgress(wt)).toBe(buffer);
    expect(await repo.run(['diff', '--cached', '--name-only'], wt)).toBe('b.txt');
  });

  it('knows a merge in progress from the checkout root (its MERGE_HEAD file) and from a subfolder (git), until it is committed', async () => {
    const wt = await streamWorktree({ 'sub/a.txt': 'a\n' });
    const buffer = await repo.commitOn('buffer', { 'b.txt': 'b\n' });
    await mergeIntoWorktree(wt, buffer, ID);
    expect(await mergeInProgress(wt)).toBe(buffer);
    expect(await mergeInProgress(join(wt, 'sub'))).toBe(buffer);
    await repo.run(['-c', 'core.hooksPath=/dev/null', 'commit', '-q', '--no-edit'], wt);
    expect(await mergeInProgress(wt)).toBeNull();
    expect(await mergeInProgress(join(wt, 'sub'))).toBeNull();
  });

  it('leaves conflict markers and names the unmerged paths', async () => {
    const wt = await streamWorktree({ 'lines.txt': 'ONE-ours\ntwo\nthree\nfour\nfive\n' });
    const head = await repo.rev('stream');
    const buffer = await repo.commitOn('buffer', { 'lines.txt': 'ONE-theirs\ntwo\nthree\nfour\nfive\n' });
    const outcome = await mergeIntoWorktree(wt, buffer, ID);
    expect(outcome).toEqual({ kind: 'conflicted', head, paths: ['lines.txt'] });
    const text = readFileSync(join(wt, 'lines.txt'), 'utf8');
    expect(text).toContain('<<<<<<< HEAD\nONE-ours\n=======\nONE-theirs\n>>>>>>> ');
    expect(await unmergedPaths(wt)).toEqual(['lines.txt']);
    expect(await mergeInProgress(wt)).toBe(buffer);
    expect(await pathsWithMarkers(wt, ['lines.txt', 'README.md', 'missing.txt'])).toEqual(['lines.txt']);
    writeFileSync(join(wt, 'lines.txt'), 'ONE-both\ntwo\nthree\nfour\nfive\n');
    expect(await pathsWithMarkers(wt, ['lines.txt'])).toEqual([]);
  });

  it('refuses a source that is not a full object id', async () => {
    const wt = await streamWorktree({ 'a.txt': 'a\n' });
    await expect(mergeIntoWorktree(wt, '--abort', ID)).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
