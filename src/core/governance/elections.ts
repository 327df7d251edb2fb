/**
 * Council elections: nominations, then voting, then seats for the winners.
 *
 * - An admin or the council chair starts an election (one open at a time) for seats_available seats
 *   (default 1, at most the free seats); nominations close at nominations_end_at (default 7 days),
 *   voting at voting_end_at (default 7 days after voting opens).
 * - Candidates must be eligible by the council's rules (karma, merged streams) and not members.
 *   An agent may nominate itself (the candidacy is then accepted at once) or be nominated by a member
 *   (it then accepts or withdraws). A withdrawal during voting drops the votes cast for the candidate,
 *   so those voters may vote again.
 * - Voting opens (admin or chair, or the scheduler at nominations_end_at) only when at least
 *   seats_available candidates have accepted; the scheduler cancels an election that has too few at
 *   the deadline. Nominated candidates may still accept while voting is open.
 * - Council members vote once per election, for an accepted candidate.
 * - Completing (admin or chair, or the scheduler at voting_end_at) elects the top seats_available
 *   accepted candidates by votes, ties broken by the earliest nomination; they join the council with a
 *   term of term_limit_months. The other candidates are not_elected.
 */
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Council,
  type CouncilElection,
  type ElectionCandidate,
  type Executor,
  lockedTransaction,
  type Repo,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { findByIdOrPrefix } from '../id-prefix.js';
import {
  addDays,
  addMonths,
  assertCouncilEligible,
  countCouncilMembers,
  findCouncilMember,
  getCouncil,
  requireAdminOrChair,
  requireCouncilMember,
  seatCouncilMember,
} from './council.js';

export const DEFAULT_NOMINATION_DAYS = 7;
export const DEFAULT_VOTING_DAYS = 7;
export const ELECTION_TYPES = ['regular', 'special'] as const;
export type ElectionType = (typeof ELECTION_TYPES)[number];

const OPEN_STATUSES = ['nominations', 'voting'] as const;

function days(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isFinite(n) || n <= 0 || n > 365) {
    throw new GitSwarmError('invalid_input', `The ${what} period must be more than 0 and at most 365 days.`);
  }
  return n;
}

/** Finds an election of the council by id or unique id prefix (at least 4 characters). */
export async function findElection(
  db: Executor,
  councilId: string,
  ref: string,
): Promise<CouncilElection | undefined> {
  return findByIdOrPrefix(
    db.selectFrom('gitswarm_council_elections').selectAll().where('council_id', '=', councilId),
    ref,
    'election',
  );
}

/** The council's open election (nominations or voting), if any. */
export async function findOpenElection(
  db: Executor,
  councilId: string,
): Promise<CouncilElection | undefined> {
  return db
    .selectFrom('gitswarm_council_elections')
    .selectAll()
    .where('council_id', '=', councilId)
    .where('status', 'in', OPEN_STATUSES)
    .executeTakeFirst();
}

/**
 * The election named by `ref` (id or prefix), or the open election when `ref` is omitted;
 * throws election_not_found.
 */
export async function getElection(db: Executor, repo: Repo, ref?: string): Promise<CouncilElection> {
  const council = await getCouncil(db, repo.id);
  const election = ref ? await findElection(db, council.id, ref) : await findOpenElection(db, council.id);
  if (!election) {
    throw new GitSwarmError('election_not_found', ref ? `No election ${ref}` : 'There is no open election.');
  }
  return election;
}

function requirePhase(election: CouncilElection, ...phases: CouncilElection['status'][]): void {
  if (!phases.includes(election.status)) {
    throw new GitSwarmError(
      'wrong_phase',
      `Election ${election.id} is in ${election.status}; this needs ${phases.join(' or ')}.`,
      { details: { status: election.status } },
    );
  }
}

export interface CandidateView extends ElectionCandidate {
  agent_name: string;
}

/** Lists an election's candidates, most votes first, then by nomination. */
export async function listCandidates(db: Executor, electionId: string): Promise<CandidateView[]> {
  return db
    .selectFrom('gitswarm_election_candidates as c')
    .innerJoin('gitswarm_agents as a', 'a.id', 'c.agent_id')
    .selectAll('c')
    .select('a.name as agent_name')
    .where('c.election_id', '=', electionId)
    .orderBy('c.vote_count', 'desc')
    .orderBy('c.created_at')
    .orderBy('c.id')
    .execute();
}

export interface ElectionView {
  election: CouncilElection;
  candidates: CandidateView[];
}

/** Lists the council's elections, newest first, with their candidates. */
export async function listElections(db: Executor, repo: Repo): Promise<ElectionView[]> {
  const council = await getCouncil(db, repo.id);
  const elections = await db
    .selectFrom('gitswarm_council_elections')
    .selectAll()
    .where('council_id', '=', council.id)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return Promise.all(
    elections.map(async (election) => ({ election, candidates: await listCandidates(db, election.id) })),
  );
}

export interface StartElectionInput {
  repo: Repo;
  /** An admin or the council chair. */
  actor: Agent;
  seats?: number;
  type?: ElectionType;
  nominationDays?: number;
  votingDays?: number;
}

/** Starts an election; refused while another one is open or when the council has no free seat. */
export async function startElection(deps: CoreDeps, input: StartElectionInput): Promise<CouncilElection> {
  const nominationDays = days(input.nominationDays, DEFAULT_NOMINATION_DAYS, 'nomination');
  const votingDays = days(input.votingDays, DEFAULT_VOTING_DAYS, 'voting');
  const type = input.type ?? 'regular';
  if (!ELECTION_TYPES.includes(type)) {
    throw new GitSwarmError(
      'invalid_input',
      `An election is regular or special, not ${JSON.stringify(type)}.`,
    );
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    await requireAdminOrChair(deps, trx, {
      repo: input.repo,
      council,
      actor: input.actor,
      what: 'start an election',
    });
    const open = await findOpenElection(trx, council.id);
    if (open) {
      throw new GitSwarmError('already_exists', `Election ${open.id} is still open (${open.status}).`, {
        hint: 'See it with: gitswarm election list',
      });
    }
    const free = council.max_members - (await countCouncilMembers(trx, council.id));
    if (free <= 0)
      throw new GitSwarmError('invalid_state', 'The council is full; there is no seat to elect.');
    const seats = input.seats ?? 1;
    if (!Number.isInteger(seats) || seats < 1 || seats > free) {
      throw new GitSwarmError(
        'invalid_input',
        `Seats must be an integer from 1 to ${free} (the free seats).`,
      );
    }
    const now = isoNow(deps.clock);
    const nominationsEnd = addDays(now, nominationDays);
    const election = await trx
      .insertInto('gitswarm_council_elections')
      .values({
        id: newId(),
        council_id: council.id,
        election_type: type,
        seats_available: seats,
        status: 'nominations',
        nominations_end_at: nominationsEnd,
        voting_end_at: addDays(nominationsEnd, votingDays),
        created_by: input.actor.id,
        created_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'election.started',
      repoId: input.repo.id,
      agentId: input.actor.id,
      targetType: 'election',
      targetId: election.id,
      metadata: {
        seats,
        type,
        nominations_end_at: election.nominations_end_at,
        voting_end_at: election.voting_end_at,
      },
    });
    return election;
  });
}

export interface NominateInput {
  repo: Repo;
  /** Election id or prefix; the open election when omitted. */
  election?: string;
  candidate: Agent;
  /** The candidate itself, or a council member. */
  nominator: Agent;
  statement?: string | null;
}

/** Nominates an eligible agent; a self-nomination is accepted at once. */
export async function nominateCandidate(deps: CoreDeps, input: NominateInput): Promise<ElectionCandidate> {
  if (input.statement && input.statement.length > 4000) {
    throw new GitSwarmError('invalid_input', 'A candidate statement may be at most 4000 characters.');
  }
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const election = await getElection(trx, input.repo, input.election);
    requirePhase(election, 'nominations');
    const council = await getCouncil(trx, input.repo.id);
    const self = input.nominator.id === input.candidate.id;
    if (!self) await requireCouncilMember(trx, council, input.nominator);
    if (await findCouncilMember(trx, council.id, input.candidate.id)) {
      throw new GitSwarmError(
        'already_exists',
        `Agent ${input.candidate.name} is already a member of the council.`,
      );
    }
    const existing = await trx
      .selectFrom('gitswarm_election_candidates')
      .select('status')
      .where('election_id', '=', election.id)
      .where('agent_id', '=', input.candidate.id)
      .executeTakeFirst();
    if (existing) {
      throw new GitSwarmError(
        'already_exists',
        `Agent ${input.candidate.name} is already a candidate (${existing.status}).`,
      );
    }
    await assertCouncilEligible(trx, council, input.candidate);
    const candidate = await trx
      .insertInto('gitswarm_election_candidates')
      .values({
        id: newId(),
        election_id: election.id,
        agent_id: input.candidate.id,
        nominated_by: input.nominator.id,
        statement: input.statement ?? null,
        status: self ? 'accepted' : 'nominated',
        created_at: isoNow(deps.clock),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'election.nominated',
      repoId: input.repo.id,
      agentId: input.nominator.id,
      targetType: 'election',
      targetId: election.id,
      metadata: {
        candidate_id: input.candidate.id,
        candidate: input.candidate.name,
        status: candidate.status,
      },
    });
    return candidate;
  });
}

export interface CandidateDecisionInput {
  repo: Repo;
  election?: string;
  /** The candidate deciding for itself. */
  agent: Agent;
}

async function requireCandidate(
  db: Executor,
  election: CouncilElection,
  agent: Agent,
): Promise<ElectionCandidate> {
  const candidate = await db
    .selectFrom('gitswarm_election_candidates')
    .selectAll()
    .where('election_id', '=', election.id)
    .where('agent_id', '=', agent.id)
    .executeTakeFirst();
  if (!candidate) {
    throw new GitSwarmError(
      'not_found',
      `Agent ${agent.name} is not a candidate in election ${election.id}`,
      {
        hint: 'See the candidates with: gitswarm election list',
      },
    );
  }
  return candidate;
}

/** The candidate accepts its nomination (during nominations or voting). */
export async function acceptNomination(
  deps: CoreDeps,
  input: CandidateDecisionInput,
): Promise<ElectionCandidate> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const election = await getElection(trx, input.repo, input.election);
    requirePhase(election, 'nominations', 'voting');
    const candidate = await requireCandidate(trx, election, input.agent);
    if (candidate.status !== 'nominated') {
      throw new GitSwarmError(
        'invalid_state',
        `The candidacy of ${input.agent.name} is ${candidate.status}.`,
      );
    }
    return updateCandidacy(deps, trx, { election, candidate, agent: input.agent, status: 'accepted' });
  });
}

/** The candidate withdraws; during voting the votes cast for it are dropped so voters may vote again. */
export async function withdrawCandidacy(
  deps: CoreDeps,
  input: CandidateDecisionInput,
): Promise<ElectionCandidate> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const election = await getElection(trx, input.repo, input.election);
    requirePhase(election, 'nominations', 'voting');
    const candidate = await requireCandidate(trx, election, input.agent);
    if (candidate.status !== 'nominated' && candidate.status !== 'accepted') {
      throw new GitSwarmError(
        'invalid_state',
        `The candidacy of ${input.agent.name} is ${candidate.status}.`,
      );
    }
    await trx.deleteFrom('gitswarm_election_votes').where('candidate_id', '=', candidate.id).execute();
    return updateCandidacy(deps, trx, {
      election,
      candidate,
      agent: input.agent,
      status: 'withdrawn',
      voteCount: 0,
    });
  });
}

async function updateCandidacy(
  deps: CoreDeps,
  db: Executor,
  input: {
    election: CouncilElection;
    candidate: ElectionCandidate;
    agent: Agent;
    status: ElectionCandidate['status'];
    voteCount?: number;
  },
): Promise<ElectionCandidate> {
  const updated = await db
    .updateTable('gitswarm_election_candidates')
    .set({ status: input.status, ...(input.voteCount === undefined ? {} : { vote_count: input.voteCount }) })
    .where('id', '=', input.candidate.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const council = await db
    .selectFrom('gitswarm_repo_councils')
    .select('repo_id')
    .where('id', '=', input.election.council_id)
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'election.candidate_updated',
    repoId: council.repo_id,
    agentId: input.agent.id,
    targetType: 'election',
    targetId: input.election.id,
    metadata: { candidate_id: input.agent.id, candidate: input.agent.name, status: input.status },
  });
  return updated;
}

async function countAccepted(db: Executor, electionId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_election_candidates')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('election_id', '=', electionId)
    .where('status', '=', 'accepted')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Moves an election in nominations to voting (the caller holds the lock and has checked who asks);
 * voting lasts as long as was planned at the start, counted from now.
 */
export async function openVoting(
  deps: CoreDeps,
  db: Executor,
  input: { council: Council; election: CouncilElection; actorId: string | null },
): Promise<CouncilElection> {
  const { election } = input;
  const accepted = await countAccepted(db, election.id);
  if (accepted < election.seats_available) {
    throw new GitSwarmError(
      'invalid_state',
      `Voting needs at least ${election.seats_available} accepted candidates; ${accepted} have accepted.`,
      { hint: 'Nominate eligible agents with: gitswarm election nominate AGENT --as <member>' },
    );
  }
  const now = isoNow(deps.clock);
  const planned =
    election.nominations_end_at && election.voting_end_at
      ? new Date(election.voting_end_at).getTime() - new Date(election.nominations_end_at).getTime()
      : DEFAULT_VOTING_DAYS * 86_400_000;
  const updated = await db
    .updateTable('gitswarm_council_elections')
    .set({ status: 'voting', voting_end_at: new Date(new Date(now).getTime() + planned).toISOString() })
    .where('id', '=', election.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'election.voting_started',
    repoId: input.council.repo_id,
    agentId: input.actorId,
    targetType: 'election',
    targetId: election.id,
    metadata: { accepted, seats: election.seats_available, voting_end_at: updated.voting_end_at },
  });
  return updated;
}

export interface ElectionActionInput {
  repo: Repo;
  election?: string;
  /** An admin or the council chair. */
  actor: Agent;
}

/** Opens voting (admin or chair); needs at least seats_available accepted candidates. */
export async function startVoting(deps: CoreDeps, input: ElectionActionInput): Promise<CouncilElection> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    const election = await getElection(trx, input.repo, input.election);
    await requireAdminOrChair(deps, trx, {
      repo: input.repo,
      council,
      actor: input.actor,
      what: 'open voting',
    });
    requirePhase(election, 'nominations');
    return openVoting(deps, trx, { council, election, actorId: input.actor.id });
  });
}

export interface ElectionVoteInput {
  repo: Repo;
  election?: string;
  /** A council member. */
  voter: Agent;
  /** The candidate agent. */
  candidate: Agent;
}

/** Casts a member's one vote in the election, for an accepted candidate. */
export async function voteInElection(deps: CoreDeps, input: ElectionVoteInput): Promise<CandidateView> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    const election = await getElection(trx, input.repo, input.election);
    requirePhase(election, 'voting');
    await requireCouncilMember(trx, council, input.voter);
    const candidate = await requireCandidate(trx, election, input.candidate);
    if (candidate.status !== 'accepted') {
      throw new GitSwarmError(
        'invalid_state',
        `The candidacy of ${input.candidate.name} is ${candidate.status}; vote for an accepted candidate.`,
      );
    }
    const earlier = await trx
      .selectFrom('gitswarm_election_votes')
      .select('id')
      .where('election_id', '=', election.id)
      .where('voter_id', '=', input.voter.id)
      .executeTakeFirst();
    if (earlier) {
      throw new GitSwarmError(
        'duplicate_vote',
        `Agent ${input.voter.name} has already voted in this election.`,
      );
    }
    await trx
      .insertInto('gitswarm_election_votes')
      .values({
        id: newId(),
        election_id: election.id,
        voter_id: input.voter.id,
        candidate_id: candidate.id,
        voted_at: isoNow(deps.clock),
      })
      .execute();
    const tally = await trx
      .selectFrom('gitswarm_election_votes')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('candidate_id', '=', candidate.id)
      .executeTakeFirstOrThrow();
    const updated = await trx
      .updateTable('gitswarm_election_candidates')
      .set({ vote_count: Number(tally.n) })
      .where('id', '=', candidate.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'election.voted',
      repoId: input.repo.id,
      agentId: input.voter.id,
      targetType: 'election',
      targetId: election.id,
      metadata: { candidate_id: input.candidate.id, candidate: input.candidate.name },
    });
    return { ...updated, agent_name: input.candidate.name };
  });
}

export interface ElectionResult {
  election: CouncilElection;
  elected: CandidateView[];
  not_elected: CandidateView[];
}

/**
 * Completes an election in voting (the caller holds the lock and has checked who asks): the top
 * seats_available accepted candidates by votes, ties broken by the earliest nomination, join the
 * council (never beyond max_members); the rest are not_elected.
 */
export async function closeElection(
  deps: CoreDeps,
  db: Executor,
  input: { council: Council; election: CouncilElection; actorId: string | null },
): Promise<ElectionResult> {
  const { election } = input;
  let council = input.council;
  const candidates = await listCandidates(db, election.id);
  const ranked = candidates.filter((c) => c.status === 'accepted');
  const elected: CandidateView[] = [];
  const notElected: CandidateView[] = [];
  for (const candidate of ranked) {
    const members = await countCouncilMembers(db, council.id);
    if (elected.length < election.seats_available && members < council.max_members) {
      const agent = await db
        .selectFrom('gitswarm_agents')
        .selectAll()
        .where('id', '=', candidate.agent_id)
        .executeTakeFirstOrThrow();
      const member = await findCouncilMember(db, council.id, agent.id);
      if (member) {
        // Joined the council while the election ran: the election renews the term.
        await db
          .updateTable('gitswarm_council_members')
          .set({ term_expires_at: addMonths(isoNow(deps.clock), council.term_limit_months) })
          .where('id', '=', member.id)
          .execute();
      } else {
        ({ council } = await seatCouncilMember(deps, db, {
          council,
          agent,
          actorId: input.actorId,
          via: 'election',
        }));
      }
      elected.push({ ...candidate, status: 'elected' });
    } else {
      notElected.push({ ...candidate, status: 'not_elected' });
    }
  }
  for (const candidate of candidates.filter((c) => c.status === 'nominated')) {
    notElected.push({ ...candidate, status: 'not_elected' });
  }
  for (const [status, group] of [
    ['elected', elected],
    ['not_elected', notElected],
  ] as const) {
    if (group.length === 0) continue;
    await db
      .updateTable('gitswarm_election_candidates')
      .set({ status })
      .where(
        'id',
        'in',
        group.map((c) => c.id),
      )
      .execute();
  }
  const completed = await db
    .updateTable('gitswarm_council_elections')
    .set({ status: 'completed' })
    .where('id', '=', election.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'election.completed',
    repoId: council.repo_id,
    agentId: input.actorId,
    targetType: 'election',
    targetId: election.id,
    metadata: {
      elected: elected.map((c) => ({ agent_id: c.agent_id, agent: c.agent_name, votes: c.vote_count })),
      not_elected: notElected.map((c) => ({
        agent_id: c.agent_id,
        agent: c.agent_name,
        votes: c.vote_count,
      })),
    },
  });
  return { election: completed, elected, not_elected: notElected };
}

/** Cancels an open election (the scheduler does when nominations close with too few candidates). */
export async function cancelElection(
  deps: CoreDeps,
  db: Executor,
  input: { council: Council; election: CouncilElection; actorId: string | null; reason: string },
): Promise<CouncilElection> {
  const cancelled = await db
    .updateTable('gitswarm_council_elections')
    .set({ status: 'cancelled' })
    .where('id', '=', input.election.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'election.cancelled',
    repoId: input.council.repo_id,
    agentId: input.actorId,
    targetType: 'election',
    targetId: input.election.id,
    metadata: { reason: input.reason },
  });
  return cancelled;
}

/** Completes the election (admin or chair); it must be in voting. */
export async function completeElection(deps: CoreDeps, input: ElectionActionInput): Promise<ElectionResult> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    const election = await getElection(trx, input.repo, input.election);
    await requireAdminOrChair(deps, trx, {
      repo: input.repo,
      council,
      actor: input.actor,
      what: 'complete an election',
    });
    requirePhase(election, 'voting');
    return closeElection(deps, trx, { council, election, actorId: input.actor.id });
  });
}
