/**
 * The store's one dialect seam: what differs between SQLite and PostgreSQL, as named capabilities.
 * Callers ask for a capability; nothing outside src/store/ branches on a dialect's name.
 */
import type { Kysely } from 'kysely';
import type { RepoLocker } from './repo-lock.js';
import type { Database } from './schema.js';

export interface ColumnTypes {
  /** Identifier columns holding UUIDs. */
  readonly uuid: 'uuid' | 'text';
  readonly timestamp: 'timestamptz' | 'text';
  readonly json: 'jsonb' | 'text';
  readonly boolean: 'boolean' | 'integer';
  readonly decimal: 'numeric(6,3)' | 'real';
  readonly bigint: 'bigint' | 'integer';
}

export interface DialectCapabilities {
  /** For messages and logs only. */
  readonly label: 'sqlite' | 'postgres' | 'pglite';
  readonly columnTypes: ColumnTypes;
  /** SQL expressions for column defaults. */
  readonly defaults: {
    readonly now: string;
    readonly emptyObject: string;
    readonly emptyArray: string;
    readonly false: string;
    readonly true: string;
  };
}

/** An open store: the typed query builder, what its dialect can do, and how to close it. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly capabilities: DialectCapabilities;
  /** Cross-process repository locks (see repo-lock.ts). */
  readonly locker: RepoLocker;
  close(): Promise<void>;
}
