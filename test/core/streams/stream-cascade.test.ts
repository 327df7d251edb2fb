import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { branchHeads } from '../../../src/core/streams/stream-cascade.js';
import { makeRepo, type TestRepo } from '../../helpers/git-fixture.js';

let repo: TestRepo;
beforeEach(async () => {
  repo = await makeRepo();
});
afterEach(() => repo.cleanup());

describe('branchHeads', () => {
  it('reads several branch heads in order, and names a missing branch', async () => {
    const main = await repo.rev('main');
    const feat = await repo.commitOn('feat', { 'f.txt': 'f\n' });
    expect(await branchHeads(repo.dir, ['feat', 'main'])).toEqual([feat, main]);
    expect(await branchHeads(repo.dir, ['main'])).toEqual([main]);
    await expect(branchHeads(repo.dir, ['main', 'missing'])).rejects.toMatchObject({
      code: 'invalid_state',
      details: { branch: 'missing' },
    });
  });
});
