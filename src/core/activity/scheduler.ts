/**
 * Duties that fall due with time rather than with a command: proposals expire, passed proposals
 * whose execution never ran are executed, election phases close, council terms end, task claims
 * expire. The CLI runs this pass before every command and the server periodically. Whether
 * anything is due is one query (`findDueWork`, which also tells whether a crashed operation
 * awaits recovery); the modules that do the duties (and, through proposal execution, merge and
 * revert) load only when one is due, so a command with nothing due pays for neither.
 */
import { type Executor, inTransaction, queryTemplate, type Repo, withRepoLock } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import type { CoreDeps } from '../deps.js';

export interface ScheduledDutiesReport {
  proposals_expired: number;
  proposals_executed: number;
  elections: { election_id: string; to: 'voting' | 'completed' | 'cancelled' }[];
  members_expired: number;
  tasks_expired: number;
}

/** What the housekeeping pass has to do for a repository. */
export interface DueWork {
  /** An operation is pending: a process died between a ref move and its record (or is in one). */
  operations: boolean;
  /** A council duty is due: a proposal to expire or execute, an election phase or a term to end. */
  council: boolean;
  /** A task is past its expiry. */
  tasks: boolean;
}

/** The query behind `findDueWork`, compiled once per store. */
const dueWork = queryTemplate(['repoId', 'now'], (db, { repoId, now }) =>
  db.selectNoFrom((eb) => [
    eb
      .exists(
        eb
          .selectFrom('gitswarm_operations')
          .select('id')
          .where('repo_id', '=', repoId)
          .where('status', '=', 'pending'),
      )
      .as('operations'),
    eb
      .exists(
        eb
          .selectFrom('gitswarm_repo_councils as c')
          .select('c.id')
          .where('c.repo_id', '=', repoId)
          .where((c) =>
            c.or([
              c.exists(
                c
                  .selectFrom('gitswarm_council_proposals as p')
                  .select('p.id')
                  .whereRef('p.council_id', '=', 'c.id')
                  .where((p) =>
                    p.or([
                      p.and([p('p.status', '=', 'open'), p('p.expires_at', '<=', now)]),
                      p.and([
                        p('p.status', '=', 'passed'),
                        p('p.executed', '=', false),
                        p('p.execution_result', 'is', null),
                      ]),
                    ]),
                  ),
              ),
              c.exists(
                c
                  .selectFrom('gitswarm_council_elections as e')
                  .select('e.id')
                  .whereRef('e.council_id', '=', 'c.id')
                  .where((e) =>
                    e.or([
                      e.and([e('e.status', '=', 'nominations'), e('e.nominations_end_at', '<=', now)]),
                      e.and([e('e.status', '=', 'voting'), e('e.voting_end_at', '<=', now)]),
                    ]),
                  ),
              ),
              c.exists(
                c
                  .selectFrom('gitswarm_council_members as m')
                  .select('m.id')
                  .whereRef('m.council_id', '=', 'c.id')
                  .where('m.term_expires_at', '<=', now),
              ),
            ]),
          ),
      )
      .as('council'),
    eb
      .exists(
        eb
          .selectFrom('gitswarm_tasks')
          .select('id')
          .where('repo_id', '=', repoId)
          .where('status', 'in', ['open', 'claimed'])
          .where('expires_at', 'is not', null)
          .where('expires_at', '<=', now),
      )
      .as('tasks'),
  ]),
);

/**
 * Whether recovery or any scheduled duty is due, in one query of indexed lookups (pending
 * operations by repository and status; the repository's council; its tasks). Every command asks,
 * so the query is compiled once per store.
 */
export async function findDueWork(db: Executor, repoId: string, now: string): Promise<DueWork> {
  const [row] = await dueWork(db, { repoId, now });
  if (!row) throw new Error('The due-work query returned no row.');
  // SQLite answers 0/1, PostgreSQL true/false.
  return { operations: truthy(row.operations), council: truthy(row.council), tasks: truthy(row.tasks) };
}

function truthy(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't';
}

/**
 * Runs every duty that is due for the repository; returns what it did. `due` is what
 * `findDueWork` answered when the caller already asked (else it is asked here).
 */
export async function runScheduledDuties(
  deps: CoreDeps,
  repo: Repo,
  due?: DueWork,
): Promise<ScheduledDutiesReport> {
  const report: ScheduledDutiesReport = {
    proposals_expired: 0,
    proposals_executed: 0,
    elections: [],
    members_expired: 0,
    tasks_expired: 0,
  };
  const db = deps.store.db;
  const work = due ?? (await findDueWork(db, repo.id, isoNow(deps.clock)));
  if (work.council) await runCouncilDuties(deps, repo, report);
  if (work.tasks) {
    const { expireTasks } = await import('../tasks/tasks.js');
    report.tasks_expired = (await expireTasks(deps, db, repo)).length;
  }
  return report;
}

/** Council duties, under the repository lock; their modules load only now. */
async function runCouncilDuties(deps: CoreDeps, repo: Repo, report: ScheduledDutiesReport): Promise<void> {
  const [
    { findCouncil, unseatCouncilMember },
    { cancelElection, closeElection, openVoting },
    { executePendingProposals },
    { expireDueProposals },
  ] = await Promise.all([
    import('../governance/council.js'),
    import('../governance/elections.js'),
    import('../governance/proposal-execution.js'),
    import('../governance/proposals.js'),
  ]);
  const db = deps.store.db;
  const council = await findCouncil(db, repo.id);
  if (council) {
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
}
