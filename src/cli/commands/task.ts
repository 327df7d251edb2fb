/** `gitswarm task …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

interface CreateFlags {
  desc?: string;
  priority?: string;
  amount?: string;
  labels?: string;
  difficulty?: string;
  expires?: string;
}

export function registerTaskCommands(program: Command, session: CliSession): void {
  const task = program.command('task').description('tasks and bounties: create, claim, submit, review');

  task
    .command('create')
    .description('create a task; --amount > 0 makes it a bounty reserved from the budget')
    .argument('<title>', 'what needs doing')
    .option('--desc <text>', 'details')
    .option('--priority <p>', 'critical | high | medium | low (default medium)')
    .option('--amount <n>', 'bounty in credits (default 0)')
    .option('--labels <a,b>', 'comma-separated labels')
    .option('--difficulty <d>', 'free text, e.g. easy | medium | hard')
    .option('--expires <iso>', 'expiry time, ISO 8601 (e.g. 2026-05-01T12:00:00Z)')
    .action(
      repoAction<CreateFlags>(
        session,
        async (deps, [title], opts) => {
          const m = await import('../task.js');
          const result = await m.runCreateTask(
            {
              title: title!,
              description: opts.desc,
              priority: opts.priority,
              amount: opts.amount,
              labels: opts.labels,
              difficulty: opts.difficulty,
              expires: opts.expires,
            },
            deps,
          );
          return output(result, m.formatCreateTask);
        },
        { remote: true },
      ),
    );

  task
    .command('list')
    .description('list tasks, critical first, then newest')
    .option('--status <s>', 'open | claimed | submitted | completed | cancelled | expired (comma-separated)')
    .action(
      repoAction<{ status?: string }>(
        session,
        async (deps, _args, opts) => {
          const m = await import('../task.js');
          return output(await m.runListTasks({ status: opts.status }, deps), m.formatListTasks);
        },
        { remote: true },
      ),
    );

  task
    .command('show')
    .description('show a task and its claims')
    .argument('<task>', 'task id or number')
    .action(
      repoAction(
        session,
        async (deps, [ref]) => {
          const m = await import('../task.js');
          return output(await m.runShowTask({ task: ref! }, deps), m.formatShowTask);
        },
        { remote: true },
      ),
    );

  task
    .command('claim')
    .description('claim an open task')
    .argument('<task>', 'task id or number')
    .action(
      repoAction(
        session,
        async (deps, [ref]) => {
          const m = await import('../task.js');
          return output(await m.runClaimTask({ task: ref! }, deps), m.formatClaimTask);
        },
        { remote: true },
      ),
    );

  task
    .command('submit')
    .description('hand in the work on your claim for review')
    .argument('<task>', 'task id or number')
    .option('--notes <text>', 'what was done and where')
    .action(
      repoAction<{ notes?: string }>(
        session,
        async (deps, [ref], opts) => {
          const m = await import('../task.js');
          return output(await m.runSubmitClaim({ task: ref!, notes: opts.notes }, deps), m.formatSubmitClaim);
        },
        { remote: true },
      ),
    );

  task
    .command('review')
    .description("approve (pays the bounty) or reject submitted work (the task's creator or a maintainer)")
    .argument('<claim>', 'claim id, or the task id or number')
    .argument('<verdict>', 'approve | reject')
    .option('--notes <text>', 'review notes')
    .action(
      repoAction<{ notes?: string }>(
        session,
        async (deps, [claim, verdict], opts) => {
          const m = await import('../task.js');
          const result = await m.runReviewClaim(
            { claim: claim!, verdict: verdict!, notes: opts.notes },
            deps,
          );
          return output(result, m.formatReviewClaim);
        },
        { remote: true },
      ),
    );

  task
    .command('abandon')
    .description('give up your claim; the task opens again')
    .argument('<task>', 'task id or number')
    .action(
      repoAction(
        session,
        async (deps, [ref]) => {
          const m = await import('../task.js');
          return output(await m.runAbandonClaim({ task: ref! }, deps), m.formatAbandonClaim);
        },
        { remote: true },
      ),
    );

  task
    .command('cancel')
    .description("cancel a task and release its bounty (the task's creator or a maintainer)")
    .argument('<task>', 'task id or number')
    .action(
      repoAction(
        session,
        async (deps, [ref]) => {
          const m = await import('../task.js');
          return output(await m.runCancelTask({ task: ref! }, deps), m.formatCancelTask);
        },
        { remote: true },
      ),
    );
}
