import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findByIdOrPrefix } from '../../src/core/id-prefix.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: rows by id or unique id prefix`, () => {
    let store: TestStore;
    const first = 'abcd0000-0000-4000-8000-000000000001';
    const second = 'abcd1111-0000-4000-8000-000000000002';
    beforeAll(async () => {
      store = await openTestStore(dialect);
      await store.db
        .insertInto('gitswarm_agents')
        .values([
          { id: first, name: 'prefix-first' },
          { id: second, name: 'prefix-second' },
        ])
        .execute();
    });
    afterAll(async () => {
      await store.close();
    });

    const find = (ref: string) =>
      findByIdOrPrefix(store.db.selectFrom('gitswarm_agents').select(['id', 'name']), ref, 'agent');

    it('finds by the whole id (any case) and by a unique prefix', async () => {
      expect(await find(first.toUpperCase())).toEqual({ id: first, name: 'prefix-first' });
      expect(await find('abcd1')).toEqual({ id: second, name: 'prefix-second' });
    });

    it('refuses an ambiguous prefix, and finds nothing for short or non-hex ones', async () => {
      await expect(find('abcd')).rejects.toMatchObject({
        code: 'invalid_input',
        message: 'The agent id prefix abcd is ambiguous; give more of it.',
      });
      expect(await find('abc')).toBeUndefined();
      expect(await find("abcd' or 1=1 --")).toBeUndefined();
      expect(await find('abcd2')).toBeUndefined();
    });
  });
}
