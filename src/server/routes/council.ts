/**
 * Council, proposals, elections and the repository stage (spec section 5, "Council & Elections",
 * and the stage routes of "Repositories"). Every rule is the core's: council.ts, proposals.ts,
 * elections.ts, stages.ts. The proposer, voter, nominator and candidate deciding are the API key's
 * owner; only the agent being nominated or removed is named in a body or path.
 */
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { getAgent } from '../../core/agents/agents.js';
import {
  createCouncil,
  getCouncil,
  joinCouncil,
  listCouncilMembers,
  removeCouncilMember,
  showCouncil,
  updateCouncilSettings,
} from '../../core/governance/council.js';
import {
  acceptNomination,
  completeElection,
  listCandidates,
  listElections,
  nominateCandidate,
  startElection,
  startVoting,
  voteInElection,
  withdrawCandidacy,
} from '../../core/governance/elections.js';
import {
  createProposal,
  listProposals,
  showProposal,
  voteOnProposal,
  withdrawProposal,
} from '../../core/governance/proposals.js';
import { advanceStage, listStageHistory, stageInfo } from '../../core/governance/stages.js';
import { getRepo } from '../../core/repos/repos.js';
import { GitSwarmError } from '../../errors.js';
import type { CouncilProposal, ProposalStatus, Repo } from '../../store/index.js';
import { isUuid } from '../../util/ids.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import { Closed, errorResponses, Id, IdParams, Metadata, Nullable, RepoView, Timestamp } from '../schemas.js';
import type { App } from '../types.js';

const SettingsProperties = {
  min_karma: Type.Optional(Type.Integer({ minimum: 0 })),
  min_contributions: Type.Optional(Type.Integer({ minimum: 0 })),
  min_members: Type.Optional(Type.Integer({ minimum: 1 })),
  max_members: Type.Optional(Type.Integer({ minimum: 1 })),
  standard_quorum: Type.Optional(Type.Integer({ minimum: 1 })),
  critical_quorum: Type.Optional(Type.Integer({ minimum: 1 })),
  term_limit_months: Type.Optional(Type.Integer({ minimum: 1 })),
  election_interval_days: Type.Optional(Type.Integer({ minimum: 1 })),
};

const CouncilRow = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  min_karma: Type.Integer(),
  min_contributions: Type.Integer(),
  min_members: Type.Integer(),
  max_members: Type.Integer(),
  standard_quorum: Type.Integer(),
  critical_quorum: Type.Integer(),
  term_limit_months: Type.Integer(),
  election_interval_days: Type.Integer(),
  status: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

const MemberView = Closed({
  agent_id: Type.String(),
  agent_name: Type.String(),
  role: Type.String(),
  votes_cast: Type.Integer(),
  proposals_made: Type.Integer(),
  term_expires_at: Nullable(Timestamp),
  joined_at: Timestamp,
});

const MemberRow = Closed({
  id: Type.String(),
  council_id: Type.String(),
  agent_id: Type.String(),
  role: Type.String(),
  votes_cast: Type.Integer(),
  proposals_made: Type.Integer(),
  term_expires_at: Nullable(Timestamp),
  joined_at: Timestamp,
});

const CouncilResponse = Closed({
  council: CouncilRow,
  members: Type.Array(MemberView),
  next_election_due_at: Timestamp,
});

const ProposalView = Closed({
  id: Type.String(),
  council_id: Type.String(),
  title: Type.String(),
  description: Nullable(Type.String()),
  proposal_type: Type.String(),
  proposed_by: Nullable(Type.String()),
  quorum_required: Type.Integer(),
  votes_for: Type.Integer(),
  votes_against: Type.Integer(),
  votes_abstain: Type.Integer(),
  status: Type.String(),
  resolution_reason: Nullable(Type.String()),
  action_data: Metadata,
  executed: Type.Boolean(),
  executed_at: Nullable(Timestamp),
  execution_result: Nullable(Metadata),
  expires_at: Nullable(Timestamp),
  resolved_at: Nullable(Timestamp),
  proposed_at: Timestamp,
});

const VoteView = Closed({
  agent_id: Type.String(),
  agent_name: Type.String(),
  vote: Type.String(),
  comment: Nullable(Type.String()),
  voted_at: Timestamp,
});

const ElectionRow = Closed({
  id: Type.String(),
  council_id: Type.String(),
  election_type: Type.String(),
  seats_available: Type.Integer(),
  status: Type.String(),
  nominations_end_at: Nullable(Timestamp),
  voting_end_at: Nullable(Timestamp),
  created_by: Nullable(Type.String()),
  created_at: Timestamp,
});

const CandidateView = Closed({
  id: Type.String(),
  election_id: Type.String(),
  agent_id: Type.String(),
  agent_name: Type.Optional(Type.String()),
  nominated_by: Nullable(Type.String()),
  statement: Nullable(Type.String()),
  status: Type.String(),
  vote_count: Type.Integer(),
  created_at: Timestamp,
});

const ElectionView = Closed({ election: ElectionRow, candidates: Type.Array(CandidateView) });

const RequirementsView = Closed({
  contributors: Type.Integer(),
  merged_streams: Type.Integer(),
  maintainers: Type.Integer(),
  council_active: Type.Boolean(),
});

const StageHistoryView = Closed({
  id: Type.String(),
  repo_id: Type.String(),
  from_stage: Nullable(Type.String()),
  to_stage: Type.String(),
  contributor_count: Nullable(Type.Integer()),
  patch_count: Nullable(Type.Integer()),
  maintainer_count: Nullable(Type.Integer()),
  metrics_at_transition: Metadata,
  transitioned_at: Timestamp,
});

const StageView = Closed({
  stage: Type.String(),
  metrics: RequirementsView,
  next: Nullable(
    Closed({
      stage: Type.String(),
      requirements: RequirementsView,
      eligible: Type.Boolean(),
      missing: Type.Array(Type.String()),
    }),
  ),
});

const PROPOSAL_STATUSES: readonly ProposalStatus[] = ['open', 'passed', 'rejected', 'expired', 'withdrawn'];

function withoutUndefined<T extends Record<string, unknown>>(body: T): Partial<T> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** /repos/:id/council…, /proposals/:id…, /elections/:id…, /repos/:id/stage… */
export async function councilRoutes(app: App): Promise<void> {
  const deps = app.deps;

  /** The repository of a council row (proposal or election), readable by the caller. */
  const repoOfCouncil = async (request: FastifyRequest, councilId: string): Promise<Repo> => {
    const council = await deps.store.db
      .selectFrom('gitswarm_repo_councils')
      .select('repo_id')
      .where('id', '=', councilId)
      .executeTakeFirstOrThrow();
    return readableRepo(deps, request, council.repo_id);
  };

  const loadProposal = async (
    request: FastifyRequest,
    id: string,
  ): Promise<{ repo: Repo; proposal: CouncilProposal }> => {
    const proposal = isUuid(id)
      ? await deps.store.db
          .selectFrom('gitswarm_council_proposals')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirst()
      : undefined;
    if (!proposal) throw new GitSwarmError('proposal_not_found', `No proposal ${JSON.stringify(id)}.`);
    return { repo: await repoOfCouncil(request, proposal.council_id), proposal };
  };

  const loadElectionRepo = async (request: FastifyRequest, id: string): Promise<Repo> => {
    const election = isUuid(id)
      ? await deps.store.db
          .selectFrom('gitswarm_council_elections')
          .select('council_id')
          .where('id', '=', id)
          .executeTakeFirst()
      : undefined;
    if (!election) throw new GitSwarmError('election_not_found', `No election ${JSON.stringify(id)}.`);
    return repoOfCouncil(request, election.council_id);
  };

  app.post(
    '/repos/:id/council',
    {
      schema: {
        summary: 'Create the repository’s council (admin)',
        tags: ['council'],
        params: IdParams,
        body: Closed(SettingsProperties),
        response: { 201: CouncilResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      await createCouncil(deps, { repo, actor, settings: withoutUndefined(request.body) });
      reply.code(201);
      return showCouncil(deps.store.db, repo);
    },
  );

  app.get(
    '/repos/:id/council',
    {
      schema: {
        summary: 'The council: settings, status, members, next election',
        tags: ['council'],
        params: IdParams,
        response: { 200: CouncilResponse, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => showCouncil(deps.store.db, await readableRepo(deps, request, request.params.id)),
  );

  app.patch(
    '/repos/:id/council',
    {
      schema: {
        summary: 'Change council settings (admin)',
        tags: ['council'],
        params: IdParams,
        body: Closed(SettingsProperties),
        response: { 200: CouncilResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      await updateCouncilSettings(deps, { repo, actor, changes: withoutUndefined(request.body) });
      return showCouncil(deps.store.db, repo);
    },
  );

  app.get(
    '/repos/:id/council/members',
    {
      schema: {
        summary: 'Council members, chair first',
        tags: ['council'],
        params: IdParams,
        response: { 200: Closed({ members: Type.Array(MemberView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      const council = await getCouncil(deps.store.db, repo.id);
      return { members: await listCouncilMembers(deps.store.db, council.id) };
    },
  );

  app.post(
    '/repos/:id/council/members',
    {
      schema: {
        summary: 'Join the council (the caller; eligibility and seats checked)',
        tags: ['council'],
        params: IdParams,
        response: {
          201: Closed({
            council: CouncilRow,
            members: Type.Array(MemberView),
            next_election_due_at: Timestamp,
            member: MemberRow,
          }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const agent = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const joined = await joinCouncil(deps, { repo, agent });
      reply.code(201);
      return { ...(await showCouncil(deps.store.db, repo)), member: joined.member };
    },
  );

  app.delete(
    '/repos/:id/council/members/:agentId',
    {
      schema: {
        summary: 'Leave the council, or remove a member (admin)',
        tags: ['council'],
        params: Closed({ id: Id, agentId: Id }),
        response: { 200: CouncilResponse, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const agent = await getAgent(deps.store.db, request.params.agentId);
      await removeCouncilMember(deps, { repo, actor, agent });
      return showCouncil(deps.store.db, repo);
    },
  );

  app.post(
    '/repos/:id/council/proposals',
    {
      schema: {
        summary: 'Create a proposal (a council member)',
        tags: ['council'],
        params: IdParams,
        body: Closed({
          type: Type.String({ minLength: 1, maxLength: 50 }),
          title: Type.String({ minLength: 1, maxLength: 500 }),
          description: Type.Optional(Nullable(Type.String({ maxLength: 10_000 }))),
          action_data: Type.Optional(Metadata),
          expires_in_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 365 })),
        }),
        response: { 201: Closed({ proposal: ProposalView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const proposer = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const proposal = await createProposal(deps, {
        repo,
        proposer,
        type: request.body.type,
        title: request.body.title,
        description: request.body.description,
        actionData: request.body.action_data,
        expiresInDays: request.body.expires_in_days,
      });
      reply.code(201);
      return { proposal };
    },
  );

  app.get(
    '/repos/:id/council/proposals',
    {
      schema: {
        summary: 'Proposals, newest first',
        tags: ['council'],
        params: IdParams,
        querystring: Closed({
          status: Type.Optional(Type.String({ maxLength: 100, description: 'Comma-separated statuses' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: {
          200: Closed({ proposals: Type.Array(ProposalView) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      const status = request.query.status
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const s of status ?? []) {
        if (!(PROPOSAL_STATUSES as readonly string[]).includes(s)) {
          throw new GitSwarmError('invalid_input', `Unknown proposal status ${JSON.stringify(s)}.`);
        }
      }
      return {
        proposals: await listProposals(deps, repo, {
          status: status as ProposalStatus[] | undefined,
          limit: request.query.limit,
        }),
      };
    },
  );

  app.get(
    '/proposals/:id',
    {
      schema: {
        summary: 'A proposal with its votes',
        tags: ['council'],
        params: IdParams,
        response: {
          200: Closed({ proposal: ProposalView, votes: Type.Array(VoteView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const { repo, proposal } = await loadProposal(request, request.params.id);
      return showProposal(deps, repo, proposal.id);
    },
  );

  app.post(
    '/proposals/:id/vote',
    {
      schema: {
        summary: 'Vote on a proposal (a council member; a re-vote replaces the earlier one)',
        tags: ['council'],
        params: IdParams,
        body: Closed({
          vote: Type.Union([Type.Literal('for'), Type.Literal('against'), Type.Literal('abstain')]),
          comment: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
        }),
        response: {
          200: Closed({
            proposal: ProposalView,
            vote: Type.String(),
            replaced: Nullable(Type.String()),
            resolved: Type.Boolean(),
          }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const voter = actingAgent(request);
      const { repo, proposal } = await loadProposal(request, request.params.id);
      return voteOnProposal(deps, {
        repo,
        proposal: proposal.id,
        voter,
        vote: request.body.vote,
        comment: request.body.comment,
      });
    },
  );

  app.delete(
    '/proposals/:id',
    {
      schema: {
        summary: 'Withdraw your open proposal',
        tags: ['council'],
        params: IdParams,
        response: { 200: Closed({ proposal: ProposalView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const { repo, proposal } = await loadProposal(request, request.params.id);
      return { proposal: await withdrawProposal(deps, { repo, proposal: proposal.id, actor }) };
    },
  );

  app.post(
    '/repos/:id/council/elections',
    {
      schema: {
        summary: 'Start an election (admin or chair)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({
          seats: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          type: Type.Optional(Type.Union([Type.Literal('regular'), Type.Literal('special')])),
          nomination_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 365 })),
          voting_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 365 })),
        }),
        response: { 201: ElectionView, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      const election = await startElection(deps, {
        repo,
        actor,
        seats: request.body.seats,
        type: request.body.type,
        nominationDays: request.body.nomination_days,
        votingDays: request.body.voting_days,
      });
      reply.code(201);
      return { election, candidates: await listCandidates(deps.store.db, election.id) };
    },
  );

  app.get(
    '/repos/:id/council/elections',
    {
      schema: {
        summary: 'Elections, newest first, with candidates',
        tags: ['elections'],
        params: IdParams,
        response: { 200: Closed({ elections: Type.Array(ElectionView) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return { elections: await listElections(deps.store.db, repo) };
    },
  );

  app.post(
    '/elections/:id/nominate',
    {
      schema: {
        summary: 'Nominate a candidate: yourself (accepted at once), or another agent as a council member',
        tags: ['elections'],
        params: IdParams,
        body: Closed({
          candidate_id: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: 'Default: yourself' }),
          ),
          statement: Type.Optional(Nullable(Type.String({ maxLength: 4000 }))),
        }),
        response: { 201: Closed({ candidate: CandidateView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const nominator = actingAgent(request);
      const repo = await loadElectionRepo(request, request.params.id);
      const candidate =
        request.body.candidate_id === undefined
          ? nominator
          : await getAgent(deps.store.db, request.body.candidate_id);
      const row = await nominateCandidate(deps, {
        repo,
        election: request.params.id,
        candidate,
        nominator,
        statement: request.body.statement,
      });
      reply.code(201);
      return { candidate: row };
    },
  );

  for (const [verb, decide, summary] of [
    ['accept', acceptNomination, 'Accept your nomination'],
    ['withdraw', withdrawCandidacy, 'Withdraw your candidacy'],
  ] as const) {
    app.post(
      `/elections/:id/${verb}`,
      {
        schema: {
          summary,
          tags: ['elections'],
          params: IdParams,
          response: { 200: Closed({ candidate: CandidateView }), ...errorResponses(401, 403, 404, 409) },
        },
      },
      async (request) => {
        const agent = actingAgent(request);
        const repo = await loadElectionRepo(request, request.params.id);
        return { candidate: await decide(deps, { repo, election: request.params.id, agent }) };
      },
    );
  }

  app.post(
    '/elections/:id/start-voting',
    {
      schema: {
        summary: 'Open voting (admin or chair)',
        tags: ['elections'],
        params: IdParams,
        response: { 200: ElectionView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await loadElectionRepo(request, request.params.id);
      const election = await startVoting(deps, { repo, election: request.params.id, actor });
      return { election, candidates: await listCandidates(deps.store.db, election.id) };
    },
  );

  app.post(
    '/elections/:id/vote',
    {
      schema: {
        summary: 'Cast your vote for an accepted candidate (a council member)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({ candidate_id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 200: Closed({ candidate: CandidateView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const voter = actingAgent(request);
      const repo = await loadElectionRepo(request, request.params.id);
      const candidate = await getAgent(deps.store.db, request.body.candidate_id);
      return {
        candidate: await voteInElection(deps, { repo, election: request.params.id, voter, candidate }),
      };
    },
  );

  app.post(
    '/elections/:id/complete',
    {
      schema: {
        summary: 'Complete the election (admin or chair): the top candidates join the council',
        tags: ['elections'],
        params: IdParams,
        response: {
          200: Closed({
            election: ElectionRow,
            elected: Type.Array(CandidateView),
            not_elected: Type.Array(CandidateView),
          }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await loadElectionRepo(request, request.params.id);
      return completeElection(deps, { repo, election: request.params.id, actor });
    },
  );

  // Proposals and elections named as the CLI names them (an id prefix within the repository; no
  // election: the open one): what a Mode B client sends for `gitswarm council …` / `election …`.
  const RefParams = Closed({ id: Id, ref: Type.String({ minLength: 1, maxLength: 100 }) });
  const ElectionRef = Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'Election id or prefix; default: the open one',
    }),
  );

  app.post(
    '/repos/:id/council/proposals/:ref/vote',
    {
      schema: {
        summary: 'Vote on a proposal named by its id or an id prefix (as POST /proposals/:id/vote)',
        tags: ['council'],
        params: RefParams,
        body: Closed({
          vote: Type.Union([Type.Literal('for'), Type.Literal('against'), Type.Literal('abstain')]),
          comment: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
        }),
        response: {
          200: Closed({
            proposal: ProposalView,
            vote: Type.String(),
            replaced: Nullable(Type.String()),
            resolved: Type.Boolean(),
          }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const voter = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      return voteOnProposal(deps, {
        repo,
        proposal: request.params.ref,
        voter,
        vote: request.body.vote,
        comment: request.body.comment,
      });
    },
  );

  app.post(
    '/repos/:id/council/proposals/:ref/withdraw',
    {
      schema: {
        summary: 'Withdraw your open proposal, named by its id or an id prefix',
        tags: ['council'],
        params: RefParams,
        response: { 200: Closed({ proposal: ProposalView }), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      return { proposal: await withdrawProposal(deps, { repo, proposal: request.params.ref, actor }) };
    },
  );

  app.post(
    '/repos/:id/council/election/nominate',
    {
      schema: {
        summary: 'Nominate a candidate in the open election (or the one named)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({
          election: ElectionRef,
          candidate_id: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: 'Default: yourself' }),
          ),
          statement: Type.Optional(Nullable(Type.String({ maxLength: 4000 }))),
        }),
        response: { 201: Closed({ candidate: CandidateView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const nominator = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const candidate =
        request.body.candidate_id === undefined
          ? nominator
          : await getAgent(deps.store.db, request.body.candidate_id);
      const row = await nominateCandidate(deps, {
        repo,
        election: request.body.election,
        candidate,
        nominator,
        statement: request.body.statement,
      });
      reply.code(201);
      return { candidate: row };
    },
  );

  for (const [verb, decide, summary] of [
    ['accept', acceptNomination, 'Accept your nomination in the open election (or the one named)'],
    ['withdraw', withdrawCandidacy, 'Withdraw your candidacy in the open election (or the one named)'],
  ] as const) {
    app.post(
      `/repos/:id/council/election/${verb}`,
      {
        schema: {
          summary,
          tags: ['elections'],
          params: IdParams,
          body: Closed({ election: ElectionRef }),
          response: { 200: Closed({ candidate: CandidateView }), ...errorResponses(401, 403, 404, 409) },
        },
      },
      async (request) => {
        const agent = actingAgent(request);
        const repo = await readableRepo(deps, request, request.params.id);
        return { candidate: await decide(deps, { repo, election: request.body.election, agent }) };
      },
    );
  }

  app.post(
    '/repos/:id/council/election/start-voting',
    {
      schema: {
        summary: 'Open voting in the open election (or the one named; admin or chair)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({ election: ElectionRef }),
        response: { 200: ElectionView, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const election = await startVoting(deps, { repo, election: request.body.election, actor });
      return { election, candidates: await listCandidates(deps.store.db, election.id) };
    },
  );

  app.post(
    '/repos/:id/council/election/vote',
    {
      schema: {
        summary: 'Vote for a candidate in the open election (or the one named; a council member)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({ election: ElectionRef, candidate_id: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: { 200: Closed({ candidate: CandidateView }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const voter = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      const candidate = await getAgent(deps.store.db, request.body.candidate_id);
      return {
        candidate: await voteInElection(deps, { repo, election: request.body.election, voter, candidate }),
      };
    },
  );

  app.post(
    '/repos/:id/council/election/complete',
    {
      schema: {
        summary: 'Complete the open election (or the one named; admin or chair)',
        tags: ['elections'],
        params: IdParams,
        body: Closed({ election: ElectionRef }),
        response: {
          200: Closed({
            election: ElectionRow,
            elected: Type.Array(CandidateView),
            not_elected: Type.Array(CandidateView),
          }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await readableRepo(deps, request, request.params.id);
      return completeElection(deps, { repo, election: request.body.election, actor });
    },
  );

  app.get(
    '/repos/:id/stage',
    {
      schema: {
        summary: 'Stage, metrics and eligibility for the next stage, with history',
        tags: ['repos'],
        params: IdParams,
        response: {
          200: Closed({ stage: StageView, history: Type.Array(StageHistoryView) }),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const repo = await readableRepo(deps, request, request.params.id);
      return {
        stage: await stageInfo(deps.store.db, repo),
        history: await listStageHistory(deps.store.db, repo.id),
      };
    },
  );

  app.post(
    '/repos/:id/stage/advance',
    {
      schema: {
        summary: 'Advance the stage when eligible, or force one (admin)',
        tags: ['repos'],
        params: IdParams,
        body: Closed({
          force: Type.Optional(
            Type.Union([
              Type.Literal('seed'),
              Type.Literal('growth'),
              Type.Literal('established'),
              Type.Literal('mature'),
            ]),
          ),
        }),
        response: {
          200: Closed({ repo: RepoView, from: Type.String(), to: Type.String(), forced: Type.Boolean() }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const actor = actingAgent(request);
      const repo = await getRepo(deps.store.db, request.params.id);
      return advanceStage(deps, { repo, actor, force: request.body.force });
    },
  );
}
