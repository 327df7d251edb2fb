/**
 * Reads outside a transaction that are given in one turn of the event loop share one pooled
 * connection and leave in one write. A server under load reads many requests in one turn; each
 * used to take a connection of its own, so each read cost the server a write and PostgreSQL a
 * wake-up. Shared, they cost one of each per turn. `pg` pipelines them, and each carries its own
 * Sync: it runs and fails on its own, as it would on a connection of its own.
 *
 * Only plain reads share: PostgreSQL never makes one wait on a row lock, so none can stall the
 * reads queued behind it on a lock held by a transaction that waits for one of those reads. A
 * write, a locking read or a `begin`, and every statement after a `begin`, runs on a connection of
 * the lease's own, as before. At most SHARED_LIMIT leases share a connection, so a slow read holds
 * up few others.
 */
import type { PreparedClient } from './postgres-prepared.js';

/** How many leases one turn's shared connection takes before a second one is opened. */
export const SHARED_LIMIT = 8;

/** Released leases kept for reuse. */
const IDLE_LEASES = 64;

const PLAIN_READ = /^\s*select\b/i;
const LOCKING = /\bfor\s+(?:update|share|no\s+key\s+update|key\s+share)\b|\bpg_advisory/i;

/** Whether a statement only reads and takes no lock another transaction could make it wait for. */
export function isPlainRead(text: string): boolean {
  return PLAIN_READ.test(text) && !LOCKING.test(text);
}

interface PreparedPoolLike {
  connect(): Promise<PreparedClient>;
  end(): Promise<void>;
  readonly options?: unknown;
}

/** One turn's shared connection and the leases on it. */
interface Turn {
  /** The connection, handed out once the turn has ended: its reads leave together. */
  readonly ready: Promise<PreparedClient>;
  /** Leases still holding it. */
  holders: number;
  /** Whether leases may still join (until the turn ends or the limit is reached). */
  open: boolean;
  /** Whether a holder asked for the connection to be destroyed rather than returned. */
  destroy: boolean;
  released: boolean;
}

/**
 * A lease: a connection as Kysely sees it. Its reads join their turn's shared connection; its
 * other statements take a connection of its own, which then serves the rest of its statements.
 */
export class ConnectionLease {
  readonly #pool: CoalescingPool;
  #turn: Turn | null = null;
  #own: Promise<PreparedClient> | null = null;

  constructor(pool: CoalescingPool) {
    this.#pool = pool;
  }

  /** Where its statements went: a shared connection, one of its own, both, or none yet. */
  get holds(): { shared: boolean; own: boolean } {
    return { shared: this.#turn !== null, own: this.#own !== null };
  }

  /** Kysely reads it to cancel a statement; no statement is cancelled here, so none is given. */
  get processID(): undefined {
    return undefined;
  }

  query(text: string, values?: readonly unknown[]): Promise<unknown> {
    let client: Promise<PreparedClient>;
    if (this.#own === null && isPlainRead(text)) {
      this.#turn ??= this.#pool.join();
      client = this.#turn.ready;
    } else {
      this.#own ??= this.#pool.exclusive();
      client = this.#own;
    }
    return client.then((connection) => connection.query(text, values));
  }

  release(destroy?: boolean | Error): void {
    if (this.#turn) this.#pool.leave(this.#turn, Boolean(destroy));
    // A connection still being taken is returned once it comes.
    this.#own?.then(
      (connection) => connection.release(destroy),
      () => {},
    );
    this.#turn = null;
    this.#own = null;
    // Kysely keeps a wrapper per connection object: a lease used again spares making one each
    // time. One released for destruction is not: Kysely has marked its wrapper discarded.
    if (!destroy) this.#pool.recycle(this);
  }
}

/** A pool whose leases share a connection per turn for their reads. */
export class CoalescingPool {
  readonly #pool: PreparedPoolLike;
  readonly #limit: number;
  #current: Turn | null = null;
  readonly #idle: ConnectionLease[] = [];

  constructor(pool: PreparedPoolLike, limit = SHARED_LIMIT) {
    this.#pool = pool;
    this.#limit = limit;
  }

  get options(): unknown {
    return this.#pool.options;
  }

  async connect(): Promise<ConnectionLease> {
    return this.#idle.pop() ?? new ConnectionLease(this);
  }

  /** Takes a released lease back for the next `connect`. */
  recycle(lease: ConnectionLease): void {
    if (this.#idle.length < IDLE_LEASES) this.#idle.push(lease);
  }

  end(): Promise<void> {
    return this.#pool.end();
  }

  /** A connection of the lease's own. */
  exclusive(): Promise<PreparedClient> {
    return this.#pool.connect();
  }

  /** The turn a new read joins: this turn's, unless it is full. */
  join(): Turn {
    let turn = this.#current;
    if (!turn?.open) {
      turn = this.#open();
      this.#current = turn;
    }
    turn.holders++;
    if (turn.holders >= this.#limit) turn.open = false;
    return turn;
  }

  leave(turn: Turn, destroy: boolean): void {
    turn.holders--;
    if (destroy) turn.destroy = true;
    this.#releaseIfDone(turn);
  }

  #open(): Turn {
    const ended = new Promise<void>((resolve) =>
      setImmediate(() => {
        turn.open = false;
        resolve();
        this.#releaseIfDone(turn);
      }),
    );
    const ready = Promise.all([this.#pool.connect(), ended]).then(([client]) => client);
    // A failed connect reaches every holder through `ready`; this only keeps it from going unseen.
    ready.catch(() => {});
    const turn: Turn = { ready, holders: 0, open: true, destroy: false, released: false };
    return turn;
  }

  #releaseIfDone(turn: Turn): void {
    if (turn.open || turn.holders > 0 || turn.released) return;
    turn.released = true;
    if (this.#current === turn) this.#current = null;
    turn.ready.then(
      (client) => client.release(turn.destroy),
      () => {},
    );
  }
}
