/**
 * Mode C: streams of a server-held repository, driven over HTTP. Each step is the CLI's core
 * function (src/core/streams/stream-create.ts, stream-commit.ts, stream-merge.ts), run against the
 * server's bare repository and the stream's worktree from the pool (stream-worktrees.ts).
 */

import type { CoreDeps } from '../core/deps.js';
import { requireAction, requireStreamWrite } from '../core/governance/access.js';
import { getRepo } from '../core/repos/repos.js';
import { cascadeDependents } from '../core/streams/stream-cascade.js';
import {
  assertCommitMessage,
  type CommitStreamResult,
  commitStreamWorktree,
} from '../core/streams/stream-commit.js';
import { createStream } from '../core/streams/stream-create.js';
import { type MergeStreamResult, mergeStream } from '../core/streams/stream-merge.js';
import { getStreamById } from '../core/streams/streams.js';
import { abandonStream } from '../core/sync/remote-sync.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { type Agent, type Repo, type Stream, withRepoLock } from '../store/index.js';
import type { HostingConfig } from './config.js';
import { assertWorktreeRoom, releaseStreamWorktree, streamWorktree } from './stream-worktrees.js';

/** `invalid_state` unless the server holds the repository's git. */
export function assertServerGit(repo: Repo): void {
  if (repo.server_git && repo.path) return;
  throw new GitSwarmError('invalid_state', `The server holds no git for repository ${repo.name} (Mode B).`, {
    hint: 'Work in your own clone and report to the server (Mode B), or create a repository with server_git: true.',
    details: { repo_id: repo.id, server_git: false },
  });
}

export interface CreateHostedStreamInput {
  repo: Repo;
  agent: Agent;
  name?: string;
  taskRef?: string;
  dependsOn?: string;
}

/**
 * Creates a stream as `gitswarm workspace create` does (branch from the buffer head or the parent's,
 * record, task link, operation log) and its server worktree; `worktree_limit` before anything is
 * created when the repository has no room for another worktree.
 */
export async function createHostedStream(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: CreateHostedStreamInput,
): Promise<Stream> {
  assertServerGit(input.repo);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    await requireAction(deps, deps.store.db, repo, input.agent, 'write');
    await assertWorktreeRoom(deps, hosting, repo);
    const stream = await createStream(deps, {
      repo,
      agent: input.agent,
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.taskRef !== undefined ? { taskRef: input.taskRef } : {}),
      ...(input.dependsOn !== undefined ? { dependsOn: input.dependsOn } : {}),
      source: 'api',
      nameHint: 'Choose another name.',
    });
    await streamWorktree(deps, hosting, repo, stream);
    return stream;
  });
}

export interface CommitHostedStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  agent: Agent;
  message: string;
}

/**
 * Commits the stream's server worktree as `gitswarm commit` does (Change-Id, deferred rebase,
 * cascade, and in swarm mode the merge). The author or a maintainer.
 */
export async function commitHostedStream(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: CommitHostedStreamInput,
): Promise<CommitStreamResult> {
  const message = assertCommitMessage(input.message);
  assertServerGit(input.repo);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const stream = await getStreamById(deps.store.db, input.stream.id);
    await requireStreamWrite(deps, deps.store.db, repo, stream, input.agent);
    const worktree = await streamWorktree(deps, hosting, repo, stream);
    try {
      return await commitStreamWorktree(deps, { repo, agent: input.agent, stream, worktree, message });
    } catch (error) {
      if (!isGitSwarmError(error, 'nothing_to_commit')) throw error;
      throw new GitSwarmError('nothing_to_commit', `Nothing to commit in stream ${stream.name}.`, {
        hint: 'Write files first: PUT /api/v1/streams/:id/files/<path>',
        details: { stream_id: stream.id },
      });
    }
  });
}

export interface MergeHostedStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
}

/**
 * Merges the stream into the buffer with the CLI's `mergeStream` (state, permission per merge
 * mode, consensus, dependencies, then the worktree-free merge). Outside swarm mode the stream's
 * worktree goes with the merge; in swarm mode the agent goes on committing in it.
 */
export async function mergeHostedStream(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: MergeHostedStreamInput,
): Promise<MergeStreamResult> {
  assertServerGit(input.repo);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const merged = await mergeStream(deps, {
      repo,
      stream: input.stream,
      actor: input.actor,
      trigger: 'agent',
    });
    if (repo.merge_mode !== 'swarm') await releaseStreamWorktree(hosting, repo, input.stream.id);
    return merged;
  });
}

export interface AbandonHostedStreamInput {
  repo: Repo;
  stream: Pick<Stream, 'id'>;
  actor: Agent;
  reason?: string;
}

/**
 * Abandons the stream (its author or a maintainer), removes its worktree (uncommitted changes
 * go with it) and replays the streams built on it onto the buffer, dropping its commits.
 */
export async function abandonHostedStream(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: AbandonHostedStreamInput,
): Promise<Stream> {
  assertServerGit(input.repo);
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const stream = await abandonStream(deps, {
      repo,
      stream: input.stream,
      actor: input.actor,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    });
    await releaseStreamWorktree(hosting, repo, stream.id);
    await cascadeDependents(deps, repo, stream.id, input.actor.id);
    return stream;
  });
}
