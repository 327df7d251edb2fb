/** `gitswarm review …` definitions. */
import type { Command } from 'commander';
import { type CliSession, repoAction } from '../action.js';
import { output } from '../output.js';

export function registerReviewCommands(program: Command, session: CliSession): void {
  const review = program.command('review').description('put streams up for review and record verdicts');

  review
    .command('submit')
    .description('without a verdict: put your stream up for review; with one: record your review')
    .argument('<stream>', 'stream id, name or branch')
    .argument('[verdict]', 'approve | request_changes | comment')
    .option('-m, --message <feedback>', 'review feedback')
    .option('--tested', 'you ran the code')
    .action(
      repoAction<{ message?: string; tested?: boolean }>(
        session,
        async (deps, [stream, verdict], opts) => {
          const m = await import('../review.js');
          const result = await m.runSubmitReview(
            { stream: stream!, verdict, feedback: opts.message, tested: opts.tested },
            deps,
          );
          return output(result, m.formatSubmitReview);
        },
        { remote: true },
      ),
    );

  review
    .command('list')
    .description("a stream's reviews; verdicts given on code that has changed since are marked stale")
    .argument('<stream>', 'stream id, name or branch')
    .action(
      repoAction(
        session,
        async (deps, [stream]) => {
          const m = await import('../review.js');
          return output(await m.runListReviews({ stream: stream! }, deps), m.formatListReviews);
        },
        { remote: true },
      ),
    );
}
