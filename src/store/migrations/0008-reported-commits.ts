/**
 * Mode B ties what a client reports to commits the server knows: the buffer head as last reported
 * (one row per repository), and each reported merge's parents (the buffer head it was made on and
 * the stream head it merged). Branch columns that held at most 100 characters on PostgreSQL take
 * what a branch name may be (200), as SQLite always did: the same input gets the same answer.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

const WIDENED_BRANCH_COLUMNS = [
  ['gitswarm_repos', 'buffer_branch'],
  ['gitswarm_repos', 'promote_target'],
  ['gitswarm_streams', 'base_branch'],
  ['gitswarm_merges', 'target_branch'],
  ['gitswarm_promotions', 'from_branch'],
  ['gitswarm_promotions', 'to_branch'],
] as const;

export function reportedCommitsMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gitswarm_buffer_heads')
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.primaryKey().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('head_commit', sql.raw('varchar(64)'), (col) => col.notNull())
        .addColumn('agent_id', sql.raw(t.uuid), (col) => col.references('gitswarm_agents.id'))
        .addColumn('updated_at', sql.raw(t.timestamp), (col) => col.notNull())
        .execute();
      await db.schema
        .alterTable('gitswarm_merges')
        .addColumn('base_commit', sql.raw('varchar(64)'))
        .execute();
      await db.schema
        .alterTable('gitswarm_merges')
        .addColumn('head_commit', sql.raw('varchar(64)'))
        .execute();
      // SQLite does not enforce varchar lengths (and cannot alter a column's type).
      if (caps.label !== 'sqlite') {
        for (const [table, column] of WIDENED_BRANCH_COLUMNS) {
          await db.schema
            .alterTable(table)
            .alterColumn(column, (col) => col.setDataType(sql.raw('varchar(255)')))
            .execute();
        }
      }
    },
  };
}
