import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COUNCIL_DEFAULTS,
  checkCouncilEligibility,
  createCouncil,
  getCouncil,
  joinCouncil,
  listCouncilMembers,
  parseCouncilSettings,
  removeCouncilMember,
  showCouncil,
  updateCouncilSettings,
} from '../../../src/core/governance/council.js';
import { adjustKarma } from '../../../src/core/governance/karma.js';
import { createRepo } from '../../../src/core/repos/repos.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import {
  activityOf,
  DAY,
  expectCode,
  insertMergedStream,
  makeAgent,
  openWorld,
  START,
  uniqueName,
  type World,
} from './council-setup.js';

describe('council settings', () => {
  it('defaults to the schema values', () => {
    expect(parseCouncilSettings({})).toEqual({
      min_karma: 50,
      min_contributions: 3,
      min_members: 3,
      max_members: 11,
      standard_quorum: 3,
      critical_quorum: 5,
      term_limit_months: 6,
      election_interval_days: 90,
    });
    expect(COUNCIL_DEFAULTS.critical_quorum).toBe(5);
  });

  it('accepts numeric strings and refuses unknown keys and inconsistent values', () => {
    expect(parseCouncilSettings({ min_members: '2', standard_quorum: 2 }).min_members).toBe(2);
    expect(() => parseCouncilSettings({ quorum: 2 })).toThrow(/Unknown council setting/);
    expect(() => parseCouncilSettings({ min_members: 0 })).toThrow(/min_members/);
    expect(() => parseCouncilSettings({ min_members: 12 })).toThrow(/min_members may not exceed max_members/);
    expect(() => parseCouncilSettings({ standard_quorum: 6 })).toThrow(/standard_quorum may not exceed/);
    expect(() => parseCouncilSettings({ critical_quorum: 12 })).toThrow(/critical_quorum may not exceed/);
    expect(() => parseCouncilSettings({ min_karma: 1.5 })).toThrow(/integer/);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: council`, () => {
    let world: World;
    beforeAll(async () => {
      world = await openWorld(dialect);
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('is created by an admin only, once, forming, with the chosen settings', async () => {
      const outsider = await makeAgent(world);
      await expectCode(createCouncil(world.deps, { repo: world.repo, actor: outsider }), 'forbidden');
      await expectCode(
        createCouncil(world.deps, { repo: world.repo, actor: world.owner, settings: { min_members: 20 } }),
        'invalid_input',
      );
      const council = await createCouncil(world.deps, {
        repo: world.repo,
        actor: world.owner,
        settings: { min_members: 2, standard_quorum: 2, critical_quorum: 3 },
      });
      expect(council).toMatchObject({
        status: 'forming',
        min_members: 2,
        max_members: 11,
        min_karma: 50,
        standard_quorum: 2,
        critical_quorum: 3,
        term_limit_months: 6,
        election_interval_days: 90,
      });
      await expectCode(createCouncil(world.deps, { repo: world.repo, actor: world.owner }), 'already_exists');
      expect(await activityOf(world, 'council.created')).toHaveLength(1);
    });

    it('reads karma earned in this repository, not karma farmed elsewhere', async () => {
      const council = await getCouncil(world.store.db, world.repo.id);
      const farmer = await makeAgent(world, { karma: 0, merged: 3 });
      const elsewhere = await createRepo(world.deps, { name: uniqueName('farm'), owner: farmer });
      await adjustKarma(world.deps, world.store.db, {
        agentId: farmer.id,
        repoId: elsewhere.id,
        amount: 1000,
        reason: 'test: karma farmed in a repository the agent owns',
      });
      const eligibility = await checkCouncilEligibility(world.store.db, council, farmer);
      expect(eligibility).toMatchObject({ eligible: false, karma: 0, min_karma: 50 });
      await expectCode(joinCouncil(world.deps, { repo: world.repo, agent: farmer }), 'not_eligible');
    });

    it('admits only agents with the karma and the merged, not reverted streams', async () => {
      const council = await getCouncil(world.store.db, world.repo.id);
      const poor = await makeAgent(world, { karma: 49, merged: 3 });
      await expectCode(joinCouncil(world.deps, { repo: world.repo, agent: poor }), 'not_eligible');
      const newcomer = await makeAgent(world, { karma: 80, merged: 2 });
      await insertMergedStream(world, newcomer, { reverted: true });
      const eligibility = await checkCouncilEligibility(world.store.db, council, newcomer);
      expect(eligibility).toMatchObject({ eligible: false, contributions: 2, min_contributions: 3 });
      const error = await expectCode(
        joinCouncil(world.deps, { repo: world.repo, agent: newcomer }),
        'not_eligible',
      );
      expect(error.message).toMatch(/2 merged streams, 3 needed/);
      await insertMergedStream(world, newcomer);
      const { member, council: after } = await joinCouncil(world.deps, { repo: world.repo, agent: newcomer });
      expect(member.role).toBe('chair');
      expect(member.term_expires_at).toBe('2030-07-01T00:00:00.000Z');
      expect(after.status).toBe('forming');
      await expectCode(joinCouncil(world.deps, { repo: world.repo, agent: newcomer }), 'already_exists');
    });

    it('becomes active at min_members and only then', async () => {
      const second = await makeAgent(world);
      const { member, council } = await joinCouncil(world.deps, { repo: world.repo, agent: second });
      expect(member.role).toBe('member');
      expect(council.status).toBe('active');
      const activated = await activityOf(world, 'council.activated');
      expect(activated).toHaveLength(1);
      expect(activated[0]?.metadata).toMatchObject({ members: 2, min_members: 2 });
      expect(await activityOf(world, 'council.member_joined')).toHaveLength(2);
    });

    it('falls back to forming when the chair leaves, and the longest-serving member takes the chair', async () => {
      const [chair, member] = await listCouncilMembers(
        world.store.db,
        (await getCouncil(world.store.db, world.repo.id)).id,
      );
      expect(chair?.role).toBe('chair');
      const chairAgent = { id: chair!.agent_id, name: chair!.agent_name } as Parameters<
        typeof removeCouncilMember
      >[1]['agent'];
      const outsider = await makeAgent(world);
      await expectCode(
        removeCouncilMember(world.deps, { repo: world.repo, actor: outsider, agent: chairAgent }),
        'forbidden',
      );
      const council = await removeCouncilMember(world.deps, {
        repo: world.repo,
        actor: chairAgent,
        agent: chairAgent,
      });
      expect(council.status).toBe('forming');
      const members = await listCouncilMembers(world.store.db, council.id);
      expect(members).toHaveLength(1);
      expect(members[0]).toMatchObject({ agent_id: member?.agent_id, role: 'chair' });
      const removed = await activityOf(world, 'council.member_removed');
      expect(removed[0]?.metadata).toMatchObject({ reason: 'left', new_chair_id: member?.agent_id });
      expect(await activityOf(world, 'council.deactivated')).toHaveLength(1);
    });

    it('follows a changed min_members at once and reports when the next election is due', async () => {
      const outsider = await makeAgent(world);
      await expectCode(
        updateCouncilSettings(world.deps, { repo: world.repo, actor: outsider, changes: { min_members: 1 } }),
        'forbidden',
      );
      const council = await updateCouncilSettings(world.deps, {
        repo: world.repo,
        actor: world.owner,
        changes: { min_members: 1, max_members: 2, standard_quorum: 1, critical_quorum: 2 },
      });
      expect(council).toMatchObject({ status: 'active', min_members: 1, max_members: 2 });
      const view = await showCouncil(world.store.db, world.repo);
      expect(view.members).toHaveLength(1);
      expect(view.next_election_due_at).toBe(new Date(new Date(START).getTime() + 90 * DAY).toISOString());
    });

    it('refuses to join a full council', async () => {
      const a = await makeAgent(world);
      await joinCouncil(world.deps, { repo: world.repo, agent: a });
      const b = await makeAgent(world);
      const error = await expectCode(
        joinCouncil(world.deps, { repo: world.repo, agent: b }),
        'invalid_state',
      );
      expect(error.message).toMatch(/full \(2 of 2 members\)/);
      await expectCode(
        updateCouncilSettings(world.deps, {
          repo: world.repo,
          actor: world.owner,
          changes: { max_members: 1, min_members: 1, standard_quorum: 1, critical_quorum: 1 },
        }),
        'invalid_input',
      );
    });

    it('lets an admin remove a member', async () => {
      const council = await getCouncil(world.store.db, world.repo.id);
      const [, second] = await listCouncilMembers(world.store.db, council.id);
      const agent = { id: second!.agent_id, name: second!.agent_name } as Parameters<
        typeof removeCouncilMember
      >[1]['agent'];
      await removeCouncilMember(world.deps, { repo: world.repo, actor: world.owner, agent });
      expect(await listCouncilMembers(world.store.db, council.id)).toHaveLength(1);
      const removed = await activityOf(world, 'council.member_removed');
      expect(removed.at(-1)?.metadata).toMatchObject({ reason: 'removed' });
      await expectCode(
        removeCouncilMember(world.deps, { repo: world.repo, actor: world.owner, agent }),
        'not_a_member',
      );
    });

    it('counts only merged streams of this repository toward eligibility', async () => {
      const council = await getCouncil(world.store.db, world.repo.id);
      const other = await createRepo(world.deps, { name: uniqueName('other'), owner: world.owner });
      const agent = await makeAgent(world, { merged: 0 });
      for (let i = 0; i < 3; i++) await insertMergedStream(world, agent, { repo: other });
      expect((await checkCouncilEligibility(world.store.db, council, agent)).contributions).toBe(0);
      await expectCode(joinCouncil(world.deps, { repo: world.repo, agent }), 'not_eligible');
    });
  });
}
