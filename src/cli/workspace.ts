/**
 * `gitswarm workspace create|list|destroy|reopen`: an agent's stream and its worktree at
 * `.worktrees/<agent>/`; `reopen` goes on from a reverted stream.
 */

import { reopenWorkspace } from '../core/streams/workspace-reopen.js';
import { createWorkspace, destroyWorkspace, listWorkspaces } from '../core/streams/workspaces.js';
import { GitSwarmError } from '../errors.js';
import type { Stream } from '../store/index.js';
import { type CommandDeps, requireActor } from './context.js';
import { parseListLimit } from './list-limit.js';
import { type Style, safeText, shortOid, table } from './output.js';
import { type StreamView, toStreamView } from './views.js';

export interface CreateWorkspaceOptions {
  name?: string;
  task?: string;
  dependsOn?: string;
  fromStream?: string;
  /** Connected clones: the GitHub pull request number whose stream to start from. */
  fromPr?: string;
}

export interface CreateWorkspaceCommandResult {
  stream: StreamView;
  worktree: string;
}

/** Creates the acting agent's stream (from the buffer head, or from the stream it depends on) and worktree. */
export async function runCreateWorkspace(
  opts: CreateWorkspaceOptions,
  deps: CommandDeps,
): Promise<CreateWorkspaceCommandResult> {
  const fromPr = opts.fromPr === undefined ? undefined : Number(opts.fromPr);
  if (fromPr !== undefined && !(Number.isInteger(fromPr) && fromPr > 0)) {
    throw new GitSwarmError(
      'usage',
      `--from-pr takes a pull request number, not ${JSON.stringify(opts.fromPr)}.`,
    );
  }
  if (deps.remote) {
    const m = await import('../remote/commands/workspace.js');
    const created = await m.runCreateWorkspaceRemote({ ...opts, fromPr }, { ...deps, remote: deps.remote });
    return { stream: toStreamView(created.stream), worktree: created.worktree };
  }
  if (fromPr !== undefined) {
    throw new GitSwarmError(
      'usage',
      '--from-pr needs a clone connected to a server that receives GitHub webhooks.',
      {
        hint: 'Connect this clone first: gitswarm init --server URL',
      },
    );
  }
  const { core, ctx } = deps;
  const agent = await requireActor(deps);
  const { stream, worktree } = await createWorkspace(core, {
    repo: ctx.repo,
    agent,
    name: opts.name,
    taskRef: opts.task,
    dependsOn: opts.dependsOn,
    fromStream: opts.fromStream,
  });
  return { stream: toStreamView(stream), worktree };
}

export function formatCreateWorkspace(result: CreateWorkspaceCommandResult, style: Style): string {
  const { stream } = result;
  return [
    `Created stream ${style.bold(stream.name)} (${stream.id}) on ${stream.branch} from ${stream.base_branch ?? '-'}`,
    `worktree  ${result.worktree}`,
    `Next: work in the worktree, then gitswarm commit -m MSG`,
  ].join('\n');
}

export interface ListWorkspacesResult {
  /** Connected, when the server did not answer and the list comes from the local cache. */
  stale?: true;
  workspaces: {
    agent_id: string;
    agent_name: string;
    stream_id: string;
    stream_name: string;
    stream_status: Stream['status'];
    branch: string;
    worktree: string;
    created_at: string;
  }[];
}

/** How many workspaces `workspace list` shows unless `--limit` says otherwise. */
export const WORKSPACE_LIST_LIMIT = 100;
export const MAX_WORKSPACE_LIST_LIMIT = 100_000;

/** The repository's workspaces, oldest first: one indexed query, capped by `--limit`. */
export async function runListWorkspaces(
  opts: { limit?: string | number },
  deps: CommandDeps,
): Promise<ListWorkspacesResult> {
  const limit = parseListLimit(opts.limit, WORKSPACE_LIST_LIMIT, MAX_WORKSPACE_LIST_LIMIT);
  if (deps.remote) {
    const m = await import('../remote/commands/workspace.js');
    return m.runListWorkspacesRemote({ ...deps, remote: deps.remote });
  }
  const rows = await listWorkspaces(deps.core.store.db, deps.ctx.repo.id, { limit });
  return {
    workspaces: rows.map((w) => ({
      agent_id: w.agent_id,
      agent_name: w.agent_name,
      stream_id: w.stream_id,
      stream_name: w.stream_name,
      stream_status: w.stream_status,
      branch: w.branch,
      worktree: w.path,
      created_at: w.created_at,
    })),
  };
}

export function formatListWorkspaces(result: ListWorkspacesResult, style: Style): string {
  if (result.workspaces.length === 0)
    return 'No workspaces. Create one with: gitswarm workspace create --as AGENT';
  return table(
    result.workspaces.map((w) => [
      w.agent_name,
      w.stream_id,
      safeText(w.stream_name),
      w.stream_status,
      w.worktree,
    ]),
    ['AGENT', 'STREAM', 'NAME', 'STATUS', 'WORKTREE'].map(style.dim),
  );
}

export interface DestroyWorkspaceOptions {
  abandon?: boolean;
}

export interface DestroyWorkspaceCommandResult {
  stream_id: string;
  worktree: string;
  abandoned: boolean;
}

/** Removes the acting agent's worktree; `--abandon` also abandons its stream. */
export async function runDestroyWorkspace(
  opts: DestroyWorkspaceOptions,
  deps: CommandDeps,
): Promise<DestroyWorkspaceCommandResult> {
  if (deps.remote) {
    const m = await import('../remote/commands/workspace.js');
    return m.runDestroyWorkspaceRemote(opts, { ...deps, remote: deps.remote });
  }
  const agent = await requireActor(deps);
  return destroyWorkspace(deps.core, { repo: deps.ctx.repo, agent, abandon: opts.abandon === true });
}

export function formatDestroyWorkspace(result: DestroyWorkspaceCommandResult): string {
  return result.abandoned
    ? `Removed ${result.worktree} and abandoned stream ${result.stream_id}`
    : `Removed ${result.worktree}; stream ${result.stream_id} is kept.`;
}

export interface ReopenWorkspaceCommandResult {
  stream: StreamView;
  reopened_from: StreamView;
  worktree: string;
  head: string;
  reapplied: { merge_commit: string; revert_commit: string; commit: string }[];
  carried_over: boolean;
  task_id: string | null;
  task_number: number | null;
}

/**
 * Reopens the acting agent's reverted stream (its workspace's, or the one named) as a new stream
 * with the change re-applied and the uncommitted work carried over.
 */
export async function runReopenWorkspace(
  opts: { stream?: string },
  deps: CommandDeps,
): Promise<ReopenWorkspaceCommandResult> {
  if (deps.remote) {
    const m = await import('../remote/commands/workspace.js');
    const result = await m.runReopenWorkspaceRemote(opts, { ...deps, remote: deps.remote });
    return {
      ...result,
      stream: toStreamView(result.stream),
      reopened_from: toStreamView(result.reopened_from),
    };
  }
  const agent = await requireActor(deps);
  const result = await reopenWorkspace(deps.core, {
    repo: deps.ctx.repo,
    agent,
    ...(opts.stream !== undefined ? { streamRef: opts.stream } : {}),
  });
  return {
    ...result,
    stream: toStreamView(result.stream),
    reopened_from: toStreamView(result.reopened_from),
  };
}

export function formatReopenWorkspace(result: ReopenWorkspaceCommandResult, style: Style): string {
  const { stream } = result;
  return [
    `Reopened ${safeText(result.reopened_from.name)} as stream ${style.bold(safeText(stream.name))} (${stream.id}) on ${stream.branch} from ${stream.base_branch ?? '-'}`,
    ...result.reapplied.map(
      (r) =>
        `re-applied merge ${shortOid(r.merge_commit)} (undoing revert ${shortOid(r.revert_commit)}): ${shortOid(r.commit)}`,
    ),
    result.carried_over
      ? 'Your uncommitted changes are carried over.'
      : 'No uncommitted changes to carry over.',
    ...(result.task_number ? [`Linked to critical task #${result.task_number}.`] : []),
    `worktree  ${result.worktree}`,
    'Next: fix it in the worktree, then gitswarm commit -m MSG',
  ].join('\n');
}
