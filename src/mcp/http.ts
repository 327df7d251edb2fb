/**
 * The backend of the HTTP server's `/mcp` sessions: one repository of the server, acted on as the
 * agent whose bearer key opened the session. A tool runs the command's local path on the server's
 * own store (the same core functions the routes call; the core checks write access itself, and the
 * session checks read access at every call, as the routes do). On a Mode B repository only tools
 * marked `server` (those that need no clone) are offered: its git lives in its clones. On one the
 * server holds (Mode C), the git and file tools of hosted-tools.ts too.
 */
import type { CliIO } from '../cli/io.js';
import type { CoreDeps } from '../core/deps.js';
import { getRepoForAction } from '../core/governance/access.js';
import { getRepo } from '../core/repos/repos.js';
import { GitSwarmError } from '../errors.js';
import type { HostingConfig } from '../hosting/config.js';
import type { Agent, Repo } from '../store/index.js';
import { HOSTED_TOOLS, type HostedDeps } from './hosted-tools.js';
import type { McpBackend } from './server.js';
import { TOOLS, type ToolSpec } from './tools.js';

/** The tools `/mcp` offers on a repository whose git lives in its clones (Mode B). */
export const SERVER_TOOLS = TOOLS.filter((tool) => tool.server);

/**
 * Commands whose local path works on a repository the server holds: they read or move its git at
 * the repository's own path (diff reads the branches; promote fast-forwards the target).
 */
const ON_SERVER_GIT = new Set(['diff', 'promote']);

/** The tools `/mcp` offers on a repository the server holds (Mode C): governance, git and files. */
export const SERVER_GIT_TOOLS: readonly ToolSpec[] = [
  ...TOOLS.filter(
    (tool) =>
      (tool.server || ON_SERVER_GIT.has(tool.name)) && !HOSTED_TOOLS.some((h) => h.name === tool.name),
  ),
  ...HOSTED_TOOLS,
];

/** The tools of a session on `repo`. */
export function toolsFor(repo: Repo): readonly ToolSpec[] {
  return repo.server_git ? SERVER_GIT_TOOLS : SERVER_TOOLS;
}

/**
 * The repository a session acts on: `?repo=` (id or name) when given, else the only repository
 * the agent may read. Checks read access.
 */
export async function resolveSessionRepo(
  deps: CoreDeps,
  agent: Agent,
  ref: string | undefined,
): Promise<Repo> {
  const db = deps.store.db;
  if (ref) {
    const named = await db
      .selectFrom('gitswarm_repos')
      .select('id')
      .where('name', '=', ref)
      .limit(2)
      .execute();
    if (named.length > 1) {
      throw new GitSwarmError('usage', `Several repositories are named ${JSON.stringify(ref)}.`, {
        hint: 'Connect to /mcp?repo=<repository id>.',
      });
    }
    const repo = named[0] ?? (await getRepo(db, ref));
    return (await getRepoForAction(deps, db, repo.id, agent, 'read')).repo;
  }
  const repos = await db.selectFrom('gitswarm_repos').selectAll().limit(2).execute();
  if (repos.length === 1 && repos[0]) {
    return (await getRepoForAction(deps, db, repos[0].id, agent, 'read')).repo;
  }
  throw new GitSwarmError('usage', 'This server holds several repositories; name one.', {
    hint: 'Connect to /mcp?repo=<repository id or name>.',
  });
}

/** A backend acting as `agent` on the repository `repoId` of the server whose core is `core`. */
export function httpBackend(
  core: CoreDeps,
  hosting: HostingConfig,
  agent: Agent,
  repoId: string,
  signal: AbortSignal,
  kickStabilizer?: () => void,
): McpBackend {
  return {
    agent: { id: agent.id, name: agent.name },
    async withDeps(sinks, fn) {
      // Fresh every call: the repository's settings, and the agent's access to it, as they are now.
      const { repo } = await getRepoForAction(core, core.store.db, repoId, agent, 'read');
      const io: CliIO = {
        stdout: { write: () => {} },
        stderr: { write: (text) => sinks.progress(text) },
        isTTY: false,
        color: false,
        cwd: '/',
        env: {},
        signal,
      };
      // No clone on the server: root '' tells status to use the buffer head clients reported.
      const deps: HostedDeps = {
        io,
        core,
        ctx: { root: '', commonDir: '', config: { repo_id: repo.id }, repo, agentRef: agent.id },
        agent,
        hosting,
        ...(kickStabilizer ? { kickStabilizer } : {}),
      };
      return fn(deps);
    },
  };
}
