import { randomUUID } from 'node:crypto';
import { CamelCasePlugin, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch } from '../../src/store/batch.js';
import { type Executor, inTransaction, queryTemplate } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: query templates`, () => {
    let store: TestStore;
    const now = new Date().toISOString();
    const names = [`template-a-${randomUUID()}`, `template-b-${randomUUID()}`];

    beforeAll(async () => {
      store = await openTestStore(dialect);
      await store.db
        .insertInto('gitswarm_agents')
        .values(names.map((name) => ({ id: randomUUID(), name, created_at: now, updated_at: now })))
        .execute();
    });
    afterAll(async () => {
      await store.close();
    });

    it('builds the query once per database and binds each run its own arguments', async () => {
      let builds = 0;
      const byName = queryTemplate(['name', 'since'], (db, { name, since }) => {
        builds++;
        return db
          .selectFrom('gitswarm_agents')
          .select('name')
          .where('name', '=', name)
          .where('created_at', '>=', since)
          .where('status', '=', 'active');
      });
      const [a, b] = names as [string, string];
      expect(await byName(store.db, { name: a, since: now })).toEqual([{ name: a }]);
      expect(await byName(store.db, { name: b, since: now })).toEqual([{ name: b }]);
      expect(await byName(store.db, { name: a, since: '9999-01-01T00:00:00.000Z' })).toEqual([]);
      expect(builds).toBe(1);
      // A transaction of the store runs the same compiled query, and sees its own writes.
      const inside = await inTransaction(store.db, async (trx) => {
        await trx.updateTable('gitswarm_agents').set({ status: 'suspended' }).where('name', '=', b).execute();
        const rows = [await byName(trx, { name: a, since: now }), await byName(trx, { name: b, since: now })];
        throw Object.assign(new Error('roll back'), { rows });
      }).catch((error: { rows: unknown }) => error.rows);
      expect(inside).toEqual([[{ name: a }], []]);
      expect(builds).toBe(1);
      expect(await byName(store.db, { name: b, since: now })).toEqual([{ name: b }]);
    });

    it('gives batch() the bound query; another store or another plugin compiles its own', async () => {
      let builds = 0;
      const byName = queryTemplate(['name'], (db, { name }) => {
        builds++;
        return db.selectFrom('gitswarm_agents').select('name').where('name', '=', name);
      });
      const [a, b] = names as [string, string];
      const [first, second] = await batch(store.db, [
        byName.bind(store.db, { name: a }),
        byName.bind(store.db, { name: b }),
      ]);
      expect([first, second]).toEqual([[{ name: a }], [{ name: b }]]);
      expect(builds).toBe(1);
      const other = await openTestStore(dialect);
      try {
        expect(await byName(other.db, { name: a })).toEqual([]);
        expect(builds).toBe(2);
      } finally {
        await other.close();
      }
      const withPlugin = store.db.withPlugin(new CamelCasePlugin());
      expect(await byName(withPlugin, { name: b })).toEqual([{ name: b }]);
      expect(builds).toBe(3);
    });

    it('binds null for a nullable column, and a string again on the next run', async () => {
      const insert = queryTemplate(['id', 'name', 'description', 'at'], (db, { id, name, description, at }) =>
        db
          .insertInto('gitswarm_agents')
          .values({ id, name, description, created_at: at, updated_at: at })
          .returning(['name', 'description']),
      );
      const [without, withIt] = [`template-null-${randomUUID()}`, `template-text-${randomUUID()}`];
      expect(await insert(store.db, { id: randomUUID(), name: without, description: null, at: now })).toEqual(
        [{ name: without, description: null }],
      );
      expect(
        await insert(store.db, { id: randomUUID(), name: withIt, description: 'text', at: now }),
      ).toEqual([{ name: withIt, description: 'text' }]);
    });

    it('refuses an argument that is not bound as a whole parameter', async () => {
      const inValue = queryTemplate(['prefix'], (db, { prefix }) =>
        db.selectFrom('gitswarm_agents').select('name').where('name', 'like', `${prefix}%`),
      );
      await expect(inValue(store.db, { prefix: 'template' })).rejects.toThrow(
        'prefix must be bound as whole parameters',
      );
      const inText = queryTemplate(['name'], (db: Executor, { name }) =>
        db.selectFrom('gitswarm_agents').select('name').where('name', '=', sql.lit(name)),
      );
      await expect(inText(store.db, { name: 'x' })).rejects.toThrow('an argument reached the SQL text');
    });
  });
}
