/**
 * The `gitswarm` command tree (commander, noun-verb) and `runCli`, which parses one command line
 * and returns its exit code. Each noun lives in `src/cli/commands/<noun>.ts` and is registered
 * below with one line; definition files stay cheap and import their run modules lazily.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../util/package-version.js';
import type { CliSession } from './action.js';
import { asksForHelp, commandNoun } from './argv.js';
import { registerAccessCommands } from './commands/access.js';
import { registerActivityCommand } from './commands/activity.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerBudgetCommands } from './commands/budget.js';
import { registerCommitCommand } from './commands/commit.js';
import { registerConfigCommand } from './commands/config.js';
import { registerConsensusCommand } from './commands/consensus.js';
import { registerCouncilCommands } from './commands/council.js';
import { registerDaemonCommands } from './commands/daemon.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerElectionCommands } from './commands/election.js';
import { registerInitCommand } from './commands/init.js';
import { registerMaintainerCommands } from './commands/maintainer.js';
import { registerMcpCommand } from './commands/mcp.js';
import { registerMergeCommand } from './commands/merge.js';
import { registerPromoteCommand } from './commands/promote.js';
import { registerReviewCommands } from './commands/review.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStabilizeCommand } from './commands/stabilize.js';
import { registerStageCommands } from './commands/stage.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSyncCommand } from './commands/sync.js';
import { registerTaskCommands } from './commands/task.js';
import { registerWorkspaceCommands } from './commands/workspace.js';
import { type CliExitCode, reportError } from './errors.js';
import type { CliIO } from './io.js';

/** Adds one noun (or a single-verb command) to the program. */
export type RegisterCommands = (program: Command, session: CliSession) => void;

/** Every noun and its definitions, one line each, in the order `gitswarm --help` lists them. */
const COMMANDS: ReadonlyMap<string, RegisterCommands> = new Map([
  ['init', registerInitCommand],
  ['status', registerStatusCommand],
  ['config', registerConfigCommand],
  ['agent', registerAgentCommands],
  ['maintainer', registerMaintainerCommands],
  ['access', registerAccessCommands],
  ['task', registerTaskCommands],
  ['budget', registerBudgetCommands],
  ['workspace', registerWorkspaceCommands],
  ['commit', registerCommitCommand],
  ['review', registerReviewCommands],
  ['consensus', registerConsensusCommand],
  ['diff', registerDiffCommand],
  ['merge', registerMergeCommand],
  ['stabilize', registerStabilizeCommand],
  ['promote', registerPromoteCommand],
  ['council', registerCouncilCommands],
  ['election', registerElectionCommands],
  ['stage', registerStageCommands],
  ['activity', registerActivityCommand],
  ['sync', registerSyncCommand],
  ['serve', registerServeCommand],
  ['mcp', registerMcpCommand],
  ['daemon', registerDaemonCommands],
]);

/**
 * The nouns a command line needs defined: only its own when it names one and asks for no help
 * (defining all of them costs more than many commands do in a command server), else every noun,
 * for help, suggestions and usage errors.
 */
function nounsFor(argv: readonly string[]): Iterable<RegisterCommands> {
  const noun = commandNoun(argv);
  const only = noun === undefined || asksForHelp(argv) ? undefined : COMMANDS.get(noun);
  return only ? [only] : COMMANDS.values();
}

/** Builds the command tree for one command line. */
export function buildProgram(session: CliSession, argv: readonly string[]): Command {
  const { io } = session;
  const program = new Command('gitswarm')
    .description('Many AI coding agents on one git repository: streams, a buffer, consensus, promotion.')
    .option('--json', 'print one JSON document on stdout')
    .option(
      '--as <agent>',
      'the acting agent, by name or id (default: GITSWARM_AGENT, else the worktree owner)',
    )
    .option(
      '--server <url>',
      'Mode B: the GitSwarm server governing this clone (default: GITSWARM_SERVER, else .gitswarm/config.json)',
    )
    .option(
      '--api-key <key>',
      'Mode B: the API key to send (default: GITSWARM_API_KEY, else the acting agent’s saved key)',
    )
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(text),
    })
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    .helpCommand(true);
  program.version(packageVersion(), '-V, --version');
  for (const register of nounsFor(argv)) register(program, session);
  showUsageAfterError(program, []);
  return program;
}

/**
 * After a usage error each command prints its one-line usage and where the rest is, not the whole
 * help: the error (and any "Did you mean …?") stays the first thing a reader sees.
 */
function showUsageAfterError(command: Command, parents: readonly string[]): void {
  const path = [...parents, command.name()];
  const name = path.join(' ');
  command.showHelpAfterError(`Usage: ${name} ${command.usage()}\nSee: ${name} --help`);
  for (const sub of command.commands) showUsageAfterError(sub, path);
}

/** Parses and runs one command line; returns the exit code (never throws, never exits). */
export async function runCli(argv: readonly string[], io: CliIO): Promise<CliExitCode> {
  const session: CliSession = { io, json: argv.includes('--json'), exitCode: 0 };
  const program = buildProgram(session, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return session.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      if (session.json) {
        const message = error.message.replace(/^error: /, '');
        io.stdout.write(`${JSON.stringify({ error: { code: 'usage', message } }, null, 2)}\n`);
      }
      return 2;
    }
    return reportError(io, session.json, error);
  }
}
