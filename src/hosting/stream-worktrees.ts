/**
 * Mode C: the pool of stream worktrees the server keeps for a server-held repository, one per
 * stream at `hostedWorktreeDir(config, repoId, streamId)`, checked out on the stream's branch.
 *
 * Lifecycle (docs/mode-c.md, "Stream worktrees"):
 * - created lazily, the first time a request needs the stream's files (write, commit, update);
 * - removed when the stream merges over HTTP outside swarm mode, or is abandoned; a stream that
 *   stops taking work another way (merged by a council decision, reverted) keeps its worktree
 *   until the cap reclaims it;
 * - in swarm mode every commit merges, and the stream stays the agent's to go on committing in,
 *   so its worktree stays until the stream is abandoned; when the cap is reached, worktrees of
 *   swarm streams that are merged and clean are reclaimed (nothing is lost: a new one is made
 *   again from the branch, which holds everything committed);
 * - at most `maxWorktreesPerRepo` exist per repository: one more is 409 `worktree_limit`, after
 *   worktrees of streams that are no longer live were reclaimed.
 *
 * The data dir is the source of truth for what exists (several server instances share it); every
 * change happens under the repository's lock, which is cross-process on PostgreSQL.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CoreDeps } from '../core/deps.js';
import { getStreamById, isLiveStream } from '../core/streams/streams.js';
import { repoRoot } from '../core/streams/workspace-paths.js';
import { gitOut } from '../engine/git.js';
import { addWorktree, isWorktreeDirty, removeWorktree } from '../engine/worktrees.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { type Repo, type Stream, withRepoLock } from '../store/index.js';
import { type HostingConfig, hostedWorktreeDir, requireDataDir } from './config.js';

/** The folder that holds a repository's stream worktrees. */
export function hostedWorktreesRoot(hosting: HostingConfig, repoId: string): string {
  return dirname(hostedWorktreeDir(hosting, repoId, 'x'));
}

/** The stream ids that have a worktree folder in the data dir. */
export async function listStreamWorktrees(hosting: HostingConfig, repoId: string): Promise<string[]> {
  requireDataDir(hosting);
  try {
    const entries = await readdir(hostedWorktreesRoot(hosting, repoId), { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Whether a stream takes work: live, or merged in swarm mode (its next commit goes on). */
export function takesWork(repo: Pick<Repo, 'merge_mode'>, stream: Pick<Stream, 'status'>): boolean {
  return isLiveStream(stream) || (stream.status === 'merged' && repo.merge_mode === 'swarm');
}

/**
 * The path of the stream's server worktree, created on the stream's branch when absent, under
 * the repository's lock. Refuses `invalid_state` for a stream that takes no more work and
 * `worktree_limit` when the repository already has `maxWorktreesPerRepo` live worktrees.
 */
export async function streamWorktree(
  deps: CoreDeps,
  hosting: HostingConfig,
  repo: Repo,
  stream: Stream,
): Promise<string> {
  if (!repo.server_git) {
    throw new GitSwarmError(
      'invalid_state',
      `The server holds no git for repository ${repo.name} (Mode B).`,
      {
        hint: 'Work in your own clone (Mode B), or create the repository with server_git: true.',
      },
    );
  }
  const path = hostedWorktreeDir(hosting, repo.id, stream.id);
  return withRepoLock(deps.store, repo.id, async () => {
    const current = await getStreamById(deps.store.db, stream.id);
    if (current.repo_id !== repo.id) {
      throw new GitSwarmError('stream_not_found', `No stream ${stream.id} in repository ${repo.name}.`);
    }
    if (!takesWork(repo, current)) {
      throw new GitSwarmError(
        'invalid_state',
        `Stream ${current.name} is ${current.status}; it takes no more work.`,
        {
          hint: 'Create a new stream: POST /api/v1/repos/:id/streams',
          details: { stream_id: current.id, status: current.status },
        },
      );
    }
    if (existsSync(join(path, '.git'))) return path;
    const repoDir = repoRoot(repo);
    // A folder without its .git is what a crash between mkdir and `worktree add` leaves.
    if (existsSync(path)) await removeWorktree(repoDir, path);
    await makeRoom(deps, hosting, repo, current.id);
    await mkdir(dirname(path), { recursive: true });
    try {
      await addWorktree(repoDir, { path, branch: current.branch });
    } catch (error) {
      if (!isGitSwarmError(error, 'git_failed')) throw error;
      // git still records a worktree removed behind its back ("missing but already registered").
      await rm(path, { recursive: true, force: true });
      await gitOut(['worktree', 'prune'], { cwd: repoDir });
      await addWorktree(repoDir, { path, branch: current.branch });
    }
    return path;
  });
}

/**
 * Removes the stream's server worktree and its files (uncommitted changes too); idempotent.
 * Callers hold the repository's lock.
 */
export async function releaseStreamWorktree(
  hosting: HostingConfig,
  repo: Repo,
  streamId: string,
): Promise<void> {
  if (!repo.server_git || !repo.path || !hosting.dataDir) return;
  const path = hostedWorktreeDir(hosting, repo.id, streamId);
  if (!existsSync(path)) return;
  await removeWorktree(repo.path, path);
}

/**
 * Refuses `worktree_limit` when the repository has no room for one more stream worktree (after
 * reclaiming those that can go). Call under the repository's lock, before creating a stream.
 */
export async function assertWorktreeRoom(deps: CoreDeps, hosting: HostingConfig, repo: Repo): Promise<void> {
  await makeRoom(deps, hosting, repo, null);
}

/**
 * Below the cap, nothing. At it: reclaims the worktrees of streams that take no more work (or
 * are gone), then, if still at the cap, clean worktrees of swarm streams that merged; then
 * refuses with `worktree_limit`.
 */
async function makeRoom(
  deps: CoreDeps,
  hosting: HostingConfig,
  repo: Repo,
  forStream: string | null,
): Promise<void> {
  const max = hosting.maxWorktreesPerRepo;
  let ids = (await listStreamWorktrees(hosting, repo.id)).filter((id) => id !== forStream);
  if (ids.length < max) return;
  const swarmMerged: string[] = [];
  for (const id of ids) {
    const stream = await getStreamById(deps.store.db, id).catch((error: unknown) => {
      if (isGitSwarmError(error, 'stream_not_found')) return null;
      throw error;
    });
    if (!stream || stream.repo_id !== repo.id || !takesWork(repo, stream)) {
      await releaseStreamWorktree(hosting, repo, id);
    } else if (!isLiveStream(stream)) {
      swarmMerged.push(id);
    }
  }
  ids = (await listStreamWorktrees(hosting, repo.id)).filter((id) => id !== forStream);
  for (const id of swarmMerged) {
    if (ids.length < max) return;
    const path = hostedWorktreeDir(hosting, repo.id, id);
    if (existsSync(join(path, '.git')) && (await isWorktreeDirty(path))) continue;
    await releaseStreamWorktree(hosting, repo, id);
    ids = ids.filter((other) => other !== id);
  }
  if (ids.length < max) return;
  throw new GitSwarmError(
    'worktree_limit',
    `Repository ${repo.name} already has ${ids.length} live stream worktrees on this server (the most it keeps).`,
    {
      httpHint: `Merge or abandon one of its streams first (DELETE /api/v1/streams/:id); the operator may raise the cap (gitswarm serve --max-worktrees, now ${max}).`,
      details: { max_worktrees: max },
    },
  );
}
