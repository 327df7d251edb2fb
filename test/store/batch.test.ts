import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, inTransaction, supportsPipelining, writtenRow } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: batch`, () => {
    let store: TestStore;
    const now = new Date().toISOString();
    const agent = (name: string) => ({ id: randomUUID(), name, created_at: now, updated_at: now });

    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    it('pipelines only on PostgreSQL through pg', () => {
      expect(supportsPipelining(store.db)).toBe(dialectLabel(dialect) === 'postgres');
    });

    it('returns each query its own rows, in order, in and out of a transaction', async () => {
      const [a, b] = [agent(`batch-a-${dialect}`), agent(`batch-b-${dialect}`)];
      await store.db.insertInto('gitswarm_agents').values([a, b]).execute();
      const read = (db: typeof store.db, id: string) =>
        db.selectFrom('gitswarm_agents').select(['id', 'name']).where('id', '=', id);
      const [first, second, none] = await batch(store.db, [
        read(store.db, a.id),
        read(store.db, b.id),
        read(store.db, randomUUID()),
      ]);
      expect(first).toEqual([{ id: a.id, name: a.name }]);
      expect(second).toEqual([{ id: b.id, name: b.name }]);
      expect(none).toEqual([]);
      const inside = await inTransaction(store.db, async (trx) => {
        const [rows, count] = await batch(trx, [
          read(trx, a.id),
          trx.selectFrom('gitswarm_agents').select((eb) => eb.fn.countAll<number>().as('n')),
        ]);
        return { rows, count };
      });
      expect(inside.rows).toEqual([{ id: a.id, name: a.name }]);
      expect(Number(inside.count[0]?.n)).toBeGreaterThanOrEqual(2);
    });

    it('throws the failure, and a failed transaction keeps none of its writes', async () => {
      const c = agent(`batch-c-${dialect}`);
      await expect(
        inTransaction(store.db, (trx) =>
          batch(trx, [
            trx.insertInto('gitswarm_agents').values(c),
            trx.insertInto('gitswarm_agents').values({ ...c, id: randomUUID() }),
          ]),
        ),
      ).rejects.toThrow();
      const left = await store.db
        .selectFrom('gitswarm_agents')
        .select('id')
        .where('name', '=', c.name)
        .execute();
      expect(left).toEqual([]);
    });
  });
}

describe('writtenRow', () => {
  it('gives the row a write returned, and throws when it returned none', () => {
    expect(writtenRow([{ id: 'a' }])).toEqual({ id: 'a' });
    expect(() => writtenRow([])).toThrow('A write that returns its row returned none.');
  });
});
