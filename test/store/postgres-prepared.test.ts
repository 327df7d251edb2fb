import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { type PgClientLike, PreparedClient } from '../../src/store/postgres-prepared.js';
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

  it('keeps at most its limit, deallocating the least recently used', async () => {
    const { client, sent, parsedStatements } = recordingClient();
    const prepared = new PreparedClient(client, 2);
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
