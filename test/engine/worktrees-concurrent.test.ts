import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDetachedWorktree } from '../../src/engine/worktrees.js';
import { makeRepo, type TestRepo } from '../helpers/git-fixture.js';

describe('throw-away worktrees made at the same moment', () => {
  let repo: TestRepo;
  beforeAll(async () => {
    repo = await makeRepo();
  });
  afterAll(() => repo.cleanup());

  // git reads every worktree's admin folder while adding one, and failed on a sibling being added
  // at that instant ("failed to read …/commondir"); two stabilize runs at once met it.
  it('24 at once all get their worktree, and every one is removed', async () => {
    const main = await repo.rev('main');
    const seen: string[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, () =>
        withDetachedWorktree(repo.dir, main, async (path) => {
          seen.push(path);
          return readFileSync(join(path, 'README.md'), 'utf8');
        }),
      ),
    );
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
    expect(failures).toEqual([]);
    expect(new Set(seen).size).toBe(24);
    expect(seen.some((path) => existsSync(path))).toBe(false);
    expect((await repo.run(['worktree', 'list', '--porcelain'])).match(/^worktree /gm)).toHaveLength(1);
  });
});
