/**
 * Stream lists in creation order, capped (`gitswarm status`, `workspace list`): an index per
 * repository and status in that order, so the first N streams of a status are read from the
 * index instead of sorting every stream of the repository.
 */
import type { Kysely } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function streamListOrderMigration(_caps: DialectCapabilities) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('gitswarm_streams_repo_status_created')
        .on('gitswarm_streams')
        .columns(['repo_id', 'status', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('gitswarm_worktrees_repo_created')
        .on('gitswarm_worktrees')
        .columns(['repo_id', 'created_at', 'id'])
        .execute();
    },
  };
}
