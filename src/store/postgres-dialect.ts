import {
  type DialectAdapter,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  type PostgresDialectConfig,
  type PostgresPool,
} from 'kysely';
import type { DialectCapabilities, Store } from './dialect.js';
import { CoalescingPool } from './postgres-coalesce.js';
import { type PgPoolLike, preparedStatementPool } from './postgres-prepared.js';
import type { PgQueryClass } from './postgres-rows.js';
import { advisoryLocker, DEFAULT_LOCK_WAIT_MS } from './repo-lock.js';
import type { Database } from './schema.js';

const OID = { int8: 20, numeric: 1700, timestamp: 1114, timestamptz: 1184 } as const;

/** `2026-11-24 16:46:54.12+00` (ISO DateStyle, a UTC session), with or without its fraction. */
const UTC_TIMESTAMPTZ = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?\+00$/;

/**
 * A timestamptz as `toISOString` would print it. Sessions run in UTC, so the text is rewritten
 * without a Date (rows of lists carry many timestamps); any other offset goes through Date. The
 * pattern is tested, not executed: a match's array was a twentieth of what a stream list allocated.
 */
export function parseTimestamptz(value: string): string {
  if (!UTC_TIMESTAMPTZ.test(value)) {
    return new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).toISOString();
  }
  // The fraction, if any, runs from after the '.' at 19 to before the '+00'.
  const millis = `${value.slice(20, value.length - 3)}000`.slice(0, 3);
  return `${value.slice(0, 10)}T${value.slice(11, 19)}.${millis}Z`;
}

/** Parsers that make PostgreSQL rows look like the store's normalised rows. */
export const postgresTypeParsers: Readonly<Record<number, (value: string) => unknown>> = {
  [OID.int8]: (value) => Number(value),
  [OID.numeric]: (value) => Number.parseFloat(value),
  [OID.timestamptz]: parseTimestamptz,
  [OID.timestamp]: (value) => new Date(`${value.replace(' ', 'T')}Z`).toISOString(),
};

export function postgresCapabilities(label: 'postgres' | 'pglite'): DialectCapabilities {
  return {
    label,
    columnTypes: {
      uuid: 'uuid',
      timestamp: 'timestamptz',
      json: 'jsonb',
      boolean: 'boolean',
      decimal: 'numeric(6,3)',
      bigint: 'bigint',
    },
    defaults: {
      now: 'now()',
      emptyObject: "'{}'::jsonb",
      emptyArray: "'[]'::jsonb",
      false: 'false',
      true: 'true',
    },
  };
}

/** PostgreSQL through `pg`, whose connections pipeline: batch.ts sends statements together. */
class PipelinedPostgresAdapter extends PostgresAdapter {
  get supportsPipelining(): boolean {
    return true;
  }
}

class PipelinedPostgresDialect extends PostgresDialect {
  override createAdapter(): DialectAdapter {
    return new PipelinedPostgresAdapter();
  }
}

export interface PostgresStoreOptions {
  /** A `postgres://` connection string. */
  url: string;
  /** Schema to use instead of `public` (tests isolate themselves this way); created if missing. */
  schema?: string;
  maxConnections?: number;
  /** The sessions' `lock_timeout`: how long a repository lock is waited for (repo-lock.ts). */
  lockWaitMs?: number;
}

/** Opens a pooled PostgreSQL store through `pg`. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const { default: pg } = await import('pg');
  const getTypeParser = ((oid: number, format?: string) =>
    postgresTypeParsers[oid] ??
    pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser;
  // UTC sessions print timestamps the way parseTimestamptz reads fastest; lock_timeout bounds a
  // repository lock's wait (repo-lock.ts). Options the URL gives (`?options=...`) are kept, and
  // win: pg lets the URL's replace the pool's, so they are moved over, after ours.
  const { url, sessionOptions: fromUrl } = splitSessionOptions(options.url);
  const lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  const sessionOptions = [`-c lock_timeout=${lockWaitMs}`, fromUrl, '-c TimeZone=UTC'].filter(Boolean);
  if (options.schema) sessionOptions.push(`-c search_path=${quoteIdentifier(options.schema)}`);
  if (options.schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    try {
      await admin.query(`create schema if not exists ${quoteIdentifier(options.schema)}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    types: { getTypeParser },
    options: sessionOptions.join(' '),
    // Queries given to one connection together go out together (batch.ts), not one per reply.
    pipeline: true,
  } as ConstructorParameters<typeof pg.Pool>[0]);
  const db = new Kysely<Database>({
    dialect: new PipelinedPostgresDialect({
      pool: new CoalescingPool(
        preparedStatementPool(pool as unknown as PgPoolLike, { Query: pg.Query as unknown as PgQueryClass }),
      ) as unknown as PostgresPool,
    } satisfies PostgresDialectConfig),
  });
  const locker = advisoryLocker(() => pool.connect(), lockWaitMs);
  // Kysely ends the pool only once it ran a query; a store that only took locks ends it here.
  const close = async () => {
    await db.destroy();
    if (!pool.ending) await pool.end();
  };
  return { db, capabilities: postgresCapabilities('postgres'), locker, close };
}

/** The connection URL without its `options` parameter, and that parameter ('' without one). */
function splitSessionOptions(connectionUrl: string): { url: string; sessionOptions: string } {
  try {
    const parsed = new URL(connectionUrl);
    const sessionOptions = parsed.searchParams.get('options') ?? '';
    if (!sessionOptions) return { url: connectionUrl, sessionOptions };
    parsed.searchParams.delete('options');
    return { url: parsed.toString(), sessionOptions };
  } catch {
    return { url: connectionUrl, sessionOptions: '' };
  }
}

export function quoteIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`Invalid SQL identifier: ${name}`);
  return `"${name}"`;
}
