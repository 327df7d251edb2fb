/**
 * `gitswarm council …` and `gitswarm election …` on a connected clone: the server's council,
 * proposal and election routes (proposals and elections named as the CLI names them: an id prefix,
 * or no election for the open one), answered in Mode A's shapes. The server decides eligibility,
 * quorum, outcomes and the execution of passed proposals.
 */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import type {
  CouncilResult,
  JoinCouncilResult,
  ListProposalsResult,
  ProposalResult,
  RemoveMemberResult,
  ShowCouncilResult,
  VoteResult,
} from '../../cli/council.js';
import type {
  CandidateResult,
  ElectionResultDoc,
  ElectionVoteResult,
  ListElectionsResult,
} from '../../cli/election.js';
import { type CouncilSettings, parseCouncilSettings } from '../../core/governance/council.js';
import type { CandidateView, ElectionResult } from '../../core/governance/elections.js';
import type { CouncilElection } from '../../store/index.js';
import { remoteActor } from '../actor.js';
import { serverAgent } from './governance.js';

type Connected = CommandDeps & { remote: RemoteDeps };

const enc = encodeURIComponent;
const keyed = { idempotencyKey: true } as const;

function councilPath(remote: RemoteDeps, rest = ''): string {
  return `/repos/${remote.repoId()}/council${rest}`;
}

// --- council -----------------------------------------------------------------------------------

export async function createCouncilRemote(
  opts: Partial<Record<keyof CouncilSettings, string>>,
  deps: Connected,
): Promise<CouncilResult> {
  const { remote } = deps;
  await remoteActor(remote);
  // The command line's text becomes the API's numbers through the core's own parser (the server
  // checks again); only the settings given are sent.
  const given = Object.fromEntries(Object.entries(opts).filter(([, value]) => value !== undefined));
  const parsed = parseCouncilSettings(given) as unknown as Record<string, unknown>;
  const body = Object.fromEntries(Object.keys(given).map((key) => [key, parsed[key]]));
  const { council } = await remote.client.post<ShowCouncilResult>(councilPath(remote), body, keyed);
  return { council };
}

export async function showCouncilRemote(deps: Connected): Promise<ShowCouncilResult> {
  return deps.remote.client.get<ShowCouncilResult>(councilPath(deps.remote));
}

export async function joinCouncilRemote(deps: Connected): Promise<JoinCouncilResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const answer = await remote.client.post<ShowCouncilResult & { member: JoinCouncilResult['member'] }>(
    councilPath(remote, '/members'),
    {},
    keyed,
  );
  return { member: answer.member, council: answer.council };
}

export async function removeMemberRemote(
  opts: { agent?: string },
  deps: Connected,
): Promise<RemoveMemberResult> {
  const { remote } = deps;
  const actor = await remoteActor(remote);
  const agent = opts.agent ? await serverAgent(remote, opts.agent) : actor;
  const { council } = await remote.client.delete<ShowCouncilResult>(
    councilPath(remote, `/members/${enc(agent.id)}`),
  );
  return { removed: { agent_id: agent.id, agent_name: agent.name }, council };
}

export async function proposeRemote(
  opts: { type: string; title: string; description?: string; actionData: unknown; expiresInDays?: number },
  deps: Connected,
): Promise<ProposalResult> {
  const { remote } = deps;
  await remoteActor(remote);
  return remote.client.post<ProposalResult>(
    councilPath(remote, '/proposals'),
    {
      type: opts.type,
      title: opts.title,
      ...(opts.description === undefined ? {} : { description: opts.description }),
      action_data: opts.actionData,
      ...(opts.expiresInDays === undefined ? {} : { expires_in_days: opts.expiresInDays }),
    },
    keyed,
  );
}

export async function voteRemote(
  opts: { proposal: string; vote: string; comment?: string },
  deps: Connected,
): Promise<VoteResult> {
  const { remote } = deps;
  await remoteActor(remote);
  return remote.client.post<VoteResult>(
    councilPath(remote, `/proposals/${enc(opts.proposal)}/vote`),
    { vote: opts.vote, ...(opts.comment === undefined ? {} : { comment: opts.comment }) },
    keyed,
  );
}

export async function listProposalsRemote(
  opts: { status?: string },
  deps: Connected,
): Promise<ListProposalsResult> {
  return deps.remote.client.get<ListProposalsResult>(councilPath(deps.remote, '/proposals'), {
    status: opts.status,
  });
}

export async function withdrawProposalRemote(
  opts: { proposal: string },
  deps: Connected,
): Promise<ProposalResult> {
  const { remote } = deps;
  await remoteActor(remote);
  return remote.client.post<ProposalResult>(
    councilPath(remote, `/proposals/${enc(opts.proposal)}/withdraw`),
    {},
    keyed,
  );
}

// --- elections ---------------------------------------------------------------------------------

export async function startElectionRemote(
  opts: { seats?: number; type?: string; nominationDays?: number; votingDays?: number },
  deps: Connected,
): Promise<ElectionResultDoc> {
  const { remote } = deps;
  await remoteActor(remote);
  const body: Record<string, unknown> = {};
  if (opts.seats !== undefined) body.seats = opts.seats;
  if (opts.type !== undefined) body.type = opts.type;
  if (opts.nominationDays !== undefined) body.nomination_days = opts.nominationDays;
  if (opts.votingDays !== undefined) body.voting_days = opts.votingDays;
  const { election } = await remote.client.post<{ election: CouncilElection }>(
    councilPath(remote, '/elections'),
    body,
    keyed,
  );
  return { election };
}

function electionBody(election: string | undefined): Record<string, unknown> {
  return election === undefined ? {} : { election };
}

export async function nominateRemote(
  opts: { candidate: string; statement?: string; election?: string },
  deps: Connected,
): Promise<CandidateResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const candidate = await serverAgent(remote, opts.candidate);
  const answer = await remote.client.post<CandidateResult>(
    councilPath(remote, '/election/nominate'),
    {
      ...electionBody(opts.election),
      candidate_id: candidate.id,
      ...(opts.statement === undefined ? {} : { statement: opts.statement }),
    },
    keyed,
  );
  return { candidate: { ...answer.candidate, agent_name: candidate.name } };
}

export async function candidacyRemote(
  opts: { election?: string; verb: 'accept' | 'withdraw' },
  deps: Connected,
): Promise<CandidateResult> {
  const { remote } = deps;
  const actor = await remoteActor(remote);
  const answer = await remote.client.post<CandidateResult>(
    councilPath(remote, `/election/${opts.verb}`),
    electionBody(opts.election),
    keyed,
  );
  return { candidate: { ...answer.candidate, agent_name: actor.name } };
}

export async function startVotingRemote(
  opts: { election?: string },
  deps: Connected,
): Promise<ElectionResultDoc> {
  const { remote } = deps;
  await remoteActor(remote);
  const { election } = await remote.client.post<{ election: CouncilElection }>(
    councilPath(remote, '/election/start-voting'),
    electionBody(opts.election),
    keyed,
  );
  return { election };
}

export async function electionVoteRemote(
  opts: { candidate: string; election?: string },
  deps: Connected,
): Promise<ElectionVoteResult> {
  const { remote } = deps;
  await remoteActor(remote);
  const candidate = await serverAgent(remote, opts.candidate);
  return remote.client.post<{ candidate: CandidateView }>(
    councilPath(remote, '/election/vote'),
    { ...electionBody(opts.election), candidate_id: candidate.id },
    keyed,
  );
}

export async function completeElectionRemote(
  opts: { election?: string },
  deps: Connected,
): Promise<ElectionResult> {
  const { remote } = deps;
  await remoteActor(remote);
  return remote.client.post<ElectionResult>(
    councilPath(remote, '/election/complete'),
    electionBody(opts.election),
    keyed,
  );
}

export async function listElectionsRemote(deps: Connected): Promise<ListElectionsResult> {
  const { elections } = await deps.remote.client.get<{
    elections: { election: CouncilElection; candidates: CandidateView[] }[];
  }>(councilPath(deps.remote, '/elections'));
  return { elections: elections.map((view) => ({ ...view.election, candidates: view.candidates })) };
}
