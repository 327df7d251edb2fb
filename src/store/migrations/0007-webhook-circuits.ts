/**
 * Webhook circuit breakers: one row per target host (`host:port`) that has failed, with its run of
 * consecutive failures and, while deliveries there are suspended, when they resume.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function webhookCircuitsMigration(caps: DialectCapabilities) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const timestamp = sql.raw(caps.columnTypes.timestamp);
      await db.schema
        .createTable('gitswarm_webhook_circuits')
        .addColumn('target', sql.raw('varchar(300)'), (col) => col.primaryKey())
        .addColumn('consecutive_failures', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('open_until', timestamp)
        .addColumn('last_error', 'text')
        .addColumn('updated_at', timestamp, (col) => col.notNull().defaultTo(sql.raw(caps.defaults.now)))
        .execute();
    },
  };
}
