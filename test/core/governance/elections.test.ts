import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCouncil, joinCouncil, listCouncilMembers } from '../../../src/core/governance/council.js';
import {
  acceptNomination,
  completeElection,
  getElection,
  listCandidates,
  listElections,
  nominateCandidate,
  startElection,
  startVoting,
  voteInElection,
  withdrawCandidacy,
} from '../../../src/core/governance/elections.js';
import type { Agent, Repo } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import {
  activityOf,
  DAY,
  expectCode,
  makeAgent,
  makeCouncil,
  openWorld,
  type World,
} from './council-setup.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: elections`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      ({ members } = await makeCouncil(world, {
        members: 2,
        settings: { min_members: 4, max_members: 5, standard_quorum: 2, critical_quorum: 3 },
      }));
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('are started by an admin or the chair, one at a time, for free seats only', async () => {
      const [chair, member] = members as [Agent, Agent];
      await expectCode(startElection(world.deps, { repo, actor: member, seats: 1 }), 'forbidden');
      await expectCode(startElection(world.deps, { repo, actor: chair, seats: 4 }), 'invalid_input');
      await expectCode(startElection(world.deps, { repo, actor: chair, seats: 0 }), 'invalid_input');
      const election = await startElection(world.deps, { repo, actor: chair, seats: 2 });
      expect(election).toMatchObject({
        status: 'nominations',
        seats_available: 2,
        election_type: 'regular',
        nominations_end_at: new Date(world.clock.now().getTime() + 7 * DAY).toISOString(),
        voting_end_at: new Date(world.clock.now().getTime() + 14 * DAY).toISOString(),
      });
      await expectCode(startElection(world.deps, { repo, actor: world.owner }), 'already_exists');
      expect((await getElection(world.store.db, repo)).id).toBe(election.id);
      expect((await activityOf(world, 'election.started')).length).toBe(1);
    });

    it('take eligible non-members, self-nominated (accepted) or nominated by a member', async () => {
      const [chair] = members as [Agent];
      const self = await makeAgent(world, { name: 'cand-self' });
      const nominee = await makeAgent(world, { name: 'cand-nominee' });
      const poor = await makeAgent(world, { karma: 10 });
      const outsider = await makeAgent(world);
      const selfNomination = await nominateCandidate(world.deps, {
        repo,
        candidate: self,
        nominator: self,
        statement: 'Me.',
      });
      expect(selfNomination.status).toBe('accepted');
      world.clock.advance(1000);
      await expectCode(
        nominateCandidate(world.deps, { repo, candidate: nominee, nominator: outsider }),
        'not_a_member',
      );
      const nominated = await nominateCandidate(world.deps, { repo, candidate: nominee, nominator: chair });
      expect(nominated).toMatchObject({ status: 'nominated', nominated_by: chair.id });
      await expectCode(
        nominateCandidate(world.deps, { repo, candidate: nominee, nominator: nominee }),
        'already_exists',
      );
      await expectCode(
        nominateCandidate(world.deps, { repo, candidate: poor, nominator: poor }),
        'not_eligible',
      );
      await expectCode(
        nominateCandidate(world.deps, { repo, candidate: chair, nominator: chair }),
        'already_exists',
      );
    });

    it('open voting only with enough accepted candidates', async () => {
      const [chair, member] = members as [Agent, Agent];
      await expectCode(startVoting(world.deps, { repo, actor: member }), 'forbidden');
      const error = await expectCode(startVoting(world.deps, { repo, actor: chair }), 'invalid_state');
      expect(error.message).toMatch(/at least 2 accepted candidates; 1 have accepted/);
      const nominee = await world.store.db
        .selectFrom('gitswarm_agents')
        .selectAll()
        .where('name', '=', 'cand-nominee')
        .executeTakeFirstOrThrow();
      await expectCode(acceptNomination(world.deps, { repo, agent: member }), 'not_found');
      const accepted = await acceptNomination(world.deps, { repo, agent: nominee });
      expect(accepted.status).toBe('accepted');
      await expectCode(acceptNomination(world.deps, { repo, agent: nominee }), 'invalid_state');
      world.clock.advance(1000);
      const late = await makeAgent(world, { name: 'cand-late' });
      await nominateCandidate(world.deps, { repo, candidate: late, nominator: late });
      const voting = await startVoting(world.deps, { repo, actor: chair });
      expect(voting.status).toBe('voting');
      expect(voting.voting_end_at).toBe(new Date(world.clock.now().getTime() + 7 * DAY).toISOString());
      await expectCode(startVoting(world.deps, { repo, actor: chair }), 'wrong_phase');
      const wanting = await makeAgent(world);
      await expectCode(
        nominateCandidate(world.deps, { repo, candidate: wanting, nominator: wanting }),
        'wrong_phase',
      );
    });

    it('take one vote per member, for an accepted candidate', async () => {
      const [chair, member] = members as [Agent, Agent];
      const byName = async (name: string) =>
        world.store.db
          .selectFrom('gitswarm_agents')
          .selectAll()
          .where('name', '=', name)
          .executeTakeFirstOrThrow();
      const self = await byName('cand-self');
      const late = await byName('cand-late');
      const outsider = await makeAgent(world);
      await expectCode(
        voteInElection(world.deps, { repo, voter: outsider, candidate: self }),
        'not_a_member',
      );
      await expectCode(voteInElection(world.deps, { repo, voter: chair, candidate: outsider }), 'not_found');
      const counted = await voteInElection(world.deps, { repo, voter: chair, candidate: late });
      expect(counted).toMatchObject({ vote_count: 1, agent_name: 'cand-late' });
      await expectCode(voteInElection(world.deps, { repo, voter: chair, candidate: self }), 'duplicate_vote');
      await voteInElection(world.deps, { repo, voter: member, candidate: self });
      // cand-late withdraws: the chair's vote is dropped and the chair may vote again.
      await withdrawCandidacy(world.deps, { repo, agent: late });
      await expectCode(voteInElection(world.deps, { repo, voter: member, candidate: late }), 'invalid_state');
      const nominee = await byName('cand-nominee');
      const again = await voteInElection(world.deps, { repo, voter: chair, candidate: nominee });
      expect(again.vote_count).toBe(1);
      const candidates = await listCandidates(world.store.db, (await getElection(world.store.db, repo)).id);
      expect(candidates.map((c) => [c.agent_name, c.status, c.vote_count])).toEqual([
        ['cand-self', 'accepted', 1],
        ['cand-nominee', 'accepted', 1],
        ['cand-late', 'withdrawn', 0],
      ]);
    });

    it('complete with the top candidates, ties broken by the earliest nomination', async () => {
      const [chair, member] = members as [Agent, Agent];
      const council = await getCouncil(world.store.db, repo.id);
      expect(council.status).toBe('forming');
      await expectCode(completeElection(world.deps, { repo, actor: member }), 'forbidden');
      const result = await completeElection(world.deps, { repo, actor: world.owner });
      expect(result.election.status).toBe('completed');
      expect(result.elected.map((c) => c.agent_name)).toEqual(['cand-self', 'cand-nominee']);
      expect(result.not_elected).toEqual([]);
      const after = await getCouncil(world.store.db, repo.id);
      expect(after.status).toBe('active');
      const seated = await listCouncilMembers(world.store.db, council.id);
      expect(seated.map((m) => m.agent_name)).toEqual(expect.arrayContaining(['cand-self', 'cand-nominee']));
      const self = seated.find((m) => m.agent_name === 'cand-self');
      const term = new Date(world.clock.now());
      term.setUTCMonth(term.getUTCMonth() + 6);
      expect(self).toMatchObject({ role: 'member', term_expires_at: term.toISOString() });
      expect(term.toISOString().startsWith('2030-07-01')).toBe(true);
      const completed = await activityOf(world, 'election.completed');
      expect(completed[0]?.metadata).toMatchObject({
        elected: [{ agent: 'cand-self' }, { agent: 'cand-nominee' }],
      });
      await expectCode(
        completeElection(world.deps, { repo, actor: chair, election: result.election.id }),
        'wrong_phase',
      );
      await expectCode(getElection(world.store.db, repo), 'election_not_found');
    });

    it('elect fewer than the candidates: the rest are not elected, by votes then nomination order', async () => {
      const [chair, member] = members as [Agent, Agent];
      const election = await startElection(world.deps, { repo, actor: chair, seats: 1, type: 'special' });
      const first = await makeAgent(world, { name: 'tie-first' });
      world.clock.advance(1000);
      const second = await makeAgent(world, { name: 'tie-second' });
      world.clock.advance(1000);
      const third = await makeAgent(world, { name: 'no-votes' });
      // Nominated in the order second, first, third: second is the earliest.
      await nominateCandidate(world.deps, { repo, candidate: second, nominator: second });
      world.clock.advance(1000);
      await nominateCandidate(world.deps, { repo, candidate: first, nominator: first });
      world.clock.advance(1000);
      await nominateCandidate(world.deps, { repo, candidate: third, nominator: chair });
      await startVoting(world.deps, { repo, actor: world.owner, election: election.id.slice(0, 8) });
      await voteInElection(world.deps, { repo, voter: chair, candidate: first });
      await voteInElection(world.deps, { repo, voter: member, candidate: second });
      const result = await completeElection(world.deps, { repo, actor: chair });
      expect(result.elected.map((c) => c.agent_name)).toEqual(['tie-second']);
      expect(result.not_elected.map((c) => [c.agent_name, c.status])).toEqual([
        ['tie-first', 'not_elected'],
        ['no-votes', 'not_elected'],
      ]);
      const stored = await listCandidates(world.store.db, election.id);
      expect(stored.map((c) => [c.agent_name, c.status])).toEqual([
        ['tie-second', 'elected'],
        ['tie-first', 'not_elected'],
        ['no-votes', 'not_elected'],
      ]);
      const listed = await listElections(world.store.db, repo);
      expect(listed.map((e) => e.election.id)).toEqual([election.id, expect.any(String)]);
      await expectCode(startElection(world.deps, { repo, actor: chair }), 'invalid_state');
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: elections, phases and the seat cap`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      ({ members } = await makeCouncil(world, {
        members: 2,
        settings: { min_members: 2, max_members: 4, standard_quorum: 2, critical_quorum: 2 },
      }));
    });
    afterAll(async () => {
      await world.store.close();
    });

    const votesIn = async (electionId: string) =>
      world.store.db
        .selectFrom('gitswarm_election_votes')
        .select('id')
        .where('election_id', '=', electionId)
        .execute();

    it('a vote outside the voting phase is refused (wrong_phase), before and after, and nothing is recorded', async () => {
      const [chair, member] = members as [Agent, Agent];
      const election = await startElection(world.deps, { repo, actor: chair, seats: 2 });
      const a = await makeAgent(world);
      const b = await makeAgent(world);
      const joiner = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: a, nominator: a });
      world.clock.advance(1000);
      await nominateCandidate(world.deps, { repo, candidate: b, nominator: b });
      // In nominations: no vote yet, even for an accepted candidate.
      const early = await expectCode(
        voteInElection(world.deps, { repo, voter: chair, candidate: a }),
        'wrong_phase',
      );
      expect(early.message).toMatch(/is in nominations; this needs voting/);
      expect(await votesIn(election.id)).toEqual([]);

      // Someone joins the council directly while the election runs: 3 of 4 seats taken, one free.
      await joinCouncil(world.deps, { repo, agent: joiner });
      await startVoting(world.deps, { repo, actor: world.owner });
      await voteInElection(world.deps, { repo, voter: chair, candidate: a });
      await voteInElection(world.deps, { repo, voter: member, candidate: a });
      await voteInElection(world.deps, { repo, voter: joiner, candidate: b });
      const result = await completeElection(world.deps, { repo, actor: chair });
      // Two seats were offered, but the council may only grow to max_members (4).
      expect(result.elected.map((c) => c.agent_id)).toEqual([a.id]);
      expect(result.not_elected.map((c) => [c.agent_id, c.status])).toEqual([[b.id, 'not_elected']]);
      const council = await getCouncil(world.store.db, repo.id);
      const seated = await listCouncilMembers(world.store.db, council.id);
      expect(seated).toHaveLength(4);
      expect(seated.map((m) => m.agent_id)).not.toContain(b.id);

      // After completion: still wrong_phase, and the count stays.
      const late = await expectCode(
        voteInElection(world.deps, { repo, voter: joiner, candidate: a, election: election.id }),
        'wrong_phase',
      );
      expect(late.message).toMatch(/is in completed/);
      expect(await votesIn(election.id)).toHaveLength(3);
    });
  });
}
