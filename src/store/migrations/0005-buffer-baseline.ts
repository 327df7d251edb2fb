/**
 * The buffer's baseline: the commit the buffer started from when GitSwarm was set up. Bisection
 * without a green tag starts there, so a red run never searches the project's own history.
 */
import type { Kysely } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function bufferBaselineMigration(_caps: DialectCapabilities) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('gitswarm_repos').addColumn('buffer_baseline', 'varchar(64)').execute();
    },
  };
}
