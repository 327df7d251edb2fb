/**
 * `gitswarm agent …` definitions. This file is the pattern for every noun: declare verbs and
 * flags, and in each action import the noun's module lazily, call its `run…` and return
 * `output(data, formatter)`.
 */

import type { Command } from 'commander';
import type { CliSession } from '../action.js';
import { repoAction } from '../action.js';
import { output } from '../output.js';

export function registerAgentCommands(program: Command, session: CliSession): void {
  const agent = program.command('agent').description('register and inspect agents');

  agent
    .command('register')
    .description('register an agent (the first one becomes the repository owner)')
    .argument('<name>', 'agent name: letters, digits, ".", "_", "-"')
    .option('--desc <text>', 'what the agent does')
    .action(
      repoAction<{ desc?: string }>(
        session,
        async (deps, [name], opts) => {
          const m = await import('../agent.js');
          return output(
            await m.runRegisterAgent({ name: name!, description: opts.desc }, deps),
            m.formatRegisterAgent,
          );
        },
        { remote: true },
      ),
    );

  agent
    .command('login')
    .description(
      'connected: save an agent’s API key (from --api-key or GITSWARM_API_KEY) in your credentials file',
    )
    .argument('<name>', 'agent name or id')
    .action(
      repoAction(
        session,
        async (deps, [name]) => {
          const m = await import('../agent.js');
          return output(await m.runLoginAgent({ agent: name! }, deps), m.formatLoginAgent);
        },
        { remote: true },
      ),
    );

  agent
    .command('list')
    .description('list agents and their roles')
    .action(
      repoAction(
        session,
        async (deps) => {
          const m = await import('../agent.js');
          return output(await m.runListAgents({}, deps), m.formatListAgents);
        },
        { remote: true },
      ),
    );

  agent
    .command('show')
    .description('show an agent, its role and its access')
    .argument('<agent>', 'agent name or id')
    .action(
      repoAction(
        session,
        async (deps, [ref]) => {
          const m = await import('../agent.js');
          return output(await m.runShowAgent({ agent: ref! }, deps), m.formatShowAgent);
        },
        { remote: true },
      ),
    );

  for (const [verb, suspended, description] of [
    ['suspend', true, 'suspend an agent of this store: it can no longer act (admin)'],
    ['reinstate', false, 'reinstate a suspended agent (admin)'],
  ] as const) {
    agent
      .command(verb)
      .description(description)
      .argument('<agent>', 'agent name or id')
      .action(
        repoAction(
          session,
          async (deps, [ref]) => {
            const m = await import('../agent.js');
            return output(await m.runSuspendAgent({ agent: ref!, suspended }, deps), m.formatSuspendAgent);
          },
          { remote: true },
        ),
      );
  }
}
