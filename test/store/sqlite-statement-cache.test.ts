import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { STATEMENT_CACHE_SIZE, withStatementCache } from '../../src/store/sqlite-dialect.js';

describe('the SQLite store keeps its prepared statements', () => {
  const open: Database.Database[] = [];
  afterEach(() => {
    for (const database of open.splice(0)) if (database.open) database.close();
  });
  function database(): Database.Database {
    const db = new Database(':memory:');
    db.exec('create table t (n integer)');
    open.push(db);
    return db;
  }

  it('prepares a query once and gives the same statement back, with fresh results each run', () => {
    const cached = withStatementCache(database());
    const first = cached.prepare('select count(*) as c from t');
    expect(cached.prepare('select count(*) as c from t')).toBe(first);
    expect(first.all([])).toEqual([{ c: 0 }]);
    cached.prepare('insert into t (n) values (?)').run([7]);
    expect(cached.prepare('select count(*) as c from t').all([])).toEqual([{ c: 1 }]);
  });

  it('gives a fresh statement while the cached one is being iterated', () => {
    const db = database();
    db.exec('insert into t (n) values (1), (2), (3)');
    const cached = withStatementCache(db);
    const query = 'select n from t order by n';
    const outer = cached.prepare(query);
    const seen: number[][] = [];
    for (const row of outer.iterate([]) as Iterable<{ n: number }>) {
      const inner = cached.prepare(query);
      expect(inner).not.toBe(outer);
      seen.push([row.n, ...(inner.all([]) as { n: number }[]).map((r) => r.n)]);
    }
    expect(seen).toEqual([
      [1, 1, 2, 3],
      [2, 1, 2, 3],
      [3, 1, 2, 3],
    ]);
    // Done iterating: the cached statement serves again.
    expect(cached.prepare(query)).toBe(outer);
  });

  it(`keeps at most ${STATEMENT_CACHE_SIZE}, dropping the least recently used`, () => {
    const cached = withStatementCache(database());
    const first = cached.prepare('select 0');
    const second = cached.prepare('select 1');
    for (let i = 2; i < STATEMENT_CACHE_SIZE; i++) cached.prepare(`select ${i}`);
    // Used again: now the most recent, so 'select 1' is the oldest.
    expect(cached.prepare('select 0')).toBe(first);
    cached.prepare(`select ${STATEMENT_CACHE_SIZE}`);
    expect(cached.prepare('select 0')).toBe(first);
    expect(cached.prepare('select 1')).not.toBe(second);
  });

  it('closes the database with it', () => {
    const db = database();
    withStatementCache(db).close();
    expect(db.open).toBe(false);
  });
});
