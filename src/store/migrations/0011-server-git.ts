/**
 * Mode C: repositories whose git the server holds (`server_git`), the upstream they are pushed
 * to and how that push fares, and the server's stabilization runs, durable jobs leased by one
 * server instance at a time.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function serverGitMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  const d = caps.defaults;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const addRepoColumn = (
        name: string,
        type: string,
        build: Parameters<ReturnType<Kysely<unknown>['schema']['alterTable']>['addColumn']>[2] = (c) => c,
      ) => db.schema.alterTable('gitswarm_repos').addColumn(name, sql.raw(type), build).execute();
      await addRepoColumn('server_git', t.boolean, (col) => col.notNull().defaultTo(sql.raw(d.false)));
      await addRepoColumn('remote_url', 'varchar(2000)');
      // null: no upstream; 'ok' | 'pending' (a push is owed) | 'failing' (the last attempt failed).
      await addRepoColumn('upstream_status', 'varchar(20)');
      await addRepoColumn('upstream_error', 'text');
      await addRepoColumn('upstream_attempts', 'integer', (col) => col.notNull().defaultTo(0));
      await addRepoColumn('upstream_next_at', t.timestamp);

      await db.schema
        .createTable('gitswarm_stabilize_runs')
        .addColumn('id', sql.raw(t.uuid), (col) => col.primaryKey())
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('requested_by', sql.raw(t.uuid), (col) => col.references('gitswarm_agents.id'))
        // queued | running | green | red | flaky | error
        .addColumn('status', sql.raw('varchar(20)'), (col) => col.notNull().defaultTo('queued'))
        .addColumn('buffer_commit', sql.raw('varchar(64)'))
        .addColumn('stabilization_id', sql.raw(t.uuid), (col) => col.references('gitswarm_stabilizations.id'))
        .addColumn('tag', sql.raw('varchar(200)'))
        .addColumn('breaking_stream_id', sql.raw('varchar(36)'))
        .addColumn('reverted', sql.raw(t.boolean), (col) => col.notNull().defaultTo(sql.raw(d.false)))
        .addColumn('task_id', sql.raw(t.uuid))
        .addColumn('log_tail', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('error', 'text')
        // The instance running it and until when its claim holds; another takes over after that.
        .addColumn('lease_owner', sql.raw('varchar(100)'))
        .addColumn('lease_until', sql.raw(t.timestamp))
        .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addColumn('started_at', sql.raw(t.timestamp))
        .addColumn('finished_at', sql.raw(t.timestamp))
        .execute();
      await db.schema
        .createIndex('gitswarm_stabilize_runs_repo_status')
        .on('gitswarm_stabilize_runs')
        .columns(['repo_id', 'status'])
        .execute();
    },
  };
}
