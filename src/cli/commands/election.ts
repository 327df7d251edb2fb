/** `gitswarm election …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

const ELECTION_FLAG = ['--election <id>', 'the election (default: the open one)'] as const;

export function registerElectionCommands(program: Command, session: CliSession): void {
  const election = program.command('election').description('council elections');

  election
    .command('start')
    .description('start an election (an admin or the council chair)')
    .option('--seats <n>', 'seats to fill (default 1)')
    .option('--type <type>', 'regular | special (default regular)')
    .option('--nomination-days <days>', 'length of the nomination phase (default 7)')
    .option('--voting-days <days>', 'length of the voting phase (default 7)')
    .action(
      repoAction<{ seats?: string; type?: string; nominationDays?: string; votingDays?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../election.js');
          return output(await m.runStartElection(opts, deps), m.formatStartElection);
        },
        { remote: true },
      ),
    );

  election
    .command('nominate')
    .description('nominate an eligible agent: yourself, or anyone if you are a member')
    .argument('<agent>', 'the candidate, by name or id')
    .option('--statement <text>', 'why this candidate')
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ statement?: string; election?: string }>(
        session,
        async (deps, [agent], opts) => {
          const m = await import('../election.js');
          const result = await m.runNominate(
            { candidate: agent!, statement: opts.statement, election: opts.election },
            deps,
          );
          return output(result, m.formatCandidate);
        },
        { remote: true },
      ),
    );

  election
    .command('accept')
    .description('accept your nomination')
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ election?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../election.js');
          return output(await m.runAccept({ election: opts.election }, deps), m.formatCandidate);
        },
        { remote: true },
      ),
    );

  election
    .command('withdraw')
    .description('withdraw your candidacy (votes cast for you are dropped)')
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ election?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../election.js');
          return output(await m.runWithdrawCandidacy({ election: opts.election }, deps), m.formatCandidate);
        },
        { remote: true },
      ),
    );

  election
    .command('start-voting')
    .description(
      'close nominations and open voting (an admin or the chair; needs enough accepted candidates)',
    )
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ election?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../election.js');
          return output(await m.runStartVoting({ election: opts.election }, deps), m.formatStartVoting);
        },
        { remote: true },
      ),
    );

  election
    .command('vote')
    .description('cast your one vote (a council member) for an accepted candidate')
    .argument('<candidate>', 'the candidate, by name or id')
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ election?: string }>(
        session,
        async (deps, [candidate], opts) => {
          const m = await import('../election.js');
          return output(
            await m.runElectionVote({ candidate: candidate!, election: opts.election }, deps),
            m.formatElectionVote,
          );
        },
        { remote: true },
      ),
    );

  election
    .command('complete')
    .description('count the votes and seat the elected (an admin or the chair)')
    .option(...ELECTION_FLAG)
    .action(
      repoAction<{ election?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../election.js');
          return output(
            await m.runCompleteElection({ election: opts.election }, deps),
            m.formatCompleteElection,
          );
        },
        { remote: true },
      ),
    );

  election
    .command('list')
    .description('elections, newest first, with their candidates')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../election.js');
          return output(await m.runListElections({}, deps), m.formatListElections);
        },
        { remote: true },
      ),
    );
}
