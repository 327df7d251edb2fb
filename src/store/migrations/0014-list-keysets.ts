/**
 * Indexes for the keyset orders of the paginated lists (src/core/pagination.ts): each list's
 * filter column, then its sort keys, so a page is one index range scan whatever the cursor.
 */
import type { Kysely } from 'kysely';

export function listKeysetsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const index = (name: string, table: string, columns: string[]) =>
        db.schema.createIndex(name).on(table).columns(columns).execute();
      await index('gitswarm_streams_repo_created', 'gitswarm_streams', ['repo_id', 'created_at', 'id']);
      await index('gitswarm_tasks_repo_created', 'gitswarm_tasks', ['repo_id', 'created_at', 'number']);
      await index('gitswarm_activity_log_repo_keyset', 'gitswarm_activity_log', [
        'repo_id',
        'created_at',
        'id',
      ]);
      await index('gitswarm_activity_log_created', 'gitswarm_activity_log', ['created_at', 'id']);
      await index('gitswarm_stream_reviews_stream_reviewed', 'gitswarm_stream_reviews', [
        'stream_id',
        'reviewed_at',
        'id',
      ]);
      // The (repo_id, created_at) index is a prefix of the keyset one.
      await db.schema.dropIndex('gitswarm_activity_log_repo_created').execute();
    },
  };
}
