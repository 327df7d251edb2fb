import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely, Transaction } from 'kysely';
import type { Store } from './dialect.js';
import { holdRepoLock, holdRepoLockForTransaction } from './repo-lock.js';
import type { Database } from './schema.js';

/** A query builder that may or may not be inside a transaction; core functions take this. */
export type Executor = Kysely<Database> | Transaction<Database>;

const afterCommit = new WeakMap<Executor, (() => void)[]>();

/**
 * The journal of one retryable request (an HTTP write with an Idempotency-Key): each outermost
 * transaction the request runs writes its result into the journal *inside* that transaction, so a
 * crash can never leave a committed effect unrecorded. A retry after a crash replays the recorded
 * results in order instead of running those transactions again.
 */
export interface TransactionJournal {
  /** The recorded result of the request's next transaction, when an earlier attempt committed it. */
  replay(): { result: unknown } | undefined;
  /** Records `result` in `trx`, just before it commits; throwing rolls the transaction back. */
  record(trx: Transaction<Database>, result: unknown): Promise<void>;
}

const journals = new AsyncLocalStorage<TransactionJournal>();

/** Runs `work` with every outermost transaction it starts recorded in (or replayed from) `journal`. */
export function withTransactionJournal<T>(journal: TransactionJournal, work: () => T): T {
  return journals.run(journal, work);
}

/** Runs `work` in a transaction, or in the caller's transaction when `db` already is one. */
export async function inTransaction<T>(
  db: Executor,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return work(db as Transaction<Database>);
  const journal = journals.getStore();
  const replayed = journal?.replay();
  if (replayed) return replayed.result as T;
  let callbacks: (() => void)[] = [];
  const result = await db.transaction().execute(async (trx) => {
    callbacks = [];
    afterCommit.set(trx, callbacks);
    const value = await work(trx);
    if (journal) await journal.record(trx, value);
    return value;
  });
  // Listeners of committed changes (events, deliveries) are not part of the request's journal.
  journals.exit(() => {
    for (const callback of callbacks) callback();
  });
  return result;
}

/**
 * Runs `callback` once the outermost transaction of `db` has committed (at once outside a
 * transaction); nothing runs when it rolls back. Events are published this way, so no one hears
 * of a change that did not happen.
 */
export function onCommit(db: Executor, callback: () => void): void {
  const callbacks = db.isTransaction ? afterCommit.get(db) : undefined;
  if (callbacks) callbacks.push(callback);
  else callback();
}

/**
 * Runs `work` holding the repository's lock: read-decide-write steps (consensus then merge,
 * claim, vote then resolve) inside cannot interleave with another process's. `work` may run
 * several transactions and git steps; the lock is re-entrant within one call chain.
 */
export function withRepoLock<T>(store: Store, repoId: string, work: () => Promise<T>): Promise<T> {
  return holdRepoLock(store.locker, repoId, work);
}

/**
 * One transaction under the repository's lock. Across processes the lock covers the transaction's
 * statements (on PostgreSQL it is taken with the first of them, in the same round trip); work
 * outside the database that must be exclusive too belongs under withRepoLock.
 */
export function lockedTransaction<T>(
  store: Store,
  repoId: string,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return holdRepoLockForTransaction(store.locker, repoId, (beforeWork) =>
    inTransaction(store.db, async (trx) => {
      await beforeWork(trx);
      return work(trx);
    }),
  );
}
