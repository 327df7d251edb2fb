/**
 * Repository locks: one holder at a time per repository, across processes, for the length of an
 * operation that may span several transactions and git steps (record intent, move a ref, record
 * completion). A crashed holder's lock is released by the operating system or the server.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type Kysely } from 'kysely';
import { GitSwarmError } from '../errors.js';
import { TRANSACTION_LOCK_SQL } from './postgres-prepared.js';
import type { Database } from './schema.js';

export type ReleaseLock = () => Promise<void>;

export interface RepoLocker {
  acquire(repoId: string): Promise<ReleaseLock>;
  /**
   * Where the database has transaction-scoped locks (PostgreSQL), the lock for the length of one
   * transaction: the in-process queue, then `take` as the transaction's first statement, let go
   * by its commit or rollback. It excludes holders of `acquire` and is excluded by them. The
   * statement goes out with the transaction's next one (postgres-prepared.ts), so the database's
   * lock covers the transaction's statements, not what runs before the first of them.
   */
  readonly forTransaction?: {
    readonly inProcess: RepoLocker;
    take(trx: Kysely<Database>, repoId: string): Promise<void>;
    /** The database's own limit on the wait (its `lock_timeout`), for the refusal's message. */
    readonly waitMs: number;
  };
}

/**
 * How long a command waits for a repository's lock before it fails with `lock_timeout`. A lock is
 * held for a merge, a revert, a promotion or a push to a clone's remote, never for a test run, so
 * a wait this long means a holder that hangs or a remote that does not answer: failing says so,
 * where waiting would hang this command too.
 */
export const DEFAULT_LOCK_WAIT_MS = 120_000;

/** The refusal of a lock not had within `waitMs`. */
export function lockTimeout(repoId: string, waitMs: number, cause?: unknown): GitSwarmError {
  return new GitSwarmError(
    'lock_timeout',
    `Waited ${waitMs >= 1000 ? `${waitMs / 1000} s` : `${waitMs} ms`} for the lock of repository ${repoId}; another command still holds it.`,
    { details: { repo_id: repoId, waited_ms: waitMs }, cause },
  );
}

/** An in-process queue per key: the fairness and the whole lock within one process. */
export function memoryLocker(waitMs = DEFAULT_LOCK_WAIT_MS): RepoLocker {
  const tails = new Map<string, Promise<void>>();
  return {
    async acquire(repoId) {
      const previous = tails.get(repoId);
      let release!: () => void;
      const current = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = (previous ?? Promise.resolve()).then(() => current);
      tails.set(repoId, tail);
      // Letting go before the holders ahead did (a timed-out waiter) leaves those behind waiting
      // for them: the queue's tail settles only when they are done.
      const letGo = async () => {
        release();
        await tail;
        if (tails.get(repoId) === tail) tails.delete(repoId);
      };
      if (previous && !(await settlesWithin(previous, waitMs))) {
        void letGo();
        throw lockTimeout(repoId, waitMs);
      }
      return letGo;
    },
  };
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A SQLite file locker: its lock databases stay open between holds, until `close`. */
export interface SqliteFileLocker extends RepoLocker {
  close(): void;
}

/**
 * Cross-process lock for SQLite stores: an IMMEDIATE transaction held open on a small lock
 * database beside the store's file. Waiters poll every few milliseconds instead of SQLite's
 * coarse busy back-off, so a freed lock is taken again quickly. A lock database stays open for the
 * next hold (opening one costs more than the hold itself in a command server), and is opened again
 * when its file was replaced meanwhile: the lock is the file, not the handle.
 */
export function sqliteFileLocker(
  openDatabase: (file: string) => BetterSqlite3.Database,
  dbFile: string,
  waitMs = DEFAULT_LOCK_WAIT_MS,
): SqliteFileLocker {
  const inProcess = memoryLocker(waitMs);
  const lockDir = join(dirname(dbFile), 'locks');
  const open = new Map<string, { db: BetterSqlite3.Database; inode: number }>();

  /** The lock database of `repoId`, open on the file now at its path. */
  function lockDatabase(repoId: string): BetterSqlite3.Database {
    const file = join(lockDir, `${repoId.replace(/[^A-Za-z0-9_-]/g, '_')}.lock`);
    const cached = open.get(repoId);
    if (cached && inodeOf(file) === cached.inode) return cached.db;
    forget(repoId);
    mkdirSync(lockDir, { recursive: true });
    const db = openDatabase(file);
    try {
      db.pragma('busy_timeout = 0');
      open.set(repoId, { db, inode: inodeOf(file) ?? -1 });
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  }

  function forget(repoId: string): void {
    open.get(repoId)?.db.close();
    open.delete(repoId);
  }

  return {
    async acquire(repoId) {
      const started = Date.now(); // one deadline for the wait in this process and the file's
      const releaseInProcess = await inProcess.acquire(repoId);
      try {
        const db = lockDatabase(repoId);
        for (let attempt = 0; ; attempt++) {
          try {
            db.exec('begin immediate');
            break;
          } catch (error) {
            if ((error as { code?: string }).code !== 'SQLITE_BUSY') {
              forget(repoId); // not a held lock but a failing database: open it afresh next time
              throw error;
            }
            if (Date.now() - started > waitMs) throw lockTimeout(repoId, waitMs);
            await sleep(Math.min(1 + attempt, 4) + Math.random() * 2);
          }
        }
        return async () => {
          try {
            // A store closed while this hold lasted (a command server's last minute) closed it too.
            if (db.open) db.exec('rollback');
          } finally {
            await releaseInProcess();
          }
        };
      } catch (error) {
        await releaseInProcess();
        throw error;
      }
    },
    close() {
      for (const { db } of open.values()) db.close();
      open.clear();
    },
  };
}

function inodeOf(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}

interface AdvisoryClient {
  query(sql: string, params: unknown[]): Promise<unknown>;
  release(): void;
}

/**
 * Cross-process lock for PostgreSQL stores: a session advisory lock on a dedicated connection.
 * The connections' `lock_timeout` (`waitMs`, set by postgres-dialect.ts) bounds the database's wait.
 */
export function advisoryLocker(
  connect: () => Promise<AdvisoryClient>,
  waitMs = DEFAULT_LOCK_WAIT_MS,
): RepoLocker {
  const inProcess = memoryLocker(waitMs);
  return {
    // Session and transaction advisory locks on one key exclude each other.
    forTransaction: {
      inProcess,
      async take(trx, repoId) {
        await trx.executeQuery(CompiledQuery.raw(TRANSACTION_LOCK_SQL, [repoId]));
      },
      waitMs,
    },
    async acquire(repoId) {
      const releaseInProcess = await inProcess.acquire(repoId);
      let client: AdvisoryClient | undefined;
      try {
        client = await connect();
        await client.query('select pg_advisory_lock(hashtextextended($1, 0))', [repoId]);
      } catch (error) {
        client?.release();
        await releaseInProcess();
        throw isLockNotAvailable(error) ? lockTimeout(repoId, waitMs, error) : error;
      }
      const held = client;
      return async () => {
        try {
          await held.query('select pg_advisory_unlock(hashtextextended($1, 0))', [repoId]);
        } finally {
          held.release();
          await releaseInProcess();
        }
      };
    },
  };
}

/** PostgreSQL's `lock_not_available`: a wait for a lock ran past `lock_timeout`. */
function isLockNotAvailable(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

const heldLocks = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * Runs `work` in one transaction holding the repository's lock: with a transaction-scoped lock
 * where the locker has one (no second connection, no unlock round trip), else around it.
 */
export async function holdRepoLockForTransaction<T>(
  locker: RepoLocker,
  repoId: string,
  transaction: (beforeWork: (trx: Kysely<Database>) => Promise<void>) => Promise<T>,
): Promise<T> {
  const held = heldLocks.getStore();
  const scoped = locker.forTransaction;
  if (held?.has(repoId)) return transaction(async () => {});
  if (!scoped) return holdRepoLock(locker, repoId, () => transaction(async () => {}));
  const release = await scoped.inProcess.acquire(repoId);
  try {
    return await heldLocks.run(new Set([...(held ?? []), repoId]), () =>
      transaction((trx) => scoped.take(trx, repoId)),
    );
  } catch (error) {
    // The lock goes out with the transaction's first statement, so its wait fails there.
    throw isLockNotAvailable(error) ? lockTimeout(repoId, scoped.waitMs, error) : error;
  } finally {
    await release();
  }
}

/**
 * Runs `work` holding the repository's lock. Re-entrant within one async call chain, so a core
 * function that takes the lock may call another that does too.
 */
export async function holdRepoLock<T>(
  locker: RepoLocker,
  repoId: string,
  work: () => Promise<T>,
): Promise<T> {
  const held = heldLocks.getStore();
  if (held?.has(repoId)) return work();
  const release = await locker.acquire(repoId);
  try {
    return await heldLocks.run(new Set([...(held ?? []), repoId]), work);
  } finally {
    await release();
  }
}
