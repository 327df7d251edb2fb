/**
 * Imports of Mode A repositories into a server (core/repos/import.ts): one record per repository being
 * imported (who imports it, which local agent the importer is, whether it is finished) and the
 * agents each import created, the only agents (with the importer) its rows may name.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function importsMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gitswarm_imports')
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.primaryKey().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('importer_id', sql.raw(t.uuid), (col) => col.notNull().references('gitswarm_agents.id'))
        .addColumn('local_agent_id', sql.raw('varchar(36)'))
        .addColumn('source_repo_id', sql.raw('varchar(36)'))
        .addColumn('status', sql.raw('varchar(20)'), (col) => col.notNull().defaultTo('open'))
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addColumn('finished_at', sql.raw(t.timestamp))
        .execute();
      await db.schema
        .createTable('gitswarm_import_agents')
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('agent_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_agents.id').onDelete('cascade'),
        )
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addPrimaryKeyConstraint('gitswarm_import_agents_pk', ['repo_id', 'agent_id'])
        .execute();
    },
  };
}
