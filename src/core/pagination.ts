/**
 * Keyset pagination for list routes (`?limit=N&cursor=C` → `next_cursor`). A cursor is the sort
 * key of the last row of a page, as base64url JSON: opaque to clients, checked when read back
 * (a malformed one is 400 `invalid_cursor`). Each page is "rows strictly after the cursor in the
 * list's order", never an OFFSET: rows inserted between pages neither shift nor repeat the rest.
 *
 * Every key list ends with a unique column (an id or a per-repository number), so the order is
 * total. Timestamps compare as the ISO text the store reads and writes (milliseconds).
 */
import type { Expression, ExpressionBuilder, SelectQueryBuilder, SqlBool } from 'kysely';
import { GitSwarmError } from '../errors.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export interface Page<Row> {
  rows: Row[];
  /** The cursor of the next page, or null when this one is the last. */
  nextCursor: string | null;
}

type KeyValue = string | number;

/** One sort key of a list: what is ordered by, which way, and the row's value of it. */
export interface KeysetKey<Row> {
  /** A column name of the query, or an expression over its row. */
  // biome-ignore lint/suspicious/noExplicitAny: each list's query has its own tables
  by: string | ((eb: ExpressionBuilder<any, any>) => Expression<KeyValue>);
  direction: 'asc' | 'desc';
  type: 'string' | 'number';
  value(row: Row): KeyValue;
}

/** The cursor of a row: its key values, opaque to clients. */
export function encodeCursor(values: readonly KeyValue[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** The key values a cursor carries; 400 `invalid_cursor` unless it fits the list's keys. */
export function decodeCursor<Row>(cursor: string, keys: readonly KeysetKey<Row>[]): KeyValue[] {
  let values: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    values = undefined;
  }
  const fits =
    Array.isArray(values) &&
    values.length === keys.length &&
    values.every(
      (value, i) => typeof value === keys[i]?.type && (typeof value !== 'number' || Number.isFinite(value)),
    );
  if (!fits) {
    throw new GitSwarmError('invalid_cursor', 'The cursor is not one this list gave out.', {
      hint: 'Pass next_cursor from the previous page unchanged, or leave cursor out for the first page.',
    });
  }
  return values as KeyValue[];
}

/** The page size asked for, within 1..MAX_PAGE_LIMIT. */
export function pageLimit(limit: number | undefined, fallback = DEFAULT_PAGE_LIMIT): number {
  return Math.min(Math.max(Math.trunc(limit ?? fallback), 1), MAX_PAGE_LIMIT);
}

/**
 * One page of `query` in the keys' order, after `page.cursor` when given. The query brings its
 * filters; this adds the order, the keyset condition and the limit (one row more, to tell
 * whether another page follows).
 */
export async function keysetPage<DB, TB extends keyof DB, Row>(
  query: SelectQueryBuilder<DB, TB, Row>,
  keys: readonly KeysetKey<Row>[],
  page: PageRequest,
  defaultLimit = DEFAULT_PAGE_LIMIT,
): Promise<Page<Row>> {
  const planned = keysetPageQuery(query, keys, page, defaultLimit);
  return planned.finish(await planned.query.execute());
}

/**
 * keysetPage in two steps, for callers that send the query with others (batch.ts): the query to
 * run, and what makes the page of its rows.
 */
export function keysetPageQuery<DB, TB extends keyof DB, Row>(
  query: SelectQueryBuilder<DB, TB, Row>,
  keys: readonly KeysetKey<Row>[],
  page: PageRequest,
  defaultLimit = DEFAULT_PAGE_LIMIT,
): { query: SelectQueryBuilder<DB, TB, Row>; finish: (rows: Row[]) => Page<Row> } {
  const limit = pageLimit(page.limit, defaultLimit);
  // biome-ignore lint/suspicious/noExplicitAny: the keys name columns of this query
  let q = query as SelectQueryBuilder<any, any, Row>;
  if (page.cursor !== undefined) {
    const values = decodeCursor(page.cursor, keys);
    q = q.where((eb) => after(eb, keys, values, 0));
  }
  return {
    query: orderByKeys(q, keys).limit(limit + 1) as SelectQueryBuilder<DB, TB, Row>,
    finish: (rows) => pageOfRows(rows, keys, limit),
  };
}

/** The page of a keyset query's rows, read with `limit + 1` as its limit: the next cursor, if any. */
export function pageOfRows<Row>(rows: Row[], keys: readonly KeysetKey<Row>[], limit: number): Page<Row> {
  const more = rows.length > limit;
  if (more) rows.length = limit;
  const last = rows.at(-1);
  return {
    rows,
    nextCursor: more && last !== undefined ? encodeCursor(keys.map((key) => key.value(last))) : null,
  };
}

/** `query` in the keys' order (for lists that read every row in the paginated order). */
export function orderByKeys<DB, TB extends keyof DB, Row>(
  query: SelectQueryBuilder<DB, TB, Row>,
  keys: readonly KeysetKey<Row>[],
): SelectQueryBuilder<DB, TB, Row> {
  // biome-ignore lint/suspicious/noExplicitAny: the keys name columns of this query
  let q = query as SelectQueryBuilder<any, any, Row>;
  for (const key of keys) q = q.orderBy(key.by, key.direction);
  return q as SelectQueryBuilder<DB, TB, Row>;
}

/** Rows after `values` in the keys' order: k0 beyond, or k0 equal and the rest after. */
function after<Row>(
  // biome-ignore lint/suspicious/noExplicitAny: see KeysetKey.by
  eb: ExpressionBuilder<any, any>,
  keys: readonly KeysetKey<Row>[],
  values: readonly KeyValue[],
  index: number,
): Expression<SqlBool> {
  const key = keys[index] as KeysetKey<Row>;
  const value = values[index] as KeyValue;
  const ref = typeof key.by === 'string' ? eb.ref(key.by) : key.by(eb);
  const beyond = eb(ref, key.direction === 'asc' ? '>' : '<', value);
  if (index === keys.length - 1) return beyond;
  return eb.or([beyond, eb.and([eb(ref, '=', value), after(eb, keys, values, index + 1)])]);
}
