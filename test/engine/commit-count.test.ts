import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countCommitsAhead } from '../../src/engine/commit-count.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

describe('countCommitsAhead', () => {
  it('counts the commits of head that base lacks, and asks git once per pair and repository', async () => {
    const main = await repo.rev('main');
    await repo.commitOn('side', { 'a.txt': '1\n' });
    const side = await repo.commitOn('side', { 'a.txt': '2\n' });
    const gitCalls = recordGitCalls();
    await withCommandEnv(gitCalls.env, async () => {
      expect(await countCommitsAhead(repo.dir, main, side)).toBe(2);
      expect(await countCommitsAhead(repo.dir, side, main)).toBe(0);
      expect(await countCommitsAhead(repo.dir, main, side)).toBe(2);
      expect(await countCommitsAhead(repo.dir, side, side)).toBe(0);
    });
    expect(gitCalls.calls()).toEqual([
      `rev-list --count ${main}..${side} --`,
      `rev-list --count ${side}..${main} --`,
    ]);

    // The same pair in another repository is that repository's to count.
    const other = await makeRepo();
    try {
      await other.run(['fetch', '-q', repo.dir, 'side:side']);
      expect(await withCommandEnv(gitCalls.env, () => countCommitsAhead(other.dir, main, side))).toBe(2);
      expect(gitCalls.calls()).toHaveLength(3);
    } finally {
      other.cleanup();
    }
  });

  it('refuses what git cannot count (an unknown commit) and remembers nothing of it', async () => {
    const main = await repo.rev('main');
    const unknown = 'f'.repeat(40);
    await expect(countCommitsAhead(repo.dir, main, unknown)).rejects.toThrow();
    await expect(countCommitsAhead(repo.dir, main, unknown)).rejects.toThrow();
  });
});
