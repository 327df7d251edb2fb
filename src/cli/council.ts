/**
 * `gitswarm council create|show|join|remove|propose|vote|proposals|withdraw`: the repository
 * council and its proposals. A passed proposal executes itself; `vote` shows the outcome.
 */
import { getAgent } from '../core/agents/agents.js';
import {
  type CouncilMemberView,
  type CouncilSettings,
  createCouncil,
  joinCouncil,
  removeCouncilMember,
  showCouncil,
} from '../core/governance/council.js';
import {
  createProposal,
  listProposals,
  PROPOSAL_TYPES,
  voteOnProposal,
  withdrawProposal,
} from '../core/governance/proposals.js';
import { GitSwarmError } from '../errors.js';
import type { Council, CouncilMember, CouncilProposal, ProposalStatus, VoteChoice } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { fields, type Style, safeText, table } from './output.js';

export type CreateCouncilOptions = Partial<Record<keyof CouncilSettings, string>>;

export interface CouncilResult {
  council: Council;
}

/** Creates the council (admin). */
export async function runCreateCouncil(
  opts: CreateCouncilOptions,
  deps: CommandDeps,
): Promise<CouncilResult> {
  if (deps.remote) {
    const { createCouncilRemote } = await import('../remote/commands/council.js');
    return createCouncilRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const council = await createCouncil(deps.core, { repo: deps.ctx.repo, actor, settings: opts });
  return { council };
}

export function formatCreateCouncil(result: CouncilResult, style: Style): string {
  const c = result.council;
  return [
    `Created the council (${style.yellow(c.status)}): it becomes active at ${c.min_members} members.`,
    fields([
      ['min_karma', c.min_karma],
      ['min_contributions', c.min_contributions],
      ['members', `${c.min_members}-${c.max_members}`],
      ['quorum', `${c.standard_quorum} standard, ${c.critical_quorum} critical`],
      ['term', `${c.term_limit_months} months`],
      ['election_interval', `${c.election_interval_days} days`],
    ]),
    style.dim('Eligible agents join with: gitswarm council join --as <agent>'),
  ].join('\n');
}

export interface ShowCouncilResult {
  council: Council;
  members: CouncilMemberView[];
  next_election_due_at: string;
}

export async function runShowCouncil(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ShowCouncilResult> {
  if (deps.remote) {
    const { showCouncilRemote } = await import('../remote/commands/council.js');
    return showCouncilRemote({ ...deps, remote: deps.remote });
  }
  return showCouncil(deps.core.store.db, deps.ctx.repo);
}

export function formatShowCouncil(result: ShowCouncilResult, style: Style): string {
  const c = result.council;
  const status = c.status === 'active' ? style.green(c.status) : style.yellow(c.status);
  const lines = [
    fields([
      ['status', `${status} (${result.members.length} of ${c.min_members}-${c.max_members} members)`],
      ['eligibility', `karma >= ${c.min_karma}, merged streams >= ${c.min_contributions}`],
      ['quorum', `${c.standard_quorum} standard, ${c.critical_quorum} critical`],
      ['term', `${c.term_limit_months} months`],
      ['next election due', result.next_election_due_at],
    ]),
  ];
  if (result.members.length) {
    lines.push(
      '',
      table(
        result.members.map((m) => [m.agent_name, m.role, String(m.votes_cast), m.term_expires_at ?? '-']),
        ['MEMBER', 'ROLE', 'VOTES', 'TERM ENDS'].map(style.dim),
      ),
    );
  }
  return lines.join('\n');
}

export interface JoinCouncilResult {
  member: CouncilMember;
  council: Council;
}

export async function runJoinCouncil(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<JoinCouncilResult> {
  if (deps.remote) {
    const { joinCouncilRemote } = await import('../remote/commands/council.js');
    return joinCouncilRemote({ ...deps, remote: deps.remote });
  }
  const agent = await requireActor(deps);
  return joinCouncil(deps.core, { repo: deps.ctx.repo, agent });
}

export function formatJoinCouncil(result: JoinCouncilResult, style: Style): string {
  const role = result.member.role === 'chair' ? ' as chair' : '';
  const status =
    result.council.status === 'active' ? style.green('active') : `${style.yellow(result.council.status)}`;
  return `Joined the council${role}; term ends ${result.member.term_expires_at}. The council is ${status}.`;
}

export interface RemoveMemberOptions {
  agent?: string;
}

export interface RemoveMemberResult {
  removed: { agent_id: string; agent_name: string };
  council: Council;
}

/** Leaves the council (no AGENT, or yourself) or removes a member (admin). */
export async function runRemoveMember(
  opts: RemoveMemberOptions,
  deps: CommandDeps,
): Promise<RemoveMemberResult> {
  if (deps.remote) {
    const { removeMemberRemote } = await import('../remote/commands/council.js');
    return removeMemberRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  const agent = opts.agent ? await getAgent(deps.core.store.db, opts.agent) : actor;
  const council = await removeCouncilMember(deps.core, { repo: deps.ctx.repo, actor, agent });
  return { removed: { agent_id: agent.id, agent_name: agent.name }, council };
}

export function formatRemoveMember(result: RemoveMemberResult, style: Style): string {
  return `${style.bold(result.removed.agent_name)} left the council; it is ${result.council.status}.`;
}

export interface ProposeOptions {
  type: string;
  title: string;
  description?: string;
  /** action_data as JSON text. */
  data?: string;
  expiresDays?: string;
}

export interface ProposalResult {
  proposal: CouncilProposal;
}

function parseData(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new GitSwarmError('invalid_input', `--data is not valid JSON: ${(error as Error).message}.`, {
      hint: `For example: --data '{"stream_id":"<stream>"}'`,
    });
  }
}

function parseDays(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const days = Number(text);
  if (!Number.isFinite(days))
    throw new GitSwarmError('invalid_input', `--expires-days must be a number, not ${text}.`);
  return days;
}

export async function runPropose(opts: ProposeOptions, deps: CommandDeps): Promise<ProposalResult> {
  if (deps.remote) {
    const { proposeRemote } = await import('../remote/commands/council.js');
    return proposeRemote(
      {
        type: opts.type,
        title: opts.title,
        description: opts.description,
        actionData: parseData(opts.data),
        expiresInDays: parseDays(opts.expiresDays),
      },
      { ...deps, remote: deps.remote },
    );
  }
  const proposer = await requireActor(deps);
  const proposal = await createProposal(deps.core, {
    repo: deps.ctx.repo,
    proposer,
    type: opts.type,
    title: opts.title,
    description: opts.description ?? null,
    actionData: parseData(opts.data),
    expiresInDays: parseDays(opts.expiresDays),
  });
  return { proposal };
}

export function formatPropose(result: ProposalResult, style: Style): string {
  const p = result.proposal;
  return [
    `Proposed ${style.bold(p.proposal_type)} ${p.id}`,
    fields([
      ['title', safeText(p.title)],
      ['quorum', p.quorum_required],
      ['expires', p.expires_at],
    ]),
    style.dim(
      `Members vote with: gitswarm council vote ${p.id.slice(0, 8)} for|against|abstain --as <member>`,
    ),
  ].join('\n');
}

export interface VoteOptions {
  proposal: string;
  vote: string;
  comment?: string;
}

export interface VoteResult {
  proposal: CouncilProposal;
  vote: VoteChoice;
  replaced: VoteChoice | null;
  resolved: boolean;
}

export async function runVote(opts: VoteOptions, deps: CommandDeps): Promise<VoteResult> {
  if (deps.remote) {
    const { voteRemote } = await import('../remote/commands/council.js');
    return voteRemote(opts, { ...deps, remote: deps.remote });
  }
  const voter = await requireActor(deps);
  return voteOnProposal(deps.core, {
    repo: deps.ctx.repo,
    proposal: opts.proposal,
    voter,
    vote: opts.vote,
    comment: opts.comment ?? null,
  });
}

function counts(p: CouncilProposal): string {
  return `${p.votes_for} for, ${p.votes_against} against, ${p.votes_abstain} abstain; quorum ${p.quorum_required}`;
}

function executionLine(p: CouncilProposal, style: Style): string | null {
  const result = p.execution_result as
    | { ok: true }
    | { ok: false; error: { code: string; message: string } }
    | null;
  if (!result) return null;
  if (result.ok) return style.green('Executed.');
  return style.red(`Execution failed (${result.error.code}): ${safeText(result.error.message)}`);
}

export function formatVote(result: VoteResult, style: Style): string {
  const p = result.proposal;
  const replaced = result.replaced ? ` (replacing ${result.replaced})` : '';
  const lines = [`Voted ${style.bold(result.vote)}${replaced} on ${p.id}: ${counts(p)}.`];
  if (p.status === 'passed') lines.push(style.green('The proposal passed.'));
  else if (p.status === 'rejected') {
    lines.push(style.red(`The proposal was rejected${p.resolution_reason === 'tie' ? ' (a tie)' : ''}.`));
  }
  const execution = executionLine(p, style);
  if (execution) lines.push(execution);
  return lines.join('\n');
}

export interface ListProposalsOptions {
  status?: string;
}

export interface ListProposalsResult {
  proposals: CouncilProposal[];
}

const PROPOSAL_STATUSES: readonly ProposalStatus[] = ['open', 'passed', 'rejected', 'expired', 'withdrawn'];

export async function runListProposals(
  opts: ListProposalsOptions,
  deps: CommandDeps,
): Promise<ListProposalsResult> {
  let status: ProposalStatus[] | undefined;
  if (opts.status) {
    const wanted = opts.status.split(',').map((s) => s.trim());
    for (const s of wanted) {
      if (!(PROPOSAL_STATUSES as readonly string[]).includes(s)) {
        throw new GitSwarmError('invalid_input', `Unknown proposal status ${JSON.stringify(s)}.`, {
          hint: `Statuses: ${PROPOSAL_STATUSES.join(', ')}`,
        });
      }
    }
    status = wanted as ProposalStatus[];
  }
  if (deps.remote) {
    const { listProposalsRemote } = await import('../remote/commands/council.js');
    return listProposalsRemote({ status: status?.join(',') }, { ...deps, remote: deps.remote });
  }
  return { proposals: await listProposals(deps.core, deps.ctx.repo, { status }) };
}

export function formatListProposals(result: ListProposalsResult, style: Style): string {
  if (result.proposals.length === 0) {
    return `No proposals. Members propose with: gitswarm council propose TYPE --title T --as <member> (types: ${PROPOSAL_TYPES.join(', ')})`;
  }
  return table(
    result.proposals.map((p) => {
      const execution = p.execution_result as { ok: boolean } | null;
      const executed = execution ? (execution.ok ? 'executed' : 'failed') : '';
      return [
        p.id.slice(0, 8),
        p.proposal_type,
        p.status + (p.resolution_reason === 'tie' ? ' (tie)' : ''),
        `${p.votes_for}/${p.votes_against}/${p.votes_abstain} of ${p.quorum_required}`,
        executed,
        safeText(p.title),
      ];
    }),
    ['ID', 'TYPE', 'STATUS', 'FOR/AGAINST/ABSTAIN', 'EXECUTION', 'TITLE'].map(style.dim),
  );
}

export interface WithdrawOptions {
  proposal: string;
}

export async function runWithdraw(opts: WithdrawOptions, deps: CommandDeps): Promise<ProposalResult> {
  if (deps.remote) {
    const { withdrawProposalRemote } = await import('../remote/commands/council.js');
    return withdrawProposalRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  return {
    proposal: await withdrawProposal(deps.core, { repo: deps.ctx.repo, proposal: opts.proposal, actor }),
  };
}

export function formatWithdraw(result: ProposalResult): string {
  return `Withdrew proposal ${result.proposal.id}`;
}
