import type { PgClientLike } from '../../src/store/postgres-prepared.js';

/**
 * Counts the writes a `pg` client makes to its socket from now on (each `_write` or `_writev` is
 * one system call's worth of data leaving): how many round trips' worth of messages it sent.
 */
export function countSocketWrites(client: PgClientLike): () => number {
  const socket = (
    client as unknown as {
      connection: { stream: Record<'_writev' | '_write', (...args: unknown[]) => unknown> };
    }
  ).connection.stream;
  let writes = 0;
  for (const method of ['_writev', '_write'] as const) {
    const original = socket[method];
    socket[method] = function (this: unknown, ...args: unknown[]) {
      writes++;
      return original.apply(this, args);
    };
  }
  return () => writes;
}
