/**
 * Council proposals: what the council may decide, how members vote, and when a proposal resolves.
 *
 * - Eight types. Critical ones (remove_maintainer, modify_access, change_settings, revert_stream,
 *   promote: they take power away, change the rules, undo work or publish to the promote target)
 *   need the council's critical quorum; add_maintainer, merge_stream and reorder_queue the standard
 *   one. The quorum is fixed at creation and capped at the number of members then, so a small active
 *   council can still decide (with every member voting).
 * - action_data is validated and normalised per type at creation (see `validateActionData`).
 * - Members vote for, against or abstain; voting again replaces the earlier vote and the counts are
 *   recomputed from the votes, so they are always true. A proposal resolves as soon as
 *   for + against ≥ quorum: passed when for > against, else rejected (resolution_reason 'tie' on a
 *   tie, 'majority_against' otherwise). Abstentions do not count toward the quorum.
 * - An open proposal expires at expires_at (default 7 days): the scheduler resolves it, or the next
 *   access does (`listProposals`, `showProposal`, a vote).
 * - A passed proposal executes itself (proposal-execution.ts) right after the resolving vote has
 *   committed, still under the repository's lock.
 * - Only an active council takes proposals and votes; only the proposer may withdraw, while open.
 */
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Council,
  type CouncilProposal,
  type Executor,
  inTransaction,
  type ProposalType,
  type Repo,
  toJson,
  type VoteChoice,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import { findAgent } from '../agents/agents.js';
import type { CoreDeps } from '../deps.js';
import { findByIdOrPrefix } from '../id-prefix.js';
import { parseRepoSettings } from '../repos/repo-settings.js';
import { getRepo } from '../repos/repos.js';
import { getStream } from '../streams/streams.js';
import { assertNotArchived, isAccessLevel } from './access.js';
import {
  addDays,
  countCouncilMembers,
  type findCouncilMember,
  getCouncil,
  requireActiveCouncil,
  requireCouncilMember,
} from './council.js';
import { executeProposal } from './proposal-execution.js';

export const PROPOSAL_TYPES: readonly ProposalType[] = [
  'add_maintainer',
  'remove_maintainer',
  'modify_access',
  'change_settings',
  'merge_stream',
  'revert_stream',
  'reorder_queue',
  'promote',
];

/** Types that need the critical quorum. */
export const CRITICAL_PROPOSAL_TYPES: ReadonlySet<ProposalType> = new Set<ProposalType>([
  'remove_maintainer',
  'modify_access',
  'change_settings',
  'revert_stream',
  'promote',
]);

/** The repository settings a change_settings proposal may touch. */
export const COUNCIL_SETTING_KEYS = [
  'consensus_threshold',
  'min_reviews',
  'human_review_weight',
  'merge_mode',
  'ownership_model',
  'auto_promote_on_green',
  'auto_revert_on_red',
  'stabilize_command',
  'agent_access',
  'min_karma',
  'stale_reviews',
] as const;

export const VOTE_CHOICES: readonly VoteChoice[] = ['for', 'against', 'abstain'];
export const DEFAULT_PROPOSAL_DAYS = 7;
const MAX_PRIORITY = 1_000_000;

export function isProposalType(value: string): value is ProposalType {
  return (PROPOSAL_TYPES as readonly string[]).includes(value);
}

export function isVoteChoice(value: string): value is VoteChoice {
  return (VOTE_CHOICES as readonly string[]).includes(value);
}

function invalid(type: ProposalType, message: string): GitSwarmError {
  return new GitSwarmError('invalid_input', `Invalid ${type} data: ${message}.`, {
    hint: `See the fields of each proposal type in: gitswarm council propose --help`,
  });
}

function onlyKeys(type: ProposalType, data: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(data)) {
    if (!allowed.includes(key)) {
      throw invalid(
        type,
        `unknown field ${JSON.stringify(key)} (expected ${allowed.join(', ') || 'no fields'})`,
      );
    }
  }
}

function requiredString(type: ProposalType, data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== 'string' || value === '') throw invalid(type, `${key} is required`);
  return value;
}

async function agentField(db: Executor, type: ProposalType, data: Record<string, unknown>): Promise<Agent> {
  const ref = requiredString(type, data, 'agent_id');
  const agent = await findAgent(db, ref);
  if (!agent) throw new GitSwarmError('agent_not_found', `No agent named ${JSON.stringify(ref)}.`);
  return agent;
}

async function maintainerRole(db: Executor, repoId: string, agentId: string) {
  const row = await db
    .selectFrom('gitswarm_maintainers')
    .select('role')
    .where('repo_id', '=', repoId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
  return row?.role;
}

/**
 * Validates a proposal's action_data for its type and returns the normalised form that is stored
 * (agents and streams resolved to ids, with their names beside for display):
 * - add_maintainer `{agent_id}` (id or name; not already owner or maintainer)
 * - remove_maintainer `{agent_id}` (a maintainer; the owner cannot be removed)
 * - modify_access `{agent_id, level}` (level read | write | maintain | admin, or none to remove the explicit grant)
 * - change_settings `{settings: {...}}` or the settings object itself; only COUNCIL_SETTING_KEYS,
 *   each validated by the repository settings parser
 * - merge_stream `{stream_id}` (id, name or branch of an active or in_review stream)
 * - revert_stream `{stream_id, reason?}` (a merged stream)
 * - reorder_queue `{stream_id, priority}` (a live stream; integer priority, higher merges first)
 * - promote `{}`
 */
export async function validateActionData(
  db: Executor,
  repo: Repo,
  type: ProposalType,
  raw: unknown,
): Promise<Record<string, unknown>> {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(type, 'expected a JSON object');
  const data = raw as Record<string, unknown>;
  switch (type) {
    case 'add_maintainer': {
      onlyKeys(type, data, ['agent_id']);
      const agent = await agentField(db, type, data);
      const role = await maintainerRole(db, repo.id, agent.id);
      if (role) {
        throw new GitSwarmError(
          'already_exists',
          `Agent ${agent.name} is already ${role} of this repository.`,
        );
      }
      return { agent_id: agent.id, agent_name: agent.name };
    }
    case 'remove_maintainer': {
      onlyKeys(type, data, ['agent_id']);
      const agent = await agentField(db, type, data);
      const role = await maintainerRole(db, repo.id, agent.id);
      if (!role) throw new GitSwarmError('not_found', `Agent ${agent.name} is not a maintainer.`);
      if (role === 'owner') {
        throw new GitSwarmError(
          'forbidden',
          `Agent ${agent.name} is the owner; the owner cannot be removed.`,
        );
      }
      return { agent_id: agent.id, agent_name: agent.name };
    }
    case 'modify_access': {
      onlyKeys(type, data, ['agent_id', 'level']);
      const agent = await agentField(db, type, data);
      const level = requiredString(type, data, 'level');
      if (level !== 'none' && !isAccessLevel(level)) {
        throw invalid(type, 'level must be none, read, write, maintain or admin');
      }
      return { agent_id: agent.id, agent_name: agent.name, level };
    }
    case 'change_settings': {
      const nested =
        Object.keys(data).length === 1 && typeof data.settings === 'object' && data.settings !== null;
      const settings = (nested ? data.settings : data) as Record<string, unknown>;
      if (Array.isArray(settings) || Object.keys(settings).length === 0) {
        throw invalid(type, 'name at least one setting');
      }
      for (const key of Object.keys(settings)) {
        if (!(COUNCIL_SETTING_KEYS as readonly string[]).includes(key)) {
          throw invalid(
            type,
            `${JSON.stringify(key)} cannot be changed by the council (allowed: ${COUNCIL_SETTING_KEYS.join(', ')})`,
          );
        }
      }
      return { settings: parseRepoSettings(settings) };
    }
    case 'merge_stream': {
      onlyKeys(type, data, ['stream_id']);
      const stream = await getStream(db, repo.id, requiredString(type, data, 'stream_id'));
      if (stream.status !== 'active' && stream.status !== 'in_review') {
        throw new GitSwarmError(
          'invalid_state',
          `Stream ${stream.id} is ${stream.status}; only an active or in-review stream can be merged.`,
          {
            details: { stream_id: stream.id, status: stream.status },
          },
        );
      }
      return { stream_id: stream.id, stream_name: stream.name };
    }
    case 'revert_stream': {
      onlyKeys(type, data, ['stream_id', 'reason']);
      const stream = await getStream(db, repo.id, requiredString(type, data, 'stream_id'));
      if (stream.status !== 'merged') {
        throw new GitSwarmError(
          'invalid_state',
          `Stream ${stream.id} is ${stream.status}; only a merged stream can be reverted.`,
          {
            details: { stream_id: stream.id, status: stream.status },
          },
        );
      }
      const reason = data.reason ?? null;
      if (reason !== null && (typeof reason !== 'string' || reason.length > 2000)) {
        throw invalid(type, 'reason must be text of at most 2000 characters');
      }
      return { stream_id: stream.id, stream_name: stream.name, reason };
    }
    case 'reorder_queue': {
      onlyKeys(type, data, ['stream_id', 'priority']);
      const stream = await getStream(db, repo.id, requiredString(type, data, 'stream_id'));
      if (!['active', 'in_review', 'conflicted'].includes(stream.status)) {
        throw new GitSwarmError(
          'invalid_state',
          `Stream ${stream.id} is ${stream.status}; only a live stream is in the queue.`,
          {
            details: { stream_id: stream.id, status: stream.status },
          },
        );
      }
      const priority = typeof data.priority === 'string' ? Number(data.priority) : data.priority;
      if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > MAX_PRIORITY) {
        throw invalid(type, `priority must be an integer from -${MAX_PRIORITY} to ${MAX_PRIORITY}`);
      }
      return { stream_id: stream.id, stream_name: stream.name, priority };
    }
    case 'promote':
      onlyKeys(type, data, []);
      return {};
  }
}

export type ResolutionReason = 'majority_for' | 'majority_against' | 'tie';

/** Decides a proposal from its counts: open until for + against reaches the quorum. */
export function decideProposal(counts: {
  votes_for: number;
  votes_against: number;
  quorum_required: number;
}): { status: 'open' } | { status: 'passed' | 'rejected'; reason: ResolutionReason } {
  if (counts.votes_for + counts.votes_against < counts.quorum_required) return { status: 'open' };
  if (counts.votes_for > counts.votes_against) return { status: 'passed', reason: 'majority_for' };
  return {
    status: 'rejected',
    reason: counts.votes_for === counts.votes_against ? 'tie' : 'majority_against',
  };
}

/** Finds a proposal of the council by id or by a unique id prefix (at least 4 characters). */
export async function findProposal(
  db: Executor,
  councilId: string,
  ref: string,
): Promise<CouncilProposal | undefined> {
  return findByIdOrPrefix(
    db.selectFrom('gitswarm_council_proposals').selectAll().where('council_id', '=', councilId),
    ref,
    'proposal',
  );
}

/** A proposal of the repository's council, as stored (no lazy expiry); throws proposal_not_found. */
export async function getProposal(db: Executor, repo: Repo, ref: string): Promise<CouncilProposal> {
  const council = await getCouncil(db, repo.id);
  const proposal = await findProposal(db, council.id, ref);
  if (!proposal) throw new GitSwarmError('proposal_not_found', `No proposal ${ref}`);
  return proposal;
}

export interface CreateProposalInput {
  repo: Repo;
  /** A member of the active council. */
  proposer: Agent;
  type: string;
  title: string;
  description?: string | null;
  actionData?: unknown;
  /** Days until the proposal expires (default 7). */
  expiresInDays?: number;
}

/** Creates a proposal of the active council; the proposer must be a member. */
export async function createProposal(deps: CoreDeps, input: CreateProposalInput): Promise<CouncilProposal> {
  const { type } = input;
  if (!isProposalType(type)) {
    throw new GitSwarmError('invalid_input', `Unknown proposal type ${JSON.stringify(type)}.`, {
      hint: `Proposal types: ${PROPOSAL_TYPES.join(', ')}`,
    });
  }
  const title = input.title.trim();
  if (title === '' || title.length > 500) {
    throw new GitSwarmError('invalid_input', 'A proposal title must have 1 to 500 characters.');
  }
  if (input.description && input.description.length > 10_000) {
    throw new GitSwarmError('invalid_input', 'A proposal description may be at most 10000 characters.');
  }
  const days = input.expiresInDays ?? DEFAULT_PROPOSAL_DAYS;
  if (!Number.isFinite(days) || days <= 0 || days > 365) {
    throw new GitSwarmError('invalid_input', 'A proposal must expire within 365 days.');
  }
  return withRepoLock(deps.store, input.repo.id, () =>
    inTransaction(deps.store.db, async (trx) => {
      assertNotArchived(await getRepo(trx, input.repo.id), 'propose');
      const council = await getCouncil(trx, input.repo.id);
      await requireActiveCouncil(trx, council);
      const member = await requireCouncilMember(trx, council, input.proposer);
      const actionData = await validateActionData(trx, input.repo, type, input.actionData);
      const members = await countCouncilMembers(trx, council.id);
      const quorum = Math.min(
        CRITICAL_PROPOSAL_TYPES.has(type) ? council.critical_quorum : council.standard_quorum,
        members,
      );
      const now = isoNow(deps.clock);
      const proposal = await trx
        .insertInto('gitswarm_council_proposals')
        .values({
          id: newId(),
          council_id: council.id,
          title,
          description: input.description ?? null,
          proposal_type: type,
          proposed_by: input.proposer.id,
          quorum_required: quorum,
          status: 'open',
          action_data: toJson(actionData),
          expires_at: addDays(now, days),
          proposed_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('gitswarm_council_members')
        .set({ proposals_made: member.proposals_made + 1 })
        .where('id', '=', member.id)
        .execute();
      await recordActivity(deps, trx, {
        event: 'proposal.created',
        repoId: input.repo.id,
        agentId: input.proposer.id,
        targetType: 'proposal',
        targetId: proposal.id,
        metadata: {
          type,
          title,
          quorum_required: quorum,
          critical: CRITICAL_PROPOSAL_TYPES.has(type),
          action_data: actionData,
        },
      });
      return proposal;
    }),
  );
}

/**
 * Expires the council's open proposals whose expires_at has passed, in the caller's transaction
 * (the caller holds the repository's lock); returns them.
 */
export async function expireDueProposals(
  deps: CoreDeps,
  db: Executor,
  council: Council,
): Promise<CouncilProposal[]> {
  const now = isoNow(deps.clock);
  const expired = await db
    .updateTable('gitswarm_council_proposals')
    .set({ status: 'expired', resolution_reason: 'expired', resolved_at: now })
    .where('council_id', '=', council.id)
    .where('status', '=', 'open')
    .where('expires_at', '<=', now)
    .returningAll()
    .execute();
  for (const proposal of expired) {
    await recordActivity(deps, db, {
      event: 'proposal.expired',
      repoId: council.repo_id,
      agentId: null,
      targetType: 'proposal',
      targetId: proposal.id,
      metadata: {
        type: proposal.proposal_type,
        votes_for: proposal.votes_for,
        votes_against: proposal.votes_against,
        quorum_required: proposal.quorum_required,
      },
    });
  }
  return expired;
}

/** Whether any open proposal of the council is past its expiry (a cheap check, no lock). */
export async function hasDueProposals(db: Executor, councilId: string, now: string): Promise<boolean> {
  const row = await db
    .selectFrom('gitswarm_council_proposals')
    .select('id')
    .where('council_id', '=', councilId)
    .where('status', '=', 'open')
    .where('expires_at', '<=', now)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

async function expireLazily(deps: CoreDeps, repo: Repo): Promise<void> {
  const council = await getCouncil(deps.store.db, repo.id);
  if (!(await hasDueProposals(deps.store.db, council.id, isoNow(deps.clock)))) return;
  await withRepoLock(deps.store, repo.id, () =>
    inTransaction(deps.store.db, (trx) => expireDueProposals(deps, trx, council)),
  );
}

export interface ListProposalsQuery {
  status?: CouncilProposal['status'][];
  limit?: number;
}

/** Lists the council's proposals, newest first, after expiring those that are due. */
export async function listProposals(
  deps: CoreDeps,
  repo: Repo,
  query: ListProposalsQuery = {},
): Promise<CouncilProposal[]> {
  await expireLazily(deps, repo);
  const council = await getCouncil(deps.store.db, repo.id);
  let q = deps.store.db
    .selectFrom('gitswarm_council_proposals')
    .selectAll()
    .where('council_id', '=', council.id);
  if (query.status?.length) q = q.where('status', 'in', query.status);
  return q
    .orderBy('proposed_at', 'desc')
    .orderBy('id')
    .limit(Math.min(Math.max(query.limit ?? 100, 1), 1000))
    .execute();
}

/** One proposal with its votes, after expiring it if it is due. */
export async function showProposal(
  deps: CoreDeps,
  repo: Repo,
  ref: string,
): Promise<{ proposal: CouncilProposal; votes: ProposalVoteView[] }> {
  await expireLazily(deps, repo);
  const proposal = await getProposal(deps.store.db, repo, ref);
  return { proposal, votes: await listProposalVotes(deps.store.db, proposal.id) };
}

export interface ProposalVoteView {
  agent_id: string;
  agent_name: string;
  vote: VoteChoice;
  comment: string | null;
  voted_at: string;
}

export async function listProposalVotes(db: Executor, proposalId: string): Promise<ProposalVoteView[]> {
  return db
    .selectFrom('gitswarm_council_votes as v')
    .innerJoin('gitswarm_agents as a', 'a.id', 'v.agent_id')
    .select(['v.agent_id', 'a.name as agent_name', 'v.vote', 'v.comment', 'v.voted_at'])
    .where('v.proposal_id', '=', proposalId)
    .orderBy('v.voted_at')
    .orderBy('v.id')
    .execute();
}

export interface VoteOnProposalInput {
  repo: Repo;
  /** Proposal id or unique id prefix. */
  proposal: string;
  voter: Agent;
  vote: string;
  comment?: string | null;
}

export interface VoteOutcome {
  proposal: CouncilProposal;
  vote: VoteChoice;
  /** The voter's earlier vote when this one replaced it. */
  replaced: VoteChoice | null;
  /** Whether this vote resolved the proposal. */
  resolved: boolean;
}

type VoteStep = { kind: 'voted'; outcome: VoteOutcome } | { kind: 'expired'; proposal: CouncilProposal };

/**
 * Records a member's vote (a re-vote replaces the earlier one), recomputes the counts and resolves
 * the proposal when the quorum is reached. When the vote passes it, the vote commits first and the
 * proposal then executes (the returned proposal carries the execution result).
 */
export async function voteOnProposal(deps: CoreDeps, input: VoteOnProposalInput): Promise<VoteOutcome> {
  const choice = input.vote;
  if (!isVoteChoice(choice)) {
    throw new GitSwarmError(
      'invalid_input',
      `A vote is for, against or abstain, not ${JSON.stringify(choice)}.`,
    );
  }
  if (input.comment && input.comment.length > 2000) {
    throw new GitSwarmError('invalid_input', 'A vote comment may be at most 2000 characters.');
  }
  return withRepoLock(deps.store, input.repo.id, async () => {
    const step = await inTransaction(deps.store.db, async (trx): Promise<VoteStep> => {
      const council = await getCouncil(trx, input.repo.id);
      const found = await findProposal(trx, council.id, input.proposal);
      if (!found) throw new GitSwarmError('proposal_not_found', `No proposal ${input.proposal}`);
      const now = isoNow(deps.clock);
      if (found.status === 'open' && found.expires_at !== null && found.expires_at <= now) {
        await expireDueProposals(deps, trx, council);
        return { kind: 'expired', proposal: found };
      }
      if (found.status !== 'open') {
        throw new GitSwarmError(
          'invalid_state',
          `Proposal ${found.id} is ${found.status}; votes are closed.`,
          {
            details: { status: found.status },
          },
        );
      }
      assertNotArchived(await getRepo(trx, input.repo.id), 'vote');
      await requireActiveCouncil(trx, council);
      const member = await requireCouncilMember(trx, council, input.voter);
      return {
        kind: 'voted',
        outcome: await recordVote(deps, trx, { council, proposal: found, member, input, choice, now }),
      };
    });
    if (step.kind === 'expired') {
      throw new GitSwarmError(
        'expired',
        `Proposal ${step.proposal.id} expired at ${step.proposal.expires_at}`,
        {
          hint: 'Propose it again with: gitswarm council propose',
        },
      );
    }
    const { outcome } = step;
    if (outcome.proposal.status === 'passed') {
      return { ...outcome, proposal: await executeProposal(deps, input.repo, outcome.proposal.id) };
    }
    return outcome;
  });
}

async function recordVote(
  deps: CoreDeps,
  trx: Executor,
  args: {
    council: Council;
    proposal: CouncilProposal;
    member: NonNullable<Awaited<ReturnType<typeof findCouncilMember>>>;
    input: VoteOnProposalInput;
    choice: VoteChoice;
    now: string;
  },
): Promise<VoteOutcome> {
  const { council, proposal, member, input, choice, now } = args;
  const earlier = await trx
    .selectFrom('gitswarm_council_votes')
    .select(['id', 'vote'])
    .where('proposal_id', '=', proposal.id)
    .where('agent_id', '=', input.voter.id)
    .executeTakeFirst();
  if (earlier) {
    await trx
      .updateTable('gitswarm_council_votes')
      .set({ vote: choice, comment: input.comment ?? null, voted_at: now })
      .where('id', '=', earlier.id)
      .execute();
  } else {
    await trx
      .insertInto('gitswarm_council_votes')
      .values({
        id: newId(),
        proposal_id: proposal.id,
        agent_id: input.voter.id,
        vote: choice,
        comment: input.comment ?? null,
        voted_at: now,
      })
      .execute();
    await trx
      .updateTable('gitswarm_council_members')
      .set({ votes_cast: member.votes_cast + 1 })
      .where('id', '=', member.id)
      .execute();
  }
  const tallies = await trx
    .selectFrom('gitswarm_council_votes')
    .select(['vote', (eb) => eb.fn.countAll().as('n')])
    .where('proposal_id', '=', proposal.id)
    .groupBy('vote')
    .execute();
  const count = (v: VoteChoice) => Number(tallies.find((t) => t.vote === v)?.n ?? 0);
  const counts = {
    votes_for: count('for'),
    votes_against: count('against'),
    votes_abstain: count('abstain'),
  };
  const decision = decideProposal({ ...counts, quorum_required: proposal.quorum_required });
  const updated = await trx
    .updateTable('gitswarm_council_proposals')
    .set({
      ...counts,
      ...(decision.status === 'open'
        ? {}
        : { status: decision.status, resolution_reason: decision.reason, resolved_at: now }),
    })
    .where('id', '=', proposal.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, trx, {
    event: 'proposal.voted',
    repoId: council.repo_id,
    agentId: input.voter.id,
    targetType: 'proposal',
    targetId: proposal.id,
    metadata: { vote: choice, ...(earlier ? { replaced: earlier.vote } : {}), ...counts },
  });
  if (decision.status !== 'open') {
    await recordActivity(deps, trx, {
      event: decision.status === 'passed' ? 'proposal.passed' : 'proposal.rejected',
      repoId: council.repo_id,
      agentId: input.voter.id,
      targetType: 'proposal',
      targetId: proposal.id,
      metadata: {
        type: proposal.proposal_type,
        reason: decision.reason,
        quorum_required: proposal.quorum_required,
        ...counts,
      },
    });
  }
  return {
    proposal: updated,
    vote: choice,
    replaced: earlier?.vote ?? null,
    resolved: decision.status !== 'open',
  };
}

export interface WithdrawProposalInput {
  repo: Repo;
  proposal: string;
  actor: Agent;
}

/** Withdraws an open proposal; only its proposer may. */
export async function withdrawProposal(
  deps: CoreDeps,
  input: WithdrawProposalInput,
): Promise<CouncilProposal> {
  return withRepoLock(deps.store, input.repo.id, () =>
    inTransaction(deps.store.db, async (trx) => {
      const council = await getCouncil(trx, input.repo.id);
      await expireDueProposals(deps, trx, council);
      const proposal = await findProposal(trx, council.id, input.proposal);
      if (!proposal) throw new GitSwarmError('proposal_not_found', `No proposal ${input.proposal}`);
      if (proposal.proposed_by !== input.actor.id) {
        throw new GitSwarmError('forbidden', 'Only the proposer may withdraw a proposal.');
      }
      if (proposal.status !== 'open') {
        throw new GitSwarmError(
          'invalid_state',
          `Proposal ${proposal.id} is ${proposal.status}; only an open proposal can be withdrawn.`,
        );
      }
      const updated = await trx
        .updateTable('gitswarm_council_proposals')
        .set({ status: 'withdrawn', resolution_reason: 'withdrawn', resolved_at: isoNow(deps.clock) })
        .where('id', '=', proposal.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordActivity(deps, trx, {
        event: 'proposal.withdrawn',
        repoId: input.repo.id,
        agentId: input.actor.id,
        targetType: 'proposal',
        targetId: proposal.id,
        metadata: { type: proposal.proposal_type, title: proposal.title },
      });
      return updated;
    }),
  );
}
