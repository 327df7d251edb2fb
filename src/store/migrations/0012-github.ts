/**
 * GitHub (issue 14, inbound): the webhook deliveries already handled (deduplicated by
 * X-GitHub-Delivery), the App's installations and the repositories each can reach (kept current
 * by installation events), streams found by pull request, and one repository per GitHub
 * `owner/name` (compared without case, as GitHub does).
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function githubMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gitswarm_github_deliveries')
        .addColumn('delivery_id', sql.raw('varchar(100)'), (col) => col.primaryKey())
        .addColumn('event', sql.raw('varchar(60)'), (col) => col.notNull())
        .addColumn('action', sql.raw('varchar(60)'))
        .addColumn('repo_id', sql.raw(t.uuid))
        // What the delivery did: handled, ignored (and why), failed.
        .addColumn('outcome', sql.raw('varchar(200)'), (col) => col.notNull())
        .addColumn('received_at', sql.raw(t.timestamp), (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('gitswarm_github_deliveries_received')
        .on('gitswarm_github_deliveries')
        .column('received_at')
        .execute();
      await db.schema
        .createTable('gitswarm_github_installations')
        .addColumn('installation_id', sql.raw(t.bigint), (col) => col.primaryKey())
        .addColumn('account_login', sql.raw('varchar(100)'), (col) => col.notNull())
        .addColumn('account_type', sql.raw('varchar(40)'))
        .addColumn('suspended', sql.raw(t.boolean), (col) =>
          col.notNull().defaultTo(sql.raw(caps.defaults.false)),
        )
        .addColumn('created_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addColumn('updated_at', sql.raw(t.timestamp), (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('gitswarm_github_installation_repos')
        .addColumn('installation_id', sql.raw(t.bigint), (col) =>
          col.notNull().references('gitswarm_github_installations.installation_id').onDelete('cascade'),
        )
        .addColumn('github_repo_id', sql.raw(t.bigint), (col) => col.notNull())
        // Lowercase owner/name: GitHub's names are compared without case.
        .addColumn('full_name', sql.raw('varchar(255)'), (col) => col.notNull())
        .addPrimaryKeyConstraint('gitswarm_github_installation_repos_pk', [
          'installation_id',
          'github_repo_id',
        ])
        .execute();
      await db.schema
        .createIndex('gitswarm_github_installation_repos_name')
        .on('gitswarm_github_installation_repos')
        .column('full_name')
        .execute();
      await db.schema
        .createIndex('gitswarm_repos_github_full_name')
        .on('gitswarm_repos')
        .unique()
        .expression(sql`lower(github_full_name)`)
        .execute();
      await db.schema
        .createIndex('gitswarm_streams_github_pr')
        .on('gitswarm_streams')
        .columns(['repo_id', 'github_pr_number'])
        .execute();
    },
  };
}
