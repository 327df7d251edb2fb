/**
 * A repository lock is waited for a bounded time: a holder that hangs makes the others fail with
 * `lock_timeout` (a clear error, exit 1, HTTP 503), where they once waited without end (PostgreSQL)
 * or failed with a plain error (SQLite). The limit is short here; it is two minutes by default.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGitSwarmError } from '../../src/errors.js';
import { lockedTransaction, openStore, type Store, withRepoLock } from '../../src/store/index.js';
import {
  DIALECTS,
  dialectLabel,
  itOnPostgresServer,
  openTestStore,
  type TestStore,
  withSkipReason,
} from '../helpers/store.js';

const WAIT_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds `repoId` on `store` until the returned `release` is called; resolves once held. */
async function hold(store: Store, repoId: string): Promise<{ release: () => void; done: Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held!: () => void;
  const isHeld = new Promise<void>((resolve) => {
    held = resolve;
  });
  const done = withRepoLock(store, repoId, async () => {
    held();
    await gate;
  });
  await isHeld;
  return { release, done };
}

/** The error `work` fails with, and how long it took to. */
async function failure(work: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await work();
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('expected the lock wait to fail');
}

function expectLockTimeout(outcome: { error: unknown; ms: number }, repoId: string): void {
  expect(isGitSwarmError(outcome.error, 'lock_timeout')).toBe(true);
  expect(outcome.error).toMatchObject({
    message: expect.stringContaining(`lock of repository ${repoId}`),
    details: { repo_id: repoId, waited_ms: WAIT_MS },
  });
  // Not before the limit (a timer may fire a millisecond early), nor long after it.
  expect(outcome.ms).toBeGreaterThanOrEqual(WAIT_MS - 5);
  expect(outcome.ms).toBeLessThan(WAIT_MS + 5_000);
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: a repository lock waited for too long`, () => {
    let store: TestStore;
    let bounded: Store;
    beforeEach(async () => {
      store = await openTestStore(dialect);
      bounded = await openStore(store.location, {
        ...(store.schema ? { schema: store.schema } : {}),
        migrate: false,
        lockWaitMs: WAIT_MS,
      });
    });
    afterEach(async () => {
      await bounded.close();
      await store.close();
    });

    it('fails a waiter of the same process with lock_timeout, and one that comes later still waits for the holder', async () => {
      const repoId = randomUUID();
      const holder = await hold(bounded, repoId);
      expectLockTimeout(await failure(() => withRepoLock(bounded, repoId, async () => {})), repoId);
      const order: string[] = [];
      const later = withRepoLock(bounded, repoId, async () => order.push('later'));
      await sleep(20);
      expect(order).toEqual([]);
      holder.release();
      await Promise.all([holder.done, later]);
      expect(order).toEqual(['later']);
      // Nothing is left queued: the lock is had at once.
      const again = await hold(bounded, repoId);
      again.release();
      await again.done;
    });

    it('keeps the place of those queued behind a waiter that gave up', async () => {
      const repoId = randomUUID();
      const holder = await hold(bounded, repoId);
      const timedOut = failure(() => withRepoLock(bounded, repoId, async () => {}));
      // Queued behind the one that will give up, with time left when it does.
      await sleep(WAIT_MS / 2);
      const order: string[] = [];
      const next = withRepoLock(bounded, repoId, async () => order.push('next'));
      expectLockTimeout(await timedOut, repoId);
      await sleep(20);
      expect(order).toEqual([]);
      holder.release();
      await Promise.all([holder.done, next]);
      expect(order).toEqual(['next']);
    });

    // Two stores on one database stand in for two processes (PGlite lives in one process only).
    const acrossProcesses =
      dialectLabel(dialect) === 'pglite' ? 'PGlite runs in one process; set TEST_DATABASE_URL' : null;
    it.skipIf(acrossProcesses !== null)(
      withSkipReason(
        'fails a waiter of another process with lock_timeout, for an operation and a transaction alike',
        acrossProcesses,
      ),
      async () => {
        const repoId = randomUUID();
        const holder = await hold(store, repoId);
        try {
          expectLockTimeout(await failure(() => withRepoLock(bounded, repoId, async () => {})), repoId);
          // On PostgreSQL the transaction's lock goes out with its first statement, and fails there.
          const transaction = () =>
            lockedTransaction(bounded, repoId, (trx) =>
              trx.selectFrom('gitswarm_repos').select('id').where('id', '=', repoId).execute(),
            );
          expectLockTimeout(await failure(transaction), repoId);
        } finally {
          holder.release();
          await holder.done;
        }
        // Once the holder is done, the other process has the lock at once.
        const after = await hold(bounded, repoId);
        after.release();
        await after.done;
      },
    );
  });
}

for (const dialect of DIALECTS) {
  itOnPostgresServer(dialect, 'a store that only took locks ends its connections when closed', async () => {
    const store = await openTestStore(dialect);
    try {
      const database = new URL(store.location).pathname.slice(1);
      const lockOnly = await openStore(store.location, { schema: store.schema, migrate: false });
      await withRepoLock(lockOnly, randomUUID(), async () => {});
      await lockOnly.close();
      // The lock's connection was its only one; closing the store ends it (the server may take a moment).
      const lockSessions = async () => {
        const { rows } = await sql<{ n: string }>`
          select count(*) as n from pg_stat_activity
          where datname = ${database} and pid <> pg_backend_pid() and query like '%pg_advisory_unlock%'`.execute(
          store.db,
        );
        return Number(rows[0]?.n);
      };
      const deadline = Date.now() + 3_000;
      while ((await lockSessions()) > 0 && Date.now() < deadline) await sleep(20);
      expect(await lockSessions()).toBe(0);
    } finally {
      await store.close();
    }
  });
}
