/**
 * Access resolution on both dialects: an unexpired explicit grant wins, then the maintainer role,
 * then the repository's access mode; and what each action needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  getRepoForAction,
  grantAccess,
  requireAction,
  resolveAccess,
} from '../../../src/core/governance/access.js';
import { getRepo } from '../../../src/core/repos/repos.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: access resolution`, () => {
    let store: TestStore;
    let deps: ReturnType<typeof testDeps>;
    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    it('grant → maintainer role → repository mode; an expired grant no longer counts', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'allowlist' });
      const { repo, owner } = seeded;
      const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      const outsider = await seedAgent(deps, 'outsider');
      expect(await resolveAccess(deps, store.db, repo, owner)).toEqual({ level: 'admin', source: 'owner' });
      expect(await resolveAccess(deps, store.db, repo, maintainer)).toEqual({
        level: 'maintain',
        source: 'maintainer',
      });
      expect(await resolveAccess(deps, store.db, repo, outsider)).toEqual({
        level: 'read',
        source: 'repo_mode',
      });

      // A grant wins over the maintainer role, both ways.
      await grantAccess(deps, store.db, { repo, actor: owner, agent: maintainer, level: 'read' });
      expect(await resolveAccess(deps, store.db, repo, maintainer)).toEqual({
        level: 'read',
        source: 'grant',
      });
      await grantAccess(deps, store.db, {
        repo,
        actor: owner,
        agent: outsider,
        level: 'write',
        expiresAt: '2026-03-02T00:00:00.000Z',
      });
      expect(await resolveAccess(deps, store.db, repo, outsider)).toEqual({
        level: 'write',
        source: 'grant',
      });
      await requireAction(deps, store.db, repo, outsider, 'write');

      // A day later the grant has expired: the repository's mode decides again.
      deps.clock.set('2026-03-03T00:00:00.000Z');
      expect(await resolveAccess(deps, store.db, repo, outsider)).toEqual({
        level: 'read',
        source: 'repo_mode',
      });
      await expect(requireAction(deps, store.db, repo, outsider, 'write')).rejects.toMatchObject({
        code: 'forbidden',
      });
    });

    it('repository modes: public, karma_threshold, private', async () => {
      const open = await seedRepo(deps, { agent_access: 'public' });
      const gated = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 50 });
      const hidden = await seedRepo(deps, { agent_access: 'public', is_private: true });
      const novice = await seedAgent(deps, 'novice', { karma: 10, karmaIn: gated.repo });
      const veteran = await seedAgent(deps, 'veteran', { karma: 50, karmaIn: gated.repo });
      // Karma earned in another repository opens nothing here: the gate reads karma in this one.
      const outsider = await seedAgent(deps, 'outsider', { karma: 1000, karmaIn: open.repo });
      expect((await resolveAccess(deps, store.db, open.repo, novice)).level).toBe('write');
      expect((await resolveAccess(deps, store.db, gated.repo, novice)).level).toBe('read');
      expect((await resolveAccess(deps, store.db, gated.repo, veteran)).level).toBe('write');
      expect(outsider.karma).toBe(1000);
      expect((await resolveAccess(deps, store.db, gated.repo, outsider)).level).toBe('read');
      expect((await getRepoForAction(deps, store.db, gated.repo.id, outsider, 'read')).access.level).toBe(
        'read',
      );
      const privateRepo = await getRepo(store.db, hidden.repo.id);
      expect(await resolveAccess(deps, store.db, privateRepo, veteran)).toEqual({
        level: 'none',
        source: 'repo_mode',
      });
      await expect(requireAction(deps, store.db, privateRepo, veteran, 'read')).rejects.toMatchObject({
        code: 'forbidden',
      });
      await requireAction(deps, store.db, privateRepo, hidden.owner, 'settings');
    });

    it('getRepoForAction: the same row as getRepo with the access, in one query; refusals alike', async () => {
      const seeded = await seedRepo(deps, { agent_access: 'karma_threshold', min_karma: 50 });
      const novice = await seedAgent(deps, 'novice', { karma: 10, karmaIn: seeded.repo });
      const found = await getRepoForAction(deps, store.db, seeded.repo.id, seeded.owner, 'settings');
      expect(found).toEqual({
        repo: await getRepo(store.db, seeded.repo.id),
        access: { level: 'admin', source: 'owner' },
      });
      expect((await getRepoForAction(deps, store.db, seeded.repo.id, novice, 'read')).access).toEqual({
        level: 'read',
        source: 'repo_mode',
      });
      await expect(getRepoForAction(deps, store.db, seeded.repo.id, novice, 'write')).rejects.toMatchObject({
        code: 'forbidden',
      });
      await expect(
        getRepoForAction(deps, store.db, '00000000-0000-4000-8000-000000000000', novice, 'read'),
      ).rejects.toMatchObject({ code: 'repo_not_found' });
    });
  });
}
