/**
 * The files API of a stream (Mode C): who may read and write its server worktree, and in what
 * order. The HTTP routes (src/server/routes/files.ts) and any other front end call these.
 *
 * - Reads (file, tree, status) need read access to the repository, checked by the caller; they
 *   use the worktree as it is, or the branch head when it has none: a read never creates one.
 * - Writes (write, delete, patch) need the stream's author with write access, or maintain access
 *   (`requireStreamWrite`, src/core/governance/access.ts), on a stream that still takes work. They run one at a
 *   time per worktree: an in-process queue, then the repository's lock (cross-process on
 *   PostgreSQL and SQLite alike), so several server instances serialise too, and so do the
 *   commits, merges and updates that take the same lock.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreDeps } from '../core/deps.js';
import { requireStreamWrite } from '../core/governance/access.js';
import { repoRoot } from '../core/streams/workspace-paths.js';
import { type Agent, type Repo, type Stream, withRepoLock } from '../store/index.js';
import { listBranchTree, readBranchFile } from './branch-files.js';
import { type HostingConfig, hostedWorktreeDir } from './config.js';
import {
  type ApplyPatchResult,
  applyWorktreePatch,
  deleteWorktreeFile,
  type FileContent,
  listWorktreeTree,
  readWorktreeFile,
  type StatusChange,
  serialiseWorktreeWrite,
  type TreeEntry,
  type WriteFileResult,
  type WritePreconditions,
  worktreeStatus,
  writeWorktreeFile,
} from './files.js';
import { assertServerGit } from './hosted-streams.js';
import { streamWorktree } from './stream-worktrees.js';

export interface StreamFilesTarget {
  repo: Repo;
  stream: Stream;
}

/** The stream's worktree for a read, or null when it has none (then its branch head is read). */
function worktreeForRead(hosting: HostingConfig, target: StreamFilesTarget): string | null {
  assertServerGit(target.repo);
  const path = hostedWorktreeDir(hosting, target.repo.id, target.stream.id);
  return existsSync(join(path, '.git')) ? path : null;
}

/** Runs a write on the stream's worktree: checked, queued, under the repository's lock. */
function withStreamWrite<T>(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: StreamFilesTarget & { actor: Agent },
  work: (dir: string) => Promise<T>,
): Promise<T> {
  assertServerGit(input.repo);
  const key = hostedWorktreeDir(hosting, input.repo.id, input.stream.id);
  return serialiseWorktreeWrite(key, () =>
    withRepoLock(deps.store, input.repo.id, async () => {
      await requireStreamWrite(deps, deps.store.db, input.repo, input.stream, input.actor);
      const dir = await streamWorktree(deps, hosting, input.repo, input.stream);
      return work(dir);
    }),
  );
}

export async function readStreamFile(
  hosting: HostingConfig,
  input: StreamFilesTarget & { path: string },
): Promise<FileContent> {
  const dir = worktreeForRead(hosting, input);
  const options = { maxBytes: hosting.maxFileBytes };
  return dir
    ? readWorktreeFile(dir, input.path, options)
    : readBranchFile(repoRoot(input.repo), input.stream.branch, input.path, options);
}

export async function listStreamTree(
  hosting: HostingConfig,
  input: StreamFilesTarget & { path?: string; recursive?: boolean },
): Promise<TreeEntry[]> {
  const dir = worktreeForRead(hosting, input);
  const options = { recursive: input.recursive };
  return dir
    ? listWorktreeTree(dir, input.path ?? '', options)
    : listBranchTree(repoRoot(input.repo), input.stream.branch, input.path ?? '', options);
}

export async function streamStatus(
  hosting: HostingConfig,
  input: StreamFilesTarget,
): Promise<StatusChange[]> {
  const dir = worktreeForRead(hosting, input);
  // Without a worktree nothing is uncommitted.
  return dir ? worktreeStatus(dir) : [];
}

export function writeStreamFile(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: StreamFilesTarget & WritePreconditions & { actor: Agent; path: string; content: Buffer },
): Promise<WriteFileResult> {
  return withStreamWrite(deps, hosting, input, (dir) =>
    writeWorktreeFile(dir, input.path, {
      content: input.content,
      maxFileBytes: hosting.maxFileBytes,
      ifMatch: input.ifMatch,
      ifNoneMatch: input.ifNoneMatch,
    }),
  );
}

export function deleteStreamFile(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: StreamFilesTarget & WritePreconditions & { actor: Agent; path: string },
): Promise<{ path: string; blob: string }> {
  return withStreamWrite(deps, hosting, input, (dir) => deleteWorktreeFile(dir, input.path, input));
}

export function applyStreamPatch(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: StreamFilesTarget & { actor: Agent; patch: Buffer },
): Promise<ApplyPatchResult> {
  return withStreamWrite(deps, hosting, input, (dir) =>
    applyWorktreePatch(dir, { patch: input.patch, maxFileBytes: hosting.maxFileBytes }),
  );
}
