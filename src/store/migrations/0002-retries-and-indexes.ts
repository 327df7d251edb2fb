/**
 * Durable webhook retries (a notification's next attempt is a column, so a restart resumes them)
 * and the indexes the council, election, stabilization and notification queries look up by.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function retriesAndIndexesMigration(caps: DialectCapabilities) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const index = (name: string, table: string, columns: string[]) =>
        db.schema.createIndex(name).on(table).columns(columns).execute();

      await db.schema
        .alterTable('gitswarm_agent_notifications')
        .addColumn('next_attempt_at', sql.raw(caps.columnTypes.timestamp))
        .execute();
      await index('gitswarm_agent_notifications_next_attempt', 'gitswarm_agent_notifications', [
        'next_attempt_at',
      ]);
      await index('gitswarm_agent_notifications_agent', 'gitswarm_agent_notifications', [
        'agent_id',
        'created_at',
      ]);
      await index('gitswarm_council_proposals_council', 'gitswarm_council_proposals', [
        'council_id',
        'status',
      ]);
      await index('gitswarm_council_elections_council', 'gitswarm_council_elections', [
        'council_id',
        'status',
      ]);
      await index('gitswarm_stabilizations_repo', 'gitswarm_stabilizations', ['repo_id', 'buffer_commit']);
      await index('gitswarm_promotions_repo', 'gitswarm_promotions', ['repo_id', 'to_branch', 'to_commit']);
      await index('gitswarm_stage_history_repo', 'gitswarm_stage_history', ['repo_id']);
      await index('gitswarm_review_karma_agent', 'gitswarm_review_karma_transactions', ['agent_id']);
    },
  };
}
