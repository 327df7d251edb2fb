/**
 * diffFingerprint on real git: the same change on another base keeps its fingerprint; any change
 * to the change (text, a binary file, a deletion) alters it; the user's diff configuration does
 * not; an empty change has a fixed fingerprint; a missing revision fails cleanly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diffFingerprint, EMPTY_DIFF_FINGERPRINT } from '../../src/engine/patch-id.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

describe('diffFingerprint', () => {
  it('is the same for the same change on a moved base, and differs for another change', async () => {
    const lines = (changes: Record<number, string>) =>
      Array.from({ length: 30 }, (_, i) => changes[i + 1] ?? `line ${i + 1}`).join('\n');
    await repo.commitOn('main', { 'long.txt': lines({}) });
    await repo.commitOn('topic', { 'long.txt': lines({ 25: 'CHANGED' }) }, undefined, 'main');
    const before = await diffFingerprint(repo.dir, 'main', 'topic');
    expect(before).toMatch(/^[0-9a-f]{40}$/);

    // main moves (an unrelated file, and a far line of the same file); the change replayed on it.
    await repo.commitOn('main', { 'other.txt': 'x\n', 'long.txt': lines({ 2: 'FAR' }) });
    await repo.commitOn('replayed', { 'long.txt': lines({ 2: 'FAR', 25: 'CHANGED' }) }, undefined, 'main');
    expect(await diffFingerprint(repo.dir, 'main', 'replayed')).toBe(before);
    // topic itself, still on the old base: its merge base with main is the old one.
    expect(await diffFingerprint(repo.dir, 'main', 'topic')).toBe(before);
    // A change of the base next to the stream's change alters the patch's context: not the same.
    await repo.commitOn('main', { 'long.txt': lines({ 2: 'FAR', 24: 'NEAR' }) });
    await repo.commitOn(
      'near',
      { 'long.txt': lines({ 2: 'FAR', 24: 'NEAR', 25: 'CHANGED' }) },
      undefined,
      'main',
    );
    expect(await repo.run(['diff', '--stat', 'main', 'near'])).toMatch(/1 insertion.*1 deletion/);
    expect(await diffFingerprint(repo.dir, 'main', 'near')).not.toBe(before);

    await repo.commitOn('topic', { 'long.txt': lines({ 25: 'CHANGED!' }) });
    expect(await diffFingerprint(repo.dir, 'main', 'topic')).not.toBe(before);
  });

  it('sees binary content, deletions and new files', async () => {
    await repo.commitOn('bin', { 'b.bin': 'a\0b1' });
    const first = await diffFingerprint(repo.dir, 'main', 'bin');
    await repo.commitOn('bin', { 'b.bin': 'a\0b2' });
    const second = await diffFingerprint(repo.dir, 'main', 'bin');
    expect(second).not.toBe(first);
    await repo.commitOn('gone', { 'lines.txt': null });
    await repo.commitOn('emptied', { 'lines.txt': '' });
    expect(await diffFingerprint(repo.dir, 'main', 'gone')).not.toBe(
      await diffFingerprint(repo.dir, 'main', 'emptied'),
    );
  });

  it("does not depend on the user's diff configuration", async () => {
    await repo.commitOn('topic', { 'lines.txt': 'one\ntwo\nTHREE\nfour\nfive\n', 'moved.txt': 'm\n' });
    const plain = await diffFingerprint(repo.dir, 'main', 'topic');
    for (const [key, value] of [
      ['diff.noprefix', 'true'],
      ['diff.mnemonicPrefix', 'true'],
      ['color.ui', 'always'],
      ['diff.algorithm', 'patience'],
      ['diff.renames', 'copies'],
      ['diff.external', 'false'],
    ] as const) {
      await repo.run(['config', key, value]);
    }
    expect(await diffFingerprint(repo.dir, 'main', 'topic')).toBe(plain);
  });

  it('gives the empty fingerprint for no change, and fails cleanly on a missing revision', async () => {
    await repo.branch('same');
    expect(await diffFingerprint(repo.dir, 'main', 'same')).toBe(EMPTY_DIFF_FINGERPRINT);
    await expect(diffFingerprint(repo.dir, 'main', 'nope')).rejects.toMatchObject({ code: 'git_failed' });
    await expect(diffFingerprint(repo.dir, 'main', '--output=/tmp/x')).rejects.toMatchObject({
      code: 'invalid_input',
    });
  });
});
