/**
 * Duties that fall due with time rather than with a command: proposals expire, passed proposals
 * whose execution never ran are executed, election phases close, council terms end, task claims
 * expire. The CLI runs this pass before every command and the server periodically; when nothing is
 * due it costs a few indexed reads and takes no lock.
 */
import { type Executor, inTransaction, type Repo, withRepoLock } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { findCouncil, unseatCouncilMember } from './council.js';
import type { CoreDeps } from './deps.js';
import { cancelElection, closeElection, openVoting } from './elections.js';
import { executePendingProposals } from './proposal-execution.js';
import { expireDueProposals, hasDueProposals } from './proposals.js';
import { expireTasks } from './tasks.js';

export interface ScheduledDutiesReport {
  proposals_expired: number;
  proposals_executed: number;
  elections: { election_id: string; to: 'voting' | 'completed' | 'cancelled' }[];
  members_expired: number;
  tasks_expired: number;
}

async function anyRow(query: { executeTakeFirst(): Promise<unknown> }): Promise<boolean> {
  return (await query.executeTakeFirst()) !== undefined;
}

async function councilDutiesDue(db: Executor, councilId: string, now: string): Promise<boolean> {
  if (await hasDueProposals(db, councilId, now)) return true;
  if (
    await anyRow(
      db
        .selectFrom('gitswarm_council_proposals')
        .select('id')
        .where('council_id', '=', councilId)
        .where('status', '=', 'passed')
        .where('executed', '=', false)
        .where('execution_result', 'is', null)
        .limit(1),
    )
  ) {
    return true;
  }
  if (
    await anyRow(
      db
        .selectFrom('gitswarm_council_elections')
        .select('id')
        .where('council_id', '=', councilId)
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'nominations'), eb('nominations_end_at', '<=', now)]),
            eb.and([eb('status', '=', 'voting'), eb('voting_end_at', '<=', now)]),
          ]),
        )
        .limit(1),
    )
  ) {
    return true;
  }
  return anyRow(
    db
      .selectFrom('gitswarm_council_members')
      .select('id')
      .where('council_id', '=', councilId)
      .where('term_expires_at', '<=', now)
      .limit(1),
  );
}

/** Runs every duty that is due for the repository; returns what it did. */
export async function runScheduledDuties(deps: CoreDeps, repo: Repo): Promise<ScheduledDutiesReport> {
  const report: ScheduledDutiesReport = {
    proposals_expired: 0,
    proposals_executed: 0,
    elections: [],
    members_expired: 0,
    tasks_expired: 0,
  };
  const db = deps.store.db;
  const council = await findCouncil(db, repo.id);
  if (council && (await councilDutiesDue(db, council.id, isoNow(deps.clock)))) {
    await withRepoLock(deps.store, repo.id, async () => {
      await inTransaction(db, async (trx) => {
        const now = isoNow(deps.clock);
        let current = (await findCouncil(trx, repo.id)) ?? council;
        report.proposals_expired = (await expireDueProposals(deps, trx, current)).length;
        const expiredMembers = await trx
          .selectFrom('gitswarm_council_members as m')
          .innerJoin('gitswarm_agents as a', 'a.id', 'm.agent_id')
          .selectAll('m')
          .select('a.name as agent_name')
          .where('m.council_id', '=', current.id)
          .where('m.term_expires_at', '<=', now)
          // The chair leaves last, so the chair passes straight to a member who stays.
          .orderBy('m.role', 'desc')
          .orderBy('m.joined_at')
          .execute();
        for (const { agent_name, ...member } of expiredMembers) {
          current = await unseatCouncilMember(deps, trx, {
            council: current,
            member,
            agentName: agent_name,
            actorId: null,
            reason: 'term_expired',
          });
        }
        report.members_expired = expiredMembers.length;
        const elections = await trx
          .selectFrom('gitswarm_council_elections')
          .selectAll()
          .where('council_id', '=', current.id)
          .where('status', 'in', ['nominations', 'voting'])
          .execute();
        for (const election of elections) {
          if (
            election.status === 'nominations' &&
            election.nominations_end_at &&
            election.nominations_end_at <= now
          ) {
            const accepted = await trx
              .selectFrom('gitswarm_election_candidates')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('election_id', '=', election.id)
              .where('status', '=', 'accepted')
              .executeTakeFirstOrThrow();
            if (Number(accepted.n) >= election.seats_available) {
              await openVoting(deps, trx, { council: current, election, actorId: null });
              report.elections.push({ election_id: election.id, to: 'voting' });
            } else {
              await cancelElection(deps, trx, {
                council: current,
                election,
                actorId: null,
                reason: `nominations closed with ${Number(accepted.n)} accepted candidates for ${election.seats_available} seats`,
              });
              report.elections.push({ election_id: election.id, to: 'cancelled' });
            }
          } else if (
            election.status === 'voting' &&
            election.voting_end_at &&
            election.voting_end_at <= now
          ) {
            await closeElection(deps, trx, { council: current, election, actorId: null });
            current = (await findCouncil(trx, repo.id)) ?? current;
            report.elections.push({ election_id: election.id, to: 'completed' });
          }
        }
      });
      report.proposals_executed = await executePendingProposals(deps, repo, council.id);
    });
  }
  report.tasks_expired = (await expireTasks(deps, db, repo)).length;
  return report;
}
