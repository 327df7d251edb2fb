import type { Kysely, Transaction } from 'kysely';
import type { Store } from './dialect.js';
import type { Database } from './schema.js';

export type Executor = Kysely<Database> | Transaction<Database>;

/**
 * Runs `work` in one transaction holding the repository's write lock, so that a read-decide-write
 * (consensus then merge, claim, vote then resolve) cannot interleave with another process's.
 */
export async function withRepoLock<T>(
  store: Store,
  repoId: string,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return store.db.transaction().execute(async (trx) => {
    await store.capabilities.lockRepo(trx, repoId);
    return work(trx);
  });
}
