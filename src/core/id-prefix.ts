/**
 * Rows named the way people type them: the whole id, or a unique prefix of it (at least four hex
 * characters), as `git` accepts abbreviated object ids.
 */
import { type SelectQueryBuilder, sql } from 'kysely';
import { GitSwarmError } from '../errors.js';
import { isUuid } from '../util/ids.js';

/** The row of `query` (one table, already narrowed) whose id is `ref` or starts with it. */
export async function findByIdOrPrefix<DB, TB extends keyof DB, Row>(
  query: SelectQueryBuilder<DB, TB, Row>,
  ref: string,
  noun: string,
): Promise<Row | undefined> {
  if (isUuid(ref)) return query.where(sql<string>`id`, '=', ref.toLowerCase()).executeTakeFirst();
  if (!/^[0-9a-f-]{4,36}$/i.test(ref)) return undefined;
  const rows = await query
    .where(sql<string>`cast(id as text)`, 'like', `${ref.toLowerCase()}%`)
    .limit(2)
    .execute();
  if (rows.length > 1) {
    throw new GitSwarmError('invalid_input', `The ${noun} id prefix ${ref} is ambiguous; give more of it.`);
  }
  return rows[0];
}
