import { Socket } from 'node:net';
import type { PgClientLike } from '../../src/store/postgres-prepared.js';

type WriteMethods = Record<'_writev' | '_write', (...args: unknown[]) => unknown>;

/** Wraps a socket's (or the socket prototype's) writes, calling `seen` with each writing socket. */
function onWrites(target: WriteMethods, seen: (socket: unknown) => void): () => void {
  const originals = { _writev: target._writev, _write: target._write };
  for (const method of ['_writev', '_write'] as const) {
    const original = originals[method];
    target[method] = function (this: unknown, ...args: unknown[]) {
      seen(this);
      return original.apply(this, args);
    };
  }
  return () => Object.assign(target, originals);
}

/**
 * Counts the writes a `pg` client makes to its socket from now on (each `_write` or `_writev` is
 * one system call's worth of data leaving): how many round trips' worth of messages it sent.
 */
export function countSocketWrites(client: PgClientLike): () => number {
  const socket = (client as unknown as { connection: { stream: WriteMethods } }).connection.stream;
  let writes = 0;
  onWrites(socket, () => writes++);
  return () => writes;
}

/**
 * Counts, until `stop`, the writes of every socket of this process to the server at `url`'s port:
 * the round trips a piece of code makes to PostgreSQL, whichever pooled connections it uses.
 */
export function countWritesTo(url: string): { writes(): number; stop(): void } {
  const port = Number(new URL(url).port || 5432);
  let writes = 0;
  const stop = onWrites(Socket.prototype as unknown as WriteMethods, (socket) => {
    if ((socket as Socket).remotePort === port) writes++;
  });
  return { writes: () => writes, stop };
}
