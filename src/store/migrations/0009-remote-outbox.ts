/**
 * Mode B offline work, kept in the clone's own store: the outbox (one ordered queue of the writes a
 * command could not send and the branch pushes it could not make, each write with its
 * Idempotency-Key so a replay happens once on the server), and the read cache (the last answer the
 * server gave for a read, served marked stale while it does not answer). Pushes share the writes'
 * order because a report must not reach the server before the commits it names were pushed.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function remoteOutboxMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const now = sql.raw(caps.defaults.now);
      await db.schema
        .createTable('gitswarm_outbox')
        .addColumn('id', sql.raw(t.uuid), (col) => col.primaryKey())
        .addColumn('seq', 'integer', (col) => col.notNull().unique())
        .addColumn('kind', sql.raw('varchar(10)'), (col) => col.notNull())
        .addColumn('server_url', sql.raw('varchar(2000)'), (col) => col.notNull())
        .addColumn('repo_id', sql.raw('varchar(100)'))
        .addColumn('agent', sql.raw('varchar(255)'))
        .addColumn('command', sql.raw('varchar(200)'), (col) => col.notNull())
        // A write: the request as it will be sent, and its key.
        .addColumn('method', sql.raw('varchar(10)'))
        .addColumn('path', sql.raw('varchar(2000)'))
        .addColumn('body', sql.raw(t.json))
        .addColumn('idempotency_key', sql.raw('varchar(100)'), (col) => col.notNull().unique())
        // A push: the ref, the remote, and (for a compare-and-swap) the value it must still have.
        .addColumn('remote', sql.raw('varchar(255)'))
        .addColumn('ref', sql.raw('varchar(255)'))
        .addColumn('old_value', sql.raw('varchar(64)'))
        .addColumn('new_value', sql.raw('varchar(64)'))
        .addColumn('state', sql.raw('varchar(10)'), (col) => col.notNull().defaultTo('pending'))
        .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull().defaultTo(now))
        .addColumn('updated_at', sql.raw(t.timestamp), (col) => col.notNull().defaultTo(now))
        .execute();
      await db.schema
        .createIndex('gitswarm_outbox_state_seq_idx')
        .on('gitswarm_outbox')
        .columns(['state', 'seq'])
        .execute();
      await db.schema
        .createTable('gitswarm_remote_cache')
        .addColumn('key', sql.raw('varchar(2500)'), (col) => col.primaryKey())
        .addColumn('payload', sql.raw(t.json), (col) => col.notNull())
        .addColumn('fetched_at', sql.raw(t.timestamp), (col) => col.notNull())
        .execute();
    },
  };
}
