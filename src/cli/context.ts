/**
 * Where a command runs: the main repository root (found from the repository, any subdirectory or
 * an agent's worktree), its `.gitswarm/config.json`, the open store, the repository row and the
 * acting agent (`--as`, else GITSWARM_AGENT, else the owner of the worktree the command runs in).
 *
 * The Mode B seam: when the clone is connected to a server (the config's `server`, or `--server` /
 * GITSWARM_SERVER), `deps.remote` holds the HTTP client (with the acting agent's key) and the
 * server repository id; governance then goes to the server. Without it, governance is the core on
 * the local store (Mode A). Git work and the local store (operation log, worktrees) stay local in both.
 */

import { createLocalEventBus } from '../core/activity/events.js';
import type { CoreDeps } from '../core/deps.js';
import { findGitRepo, type GitRepo } from '../engine/repo.js';
import { GitSwarmError } from '../errors.js';
import type { GitSwarmClient } from '../remote/client.js';
import type { Connection } from '../remote/connection.js';
import type { Agent, Repo, Store } from '../store/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { type GitSwarmConfig, readConfigFile, resolveStoreLocation } from './config-file.js';
import { type BorrowedStore, storeLender } from './daemon/store-seam.js';
import type { CliIO } from './io.js';

/** The initialized repository a command acts on. */
export interface RepoContext extends GitRepo {
  readonly config: GitSwarmConfig;
  readonly repo: Repo;
  /** The acting agent as given by `--as` or GITSWARM_AGENT (name or id); undefined when neither. */
  readonly agentRef: string | undefined;
}

/** A connected clone's way to the server (Mode B). */
export interface RemoteDeps {
  /** URL, server repository id (maybe not yet), git remote, key and where it came from. */
  readonly connection: Connection;
  /** The API client, carrying the acting agent's key (none when none was found). */
  readonly client: GitSwarmClient;
  /** The server repository id; throws `not_initialized` (with the next step) before there is one. */
  repoId(): string;
}

/** What every command's `run…` function receives. */
export interface CommandDeps {
  readonly io: CliIO;
  readonly core: CoreDeps;
  readonly ctx: RepoContext;
  /** Present when the clone is connected to a server: governance goes there (the Mode B seam). */
  readonly remote?: RemoteDeps;
}

export interface OpenContextOptions {
  io: CliIO;
  /** `--as`, when given. */
  as?: string;
  /** `--server`, when given (else GITSWARM_SERVER, else the config's server). */
  server?: string;
  /** `--api-key`, when given (else GITSWARM_API_KEY, else the credentials file). */
  apiKey?: string;
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
  const location = await findGitRepo(io.cwd);
  const config = readConfigFile(location.root);
  if (!config) {
    throw new GitSwarmError('not_initialized', `GitSwarm is not set up in ${location.root}`);
  }
  const storeLocation = resolveStoreLocation(location.root, config, io.env);
  const { store, release: closeStore } = await borrowCliStore(storeLocation);
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
    const remote = await openRemote(options, ctx);
    return { io, core, ctx, ...(remote ? { remote } : {}), close: closeStore };
  } catch (error) {
    await closeStore();
    throw error;
  }
}

/** The remote side of a connected clone, or undefined in Mode A (nothing is loaded then). */
async function openRemote(options: OpenContextOptions, ctx: RepoContext): Promise<RemoteDeps | undefined> {
  const { io } = options;
  if (!ctx.config.server && !options.server && !io.env.GITSWARM_SERVER) return undefined;
  const { clientFor, requireServerRepoId, resolveConnection } = await import('../remote/connection.js');
  let agentRef = ctx.agentRef;
  if (!agentRef) {
    const { agentNameFromPath } = await import('../core/streams/workspace-paths.js');
    agentRef = agentNameFromPath(ctx.repo, io.cwd) ?? undefined;
  }
  const connection = resolveConnection({
    flags: { server: options.server, apiKey: options.apiKey },
    env: io.env,
    config: ctx.config,
    agentRef,
  });
  if (!connection) return undefined;
  const client = clientFor(connection, { env: io.env, signal: io.signal });
  return { connection, client, repoId: () => requireServerRepoId(connection) };
}

/**
 * The store at `location` for one command. In the command server the store stays open between
 * commands: it is borrowed, and `release` gives it back; elsewhere it is opened for this command,
 * and `release` closes it.
 */
export async function borrowCliStore(location: string): Promise<BorrowedStore> {
  const borrowed = await storeLender()?.borrow(location);
  if (borrowed) return borrowed;
  const store = await openCliStore(location);
  return { store, release: () => store.close() };
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
  const { getAgent } = await import('../core/agents/agents.js');
  const db = deps.core.store.db;
  if (deps.ctx.agentRef) return getAgent(db, deps.ctx.agentRef);
  const { agentNameFromPath } = await import('../core/streams/workspace-paths.js');
  const owner = agentNameFromPath(deps.ctx.repo, deps.io.cwd);
  return owner ? getAgent(db, owner) : undefined;
}
