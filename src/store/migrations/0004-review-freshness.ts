/**
 * Reviews follow the code: each verdict records the stream head it was given on and the
 * fingerprint of the stream's diff then; the repository says whether verdicts on code that has
 * since changed still count (`stale_reviews`); fingerprints are cached per head.
 */
import { type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

export function reviewFreshnessMigration(caps: DialectCapabilities) {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const t = caps.columnTypes;
      await db.schema
        .alterTable('gitswarm_repos')
        .addColumn('stale_reviews', sql.raw('varchar(20)'), (col) => col.notNull().defaultTo('dismiss'))
        .execute();
      // Reviews recorded before this migration keep null here (see docs/reviews.md).
      await db.schema
        .alterTable('gitswarm_stream_reviews')
        .addColumn('head_commit', sql.raw('varchar(64)'))
        .execute();
      await db.schema
        .alterTable('gitswarm_stream_reviews')
        .addColumn('diff_fingerprint', sql.raw('varchar(64)'))
        .execute();
      await db.schema
        .createTable('gitswarm_diff_fingerprints')
        .addColumn('repo_id', sql.raw(t.uuid), (col) =>
          col.notNull().references('gitswarm_repos.id').onDelete('cascade'),
        )
        .addColumn('base_branch', sql.raw('varchar(255)'), (col) => col.notNull())
        .addColumn('head_commit', sql.raw('varchar(64)'), (col) => col.notNull())
        .addColumn('fingerprint', sql.raw('varchar(64)'), (col) => col.notNull())
        .addColumn('created_at', sql.raw(t.timestamp), (col) =>
          col.notNull().defaultTo(sql.raw(caps.defaults.now)),
        )
        .addPrimaryKeyConstraint('gitswarm_diff_fingerprints_pk', ['repo_id', 'base_branch', 'head_commit'])
        .execute();
    },
  };
}
