/**
 * Election rules the other election tests leave loose, each pinned where a deliberate bug (a
 * mutant) would change the answer: the periods and seats at their limits, the refusals' messages,
 * hints and details, the candidacy decisions and their activity, the length of voting counted from
 * when it opens, and completion (a candidate who joined meanwhile, nominations never accepted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCouncil, joinCouncil, listCouncilMembers } from '../../src/core/governance/council.js';
import {
  acceptNomination,
  cancelElection,
  completeElection,
  getElection,
  listCandidates,
  listElections,
  nominateCandidate,
  startElection,
  startVoting,
  voteInElection,
  withdrawCandidacy,
} from '../../src/core/governance/elections.js';
import type { Agent, Repo } from '../../src/store/index.js';
import {
  activityOf,
  DAY,
  expectCode,
  makeAgent,
  makeCouncil,
  openWorld,
  type World,
} from '../core/governance/council-setup.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: election rules at their edges`, () => {
    let world: World;
    let repo: Repo;
    let chair: Agent;
    let member: Agent;

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      const { members } = await makeCouncil(world, {
        members: 2,
        settings: { min_members: 2, max_members: 5, standard_quorum: 2, critical_quorum: 2 },
      });
      [chair, member] = members as [Agent, Agent];
    });
    afterAll(async () => {
      await world.store.close();
    });

    /** Completes whatever election is open so the next test starts clean. */
    async function closeOpen(): Promise<void> {
      const open = (await listElections(world.store.db, repo)).find((e) =>
        ['nominations', 'voting'].includes(e.election.status),
      );
      if (!open) return;
      await world.store.db
        .updateTable('gitswarm_council_elections')
        .set({ status: 'cancelled' })
        .where('id', '=', open.election.id)
        .execute();
    }

    it('periods run from more than 0 to 365 days, with the message saying so', async () => {
      for (const [nominationDays, votingDays, what] of [
        [0, 7, 'nomination'],
        [366, 7, 'nomination'],
        [Number.NaN, 7, 'nomination'],
        [7, 0, 'voting'],
        [7, 365.5, 'voting'],
        [7, Number.POSITIVE_INFINITY, 'voting'],
      ] as const) {
        const error = await expectCode(
          startElection(world.deps, { repo, actor: chair, nominationDays, votingDays }),
          'invalid_input',
        );
        expect(error.message).toBe(`The ${what} period must be more than 0 and at most 365 days.`);
      }
      const now = world.clock.now().getTime();
      const longest = await startElection(world.deps, {
        repo,
        actor: chair,
        nominationDays: 365,
        votingDays: 0.5,
      });
      expect(longest.nominations_end_at).toBe(new Date(now + 365 * DAY).toISOString());
      expect(longest.voting_end_at).toBe(new Date(now + 365.5 * DAY).toISOString());
      const [started] = await activityOf(world, 'election.started');
      expect(started).toMatchObject({ agent_id: chair.id, target_type: 'election', target_id: longest.id });
      expect(started?.metadata).toEqual({
        seats: 1,
        type: 'regular',
        nominations_end_at: longest.nominations_end_at,
        voting_end_at: longest.voting_end_at,
      });
      const again = await expectCode(startElection(world.deps, { repo, actor: chair }), 'already_exists');
      expect(again).toMatchObject({
        message: `Election ${longest.id} is still open (nominations).`,
        hint: 'See it with: gitswarm election list',
      });
      await closeOpen();
    });

    it('an election is regular or special; seats are whole and at most the free seats', async () => {
      const type = await expectCode(
        startElection(world.deps, { repo, actor: chair, type: 'snap' as 'regular' }),
        'invalid_input',
      );
      expect(type.message).toBe('An election is regular or special, not "snap".');
      // Five seats, two taken: three free.
      for (const seats of [0, 4, 1.5]) {
        const error = await expectCode(
          startElection(world.deps, { repo, actor: chair, seats }),
          'invalid_input',
        );
        expect(error.message).toBe('Seats must be an integer from 1 to 3 (the free seats).');
      }
      const all = await startElection(world.deps, { repo, actor: chair, seats: 3, type: 'special' });
      expect(all).toMatchObject({ seats_available: 3, election_type: 'special', created_by: chair.id });
      await closeOpen();
    });

    it('a statement of exactly 4000 characters is taken, one more is refused', async () => {
      const election = await startElection(world.deps, { repo, actor: chair });
      const longest = 's'.repeat(4000);
      const verbose = await makeAgent(world);
      const error = await expectCode(
        nominateCandidate(world.deps, {
          repo,
          candidate: verbose,
          nominator: verbose,
          statement: `${longest}s`,
        }),
        'invalid_input',
      );
      expect(error.message).toBe('A candidate statement may be at most 4000 characters.');
      const taken = await nominateCandidate(world.deps, {
        repo,
        candidate: verbose,
        nominator: verbose,
        statement: longest,
      });
      expect(taken).toMatchObject({ statement: longest, status: 'accepted', election_id: election.id });
      const [nominated] = (await activityOf(world, 'election.nominated', election.id)).slice(-1);
      expect(nominated).toMatchObject({ agent_id: verbose.id, target_id: election.id });
      expect(nominated?.metadata).toEqual({
        candidate_id: verbose.id,
        candidate: verbose.name,
        status: 'accepted',
      });
      await closeOpen();
    });

    it('the nomination refusals say who and why; a member nominating records itself as nominator', async () => {
      const election = await startElection(world.deps, { repo, actor: chair });
      const nominee = await makeAgent(world);
      const nominated = await nominateCandidate(world.deps, { repo, candidate: nominee, nominator: member });
      expect(nominated).toMatchObject({ status: 'nominated', nominated_by: member.id, statement: null });
      const [activity] = (await activityOf(world, 'election.nominated', election.id)).slice(-1);
      expect(activity).toMatchObject({ agent_id: member.id });
      expect(activity?.metadata).toMatchObject({ candidate_id: nominee.id, status: 'nominated' });
      const twice = await expectCode(
        nominateCandidate(world.deps, { repo, candidate: nominee, nominator: nominee }),
        'already_exists',
      );
      expect(twice.message).toBe(`Agent ${nominee.name} is already a candidate (nominated).`);
      const seated = await expectCode(
        nominateCandidate(world.deps, { repo, candidate: member, nominator: chair }),
        'already_exists',
      );
      expect(seated.message).toBe(`Agent ${member.name} is already a member of the council.`);
      // A stranger is not a candidate: the refusal names it and the election, with the hint.
      const stranger = await makeAgent(world);
      const none = await expectCode(acceptNomination(world.deps, { repo, agent: stranger }), 'not_found');
      expect(none).toMatchObject({
        message: `Agent ${stranger.name} is not a candidate in election ${election.id}`,
        hint: 'See the candidates with: gitswarm election list',
      });
      await closeOpen();
    });

    it('accepting, withdrawing: each once, with the candidacy recorded in the activity', async () => {
      const election = await startElection(world.deps, { repo, actor: chair });
      const nominee = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: nominee, nominator: chair });
      const accepted = await acceptNomination(world.deps, { repo, agent: nominee, election: election.id });
      expect(accepted.status).toBe('accepted');
      const again = await expectCode(acceptNomination(world.deps, { repo, agent: nominee }), 'invalid_state');
      expect(again.message).toBe(`The candidacy of ${nominee.name} is accepted.`);
      const withdrawn = await withdrawCandidacy(world.deps, { repo, agent: nominee });
      expect(withdrawn).toMatchObject({ status: 'withdrawn', vote_count: 0 });
      const twice = await expectCode(
        withdrawCandidacy(world.deps, { repo, agent: nominee }),
        'invalid_state',
      );
      expect(twice.message).toBe(`The candidacy of ${nominee.name} is withdrawn.`);
      const updates = (await activityOf(world, 'election.candidate_updated')).slice(-2);
      expect(updates.map((u) => [u.agent_id, u.target_type, u.target_id, u.repo_id])).toEqual([
        [nominee.id, 'election', election.id, repo.id],
        [nominee.id, 'election', election.id, repo.id],
      ]);
      expect(updates.map((u) => u.metadata)).toEqual([
        { candidate_id: nominee.id, candidate: nominee.name, status: 'accepted' },
        { candidate_id: nominee.id, candidate: nominee.name, status: 'withdrawn' },
      ]);
      // A nominated candidate may withdraw too.
      const shy = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: shy, nominator: member });
      expect((await withdrawCandidacy(world.deps, { repo, agent: shy })).status).toBe('withdrawn');
      await closeOpen();
    });

    it('voting lasts as planned, counted from when it opens; the refusals say the phase', async () => {
      const election = await startElection(world.deps, {
        repo,
        actor: chair,
        nominationDays: 2,
        votingDays: 3,
      });
      const wrong = await expectCode(completeElection(world.deps, { repo, actor: chair }), 'wrong_phase');
      expect(wrong).toMatchObject({
        message: `Election ${election.id} is in nominations; this needs voting.`,
        details: { status: 'nominations' },
      });
      const few = await expectCode(startVoting(world.deps, { repo, actor: chair }), 'invalid_state');
      expect(few).toMatchObject({
        message: 'Voting needs at least 1 accepted candidates; 0 have accepted.',
        hint: 'Nominate eligible agents with: gitswarm election nominate AGENT --as <member>',
      });
      const a = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: a, nominator: a });
      world.clock.advance(DAY / 2);
      const opened = world.clock.now().getTime();
      const voting = await startVoting(world.deps, { repo, actor: chair });
      expect(voting.voting_end_at).toBe(new Date(opened + 3 * DAY).toISOString());
      const [started] = (await activityOf(world, 'election.voting_started')).slice(-1);
      expect(started).toMatchObject({ agent_id: chair.id, target_id: election.id, repo_id: repo.id });
      expect(started?.metadata).toEqual({ accepted: 1, seats: 1, voting_end_at: voting.voting_end_at });
      // Withdrawing is allowed during voting.
      const withdrawn = await withdrawCandidacy(world.deps, { repo, agent: a, election: election.id });
      expect(withdrawn.status).toBe('withdrawn');
      await closeOpen();
    });

    it('a vote is for an accepted candidate, once; the tally and the activity say for whom', async () => {
      const election = await startElection(world.deps, { repo, actor: chair });
      const a = await makeAgent(world);
      const pending = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: a, nominator: a });
      await nominateCandidate(world.deps, { repo, candidate: pending, nominator: chair });
      await startVoting(world.deps, { repo, actor: chair });
      const notYet = await expectCode(
        voteInElection(world.deps, { repo, voter: member, candidate: pending }),
        'invalid_state',
      );
      expect(notYet.message).toBe(
        `The candidacy of ${pending.name} is nominated; vote for an accepted candidate.`,
      );
      const counted = await voteInElection(world.deps, { repo, voter: chair, candidate: a });
      expect(counted).toMatchObject({ vote_count: 1, agent_name: a.name, status: 'accepted' });
      const twice = await expectCode(
        voteInElection(world.deps, { repo, voter: chair, candidate: a }),
        'duplicate_vote',
      );
      expect(twice.message).toBe(`Agent ${chair.name} has already voted in this election.`);
      const second = await voteInElection(world.deps, { repo, voter: member, candidate: a });
      expect(second.vote_count).toBe(2);
      const [voted] = (await activityOf(world, 'election.voted', election.id)).slice(-1);
      expect(voted).toMatchObject({ agent_id: member.id, target_id: election.id, repo_id: repo.id });
      expect(voted?.metadata).toEqual({ candidate_id: a.id, candidate: a.name });
      // The candidate accepts late (allowed in voting): then it can be voted for.
      const late = await acceptNomination(world.deps, { repo, agent: pending });
      expect(late.status).toBe('accepted');
      await closeOpen();
    });
  });

  describe(`${dialectLabel(dialect)}: elections without planned dates, and cancelled`, () => {
    let world: World;
    let repo: Repo;
    let chair: Agent;

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      const { members } = await makeCouncil(world, {
        members: 2,
        settings: { min_members: 2, max_members: 4, standard_quorum: 2, critical_quorum: 2 },
      });
      [chair] = members as [Agent];
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('with no open election the refusal says so; an election without dates votes for the default 7 days', async () => {
      const none = await expectCode(getElection(world.store.db, repo), 'election_not_found');
      expect(none.message).toBe('There is no open election.');
      const named = await expectCode(getElection(world.store.db, repo, 'ffffffff'), 'election_not_found');
      expect(named.message).toBe('No election ffffffff');
      const election = await startElection(world.deps, { repo, actor: chair, votingDays: 2 });
      // A row from before the dates were planned: no end of nominations recorded.
      await world.store.db
        .updateTable('gitswarm_council_elections')
        .set({ nominations_end_at: null })
        .where('id', '=', election.id)
        .execute();
      const a = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: a, nominator: a });
      const voting = await startVoting(world.deps, { repo, actor: chair });
      expect(voting.voting_end_at).toBe(new Date(world.clock.now().getTime() + 7 * DAY).toISOString());
    });

    it('a cancelled election records why, and by whom', async () => {
      const council = await getCouncil(world.store.db, repo.id);
      const election = await getElection(world.store.db, repo);
      const cancelled = await cancelElection(world.deps, world.store.db, {
        council,
        election,
        actorId: null,
        reason: 'too_few_candidates',
      });
      expect(cancelled.status).toBe('cancelled');
      const [activity] = (await activityOf(world, 'election.cancelled', election.id)).slice(-1);
      expect(activity).toMatchObject({
        agent_id: null,
        target_type: 'election',
        target_id: election.id,
        repo_id: repo.id,
      });
      expect(activity?.metadata).toEqual({ reason: 'too_few_candidates' });
    });
  });

  describe(`${dialectLabel(dialect)}: completing an election`, () => {
    let world: World;
    let repo: Repo;
    let chair: Agent;
    let member: Agent;

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      const { members } = await makeCouncil(world, {
        members: 2,
        settings: {
          min_members: 2,
          max_members: 6,
          standard_quorum: 2,
          critical_quorum: 2,
          term_limit_months: 3,
        },
      });
      [chair, member] = members as [Agent, Agent];
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('a winner who joined meanwhile gets a renewed term; nominations never accepted are not elected', async () => {
      const election = await startElection(world.deps, { repo, actor: chair, seats: 2 });
      const joiner = await makeAgent(world);
      const other = await makeAgent(world);
      const silent = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate: joiner, nominator: joiner });
      world.clock.advance(1000);
      await nominateCandidate(world.deps, { repo, candidate: other, nominator: other });
      world.clock.advance(1000);
      await nominateCandidate(world.deps, { repo, candidate: silent, nominator: chair });
      await startVoting(world.deps, { repo, actor: chair });
      await voteInElection(world.deps, { repo, voter: chair, candidate: joiner });
      await voteInElection(world.deps, { repo, voter: member, candidate: joiner });
      // The candidate joins the council directly while the election runs.
      await joinCouncil(world.deps, { repo, agent: joiner });
      const council = await getCouncil(world.store.db, repo.id);
      const before = (await listCouncilMembers(world.store.db, council.id)).find(
        (m) => m.agent_id === joiner.id,
      );
      world.clock.advance(10 * DAY);
      const result = await completeElection(world.deps, { repo, actor: chair });
      expect(result.elected.map((c) => [c.agent_id, c.status])).toEqual([
        [joiner.id, 'elected'],
        [other.id, 'elected'],
      ]);
      expect(result.not_elected.map((c) => [c.agent_id, c.status])).toEqual([[silent.id, 'not_elected']]);
      const seated = await listCouncilMembers(world.store.db, council.id);
      expect(seated.filter((m) => m.agent_id === joiner.id)).toHaveLength(1);
      const renewed = seated.find((m) => m.agent_id === joiner.id);
      const term = new Date(world.clock.now());
      term.setUTCMonth(term.getUTCMonth() + 3);
      expect(renewed?.term_expires_at).toBe(term.toISOString());
      expect(renewed?.term_expires_at).not.toBe(before?.term_expires_at);
      const stored = await listCandidates(world.store.db, election.id);
      expect(stored.map((c) => [c.agent_id, c.status])).toEqual([
        [joiner.id, 'elected'],
        [other.id, 'elected'],
        [silent.id, 'not_elected'],
      ]);
      const [completed] = (await activityOf(world, 'election.completed', election.id)).slice(-1);
      expect(completed).toMatchObject({ agent_id: chair.id, target_id: election.id, repo_id: repo.id });
      expect(completed?.metadata).toEqual({
        elected: [
          { agent_id: joiner.id, agent: joiner.name, votes: 2 },
          { agent_id: other.id, agent: other.name, votes: 0 },
        ],
        not_elected: [{ agent_id: silent.id, agent: silent.name, votes: 0 }],
      });
    });
  });
}
