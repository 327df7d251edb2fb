export { batch, supportsPipelining, writtenRow } from './batch.js';
export { type OpenStoreOptions, openStore } from './connect.js';
export type { DialectCapabilities, Store } from './dialect.js';
export { migrateToLatest } from './migrate.js';
export { toJson } from './normalized-columns.js';
export { type QueryTemplate, queryTemplate } from './query-template.js';
export type { ReleaseLock, RepoLocker } from './repo-lock.js';
export type * from './schema.js';
export {
  type Executor,
  inTransaction,
  lockedTransaction,
  onCommit,
  type TransactionJournal,
  withRepoLock,
  withTransactionJournal,
} from './transaction.js';
