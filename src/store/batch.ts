/**
 * Batches: several independent statements sent in one round trip where the dialect can pipeline
 * them on one connection (PostgreSQL through `pg`), one after another elsewhere (SQLite, PGlite).
 * The statements must not depend on each other's effects: each runs as if alone, in the order
 * given; inside a transaction, a failed one fails the ones after it, as it would sequentially.
 */
import type { Compilable, QueryResult, UnknownRow } from 'kysely';
import type { Executor } from './transaction.js';

/** Whether the dialect's adapter sends queries given together on one connection at once. */
export function supportsPipelining(db: Executor): boolean {
  return (db.getExecutor().adapter as { readonly supportsPipelining?: boolean }).supportsPipelining === true;
}

type Rows<Q> = Q extends Compilable<infer O> ? O[] : never;

/**
 * Runs the queries and returns each one's rows, in order. With pipelining they go out together on
 * one connection (the caller's transaction's, or one taken from the pool); the first failure is
 * thrown once every query has answered.
 */
export async function batch<const Q extends readonly Compilable<unknown>[]>(
  db: Executor,
  queries: Q,
): Promise<{ -readonly [K in keyof Q]: Rows<Q[K]> }> {
  const executor = db.getExecutor();
  const compiled = queries.map((query) => query.compile());
  let results: QueryResult<UnknownRow>[];
  if (supportsPipelining(db)) {
    results = await executor.provideConnection(async (connection) => {
      const settled = await Promise.allSettled(compiled.map((query) => connection.executeQuery(query)));
      const failed = settled.find((outcome) => outcome.status === 'rejected');
      if (failed) throw failed.reason;
      return settled.map((outcome) => (outcome as PromiseFulfilledResult<QueryResult<UnknownRow>>).value);
    });
    for (const plugin of executor.plugins) {
      results = await Promise.all(
        results.map((result, i) =>
          plugin.transformResult({ result, queryId: (compiled[i] as (typeof compiled)[number]).queryId }),
        ),
      );
    }
  } else {
    results = [];
    for (const query of compiled)
      results.push((await executor.executeQuery(query)) as QueryResult<UnknownRow>);
  }
  return results.map((result) => result.rows) as { -readonly [K in keyof Q]: Rows<Q[K]> };
}

/**
 * The row a write that returns its row gave. None means a broken invariant (the row vanished under
 * the caller's lock), never an answer to pass on.
 */
export function writtenRow<T>(rows: readonly T[]): T {
  const [row] = rows;
  if (row === undefined) throw new Error('A write that returns its row returned none.');
  return row;
}
