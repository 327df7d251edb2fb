import { type Executor, lockedTransaction } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';

/**
 * Runs a read-decide-write step in the caller's transaction when `db` is one, or else in a new
 * transaction under the repository's lock.
 *
 * A caller that hands in a transaction is responsible for holding the repository's lock (federation
 * and the council do): taking the lock from inside an open transaction could wait on a process that
 * is itself waiting for this transaction's database lock.
 */
export function inRepoTransaction<T>(
  deps: CoreDeps,
  db: Executor,
  repoId: string,
  work: (trx: Executor) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return work(db);
  return lockedTransaction(deps.store, repoId, work);
}
