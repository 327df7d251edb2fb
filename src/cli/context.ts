/**
 * Where a command runs: the main repository root (found from the repository, any subdirectory or
 * an agent's worktree), its `.gitswarm/config.json`, the open store, the repository row and the
 * acting agent (`--as`, else GITSWARM_AGENT, else the owner of the worktree the command runs in).
 */
import { basename, dirname } from 'node:path';
import type { CoreDeps } from '../core/deps.js';
import { createLocalEventBus } from '../core/events.js';
import { gitOut } from '../engine/git.js';
import { GitSwarmError } from '../errors.js';
import type { Agent, Repo, Store } from '../store/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type GitSwarmConfig, readConfigFile, resolveStoreLocation } from './config-file.js';
import type { CliIO } from './io.js';

/** The main worktree and the shared git directory of the repository a command runs in. */
export interface GitLocation {
  /** The main worktree's root (where `.gitswarm/` lives). */
  readonly root: string;
  /** Absolute path of the shared `.git` directory. */
  readonly commonDir: string;
  /** The top level of the worktree the command runs in (equals `root` outside linked worktrees). */
  readonly worktreeTop: string;
}

/** The initialized repository a command acts on. */
export interface RepoContext extends GitLocation {
  readonly config: GitSwarmConfig;
  readonly repo: Repo;
  /** The acting agent as given by `--as` or GITSWARM_AGENT (name or id); undefined when neither. */
  readonly agentRef: string | undefined;
}

/** What every command's `run…` function receives. */
export interface CommandDeps {
  readonly io: CliIO;
  readonly core: CoreDeps;
  readonly ctx: RepoContext;
}

/** Finds the repository from `cwd` with one `git rev-parse`; throws `not_a_git_repo`. */
export async function locateGitRepo(cwd: string): Promise<GitLocation> {
  let out: string;
  try {
    out = await gitOut(['rev-parse', '--path-format=absolute', '--git-common-dir', '--show-toplevel'], {
      cwd,
    });
  } catch (error) {
    if (error instanceof GitSwarmError && error.code === 'git_failed') {
      throw new GitSwarmError(
        'not_a_git_repo',
        `${cwd} is not inside a git repository with a working tree.`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const [commonDir, worktreeTop] = out.split('\n');
  if (!commonDir || !worktreeTop) {
    throw new GitSwarmError('not_a_git_repo', `${cwd} is not inside a git repository with a working tree.`);
  }
  // The main worktree is the directory holding the shared .git; other layouts (a separate git
  // dir) only work from the main worktree itself.
  const root = basename(commonDir) === '.git' ? dirname(commonDir) : worktreeTop;
  return { root, commonDir, worktreeTop };
}

export interface OpenContextOptions {
  io: CliIO;
  /** `--as`, when given. */
  as?: string;
  clock?: Clock;
}

/** An open command context; `close()` releases the store. */
export interface OpenContext extends CommandDeps {
  close(): Promise<void>;
}

/**
 * Opens the initialized repository around `io.cwd`: throws `not_a_git_repo` outside git,
 * `not_initialized` before `gitswarm init` (without creating anything).
 */
export async function openRepoContext(options: OpenContextOptions): Promise<OpenContext> {
  const { io } = options;
  const location = await locateGitRepo(io.cwd);
  const config = readConfigFile(location.root);
  if (!config) {
    throw new GitSwarmError('not_initialized', `GitSwarm is not set up in ${location.root}`);
  }
  const store = await openCliStore(resolveStoreLocation(location.root, config, io.env));
  try {
    const repo = await store.db
      .selectFrom('gitswarm_repos')
      .selectAll()
      .where('id', '=', config.repo_id)
      .executeTakeFirst();
    if (!repo) {
      throw new GitSwarmError('not_initialized', `The store has no repository ${config.repo_id}`, {
        hint: 'Run: gitswarm init (it re-creates the repository record)',
      });
    }
    const core: CoreDeps = { store, clock: options.clock ?? systemClock, events: createLocalEventBus() };
    const agentRef = options.as || io.env.GITSWARM_AGENT || undefined;
    const ctx: RepoContext = { ...location, config, repo, agentRef };
    return { io, core, ctx, close: () => store.close() };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/**
 * Opens the store for a command, migrating only when the schema is behind. A postgres URL may
 * name its schema with a `schema` query parameter (`postgres://host/db?schema=gitswarm`).
 */
export async function openCliStore(locationName: string): Promise<Store> {
  const { openStore } = await import('../store/connect.js');
  if (/^postgres(ql)?:\/\//.test(locationName)) {
    const url = new URL(locationName);
    const schema = url.searchParams.get('schema') ?? undefined;
    url.searchParams.delete('schema');
    return openStore(url.toString(), { schema, migrate: 'if_stale' });
  }
  return openStore(locationName, { migrate: 'if_stale' });
}

/**
 * The acting agent: `--as` / GITSWARM_AGENT, else the owner of the worktree the command runs in;
 * throws `agent_required` when there is none, `agent_not_found` when the name is unknown.
 */
export async function requireActor(deps: CommandDeps): Promise<Agent> {
  const actor = await findActor(deps);
  if (!actor) {
    throw new GitSwarmError('agent_required', 'This command needs an acting agent.');
  }
  return actor;
}

/** The acting agent, or undefined when none is named and the command runs outside a worktree. */
export async function findActor(deps: CommandDeps): Promise<Agent | undefined> {
  const { getAgent } = await import('../core/agents.js');
  const db = deps.core.store.db;
  if (deps.ctx.agentRef) return getAgent(db, deps.ctx.agentRef);
  const { agentNameFromPath } = await import('../core/workspace-paths.js');
  const owner = agentNameFromPath(deps.ctx.repo, deps.io.cwd);
  return owner ? getAgent(db, owner) : undefined;
}
