import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, inject, it, vi } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { type PgClientLike, preparedStatementPool } from '../../src/store/postgres-prepared.js';
import {
  type ColumnDescription,
  type PgQueryClass,
  RowShapes,
  rowShape,
  shapedQueryClass,
  type TypeParsers,
} from '../../src/store/postgres-rows.js';
import { postgresServerSkipReason, withSkipReason } from '../helpers/store.js';

/** pg's result class, whose row loop the store's prepared statements no longer use. */
const PgResult = createRequire(import.meta.url)('pg/lib/result.js') as {
  prototype: { parseRow(fields: unknown[]): unknown };
};

const TEXT = 25;
const INT4 = 23;

const column = (name: string, dataTypeID = TEXT, format = 'text'): ColumnDescription => ({
  name,
  dataTypeID,
  format,
});

/** Integers parsed, everything else as sent; each lookup counted. */
function countingParsers() {
  const lookups: number[] = [];
  const types: TypeParsers = {
    getTypeParser(oid) {
      lookups.push(oid);
      return oid === INT4 ? (text) => Number(text) : (text) => text;
    },
  };
  return { types, lookups };
}

describe('rowShape', () => {
  it('builds a row from the texts with each column parsed by its type, nulls kept', () => {
    const { types } = countingParsers();
    const shape = rowShape([column('id', INT4), column('label'), column('note')], types);
    expect(shape?.build(['7', 'seven', null])).toEqual({ id: 7, label: 'seven', note: null });
    expect(shape?.build([null, 'x', 'y'])).toEqual({ id: null, label: 'x', note: 'y' });
  });

  it('keeps the last value of a repeated column name, as pg does', () => {
    const shape = rowShape([column('id'), column('id')], countingParsers().types);
    expect(shape?.build(['first', 'second'])).toEqual({ id: 'second' });
  });

  it('takes any column name as a name: quotes, backslashes, line breaks and code stay text', () => {
    const names = [
      '"}; globalThis.injected = true; ({"',
      "it's",
      'back\\slash',
      'line\nbreak',
      'separator\u2028here',
      '`template`',
      'constructor',
      '',
    ];
    const shape = rowShape(
      names.map((name) => column(name)),
      countingParsers().types,
    );
    const row = shape?.build(names.map((_, i) => `v${i}`));
    expect(Object.keys(row ?? {})).toEqual(names);
    names.forEach((name, i) => {
      expect(Object.getOwnPropertyDescriptor(row, name)?.value).toBe(`v${i}`);
    });
    expect((globalThis as { injected?: boolean }).injected).toBeUndefined();
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });

  it('declines a __proto__ column (a literal would set the prototype) and binary columns', () => {
    const { types } = countingParsers();
    expect(rowShape([column('id'), column('__proto__')], types)).toBeNull();
    expect(rowShape([column('id'), column('bytes', 17, 'binary')], types)).toBeNull();
  });

  it('builds a row without columns', () => {
    expect(rowShape([], countingParsers().types)?.build([])).toEqual({});
  });
});

describe('RowShapes', () => {
  it("makes a statement's shape once while its columns stay the same", () => {
    const { types, lookups } = countingParsers();
    const shapes = new RowShapes();
    const columns = [column('id', INT4), column('label')];
    const first = shapes.shapeOf('gs_0', columns, types);
    // The same columns as a new message describes them: the shape is kept.
    expect(
      shapes.shapeOf(
        'gs_0',
        columns.map((c) => ({ ...c })),
        types,
      ),
    ).toBe(first);
    expect(lookups).toEqual([INT4, TEXT]);
  });

  it('makes it again when a column is renamed, retyped or added, and forgets it on request', () => {
    const { types } = countingParsers();
    const shapes = new RowShapes();
    const first = shapes.shapeOf('gs_0', [column('id', INT4)], types);
    const retyped = shapes.shapeOf('gs_0', [column('id', TEXT)], types);
    expect(retyped).not.toBe(first);
    expect(retyped?.build(['7'])).toEqual({ id: '7' });
    const renamed = shapes.shapeOf('gs_0', [column('key', TEXT)], types);
    expect(renamed?.build(['7'])).toEqual({ key: '7' });
    const added = shapes.shapeOf('gs_0', [column('key', TEXT), column('n', INT4)], types);
    expect(added?.build(['7', '8'])).toEqual({ key: '7', n: 8 });
    expect(shapes.shapeOf('gs_0', [column('key', TEXT), column('n', INT4)], types)).toBe(added);
    expect(shapes.size).toBe(1);
    shapes.forget('gs_0');
    expect(shapes.size).toBe(0);
  });

  it('remembers a shape it declined, and keeps statements apart', () => {
    const { types, lookups } = countingParsers();
    const shapes = new RowShapes();
    expect(shapes.shapeOf('gs_0', [column('__proto__')], types)).toBeNull();
    expect(shapes.shapeOf('gs_1', [column('id', INT4)], types)?.build(['1'])).toEqual({ id: 1 });
    expect(shapes.size).toBe(2);
    expect(lookups).toEqual([INT4]);
  });
});

describe('shapedQueryClass', () => {
  it("makes one class per pg Query class, shared by every connection's queries", () => {
    const Query = pg.Query as unknown as PgQueryClass;
    expect(shapedQueryClass(Query)).toBe(shapedQueryClass(Query));
    class OtherQuery extends (pg.Query as unknown as new (config: unknown) => object) {}
    expect(shapedQueryClass(OtherQuery as unknown as PgQueryClass)).not.toBe(shapedQueryClass(Query));
  });
});

const skip = postgresServerSkipReason('postgres');

describe.skipIf(skip !== null)(withSkipReason('postgres: rows built by shape', skip), () => {
  const url = () => inject('postgresUrl') as string;

  /**
   * Runs `work` on one connection of each kind, pg's own rows and rows built by shape, and checks
   * that the second kept shapes (so its rows were built by them).
   */
  async function onBoth<T>(
    work: (query: PgClientLike['query']) => Promise<T>,
    types?: pg.CustomTypesConfig,
  ): Promise<[T, T]> {
    const results: T[] = [];
    for (const options of [{}, { Query: pg.Query as unknown as PgQueryClass }]) {
      const raw = new pg.Pool({ connectionString: url(), max: 1, pipeline: true, types } as pg.PoolConfig);
      const connection = await preparedStatementPool(raw as never, options).connect();
      try {
        results.push(await work((text, values) => connection.query(text as string, values)));
        expect(connection.shapeCount > 0).toBe('Query' in options);
      } finally {
        connection.release();
        await raw.end();
      }
    }
    return results as [T, T];
  }

  const rowsOf = (result: unknown) => (result as { rows: unknown[] }).rows;

  it('gives the rows pg gives, for every type the store reads, null, repeated and odd names', async () => {
    const text = `select $1::text as id, 42::int4 as n, 9007199254740993::int8 as big, 1.5::numeric as ratio,
        true as yes, '{"a":[1,{"b":null}]}'::jsonb as doc, '2026-12-06 10:00:00.123+00'::timestamptz as at,
        '3f1c0d2e-8a4b-4c5d-9e6f-708192a3b4c5'::uuid as uid, array['x','y']::text[] as tags,
        null::text as nothing, 'first' as dup, 'second' as dup, 'a' as "__proto__", 'b' as "it's ""odd"""
      from generate_series(1, $2::int)`;
    const [plain, shaped] = await onBoth(async (query) => [
      rowsOf(await query(text, ['row', 3])),
      rowsOf(await query(text, ['again', 1])), // the second run of the statement: its kept shape
    ]);
    expect(shaped).toEqual(plain);
    expect(shaped[0]).toHaveLength(3);
    expect(shaped[1]).toHaveLength(1);
  });

  it('gives the same command, count and rows for writes, and no rows for an empty result', async () => {
    const table = `shaped_probe_${process.pid}_${Date.now()}`;
    const [plain, shaped] = await onBoth(async (query) => {
      await query(`create temporary table ${table} (id int primary key, label text)`);
      const inserted = await query(`insert into ${table} values ($1, $2), ($3, $4) returning *`, [
        1,
        'one',
        2,
        'two',
      ]);
      const updated = await query(`update ${table} set label = $1 where id > $2`, ['more', 0]);
      const none = await query(`select * from ${table} where id = $1`, [99]);
      const pick = (result: {
        command: string;
        rowCount: number;
        rows: unknown[];
        fields: { name: string }[];
      }) => ({
        command: result.command,
        rowCount: result.rowCount,
        rows: result.rows,
        columns: result.fields.map((field) => field.name),
      });
      return [inserted, updated, none].map((result) => pick(result as never));
    });
    expect(shaped).toEqual(plain);
    expect(shaped[0]).toEqual({
      command: 'INSERT',
      rowCount: 2,
      rows: [
        { id: 1, label: 'one' },
        { id: 2, label: 'two' },
      ],
      columns: ['id', 'label'],
    });
    expect(shaped[1]).toMatchObject({ command: 'UPDATE', rowCount: 2, rows: [] });
    expect(shaped[2]).toMatchObject({ command: 'SELECT', rowCount: 0, rows: [] });
  });

  it('fails a statement that fails after its first rows, and the connection serves the next', async () => {
    const [plain, shaped] = await onBoth(async (query) => {
      const failed = await query(
        'select 10 / x as q from unnest(array[1, 0]::int[]) as x where x >= $1',
        [0],
      ).catch((error: { code?: string }) => error.code);
      const next = rowsOf(await query('select $1::int as n', [5]));
      return { failed, next };
    });
    expect(shaped).toEqual(plain);
    expect(shaped).toEqual({ failed: '22012', next: [{ n: 5 }] }); // 22012: division_by_zero
  });

  it("fails a statement whose value a type parser refuses, after the statement's end, and serves the next", async () => {
    const refuseNonPositive = {
      getTypeParser: (oid: number, format?: string) =>
        oid === INT4
          ? (text: string) => {
              if (Number(text) <= 0) throw new Error(`refused ${text}`);
              return Number(text);
            }
          : pg.types.getTypeParser(oid, format as 'text'),
    } as pg.CustomTypesConfig;
    const [plain, shaped] = await onBoth(async (query) => {
      // The first refusal is the one reported, as in pg: the rows after it are not parsed.
      const failed = await query(
        'select x from unnest(array[1, 0, -1]::int[]) as x where x >= $1',
        [-9],
      ).catch((error: Error) => error.message);
      const next = rowsOf(await query('select $1::int as n', [5]));
      return { failed, next };
    }, refuseNonPositive);
    expect(shaped).toEqual(plain);
    expect(shaped).toEqual({ failed: 'refused 0', next: [{ n: 5 }] });
  });

  it("a PostgreSQL store builds its prepared statements' rows by shape, not with pg's row loop", async () => {
    const store = await openStore(url(), { schema: `t_${randomBytes(6).toString('hex')}`, migrate: false });
    const parseRow = vi.spyOn(PgResult.prototype, 'parseRow');
    try {
      const { rows } = await sql<{
        n: number;
        label: string;
      }>`select ${3}::int as n, 'three' as label`.execute(store.db);
      expect(rows).toEqual([{ n: 3, label: 'three' }]);
      expect(parseRow).not.toHaveBeenCalled();
      // A statement without parameters goes unprepared, through pg's own rows.
      await sql`select 1 as one`.execute(store.db);
      expect(parseRow).toHaveBeenCalledTimes(1);
    } finally {
      parseRow.mockRestore();
      await store.close();
    }
  });
});
