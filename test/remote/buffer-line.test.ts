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
    expect(await findRevertOf(dir, c.m1 as string, c.m1 as string, c.m3 as string)).toBe(c.revert);
    // The revert carries its stream's trailer but is no merge; the tested head is never the start.
    expect((await readBufferLine(dir, c.m2 as string, c.revert as string))[0]).toEqual({
      commit: c.revert,
      stream: null,
      reverts: c.m1,
    });
    const atRevert = await findRemoteBisectRange(dir, c.revert as string);
    expect(atRevert.start.kind).toBe('first_merge');
    expect(atRevert.candidates.map((x) => x.commit)).toEqual([c.m1, c.m2]);
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

  it('a revert right after the green tag starts the range', async () => {
    git(dir, 'tag', '-a', '-m', 'green', 'green/20261202T000001Z', c.m4 as string);
    writeFileSync(join(dir, 'revert4.txt'), 'undo\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `Revert merge of stream four\n\nThis reverts merge ${c.m4}.\n`);
    c.revert4 = git(dir, 'rev-parse', 'HEAD');
    c.m5 = mergeBranch('five', 'Merge stream five into buffer\n\nStream: s-five\n');
    const { start, candidates } = await findRemoteBisectRange(dir, c.m5 as string);
    expect(start).toMatchObject({ commit: c.revert4, kind: 'revert' });
    expect(candidates.map((x) => x.stream)).toEqual(['s-five']);
  });

  it('only whole trailer lines count: look-alike text names no stream and no revert', async () => {
    const merge = mergeBranch('lookalike', 'Merge lookalike\n\nUpstream: s-up\nStream: two words\n');
    writeFileSync(join(dir, 'note.txt'), 'note\n');
    git(dir, 'add', '-A');
    git(
      dir,
      'commit',
      '-q',
      '-m',
      `Note\n\nSee: This reverts merge ${c.m5}.\nThis reverts merge ${c.m5}. Or not.\n`,
    );
    const note = git(dir, 'rev-parse', 'HEAD');
    expect(await readBufferLine(dir, c.m5 as string, note)).toEqual([
      { commit: merge, stream: null, reverts: null },
      { commit: note, stream: null, reverts: null },
    ]);
  });

  it('refuses a revision that is not one', async () => {
    await expect(readBufferLine(dir, null, '--output=x')).rejects.toThrow();
  });

  it('with no GitSwarm merge on the line there is nothing to bisect', async () => {
    expect(await findRemoteBisectRange(dir, c.outside as string)).toEqual({
      start: { commit: c.outside, kind: 'none', green: null },
      candidates: [],
    });
  });
});
