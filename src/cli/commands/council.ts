/** `gitswarm council …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

interface CreateFlags {
  minKarma?: string;
  minContributions?: string;
  minMembers?: string;
  maxMembers?: string;
  standardQuorum?: string;
  criticalQuorum?: string;
  termMonths?: string;
  electionDays?: string;
}

export function registerCouncilCommands(program: Command, session: CliSession): void {
  const council = program.command('council').description('the repository council and its proposals');

  council
    .command('create')
    .description('create the council (needs --as an admin); it is forming until min-members join')
    .option('--min-karma <n>', 'karma needed to sit on the council (default 50)')
    .option('--min-contributions <n>', 'merged streams needed to sit on the council (default 3)')
    .option('--min-members <n>', 'members needed before the council decides (default 3)')
    .option('--max-members <n>', 'seats (default 11)')
    .option('--standard-quorum <n>', 'for + against votes that decide a standard proposal (default 3)')
    .option('--critical-quorum <n>', 'for + against votes that decide a critical proposal (default 5)')
    .option('--term-months <n>', 'length of a member’s term (default 6)')
    .option('--election-days <n>', 'days between regular elections (default 90)')
    .action(
      repoAction<CreateFlags>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../council.js');
          const settings = {
            min_karma: opts.minKarma,
            min_contributions: opts.minContributions,
            min_members: opts.minMembers,
            max_members: opts.maxMembers,
            standard_quorum: opts.standardQuorum,
            critical_quorum: opts.criticalQuorum,
            term_limit_months: opts.termMonths,
            election_interval_days: opts.electionDays,
          };
          return output(await m.runCreateCouncil(settings, deps), m.formatCreateCouncil);
        },
        { remote: true },
      ),
    );

  council
    .command('show')
    .description('the council: status, rules and members')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../council.js');
          return output(await m.runShowCouncil({}, deps), m.formatShowCouncil);
        },
        { remote: true },
      ),
    );

  council
    .command('join')
    .description('join the council (karma and merged streams as the council requires)')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../council.js');
          return output(await m.runJoinCouncil({}, deps), m.formatJoinCouncil);
        },
        { remote: true },
      ),
    );

  council
    .command('remove')
    .description('leave the council, or remove a member (admin)')
    .argument('[agent]', 'the member to remove (default: yourself)')
    .action(
      repoAction(
        session,
        async (deps, [agent]) => {
          const m = await import('../council.js');
          return output(await m.runRemoveMember({ agent }, deps), m.formatRemoveMember);
        },
        { remote: true },
      ),
    );

  council
    .command('propose')
    .description('propose a decision (a member of the active council)')
    .argument(
      '<type>',
      'add_maintainer | remove_maintainer | modify_access | change_settings | merge_stream | revert_stream | reorder_queue | promote',
    )
    .requiredOption('--title <title>', 'what the proposal is about')
    .option('--desc <description>', 'the reasoning')
    .option(
      '--data <json>',
      'action data: {"agent_id"} | {"agent_id","level"} | {"settings":{...}} | {"stream_id"} | {"stream_id","reason"} | {"stream_id","priority"} | {}',
    )
    .option('--expires-days <days>', 'days until the proposal expires (default 7)')
    .action(
      repoAction<{ title: string; desc?: string; data?: string; expiresDays?: string }>(
        session,
        async (deps, [type], opts) => {
          const m = await import('../council.js');
          const result = await m.runPropose(
            {
              type: type!,
              title: opts.title,
              description: opts.desc,
              data: opts.data,
              expiresDays: opts.expiresDays,
            },
            deps,
          );
          return output(result, m.formatPropose);
        },
        { remote: true },
      ),
    );

  council
    .command('vote')
    .description('vote on a proposal (a member); voting again replaces your vote')
    .argument('<proposal>', 'proposal id (or its first 8 characters)')
    .argument('<vote>', 'for | against | abstain')
    .option('-m, --comment <text>', 'why')
    .action(
      repoAction<{ comment?: string }>(
        session,
        async (deps, [proposal, vote], opts) => {
          const m = await import('../council.js');
          return output(
            await m.runVote({ proposal: proposal!, vote: vote!, comment: opts.comment }, deps),
            m.formatVote,
          );
        },
        { remote: true },
      ),
    );

  council
    .command('proposals')
    .description('list proposals, newest first')
    .option('--status <statuses>', 'open, passed, rejected, expired, withdrawn (comma-separated)')
    .action(
      repoAction<{ status?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../council.js');
          return output(await m.runListProposals({ status: opts.status }, deps), m.formatListProposals);
        },
        { remote: true },
      ),
    );

  council
    .command('withdraw')
    .description('withdraw your open proposal')
    .argument('<proposal>', 'proposal id (or its first 8 characters)')
    .action(
      repoAction(
        session,
        async (deps, [proposal]) => {
          const m = await import('../council.js');
          return output(await m.runWithdraw({ proposal: proposal! }, deps), m.formatWithdraw);
        },
        { remote: true },
      ),
    );
}
