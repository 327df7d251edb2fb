/**
 * Names (issue 10, item 9): repository names follow the agent-name rules; agent names are one name
 * whatever their case, and never shaped like an id; agents registered before that rule, whose
 * names differ only by case, survive the migration and keep working.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalEventBus } from '../../src/core/activity/events.js';
import { findAgent, registerAgent } from '../../src/core/agents/agents.js';
import { createRepo } from '../../src/core/repos/repos.js';
import { migrateToLatest, openStore, type Store } from '../../src/store/index.js';
import { initialMigration } from '../../src/store/migrations/0001-initial.js';
import { retriesAndIndexesMigration } from '../../src/store/migrations/0002-retries-and-indexes.js';
import { systemClock } from '../../src/util/clock.js';
import { DIALECTS, dialectLabel, postgresLocation, type TestDialect } from '../helpers/store.js';
import { createTestRepo, registerTestAgent, startTestApp, type TestAgent, type TestApp } from './helpers.js';

const HOSTILE_REPO_NAMES = ['bell\u0007name', 'evil\u202Etxt.exe', '-rf', '   ', '\t', 'new\nline', 'a b'];

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: names`, () => {
    let t: TestApp;
    let owner: TestAgent;
    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('repository names with control or bidi characters, a leading "-" or only spaces are refused', async () => {
      for (const name of HOSTILE_REPO_NAMES) {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/v1/repos',
          headers: owner.headers,
          payload: { name },
        });
        expect(response.statusCode, JSON.stringify(name)).toBe(400);
        expect(response.json().error.code).toBe('invalid_name');
      }
      await expect(createRepo(t.app.deps, { name: 'evil\u202Etxt' })).rejects.toMatchObject({
        code: 'invalid_name',
      });
      const repo = await createTestRepo(t.app, owner);
      for (const name of HOSTILE_REPO_NAMES) {
        const renamed = await t.app.inject({
          method: 'PATCH',
          url: `/api/v1/repos/${repo.id}`,
          headers: owner.headers,
          payload: { name },
        });
        expect(renamed.statusCode, JSON.stringify(name)).toBe(400);
      }
      const rows = await t.store.db.selectFrom('gitswarm_repos').select('name').execute();
      expect(rows.map((row) => row.name)).toEqual([repo.name]);
    });

    it('agent names differing only by case are one name; lookups find it whatever the case', async () => {
      const alice = await registerTestAgent(t.app, 'Alice');
      for (const name of ['alice', 'ALICE', 'aLiCe']) {
        const again = await t.app.inject({ method: 'POST', url: '/api/v1/agents', payload: { name } });
        expect(again.statusCode, name).toBe(409);
        expect(again.json().error.code).toBe('already_exists');
      }
      await expect(registerAgent(t.app.deps, { name: 'alice' })).rejects.toMatchObject({
        code: 'already_exists',
      });
      const found = await t.app.inject({ url: '/api/v1/agents/ALICE' });
      expect(found.json().agent.id).toBe(alice.id);
      const count = await t.store.db
        .selectFrom('gitswarm_agents')
        .select('id')
        .where('name_folded', '=', 'alice')
        .execute();
      expect(count).toHaveLength(1);
    });

    it('a UUID-shaped agent name is refused (it could never be looked up by name)', async () => {
      for (const name of ['123e4567-e89b-12d3-a456-426614174000', 'ABCDEF01-2345-6789-ABCD-EF0123456789']) {
        const response = await t.app.inject({ method: 'POST', url: '/api/v1/agents', payload: { name } });
        expect(response.statusCode).toBe(400);
        expect(response.json().error.code).toBe('invalid_name');
      }
    });
  });

  describe(`${dialectLabel(dialect)}: migration 0006 with names that differ only by case`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await openUnmigrated(dialect));
    });
    afterAll(async () => {
      await store.close();
      await cleanup();
    });

    it('keeps every agent; the oldest owns the folded name, and no new one can take it', async () => {
      const schema = (store as Store & { schema?: string }).schema;
      const migrator = new Migrator({
        db: store.db,
        provider: {
          getMigrations: async () => ({
            '0001-initial': initialMigration(store.capabilities),
            '0002-retries-and-indexes': retriesAndIndexesMigration(store.capabilities),
          }),
        },
        ...(schema ? { migrationTableSchema: schema } : {}),
      });
      const first = await migrator.migrateToLatest();
      expect(first.error).toBeUndefined();
      const ids: string[] = [];
      for (const [i, name] of ['Bob', 'bob', 'BOB'].entries()) {
        const id = crypto.randomUUID();
        ids.push(id);
        await store.db
          .insertInto('gitswarm_agents' as never)
          .values({ id, name, created_at: `2026-01-0${i + 1}T00:00:00.000Z` } as never)
          .execute();
      }
      await migrateToLatest(store, schema);
      const rows = await store.db
        .selectFrom('gitswarm_agents')
        .select(['id', 'name', 'name_folded'])
        .orderBy('created_at')
        .execute();
      expect(rows.map((row) => row.name)).toEqual(['Bob', 'bob', 'BOB']);
      expect(rows[0]?.name_folded).toBe('bob');
      expect(rows[1]?.name_folded).toBe(`bob#${ids[1]}`);
      const deps = { store, clock: systemClock, events: createLocalEventBus() };
      // Each keeps working by its exact name; a fourth spelling is refused.
      expect((await findAgent(store.db, 'BOB'))?.id).toBe(ids[2]);
      expect((await findAgent(store.db, 'bOb'))?.id).toBe(ids[0]);
      await expect(registerAgent(deps, { name: 'bOB' })).rejects.toMatchObject({ code: 'already_exists' });
    });
  });
}

/** A store of the dialect with no migration run yet. */
async function openUnmigrated(dialect: TestDialect): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'gitswarm-names-'));
    const store = await openStore(join(dir, 'federation.db'), { migrate: false });
    return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const store = await openStore(postgresLocation(), { schema, migrate: false, maxConnections: 2 });
  return { store: Object.assign(store, { schema }), cleanup: async () => {} };
}
