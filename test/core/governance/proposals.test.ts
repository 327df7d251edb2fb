import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCouncil, joinCouncil } from '../../../src/core/governance/council.js';
import { addMaintainer, isMaintainer } from '../../../src/core/governance/maintainers.js';
import {
  CRITICAL_PROPOSAL_TYPES,
  createProposal,
  decideProposal,
  listProposals,
  listProposalVotes,
  PROPOSAL_TYPES,
  showProposal,
  validateActionData,
  voteOnProposal,
  withdrawProposal,
} from '../../../src/core/governance/proposals.js';
import { getRepo } from '../../../src/core/repos/repos.js';
import type { Agent, Council, Repo } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import {
  activityOf,
  DAY,
  expectCode,
  insertMergedStream,
  insertStream,
  makeAgent,
  openWorld,
  type World,
} from './council-setup.js';

describe('decideProposal', () => {
  it('stays open below the quorum and counts only for and against toward it', () => {
    expect(decideProposal({ votes_for: 2, votes_against: 0, quorum_required: 3 })).toEqual({
      status: 'open',
    });
    expect(decideProposal({ votes_for: 2, votes_against: 1, quorum_required: 3 })).toEqual({
      status: 'passed',
      reason: 'majority_for',
    });
    expect(decideProposal({ votes_for: 1, votes_against: 2, quorum_required: 3 })).toEqual({
      status: 'rejected',
      reason: 'majority_against',
    });
    expect(decideProposal({ votes_for: 2, votes_against: 2, quorum_required: 4 })).toEqual({
      status: 'rejected',
      reason: 'tie',
    });
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: proposals`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];
    let council: Council;

    async function propose(type: string, actionData: unknown, proposer: Agent = members[0]!) {
      return createProposal(world.deps, { repo, proposer, type, title: `${type} proposal`, actionData });
    }

    async function vote(proposal: string, voter: Agent, choice: string) {
      return voteOnProposal(world.deps, { repo, proposal, voter, vote: choice });
    }

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      council = await createCouncil(world.deps, {
        repo,
        actor: world.owner,
        settings: { min_members: 3, standard_quorum: 3, critical_quorum: 4 },
      });
      members = [];
      for (let i = 0; i < 3; i++) members.push(await makeAgent(world));
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('are refused while the council is forming', async () => {
      for (const agent of members.slice(0, 2)) await joinCouncil(world.deps, { repo, agent });
      const error = await expectCode(propose('promote', {}), 'invalid_state');
      expect(error.message).toMatch(/forming \(2 of 3 members\); only an active council decides/);
      ({ council } = await joinCouncil(world.deps, { repo, agent: members[2]! }));
      expect(council.status).toBe('active');
    });

    it('are made by members only, with a known type and a title', async () => {
      const outsider = await makeAgent(world);
      await expectCode(propose('promote', {}, outsider), 'not_a_member');
      await expectCode(propose('dissolve', {}), 'invalid_input');
      await expectCode(
        createProposal(world.deps, { repo, proposer: members[0]!, type: 'promote', title: '  ' }),
        'invalid_input',
      );
    });

    it('validate and normalise action data per type', async () => {
      const db = world.store.db;
      const candidate = await makeAgent(world);
      expect(await validateActionData(db, repo, 'add_maintainer', { agent_id: candidate.name })).toEqual({
        agent_id: candidate.id,
        agent_name: candidate.name,
      });
      await expectCode(validateActionData(db, repo, 'add_maintainer', {}), 'invalid_input');
      await expectCode(
        validateActionData(db, repo, 'add_maintainer', { agent_id: 'nobody' }),
        'agent_not_found',
      );
      await expectCode(
        validateActionData(db, repo, 'add_maintainer', { agent_id: world.owner.id }),
        'already_exists',
      );
      await expectCode(
        validateActionData(db, repo, 'add_maintainer', { agent_id: candidate.id, x: 1 }),
        'invalid_input',
      );
      await expectCode(
        validateActionData(db, repo, 'remove_maintainer', { agent_id: candidate.id }),
        'not_found',
      );
      await expectCode(
        validateActionData(db, repo, 'remove_maintainer', { agent_id: world.owner.id }),
        'forbidden',
      );
      expect(
        await validateActionData(db, repo, 'modify_access', { agent_id: candidate.id, level: 'write' }),
      ).toEqual({
        agent_id: candidate.id,
        agent_name: candidate.name,
        level: 'write',
      });
      await expectCode(
        validateActionData(db, repo, 'modify_access', { agent_id: candidate.id, level: 'root' }),
        'invalid_input',
      );
      expect(
        await validateActionData(db, repo, 'change_settings', {
          settings: { min_reviews: '2', merge_mode: 'gated' },
        }),
      ).toEqual({
        settings: { min_reviews: 2, merge_mode: 'gated' },
      });
      expect(await validateActionData(db, repo, 'change_settings', { auto_promote_on_green: true })).toEqual({
        settings: { auto_promote_on_green: true },
      });
      await expectCode(
        validateActionData(db, repo, 'change_settings', { buffer_branch: 'x' }),
        'invalid_input',
      );
      await expectCode(
        validateActionData(db, repo, 'change_settings', { consensus_threshold: 3 }),
        'invalid_input',
      );
      await expectCode(validateActionData(db, repo, 'change_settings', {}), 'invalid_input');
      const active = await insertStream(world, candidate, 'in_review');
      const merged = await insertStream(world, candidate, 'merged');
      const abandoned = await insertStream(world, candidate, 'abandoned');
      expect(await validateActionData(db, repo, 'merge_stream', { stream_id: active.branch })).toEqual({
        stream_id: active.id,
        stream_name: active.name,
      });
      await expectCode(
        validateActionData(db, repo, 'merge_stream', { stream_id: merged.id }),
        'invalid_state',
      );
      await expectCode(
        validateActionData(db, repo, 'merge_stream', { stream_id: 'nope' }),
        'stream_not_found',
      );
      expect(
        await validateActionData(db, repo, 'revert_stream', { stream_id: merged.id, reason: 'broke it' }),
      ).toEqual({
        stream_id: merged.id,
        stream_name: merged.name,
        reason: 'broke it',
      });
      await expectCode(
        validateActionData(db, repo, 'revert_stream', { stream_id: active.id }),
        'invalid_state',
      );
      expect(
        await validateActionData(db, repo, 'reorder_queue', { stream_id: active.id, priority: 5 }),
      ).toMatchObject({
        priority: 5,
      });
      await expectCode(
        validateActionData(db, repo, 'reorder_queue', { stream_id: active.id, priority: 1.5 }),
        'invalid_input',
      );
      await expectCode(
        validateActionData(db, repo, 'reorder_queue', { stream_id: abandoned.id, priority: 1 }),
        'invalid_state',
      );
      expect(await validateActionData(db, repo, 'promote', undefined)).toEqual({});
      await expectCode(validateActionData(db, repo, 'promote', { force: true }), 'invalid_input');
      await expectCode(validateActionData(db, repo, 'promote', [1]), 'invalid_input');
    });

    it('need the standard or the critical quorum, capped at the members', async () => {
      const candidate = await makeAgent(world);
      const standard = await propose('add_maintainer', { agent_id: candidate.id });
      expect(standard).toMatchObject({ status: 'open', quorum_required: 3, votes_for: 0, executed: false });
      expect(standard.expires_at).toBe(new Date(world.clock.now().getTime() + 7 * DAY).toISOString());
      // Critical quorum is 4 but the council has 3 members.
      const critical = await propose('promote', {});
      expect(critical.quorum_required).toBe(3);
      const created = await activityOf(world, 'proposal.created');
      expect(created.at(-1)?.metadata).toMatchObject({ type: 'promote', critical: true, quorum_required: 3 });
      await withdrawProposal(world.deps, { repo, proposal: standard.id, actor: members[0]! });
      await withdrawProposal(world.deps, { repo, proposal: critical.id, actor: members[0]! });
    });

    it('count a re-vote as a replacement and keep the counts true', async () => {
      const candidate = await makeAgent(world);
      const proposal = await propose('add_maintainer', { agent_id: candidate.id });
      const first = await vote(proposal.id, members[0]!, 'for');
      expect(first).toMatchObject({ vote: 'for', replaced: null, resolved: false });
      const second = await vote(proposal.id, members[0]!, 'against');
      expect(second.replaced).toBe('for');
      expect(second.proposal).toMatchObject({
        votes_for: 0,
        votes_against: 1,
        votes_abstain: 0,
        status: 'open',
      });
      const third = await vote(proposal.id.slice(0, 8), members[0]!, 'abstain');
      expect(third.proposal).toMatchObject({ votes_for: 0, votes_against: 0, votes_abstain: 1 });
      const votes = await listProposalVotes(world.store.db, proposal.id);
      expect(votes).toHaveLength(1);
      expect(votes[0]).toMatchObject({ agent_id: members[0]!.id, vote: 'abstain' });
      const member = await world.store.db
        .selectFrom('gitswarm_council_members')
        .select('votes_cast')
        .where('agent_id', '=', members[0]!.id)
        .executeTakeFirstOrThrow();
      expect(member.votes_cast).toBe(1);
      await expectCode(vote(proposal.id, members[1]!, 'maybe'), 'invalid_input');
      await expectCode(vote(proposal.id, await makeAgent(world), 'for'), 'not_a_member');
      await withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[0]! });
    });

    it('pass by majority and execute themselves: add_maintainer', async () => {
      const candidate = await makeAgent(world);
      const proposal = await propose('add_maintainer', { agent_id: candidate.name });
      await vote(proposal.id, members[0]!, 'for');
      await vote(proposal.id, members[1]!, 'against');
      const last = await vote(proposal.id, members[2]!, 'for');
      expect(last.resolved).toBe(true);
      expect(last.proposal).toMatchObject({
        status: 'passed',
        resolution_reason: 'majority_for',
        votes_for: 2,
        votes_against: 1,
        executed: true,
        execution_result: { ok: true, agent_id: candidate.id },
      });
      expect(last.proposal.executed_at).toBe(world.clock.now().toISOString());
      expect(await isMaintainer(world.store.db, repo.id, candidate.id)).toBe(true);
      const added = await activityOf(world, 'maintainer.added');
      expect(added.at(-1)).toMatchObject({ agent_id: null, target_id: candidate.id });
      expect((await activityOf(world, 'proposal.passed')).at(-1)?.target_id).toBe(proposal.id);
      expect((await activityOf(world, 'proposal.executed')).at(-1)?.target_id).toBe(proposal.id);
      await expectCode(vote(proposal.id, members[1]!, 'for'), 'invalid_state');
    });

    it('are rejected on a tie, with the reason recorded', async () => {
      const fourth = await makeAgent(world);
      ({ council } = await joinCouncil(world.deps, { repo, agent: fourth }));
      members.push(fourth);
      const proposal = await propose('change_settings', { min_reviews: 3 });
      expect(proposal.quorum_required).toBe(4);
      await vote(proposal.id, members[0]!, 'for');
      await vote(proposal.id, members[1]!, 'against');
      await vote(proposal.id, members[2]!, 'for');
      const last = await vote(proposal.id, members[3]!, 'against');
      expect(last.proposal).toMatchObject({
        status: 'rejected',
        resolution_reason: 'tie',
        votes_for: 2,
        votes_against: 2,
        executed: false,
        execution_result: null,
      });
      expect((await getRepo(world.store.db, repo.id)).min_reviews).not.toBe(3);
      expect((await activityOf(world, 'proposal.rejected')).at(-1)?.metadata).toMatchObject({
        reason: 'tie',
      });
    });

    it('execute change_settings, modify_access and reorder_queue with the council as actor', async () => {
      const pass = async (type: string, data: unknown) => {
        const proposal = await propose(type, data);
        let outcome = await vote(proposal.id, members[0]!, 'for');
        for (const member of members.slice(1)) {
          if (outcome.resolved) break;
          outcome = await vote(proposal.id, member, 'for');
        }
        return outcome.proposal;
      };
      const settings = await pass('change_settings', {
        settings: { min_reviews: 3, auto_revert_on_red: true },
      });
      expect(settings).toMatchObject({ executed: true, execution_result: { ok: true } });
      const updated = await getRepo(world.store.db, repo.id);
      expect(updated).toMatchObject({ min_reviews: 3, auto_revert_on_red: true });
      expect((await activityOf(world, 'repo.settings_changed')).at(-1)?.agent_id).toBeNull();

      const grantee = await makeAgent(world);
      const granted = await pass('modify_access', { agent_id: grantee.id, level: 'maintain' });
      expect(granted.execution_result).toMatchObject({ ok: true, level: 'maintain', changed: true });
      const grant = await world.store.db
        .selectFrom('gitswarm_repo_access')
        .selectAll()
        .where('agent_id', '=', grantee.id)
        .executeTakeFirstOrThrow();
      expect(grant).toMatchObject({ access_level: 'maintain', granted_by: null });
      await pass('modify_access', { agent_id: grantee.id, level: 'none' });
      const gone = await world.store.db
        .selectFrom('gitswarm_repo_access')
        .select('id')
        .where('agent_id', '=', grantee.id)
        .executeTakeFirst();
      expect(gone).toBeUndefined();

      const stream = await insertStream(world, grantee, 'in_review');
      const reordered = await pass('reorder_queue', { stream_id: stream.id, priority: 7 });
      expect(reordered.execution_result).toMatchObject({ ok: true, merge_priority: 7, previous_priority: 0 });
      const row = await world.store.db
        .selectFrom('gitswarm_streams')
        .select('merge_priority')
        .where('id', '=', stream.id)
        .executeTakeFirstOrThrow();
      expect(row.merge_priority).toBe(7);
    });

    it('record a failed execution as failed, still passed', async () => {
      const candidate = await makeAgent(world);
      const proposal = await propose('add_maintainer', { agent_id: candidate.id });
      // Someone adds the maintainer by hand while the council deliberates.
      await addMaintainer(world.deps, world.store.db, { repo, actor: world.owner, agent: candidate });
      let outcome = await vote(proposal.id, members[0]!, 'for');
      outcome = await vote(proposal.id, members[1]!, 'for');
      outcome = await vote(proposal.id, members[2]!, 'for');
      expect(outcome.proposal).toMatchObject({
        status: 'passed',
        executed: false,
        executed_at: null,
        execution_result: { ok: false, error: { code: 'already_exists' } },
      });
      const failed = await activityOf(world, 'proposal.execution_failed');
      expect(failed.at(-1)?.target_id).toBe(proposal.id);
      const maintainers = await world.store.db
        .selectFrom('gitswarm_maintainers')
        .select('id')
        .where('agent_id', '=', candidate.id)
        .execute();
      expect(maintainers).toHaveLength(1);
    });

    it('expire at expires_at, lazily on access or when voted on', async () => {
      const a = await propose('promote', {});
      const b = await createProposal(world.deps, {
        repo,
        proposer: members[1]!,
        type: 'promote',
        title: 'Promote soon',
        expiresInDays: 1,
      });
      await vote(a.id, members[0]!, 'for');
      world.clock.advance(2 * DAY);
      const error = await expectCode(vote(b.id, members[0]!, 'for'), 'expired');
      expect(error.message).toContain(b.id);
      const shown = await showProposal(world.deps, repo, b.id);
      expect(shown.proposal).toMatchObject({ status: 'expired', resolution_reason: 'expired' });
      world.clock.advance(6 * DAY);
      const open = await listProposals(world.deps, repo, { status: ['open'] });
      expect(open.map((p) => p.id)).not.toContain(a.id);
      const expired = await listProposals(world.deps, repo, { status: ['expired'] });
      expect(expired.map((p) => p.id)).toEqual(expect.arrayContaining([a.id, b.id]));
      expect((await activityOf(world, 'proposal.expired')).map((e) => e.target_id)).toEqual(
        expect.arrayContaining([a.id, b.id]),
      );
    });

    it('are withdrawn by their proposer only, while open', async () => {
      const proposal = await propose('promote', {});
      await expectCode(
        withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[1]! }),
        'forbidden',
      );
      const withdrawn = await withdrawProposal(world.deps, {
        repo,
        proposal: proposal.id,
        actor: members[0]!,
      });
      expect(withdrawn).toMatchObject({ status: 'withdrawn', resolution_reason: 'withdrawn' });
      await expectCode(
        withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[0]! }),
        'invalid_state',
      );
      await expectCode(vote(proposal.id, members[1]!, 'for'), 'invalid_state');
      await expectCode(
        withdrawProposal(world.deps, { repo, proposal: 'ffffffff', actor: members[0]! }),
        'proposal_not_found',
      );
      expect((await activityOf(world, 'proposal.withdrawn')).length).toBeGreaterThanOrEqual(1);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: proposals of every type (standard quorum 2, critical quorum 4, 5 members)`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];
    let maintainer: Agent;

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      await createCouncil(world.deps, {
        repo,
        actor: world.owner,
        settings: { min_members: 5, standard_quorum: 2, critical_quorum: 4 },
      });
      members = [];
      for (let i = 0; i < 5; i++) {
        const agent = await makeAgent(world);
        await joinCouncil(world.deps, { repo, agent });
        members.push(agent);
      }
      maintainer = await makeAgent(world);
      await addMaintainer(world.deps, world.store.db, { repo, actor: world.owner, agent: maintainer });
    });
    afterAll(async () => {
      await world.store.close();
    });

    const propose = (type: string, actionData: unknown) =>
      createProposal(world.deps, { repo, proposer: members[0]!, type, title: `${type}`, actionData });
    const vote = (proposal: string, voter: Agent, choice = 'for') =>
      voteOnProposal(world.deps, { repo, proposal, voter, vote: choice });

    it('each critical type needs the critical quorum, each other type the standard one', async () => {
      const author = await makeAgent(world);
      const inReview = await insertStream(world, author, 'in_review');
      const merged = await insertMergedStream(world, author);
      const data: Record<string, unknown> = {
        add_maintainer: { agent_id: author.id },
        remove_maintainer: { agent_id: maintainer.id },
        modify_access: { agent_id: author.id, level: 'write' },
        change_settings: { min_reviews: 2 },
        merge_stream: { stream_id: inReview.id },
        revert_stream: { stream_id: merged.id },
        reorder_queue: { stream_id: inReview.id, priority: 3 },
        promote: {},
      };
      expect(Object.keys(data).sort()).toEqual([...PROPOSAL_TYPES].sort());
      const critical = ['remove_maintainer', 'modify_access', 'change_settings', 'revert_stream', 'promote'];
      expect([...CRITICAL_PROPOSAL_TYPES].sort()).toEqual(critical.sort());
      for (const type of PROPOSAL_TYPES) {
        const proposal = await propose(type, data[type]);
        expect([type, proposal.quorum_required]).toEqual([type, critical.includes(type) ? 4 : 2]);
        const created = (await activityOf(world, 'proposal.created')).at(-1);
        expect(created?.metadata).toMatchObject({ type, critical: critical.includes(type) });
        await withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[0]! });
      }
    });

    it('a critical proposal stays open with votes that would pass a standard one', async () => {
      const proposal = await propose('change_settings', { min_reviews: 2 });
      for (const member of members.slice(0, 3)) {
        const outcome = await vote(proposal.id, member);
        expect(outcome.resolved).toBe(false);
      }
      expect((await showProposal(world.deps, repo, proposal.id)).proposal.status).toBe('open');
      expect((await getRepo(world.store.db, repo.id)).min_reviews).not.toBe(2);
      const fourth = await vote(proposal.id, members[3]!);
      expect(fourth.proposal).toMatchObject({ status: 'passed', votes_for: 4, executed: true });
      expect((await getRepo(world.store.db, repo.id)).min_reviews).toBe(2);
    });

    it('a standard proposal passes at the standard quorum', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'in_review');
      const proposal = await propose('reorder_queue', { stream_id: stream.id, priority: 9 });
      expect((await vote(proposal.id, members[0]!)).resolved).toBe(false);
      const second = await vote(proposal.id, members[1]!);
      expect(second.proposal).toMatchObject({ status: 'passed', votes_for: 2, executed: true });
    });

    it('execute remove_maintainer: the maintainer is removed, the council recorded as the actor', async () => {
      expect(await isMaintainer(world.store.db, repo.id, maintainer.id)).toBe(true);
      const proposal = await propose('remove_maintainer', { agent_id: maintainer.name });
      let outcome = await vote(proposal.id, members[0]!);
      for (const member of members.slice(1)) {
        if (outcome.resolved) break;
        outcome = await vote(proposal.id, member);
      }
      expect(outcome.proposal).toMatchObject({
        status: 'passed',
        votes_for: 4,
        executed: true,
        execution_result: { ok: true, agent_id: maintainer.id },
      });
      expect(await isMaintainer(world.store.db, repo.id, maintainer.id)).toBe(false);
      expect(await isMaintainer(world.store.db, repo.id, world.owner.id)).toBe(true);
      const removed = await activityOf(world, 'maintainer.removed');
      expect(removed.at(-1)).toMatchObject({ agent_id: null, target_id: maintainer.id });
      expect((await activityOf(world, 'proposal.executed')).at(-1)?.target_id).toBe(proposal.id);
    });
  });
}
