/**
 * `gitswarm election start|nominate|accept|withdraw|start-voting|vote|complete|list`: council
 * elections. Without --election, a command acts on the open election.
 */
import { getAgent } from '../core/agents/agents.js';
import {
  acceptNomination,
  type CandidateView,
  completeElection,
  type ElectionResult,
  type ElectionType,
  type ElectionView,
  listElections,
  nominateCandidate,
  startElection,
  startVoting,
  voteInElection,
  withdrawCandidacy,
} from '../core/governance/elections.js';
import { GitSwarmError } from '../errors.js';
import type { CouncilElection, ElectionCandidate } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { fields, type Style, safeText, table } from './output.js';

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) {
    throw new GitSwarmError('invalid_input', `${flag} must be a number, not ${JSON.stringify(text)}.`);
  }
  return n;
}

export interface StartElectionOptions {
  seats?: string;
  type?: string;
  nominationDays?: string;
  votingDays?: string;
}

export interface ElectionResultDoc {
  election: CouncilElection;
}

export async function runStartElection(
  opts: StartElectionOptions,
  deps: CommandDeps,
): Promise<ElectionResultDoc> {
  if (deps.remote) {
    const { startElectionRemote } = await import('../remote/commands/council.js');
    return startElectionRemote(
      {
        seats: number('--seats', opts.seats),
        type: opts.type,
        nominationDays: number('--nomination-days', opts.nominationDays),
        votingDays: number('--voting-days', opts.votingDays),
      },
      { ...deps, remote: deps.remote },
    );
  }
  const actor = await requireActor(deps);
  const election = await startElection(deps.core, {
    repo: deps.ctx.repo,
    actor,
    seats: number('--seats', opts.seats),
    type: opts.type as ElectionType | undefined,
    nominationDays: number('--nomination-days', opts.nominationDays),
    votingDays: number('--voting-days', opts.votingDays),
  });
  return { election };
}

export function formatStartElection(result: ElectionResultDoc, style: Style): string {
  const e = result.election;
  return [
    `Started election ${e.id}`,
    fields([
      ['seats', e.seats_available],
      ['nominations end', e.nominations_end_at],
      ['voting ends', e.voting_end_at],
    ]),
    style.dim('Eligible agents stand with: gitswarm election nominate <agent> --as <agent or member>'),
  ].join('\n');
}

export interface NominateOptions {
  candidate: string;
  statement?: string;
  election?: string;
}

export interface CandidateResult {
  candidate: ElectionCandidate & { agent_name: string };
}

export async function runNominate(opts: NominateOptions, deps: CommandDeps): Promise<CandidateResult> {
  if (deps.remote) {
    const { nominateRemote } = await import('../remote/commands/council.js');
    return nominateRemote(opts, { ...deps, remote: deps.remote });
  }
  const nominator = await requireActor(deps);
  const candidate = await getAgent(deps.core.store.db, opts.candidate);
  const row = await nominateCandidate(deps.core, {
    repo: deps.ctx.repo,
    election: opts.election,
    candidate,
    nominator,
    statement: opts.statement ?? null,
  });
  return { candidate: { ...row, agent_name: candidate.name } };
}

export function formatCandidate(result: CandidateResult, style: Style): string {
  const c = result.candidate;
  const next =
    c.status === 'nominated'
      ? style.dim(`\nThe candidate accepts with: gitswarm election accept --as ${c.agent_name}`)
      : '';
  return `${style.bold(c.agent_name)} is ${c.status} in election ${c.election_id}${next}`;
}

export interface CandidacyOptions {
  election?: string;
}

export async function runAccept(opts: CandidacyOptions, deps: CommandDeps): Promise<CandidateResult> {
  if (deps.remote) {
    const { candidacyRemote } = await import('../remote/commands/council.js');
    return candidacyRemote({ election: opts.election, verb: 'accept' }, { ...deps, remote: deps.remote });
  }
  const agent = await requireActor(deps);
  const row = await acceptNomination(deps.core, { repo: deps.ctx.repo, election: opts.election, agent });
  return { candidate: { ...row, agent_name: agent.name } };
}

export async function runWithdrawCandidacy(
  opts: CandidacyOptions,
  deps: CommandDeps,
): Promise<CandidateResult> {
  if (deps.remote) {
    const { candidacyRemote } = await import('../remote/commands/council.js');
    return candidacyRemote({ election: opts.election, verb: 'withdraw' }, { ...deps, remote: deps.remote });
  }
  const agent = await requireActor(deps);
  const row = await withdrawCandidacy(deps.core, { repo: deps.ctx.repo, election: opts.election, agent });
  return { candidate: { ...row, agent_name: agent.name } };
}

export async function runStartVoting(opts: CandidacyOptions, deps: CommandDeps): Promise<ElectionResultDoc> {
  if (deps.remote) {
    const { startVotingRemote } = await import('../remote/commands/council.js');
    return startVotingRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  return { election: await startVoting(deps.core, { repo: deps.ctx.repo, election: opts.election, actor }) };
}

export function formatStartVoting(result: ElectionResultDoc, style: Style): string {
  return `Voting is open in election ${result.election.id} until ${result.election.voting_end_at}.\n${style.dim(
    'Members vote with: gitswarm election vote <candidate> --as <member>',
  )}`;
}

export interface ElectionVoteOptions {
  candidate: string;
  election?: string;
}

export interface ElectionVoteResult {
  candidate: CandidateView;
}

export async function runElectionVote(
  opts: ElectionVoteOptions,
  deps: CommandDeps,
): Promise<ElectionVoteResult> {
  if (deps.remote) {
    const { electionVoteRemote } = await import('../remote/commands/council.js');
    return electionVoteRemote(opts, { ...deps, remote: deps.remote });
  }
  const voter = await requireActor(deps);
  const candidate = await getAgent(deps.core.store.db, opts.candidate);
  return {
    candidate: await voteInElection(deps.core, {
      repo: deps.ctx.repo,
      election: opts.election,
      voter,
      candidate,
    }),
  };
}

export function formatElectionVote(result: ElectionVoteResult, style: Style): string {
  const c = result.candidate;
  return `Voted for ${style.bold(c.agent_name)} (${c.vote_count} vote${c.vote_count === 1 ? '' : 's'}).`;
}

export async function runCompleteElection(
  opts: CandidacyOptions,
  deps: CommandDeps,
): Promise<ElectionResult> {
  if (deps.remote) {
    const { completeElectionRemote } = await import('../remote/commands/council.js');
    return completeElectionRemote(opts, { ...deps, remote: deps.remote });
  }
  const actor = await requireActor(deps);
  return completeElection(deps.core, { repo: deps.ctx.repo, election: opts.election, actor });
}

export function formatCompleteElection(result: ElectionResult, style: Style): string {
  const elected = result.elected.map((c) => `${style.green(c.agent_name)} (${c.vote_count})`).join(', ');
  const lines = [`Election ${result.election.id} completed. Elected: ${elected || 'nobody'}.`];
  if (result.not_elected.length) {
    lines.push(
      `Not elected: ${result.not_elected.map((c) => `${c.agent_name} (${c.vote_count})`).join(', ')}.`,
    );
  }
  return lines.join('\n');
}

export interface ListElectionsResult {
  elections: (CouncilElection & { candidates: CandidateView[] })[];
}

export async function runListElections(
  _opts: Record<string, never>,
  deps: CommandDeps,
): Promise<ListElectionsResult> {
  if (deps.remote) {
    const { listElectionsRemote } = await import('../remote/commands/council.js');
    return listElectionsRemote({ ...deps, remote: deps.remote });
  }
  const views: ElectionView[] = await listElections(deps.core.store.db, deps.ctx.repo);
  return { elections: views.map((v) => ({ ...v.election, candidates: v.candidates })) };
}

export function formatListElections(result: ListElectionsResult, style: Style): string {
  if (result.elections.length === 0) {
    return 'No elections. An admin or the chair starts one with: gitswarm election start --as <agent>';
  }
  return result.elections
    .map((e) => {
      const head = `${style.bold(e.id.slice(0, 8))}  ${e.status}  ${e.seats_available} seat${
        e.seats_available === 1 ? '' : 's'
      }  nominations end ${e.nominations_end_at ?? '-'}  voting ends ${e.voting_end_at ?? '-'}`;
      if (e.candidates.length === 0) return `${head}\n  ${style.dim('no candidates')}`;
      const rows = table(
        e.candidates.map((c) => [
          `  ${c.agent_name}`,
          c.status,
          String(c.vote_count),
          safeText(c.statement ?? ''),
        ]),
        ['  CANDIDATE', 'STATUS', 'VOTES', 'STATEMENT'].map(style.dim),
      );
      return `${head}\n${rows}`;
    })
    .join('\n\n');
}
