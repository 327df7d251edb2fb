import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { CoalescingPool, isPlainRead, SHARED_LIMIT } from '../../src/store/postgres-coalesce.js';
import {
  type PgClientLike,
  type PreparedClient,
  preparedStatementPool,
} from '../../src/store/postgres-prepared.js';
import { countSocketWrites } from '../helpers/socket-writes.js';
import { postgresServerSkipReason, withSkipReason } from '../helpers/store.js';

/** A pool of stand-in connections that records what is released, and how. */
function recordingPool() {
  const released: { id: number; destroy: boolean }[] = [];
  let taken = 0;
  let next = 0;
  const pool = {
    async connect() {
      const id = next++;
      taken++;
      return {
        id,
        async query(text: string) {
          return { rows: [{ id, text }] };
        },
        release(destroy?: boolean | Error) {
          taken--;
          released.push({ id, destroy: Boolean(destroy) });
        },
      } as unknown as PreparedClient;
    },
    async end() {},
  };
  return { pool, released, taken: () => taken };
}

const turnEnd = () => new Promise((resolve) => setImmediate(resolve));

describe('CoalescingPool', () => {
  it('gives the statements of one turn one connection, and returns it when the last lease is done', async () => {
    const { pool, released, taken } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const leases = await Promise.all([coalescing.connect(), coalescing.connect(), coalescing.connect()]);
    const answers = (await Promise.all(leases.map((lease) => lease.query('select 1')))) as {
      rows: { id: number }[];
    }[];
    expect(new Set(answers.map((answer) => answer.rows[0]?.id))).toEqual(new Set([0]));
    for (const lease of leases) expect(lease.holds).toEqual({ shared: true, own: false });
    leases[0]?.release();
    leases[1]?.release(true);
    expect(released).toEqual([]);
    leases[2]?.release();
    await turnEnd();
    // One holder asked for the connection to be destroyed: it is, once no one holds it.
    expect(released).toEqual([{ id: 0, destroy: true }]);
    expect(taken()).toBe(0);
  });

  it('gives a transaction a connection of its own, and the next turn a new shared one', async () => {
    const { pool, released } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const [a, trx] = await Promise.all([coalescing.connect(), coalescing.connect()]);
    const [shared, own] = (await Promise.all([a?.query('select 1'), trx?.query('begin')])) as {
      rows: { id: number }[];
    }[];
    expect(trx?.holds).toEqual({ shared: false, own: true });
    expect(own?.rows[0]?.id).not.toBe(shared?.rows[0]?.id);
    a?.release();
    trx?.release();
    await turnEnd();
    const later = await coalescing.connect();
    const again = (await later.query('select 2')) as { rows: { id: number }[] };
    later.release();
    await turnEnd();
    expect(new Set([shared?.rows[0]?.id, own?.rows[0]?.id, again.rows[0]?.id]).size).toBe(3);
    expect(released.map((r) => r.destroy)).toEqual([false, false, false]);
  });

  it(`opens a second shared connection past ${SHARED_LIMIT} leases in one turn`, async () => {
    const { pool } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const leases = await Promise.all(Array.from({ length: SHARED_LIMIT + 2 }, () => coalescing.connect()));
    const answers = (await Promise.all(leases.map((lease) => lease.query('select 1')))) as {
      rows: { id: number }[];
    }[];
    const ids = answers.map((answer) => answer.rows[0]?.id);
    expect(ids.filter((id) => id === 0)).toHaveLength(SHARED_LIMIT);
    expect(ids.filter((id) => id === 1)).toHaveLength(2);
    for (const lease of leases) lease.release();
  });

  it('returns a transaction’s connection released before it arrived', async () => {
    const { pool, taken } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const lease = await coalescing.connect();
    const begun = lease.query('begin');
    lease.release();
    await begun;
    await turnEnd();
    expect(taken()).toBe(0);
  });

  it('runs writes, locking reads and everything after a begin on a connection of the lease’s own', async () => {
    const { pool } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const idOf = async (lease: { query(text: string): Promise<unknown> }, text: string) =>
      ((await lease.query(text)) as { rows: { id: number }[] }).rows[0]?.id;
    const [reader, writer, locker, trx] = await Promise.all([1, 2, 3, 4].map(() => coalescing.connect()));
    if (!reader || !writer || !locker || !trx) throw new Error('four leases');
    const [shared, write, lock, begin] = await Promise.all([
      idOf(reader, 'select 1'),
      idOf(writer, 'update t set a = 1'),
      idOf(locker, 'select * from t for update'),
      idOf(trx, 'begin'),
    ]);
    expect(new Set([shared, write, lock, begin]).size).toBe(4);
    expect(await idOf(trx, 'select 1')).toBe(begin);
    // A lease's write after its reads goes to a connection of its own too.
    expect(await idOf(reader, 'delete from t')).not.toBe(shared);
    expect(reader.holds).toEqual({ shared: true, own: true });
    for (const lease of [reader, writer, locker, trx]) lease.release();
  });

  it('tells plain reads from statements that write or lock', () => {
    for (const text of ['select 1', '  SELECT * from gitswarm_streams where id = $1', 'select "for" from t'])
      expect(isPlainRead(text), text).toBe(true);
    for (const text of [
      'insert into t values (1)',
      'with x as (delete from t returning *) select * from x',
      'select * from t for update',
      'select * from t FOR NO KEY UPDATE',
      'select * from t for share',
      'select * from t for key share skip locked',
      'select pg_advisory_xact_lock(1)',
      'begin',
      'set statement_timeout = 1',
    ])
      expect(isPlainRead(text), text).toBe(false);
  });

  it('hands a released lease out again, unless it was released to be destroyed', async () => {
    const { pool } = recordingPool();
    const coalescing = new CoalescingPool(pool);
    const first = await coalescing.connect();
    await first.query('select 1');
    first.release();
    const second = await coalescing.connect();
    expect(second).toBe(first);
    expect(second.holds).toEqual({ shared: false, own: false });
    await second.query('select 1');
    second.release(true);
    expect(await coalescing.connect()).not.toBe(first);
  });

  it('a lease that ran nothing holds nothing', async () => {
    const { pool, taken } = recordingPool();
    const lease = await new CoalescingPool(pool).connect();
    expect(lease.holds).toEqual({ shared: false, own: false });
    lease.release();
    expect(taken()).toBe(0);
  });
});

const skip = postgresServerSkipReason('postgres');

describe.skipIf(skip !== null)(
  withSkipReason('postgres: statements of one turn share a connection', skip),
  () => {
    let store: Store;
    const schema = `t_${randomBytes(6).toString('hex')}`;

    beforeAll(async () => {
      store = await openStore(inject('postgresUrl') as string, { schema, maxConnections: 2, migrate: false });
      await sql`create table coalesce_probe (id int primary key)`.execute(store.db);
    });
    afterAll(async () => {
      await sql.raw(`drop schema if exists "${schema}" cascade`).execute(store.db);
      await store.close();
    });

    const backend = () =>
      sql<{ pid: number; n: number }>`select pg_backend_pid() as pid`
        .execute(store.db)
        .then((r) => r.rows[0]?.pid);

    it('runs the statements of one turn on one backend, each with its own answer', async () => {
      const values = [1, 2, 3, 4, 5];
      const [pids, answers] = await Promise.all([
        Promise.all(values.map(() => backend())),
        Promise.all(values.map((n) => sql<{ n: number }>`select ${n}::int as n`.execute(store.db))),
      ]);
      expect(new Set(pids).size).toBe(1);
      expect(answers.map((answer) => answer.rows[0]?.n)).toEqual(values);
    });

    it('a failing read fails alone: the others in its turn answer', async () => {
      const read = (n: number) => sql<{ n: number }>`select 12 / ${n}::int as n`.execute(store.db);
      const outcomes = await Promise.allSettled([read(1), read(0), backend(), read(4)]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        'fulfilled',
        'rejected',
        'fulfilled',
        'fulfilled',
      ]);
      expect(
        outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : null)),
      ).toMatchObject([{ rows: [{ n: 12 }] }, null, expect.any(Number), { rows: [{ n: 3 }] }]);
    });

    it('a write in the same turn as reads runs on a backend of its own', async () => {
      const [pids, written] = await Promise.all([
        Promise.all([backend(), backend()]),
        sql<{ pid: number }>`insert into coalesce_probe values (1) returning pg_backend_pid() as pid`.execute(
          store.db,
        ),
      ]);
      expect(new Set(pids).size).toBe(1);
      expect(written.rows[0]?.pid).not.toBe(pids[0]);
    });

    it('a read a transaction waits for is not queued behind a write waiting on that transaction’s lock', async () => {
      // A lock wait gives up after 3 s, so a read queued behind one fails this test rather than hanging it.
      const url = new URL(inject('postgresUrl') as string);
      url.searchParams.set('options', '-c lock_timeout=3000');
      const three = await openStore(url.toString(), { schema, maxConnections: 3, migrate: false });
      try {
        const counted = await three.db.transaction().execute(async (trx) => {
          await sql`update coalesce_probe set id = id where id = 1`.execute(trx);
          // Waits for this transaction's row lock; the read below, in the same turn, must not wait for it.
          const blocked = sql`update coalesce_probe set id = id where id = 1`.execute(three.db);
          const read = await sql<{ n: number }>`select count(*)::int as n from coalesce_probe`.execute(
            three.db,
          );
          return { read, blocked };
        });
        expect(counted.read.rows[0]?.n).toBe(1);
        await counted.blocked;
      } finally {
        await three.close();
      }
    });

    it('a transaction started in the same turn runs on a backend of its own, and its session stays its own', async () => {
      const [shared, inside] = await Promise.all([
        Promise.all([backend(), backend()]),
        store.db.transaction().execute(async (trx) => {
          await sql`set local statement_timeout = 1234`.execute(trx);
          const pid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]?.pid;
          return { pid, sharedTimeout: await sql<{ t: string }>`show statement_timeout`.execute(store.db) };
        }),
      ]);
      expect(new Set(shared).size).toBe(1);
      expect(inside.pid).not.toBe(shared[0]);
      expect(inside.sharedTimeout.rows[0]?.t).not.toBe('1234ms');
    });

    it('with one connection, shared turns and transactions take turns without waiting on each other forever', async () => {
      const single = await openStore(inject('postgresUrl') as string, {
        schema,
        maxConnections: 1,
        migrate: false,
      });
      try {
        const rounds = await Promise.all([
          Promise.all([1, 2, 3].map((n) => sql<{ n: number }>`select ${n}::int as n`.execute(single.db))),
          single.db.transaction().execute((trx) => sql<{ n: number }>`select 4::int as n`.execute(trx)),
          Promise.all([5, 6].map((n) => sql<{ n: number }>`select ${n}::int as n`.execute(single.db))),
        ]);
        expect(rounds.flat().map((r) => r.rows[0]?.n)).toEqual([1, 2, 3, 4, 5, 6]);
      } finally {
        await single.close();
      }
    });
  },
);

describe.skipIf(skip !== null)(withSkipReason('postgres: one write for a shared turn', skip), () => {
  it('sends the statements of one turn to the server in one write', async () => {
    const raw = new pg.Pool({
      connectionString: inject('postgresUrl') as string,
      max: 2,
      pipeline: true,
    } as pg.PoolConfig);
    const clients: PgClientLike[] = [];
    const prepared = preparedStatementPool(raw as never);
    const coalescing = new CoalescingPool({
      ...prepared,
      connect: async () => {
        const client = await prepared.connect();
        clients.push(client.client);
        return client;
      },
      end: () => prepared.end(),
    });
    try {
      // Warm the connection so its start-up messages are not counted.
      const warm = await coalescing.connect();
      await warm.query('select 0');
      warm.release();
      await turnEnd();
      const writes = countSocketWrites(clients[0] as PgClientLike);
      const leases = await Promise.all([1, 2, 3, 4].map(() => coalescing.connect()));
      const answers = await Promise.all(leases.map((lease, i) => lease.query('select $1::int as n', [i])));
      for (const lease of leases) lease.release();
      expect(answers.map((answer) => (answer as { rows: { n: number }[] }).rows[0]?.n)).toEqual([0, 1, 2, 3]);
      expect(new Set(clients).size).toBe(1);
      expect(writes()).toBe(1);
    } finally {
      await turnEnd();
      await raw.end();
    }
  });
});
