/**
 * GitHub outbound: the one consensus comment GitSwarm keeps on each linked pull request, so every
 * later event edits it in place. A row with a null `comment_id` is a claim: the instance that
 * inserted it is creating the comment, and no other creates a second one.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function githubOutboundMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gitswarm_github_pr_comments')
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('pr_number', 'integer', (col) => col.notNull())
        .addColumn('comment_id', sql.raw(t.bigint))
        .addColumn('updated_at', sql.raw(t.timestamp), (col) => col.notNull())
        .addPrimaryKeyConstraint('gitswarm_github_pr_comments_pk', ['repo_id', 'pr_number'])
        .execute();
    },
  };
}
