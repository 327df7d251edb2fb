/**
 * Named prepared statements for PostgreSQL: each pooled connection parses and plans a statement
 * once, then only binds and executes it. Statements are named per connection by SQL text, at most
 * PREPARED_STATEMENT_LIMIT of them (the least recently used is deallocated); statements without
 * parameters go unnamed (transaction control, several statements in one text).
 *
 * A `begin`, and the repository lock a transaction takes first, are held back and sent with the
 * transaction's next statement, in one round trip; the statements given to a connection in one
 * tick leave in one write (the connection pipelines). Given `pg`'s Query, the rows of a prepared
 * statement are built by its shape (postgres-rows.ts).
 */

import { type PgQueryClass, RowShapes, type ShapedQueryClass, shapedQueryClass } from './postgres-rows.js';

/** The subset of a `pg` client these wrappers use (no dependency on `pg`'s types). */
export interface PgClientLike {
  query(config: unknown, values?: unknown[]): Promise<unknown>;
  release(destroy?: boolean | Error): void;
  readonly processID?: number | null;
  /** pg's connection: its parsed-statement record and the backend's transaction status. */
  readonly connection?: {
    parsedStatements?: Record<string, string>;
    stream?: { cork?(): void; uncork?(): void };
    on?(event: 'readyForQuery', listener: (message: { status?: string }) => void): void;
  };
}

export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
  readonly options?: unknown;
}

/** Statements kept prepared on one connection. */
export const PREPARED_STATEMENT_LIMIT = 500;

const BEGIN = /^\s*(begin|start transaction)\b/i;

/**
 * The statement a transaction takes its repository's lock with (repo-lock.ts), as its first.
 * Nothing reads its answer, so it is held back like the `begin` before it: PostgreSQL runs the
 * statements of a connection in order, so the one it goes out with, and all after, still run
 * under the lock, and a failure to take the lock fails that statement (the transaction is
 * aborted). What a transaction does outside the database before its first statement is therefore
 * not under the database's lock, only under the process's own (repo-lock.ts).
 */
export const TRANSACTION_LOCK_SQL = 'select pg_advisory_xact_lock(hashtextextended($1, 0))';

/** PostgreSQL's refusal to run a prepared statement whose result columns changed (a migration). */
const STALE_PLAN = 'cached plan must not change result type';

export interface PreparedClientOptions {
  /** Statements kept prepared (default PREPARED_STATEMENT_LIMIT). */
  limit?: number;
  /** `pg`'s Query: given, the rows of prepared statements are built by shape (postgres-rows.ts). */
  Query?: PgQueryClass;
}

/** One pooled connection with its statement names by SQL text, least recently used first. */
export class PreparedClient {
  readonly #client: PgClientLike;
  readonly #limit: number;
  readonly #ShapedQuery: ShapedQueryClass | undefined;
  readonly #shapes = new RowShapes();
  readonly #names = new Map<string, string>();
  #next = 0;
  /** The backend's status after its last reply: I idle, T in a transaction, E in a failed one. */
  #status = 'I';
  /** A `begin`, and the lock after it, not sent yet: they go out with the next statement. */
  #held: Array<{ text: string; values?: readonly unknown[] }> = [];
  #corked = false;

  constructor(client: PgClientLike, options: PreparedClientOptions = {}) {
    this.#client = client;
    this.#limit = options.limit ?? PREPARED_STATEMENT_LIMIT;
    this.#ShapedQuery = options.Query && shapedQueryClass(options.Query);
    client.connection?.on?.('readyForQuery', (message) => {
      if (message.status) this.#status = message.status;
    });
  }

  get processID(): number | null | undefined {
    return this.#client.processID;
  }

  /** The wrapped `pg` client (batch.ts sends several queries on it at once). */
  get client(): PgClientLike {
    return this.#client;
  }

  /** How many statements this connection holds prepared (for tests). */
  get preparedCount(): number {
    return this.#names.size;
  }

  /** How many result shapes this connection keeps (for tests). */
  get shapeCount(): number {
    return this.#shapes.size;
  }

  release(destroy?: boolean | Error): void {
    this.#held = [];
    this.#client.release(destroy);
  }

  async query(text: string, values?: readonly unknown[]): Promise<unknown> {
    if (this.#held.length === 0 && BEGIN.test(text) && !values?.length) {
      this.#held.push({ text });
      return { command: 'BEGIN', rowCount: null, rows: [] };
    }
    if (this.#held.length === 1 && text === TRANSACTION_LOCK_SQL) {
      this.#held.push({ text, values });
      return { command: 'SELECT', rowCount: 1, rows: [{ pg_advisory_xact_lock: '' }] };
    }
    this.#cork();
    const held = this.#held;
    if (held.length === 0) return this.#send(text, values);
    this.#held = [];
    // Sent in order; PostgreSQL answers in order, so a held statement's failure comes first.
    const sent = held.map((statement) => this.#send(statement.text, statement.values));
    const result = this.#send(text, values);
    await Promise.all([...sent, result]);
    return result;
  }

  /** Holds this tick's writes to the socket back until the tick ends: one write for all of them. */
  #cork(): void {
    const stream = this.#client.connection?.stream;
    if (this.#corked || !stream?.cork || !stream.uncork) return;
    stream.cork();
    this.#corked = true;
    process.nextTick(() => {
      this.#corked = false;
      stream.uncork?.();
    });
  }

  async #send(text: string, values?: readonly unknown[]): Promise<unknown> {
    if (!values || values.length === 0) return this.#client.query(text, values as unknown[]);
    try {
      return await this.#execute(this.#nameOf(text), text, values);
    } catch (error) {
      if (!String((error as Error).message).includes(STALE_PLAN)) throw error;
      // The table changed under the plan: drop it, so the next run prepares it again. Outside a
      // transaction that run is now; inside one the transaction has failed and its caller decides.
      this.#forget(text);
      if (this.#status !== 'I') throw error;
      return this.#execute(this.#nameOf(text), text, values);
    }
  }

  #execute(name: string, text: string, values: readonly unknown[]): Promise<unknown> {
    const ShapedQuery = this.#ShapedQuery;
    if (!ShapedQuery) return this.#client.query({ name, text, values });
    return new Promise((resolve, reject) => {
      const callback = (error: Error | null, result: unknown) => (error ? reject(error) : resolve(result));
      this.#client.query(new ShapedQuery({ name, text, values, callback }, this.#shapes));
    });
  }

  #nameOf(text: string): string {
    const known = this.#names.get(text);
    if (known !== undefined) {
      this.#names.delete(text);
      this.#names.set(text, known);
      return known;
    }
    if (this.#names.size >= this.#limit) {
      const oldest = this.#names.keys().next().value as string;
      this.#forget(oldest);
    }
    // Names are never reused on a connection, so pg never sees one name with two texts.
    const name = `gs_${(this.#next++).toString(36)}`;
    this.#names.set(text, name);
    return name;
  }

  #forget(text: string): void {
    const name = this.#names.get(text);
    if (name === undefined) return;
    this.#names.delete(text);
    this.#shapes.forget(name);
    const parsed = this.#client.connection?.parsedStatements;
    if (!parsed || parsed[name] === undefined) return;
    delete parsed[name];
    // Queued behind whatever runs now; a failure only leaves an unused statement behind.
    this.#client.query(`deallocate ${name}`).catch(() => {});
  }
}

/**
 * A pool for Kysely's PostgresDialect whose connections prepare their statements; the same
 * wrapper is returned for a connection each time it is taken (Kysely keys its state on it).
 */
export function preparedStatementPool(pool: PgPoolLike, options: PreparedClientOptions = {}) {
  const wrappers = new WeakMap<PgClientLike, PreparedClient>();
  return {
    get options() {
      return pool.options;
    },
    async connect(): Promise<PreparedClient> {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = new PreparedClient(client, options);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
