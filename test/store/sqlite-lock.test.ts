import { randomUUID } from 'node:crypto';
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store, withRepoLock } from '../../src/store/index.js';
import { lockOrder, sqliteWaiterWindow } from '../helpers/lock-order.js';
import { openTestStore, type TestStore } from '../helpers/store.js';

// Two stores on one file stand in for two processes: each has its own lock databases.
describe('sqlite: the repository lock file', () => {
  let first: TestStore;
  let second: Store;
  beforeEach(async () => {
    first = await openTestStore('sqlite');
    second = await openStore(first.location);
  });
  afterEach(async () => {
    await second.close();
    await first.close();
  });

  const lockDir = () => join(dirname(first.location), 'locks');

  /** Holds `repoId` on `holder` while `waiter` asks for it: the order the two ran in. */
  const contend = (holder: Store, waiter: Store, repoId: string) =>
    lockOrder(
      (id, work) => withRepoLock(holder, id, work),
      (id, work) => withRepoLock(waiter, id, work),
      repoId,
      sqliteWaiterWindow,
    );

  it('still excludes the other store when it holds the same repository again', async () => {
    const repoId = randomUUID();
    for (let round = 0; round < 3; round++) {
      expect(await contend(first, second, repoId)).toEqual(['released', 'holder', 'waiter']);
      expect(await contend(second, first, repoId)).toEqual(['released', 'holder', 'waiter']);
    }
  });

  it('locks the file now at the path when the one it held before was removed', async () => {
    const repoId = randomUUID();
    await withRepoLock(first, repoId, async () => {});
    // The lock database `first` held before is gone; `second` creates a new one at the path.
    rmSync(lockDir(), { recursive: true });
    expect(await contend(second, first, repoId)).toEqual(['released', 'holder', 'waiter']);
    expect(await contend(first, second, repoId)).toEqual(['released', 'holder', 'waiter']);
  });

  it('ends a hold quietly when its store was closed during it, and leaves the lock free', async () => {
    const other = await openStore(first.location);
    const repoId = randomUUID();
    await withRepoLock(other, repoId, async () => {
      await other.close();
    });
    expect(await contend(first, second, repoId)).toEqual(['released', 'holder', 'waiter']);
  });

  it.skipIf(process.platform !== 'linux')('closes its lock databases with the store', async () => {
    const openLockFiles = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(lockDir());
        } catch {
          return false; // closed while listing
        }
      }).length;
    const other = await openStore(first.location);
    await withRepoLock(other, randomUUID(), async () => {});
    await withRepoLock(other, randomUUID(), async () => {});
    const held = openLockFiles();
    expect(held).toBeGreaterThanOrEqual(2);
    await other.close();
    expect(openLockFiles()).toBe(held - 2);
  });
});
