import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockedTransaction, openStore, type Store } from '../../src/store/index.js';
import {
  type PgClientLike,
  PreparedClient,
  preparedStatementPool,
  TRANSACTION_LOCK_SQL,
} from '../../src/store/postgres-prepared.js';
import { countSocketWrites } from '../helpers/socket-writes.js';
import { postgresServerSkipReason, withSkipReason } from '../helpers/store.js';

/** A pg client stand-in that records what it is asked. */
function recordingClient() {
  const sent: unknown[] = [];
  const parsedStatements: Record<string, string> = {};
  const client: PgClientLike = {
    async query(config) {
      sent.push(config);
      if (typeof config === 'object' && config !== null && 'name' in config) {
        const { name, text } = config as { name: string; text: string };
        parsedStatements[name] = text;
      }
      return { rows: [] };
    },
    release() {},
    connection: { parsedStatements },
  };
  return { client, sent, parsedStatements };
}

describe('PreparedClient', () => {
  it('names a statement with parameters once per SQL text and sends the rest unnamed', async () => {
    const { client, sent } = recordingClient();
    const prepared = new PreparedClient(client);
    await prepared.query('select $1::int', [1]);
    await prepared.query('select $1::int', [2]);
    await prepared.query('select $1::text', ['a']);
    await prepared.query('select 1');
    const names = sent.map((s) =>
      typeof s === 'object' && s !== null ? (s as { name: string }).name : null,
    );
    expect(names[0]).toBe(names[1]);
    expect(names[2]).not.toBe(names[0]);
    expect(names[3]).toBeNull();
    expect(prepared.preparedCount).toBe(2);
  });

  it('holds a begin back and sends it just before the next statement', async () => {
    const { client, sent } = recordingClient();
    const prepared = new PreparedClient(client);
    expect(await prepared.query('begin')).toEqual({ command: 'BEGIN', rowCount: null, rows: [] });
    expect(sent).toEqual([]);
    await prepared.query('select pg_advisory_xact_lock($1)', [1]);
    expect(sent[0]).toBe('begin');
    expect(sent[1]).toMatchObject({ text: 'select pg_advisory_xact_lock($1)', values: [1] });
  });

  it('holds the transaction lock after a held begin back too, and sends both, in order, with the next statement', async () => {
    const { client, sent } = recordingClient();
    const prepared = new PreparedClient(client);
    await prepared.query('begin');
    await prepared.query(TRANSACTION_LOCK_SQL, ['repo-1']);
    expect(sent).toEqual([]);
    await prepared.query('select $1::int', [1]);
    expect(sent).toEqual([
      'begin',
      expect.objectContaining({ text: TRANSACTION_LOCK_SQL, values: ['repo-1'] }),
      expect.objectContaining({ text: 'select $1::int', values: [1] }),
    ]);
  });

  it('sends the transaction lock at once when no begin is held back', async () => {
    const { client, sent } = recordingClient();
    const prepared = new PreparedClient(client);
    await prepared.query(TRANSACTION_LOCK_SQL, ['repo-1']);
    expect(sent).toEqual([expect.objectContaining({ text: TRANSACTION_LOCK_SQL })]);
    await prepared.query('begin');
    await prepared.query('select 1');
    await prepared.query(TRANSACTION_LOCK_SQL, ['repo-1']);
    expect(sent.slice(1)).toEqual([
      'begin',
      'select 1',
      expect.objectContaining({ text: TRANSACTION_LOCK_SQL }),
    ]);
  });

  it('keeps at most its limit, deallocating the least recently used', async () => {
    const { client, sent, parsedStatements } = recordingClient();
    const prepared = new PreparedClient(client, { limit: 2 });
    await prepared.query('select $1::int as a', [1]);
    await prepared.query('select $1::int as b', [1]);
    await prepared.query('select $1::int as a', [1]);
    await prepared.query('select $1::int as c', [1]);
    expect(prepared.preparedCount).toBe(2);
    expect(sent).toContain('deallocate gs_1');
    expect(Object.values(parsedStatements)).toEqual(['select $1::int as a', 'select $1::int as c']);
  });
});

const skip = postgresServerSkipReason('postgres');

describe.skipIf(skip !== null)(withSkipReason('postgres: prepared statements', skip), () => {
  let store: Store;
  const schema = `t_${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    store = await openStore(inject('postgresUrl') as string, { schema, maxConnections: 1, migrate: false });
    await sql`create table prepared_probe (id int primary key, label text)`.execute(store.db);
    await sql`insert into prepared_probe values (1, 'one')`.execute(store.db);
  });
  afterAll(async () => {
    await sql.raw(`drop schema if exists "${schema}" cascade`).execute(store.db);
    await store.close();
  });

  const read = (id: number) =>
    store.db
      .selectFrom('prepared_probe' as never)
      .selectAll()
      .where('id' as never, '=', id as never)
      .execute();

  it('runs a statement prepared on the connection, and prepares it again when its table changes', async () => {
    expect(await read(1)).toEqual([{ id: 1, label: 'one' }]);
    const { rows } = await sql<{
      count: number;
    }>`select count(*)::int as count from pg_prepared_statements`.execute(store.db);
    expect(rows[0]?.count).toBeGreaterThanOrEqual(1);
    // A migration: the same SQL text now returns another row type.
    await sql`alter table prepared_probe add column extra text default 'x'`.execute(store.db);
    expect(await read(1)).toEqual([{ id: 1, label: 'one', extra: 'x' }]);
  });

  it('inside a transaction, fails once on a changed table and succeeds when run again', async () => {
    expect(await read(1)).toHaveLength(1);
    await sql`alter table prepared_probe add column more int default 7`.execute(store.db);
    const inTrx = () =>
      store.db.transaction().execute(async (trx) =>
        trx
          .selectFrom('prepared_probe' as never)
          .selectAll()
          .where('id' as never, '=', 1 as never)
          .execute(),
      );
    await expect(inTrx()).rejects.toThrow(/cached plan must not change result type/);
    expect(await inTrx()).toEqual([{ id: 1, label: 'one', extra: 'x', more: 7 }]);
  });
});

describe.skipIf(skip !== null)(withSkipReason('postgres: the transaction lock held back', skip), () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const url = inject('postgresUrl') as string;
  let store: Store;

  beforeAll(async () => {
    store = await openStore(url, { schema, maxConnections: 4, migrate: false });
    await sql`create table lock_probe (id int primary key, n int not null)`.execute(store.db);
    await sql`insert into lock_probe values (1, 0)`.execute(store.db);
  });
  afterAll(async () => {
    await sql.raw(`drop schema if exists "${schema}" cascade`).execute(store.db);
    await store.close();
  });

  it('still excludes other stores from the first statement on: no update is lost', async () => {
    // Two stores stand in for two processes: only the database's lock is between them.
    const other = await openStore(url, { schema, maxConnections: 4, migrate: false });
    const repoId = randomBytes(8).toString('hex');
    const increment = (on: Store) =>
      lockedTransaction(on, repoId, async (trx) => {
        const { rows } = await sql<{ n: number }>`select n from lock_probe where id = 1`.execute(trx);
        await new Promise((resolve) => setTimeout(resolve, 2));
        await sql`update lock_probe set n = ${(rows[0]?.n ?? 0) + 1} where id = 1`.execute(trx);
      });
    try {
      await sql`update lock_probe set n = 0 where id = 1`.execute(store.db);
      await Promise.all(Array.from({ length: 8 }, () => [increment(store), increment(other)]).flat());
      const { rows } = await sql<{ n: number }>`select n from lock_probe where id = 1`.execute(store.db);
      expect(rows[0]?.n).toBe(16);
    } finally {
      await other.close();
    }
  });

  it('a lock that cannot be taken fails the statement it went out with, and nothing of the transaction runs', async () => {
    const impatient = await openStore(url, { schema, maxConnections: 2, migrate: false, lockWaitMs: 100 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const repoId = randomBytes(8).toString('hex');
    try {
      await holder.query('select pg_advisory_lock(hashtextextended($1, 0))', [repoId]);
      const attempt = lockedTransaction(impatient, repoId, async (trx) => {
        await sql`update lock_probe set n = -1 where id = 1`.execute(trx);
      });
      // The lock statement's own failure (55P03, lock_not_available), told as such.
      await expect(attempt).rejects.toMatchObject({ code: 'lock_timeout', cause: { code: '55P03' } });
      const { rows } = await sql<{ n: number }>`select n from lock_probe where id = 1`.execute(store.db);
      expect(rows[0]?.n).not.toBe(-1);
      await holder.query('select pg_advisory_unlock(hashtextextended($1, 0))', [repoId]);
      // The connection is whole again: the next transaction takes the lock and runs.
      const taken = await lockedTransaction(impatient, repoId, async (trx) =>
        sql<{ one: number }>`select 1::int as one`.execute(trx),
      );
      expect(taken.rows).toEqual([{ one: 1 }]);
    } finally {
      await holder.end();
      await impatient.close();
    }
  });

  it('begin, the lock and the first statement leave in one write', async () => {
    const raw = new pg.Pool({ connectionString: url, max: 1, pipeline: true } as pg.PoolConfig);
    const connection = await preparedStatementPool(raw as never).connect();
    try {
      await connection.query('select 0'); // its start-up messages are not counted
      const writes = countSocketWrites(connection.client);
      await connection.query('begin');
      await connection.query(TRANSACTION_LOCK_SQL, [randomBytes(8).toString('hex')]);
      const answer = await connection.query('select $1::int as n', [7]);
      expect(answer).toMatchObject({ rows: [{ n: 7 }] });
      expect(writes()).toBe(1);
    } finally {
      connection.release(true); // mid-transaction: closed, not returned to the pool
      await raw.end();
    }
  });
});
