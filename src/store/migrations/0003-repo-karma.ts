/**
 * Karma per repository: `gitswarm_repo_karma` holds each agent's karma in each repository (the
 * figure a repository's rules read), kept in step with the karma ledger, which already records the
 * repository of every change. Existing ledger rows with a repository are summed into it; rows
 * without one (none are written any more) stay in the agent's total only.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function repoKarmaMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('gitswarm_repo_karma')
        .addColumn('agent_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_agents.id').onDelete('cascade'),
        )
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('karma', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('updated_at', sql.raw(t.timestamp), (col) =>
          col.notNull().defaultTo(sql.raw(caps.defaults.now)),
        )
        .addPrimaryKeyConstraint('gitswarm_repo_karma_pk', ['agent_id', 'repo_id'])
        .execute();
      await db.schema
        .createIndex('gitswarm_repo_karma_repo')
        .on('gitswarm_repo_karma')
        .columns(['repo_id'])
        .execute();
      // Awards are given once per agent, repository and reason: this is the lookup.
      await db.schema
        .createIndex('gitswarm_review_karma_agent_repo_reason')
        .on('gitswarm_review_karma_transactions')
        .columns(['agent_id', 'repo_id', 'reason'])
        .execute();
      await sql`
        insert into gitswarm_repo_karma (agent_id, repo_id, karma, updated_at)
        select agent_id, repo_id, sum(amount), max(created_at)
        from gitswarm_review_karma_transactions
        where repo_id is not null
        group by agent_id, repo_id
      `.execute(db);
    },
  };
}
