/**
 * The buffer line a connected clone bisects, read from git alone: GitSwarm's merges by their
 * `Stream:` trailer, its reverts by `This reverts merge <sha>.`, the range since the last green
 * tag or the first GitSwarm merge, starting after the newest revert.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRemoteBisectRange, findRevertOf, readBufferLine } from '../../src/remote/buffer-line.js';
import { git } from './mode-b-fixture.js';

describe('the buffer line of a connected clone', () => {
  let dir: string;
  const c: Record<string, string> = {};

  /** A no-ff merge onto buffer of a one-file branch, with `message`. */
  const mergeBranch = (name: string, message: string) => {
    git(dir, 'checkout', '-q', '-b', name, 'buffer');
    writeFileSync(join(dir, `${name}.txt`), `${name}\n`);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `${name} work`);
    git(dir, 'checkout', '-q', 'buffer');
    git(dir, 'merge', '-q', '--no-ff', '-m', message, name);
    return git(dir, 'rev-parse', 'HEAD');
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gitswarm-line-'));
    git(dir, 'init', '-q', '-b', 'buffer');
    writeFileSync(join(dir, 'README.md'), 'x\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'before GitSwarm');
    c.base = git(dir, 'rev-parse', 'HEAD');
    c.outside = mergeBranch('outside', 'Merge branch outside (not GitSwarm)');
    c.m1 = mergeBranch('one', 'Merge stream one into buffer\n\nStream: s-one\n');
    c.m2 = mergeBranch('two', 'Merge stream two into buffer\n\nStream: s-two\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the first-parent line: GitSwarm merges by trailer, nothing else counts', async () => {
    const line = await readBufferLine(dir, c.base as string, c.m2 as string);
    expect(line).toEqual([
      { commit: c.outside, stream: null, reverts: null },
      { commit: c.m1, stream: 's-one', reverts: null },
      { commit: c.m2, stream: 's-two', reverts: null },
    ]);
  });

  it('before any green: the range starts at the first GitSwarm merge’s parent', async () => {
    const { start, candidates } = await findRemoteBisectRange(dir, c.m2 as string);
    expect(start).toEqual({ commit: c.outside, kind: 'first_merge', green: null });
    expect(candidates.map((x) => x.commit)).toEqual([c.m1, c.m2]);
  });

  it('a revert starts the range after it; findRevertOf finds it between two heads', async () => {
    writeFileSync(join(dir, 'revert.txt'), 'undo\n');
    git(dir, 'add', '-A');
    git(
      dir,
      'commit',
      '-q',
      '-m',
      `Revert merge of stream one\n\nThis reverts merge ${c.m1}.\nStream: s-one\n`,
    );
    c.revert = git(dir, 'rev-parse', 'HEAD');
    c.m3 = mergeBranch('three', 'Merge stream three into buffer\n\nStream: s-three\n');
    const { start, candidates } = await findRemoteBisectRange(dir, c.m3 as string);
    expect(start).toEqual({ commit: c.revert, kind: 'revert', green: null });
    expect(candidates.map((x) => x.commit)).toEqual([c.m3]);
    expect(await findRevertOf(dir, c.m1 as string, c.m2 as string, c.m3 as string)).toBe(c.revert);
    expect(await findRevertOf(dir, c.m2 as string, c.m2 as string, c.m3 as string)).toBeNull();
    expect(await findRevertOf(dir, c.m1 as string, c.m3 as string, c.m3 as string)).toBeNull();
  });

  it('a green tag on the line bounds the range', async () => {
    git(dir, 'tag', '-a', '-m', 'green', 'green/20261202T000000Z', c.m3 as string);
    c.m4 = mergeBranch('four', 'Merge stream four into buffer\n\nStream: s-four\n');
    const { start, candidates } = await findRemoteBisectRange(dir, c.m4 as string);
    expect(start).toMatchObject({ commit: c.m3, kind: 'green', green: { name: 'green/20261202T000000Z' } });
    expect(candidates.map((x) => x.stream)).toEqual(['s-four']);
  });

  it('with no GitSwarm merge on the line there is nothing to bisect', async () => {
    expect(await findRemoteBisectRange(dir, c.outside as string)).toEqual({
      start: { commit: c.outside, kind: 'none', green: null },
      candidates: [],
    });
  });
});
