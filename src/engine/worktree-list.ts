/** The worktrees git knows for a repository, with the branch each has checked out. */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readOrNull, realpathOrNull } from '../util/read-or-null.js';
import { git } from './git.js';
import { isObjectId } from './names.js';
import { findGitRepo, hasRefFiles, readRepoConfig } from './repo.js';

export interface ListedWorktree {
  /** Absolute path, as git records it. */
  path: string;
  /** The checked-out branch without `refs/heads/`, or null (detached, bare). */
  branch: string | null;
  /** The commit checked out, or null (an unborn branch, bare). */
  head: string | null;
}

/** Every worktree of the repository (the main one first), from `git worktree list --porcelain`. */
export async function listWorktrees(repoDir: string): Promise<ListedWorktree[]> {
  const { stdout } = await git(['worktree', 'list', '--porcelain', '-z'], { cwd: repoDir });
  const worktrees: ListedWorktree[] = [];
  let current: ListedWorktree | null = null;
  // With -z each attribute ends in NUL and an empty field ends a worktree, so paths may hold newlines.
  for (const field of stdout.split('\0')) {
    if (field.startsWith('worktree ')) {
      current = { path: field.slice('worktree '.length), branch: null, head: null };
      worktrees.push(current);
    } else if (current && field.startsWith('HEAD ')) {
      current.head = field.slice('HEAD '.length);
    } else if (current && field.startsWith('branch refs/heads/')) {
      current.branch = field.slice('branch refs/heads/'.length);
    }
  }
  return worktrees;
}

/** The path of the worktree that has `branch` checked out, or null. */
export async function worktreeOfBranch(repoDir: string, branch: string): Promise<string | null> {
  return (await listWorktrees(repoDir)).find((w) => w.branch === branch)?.path ?? null;
}

/**
 * The branch checked out in the worktree at `path` of the repository rooted at `repoDir` (null:
 * none there, or detached). Asked on every command of an agent, so the usual layout (a linked
 * worktree whose files point at this repository and back) is read from the files git itself
 * reads; anything else (a missing folder git may still list, another ref storage) asks git.
 */
export async function worktreeBranchAt(repoDir: string, path: string): Promise<string | null> {
  const onDisk = linkedWorktreeBranchOnDisk(repoDir, path);
  if (onDisk !== undefined) return onDisk;
  const target = resolve(path);
  return (await listWorktrees(repoDir)).find((w) => resolve(w.path) === target)?.branch ?? null;
}

/**
 * The branch of a linked worktree from its files (null: none at `path`, or detached), or
 * undefined when git must be asked.
 */
function linkedWorktreeBranchOnDisk(repoDir: string, path: string): string | null | undefined {
  if (!hasRefFiles(readRepoConfig(repoDir))) return undefined;
  // The main checkout's own `.git` folder only, and never the main worktree itself.
  if (readOrNull(join(repoDir, '.git', 'HEAD')) === null || resolve(path) === resolve(repoDir)) {
    return undefined;
  }
  const adminRoot = realpathOrNull(join(repoDir, '.git', 'worktrees'));
  if (adminRoot === null) return null; // no linked worktree at all
  const dotGit = join(path, '.git');
  const gitdir = /^gitdir: (.+)$/m.exec(readOrNull(dotGit) ?? '')?.[1];
  if (!gitdir) return undefined;
  const admin = realpathOrNull(resolve(path, gitdir));
  if (admin === null || dirname(admin) !== adminRoot) return undefined;
  // The admin folder points back at this worktree, as git requires.
  const back = readOrNull(join(admin, 'gitdir'))?.trim();
  if (!back || realpathOrNull(resolve(admin, back)) !== realpathOrNull(dotGit)) return undefined;
  const head = parseHeadFile(readOrNull(join(admin, 'HEAD')));
  if (head === null || head === undefined) return head;
  return head.startsWith('refs/heads/') ? head.slice('refs/heads/'.length) : undefined;
}

/** A HEAD file's ref, null when detached, undefined when it is not a HEAD file git would write. */
export function parseHeadFile(text: string | null): string | null | undefined {
  if (text === null) return undefined;
  const content = text.trim();
  if (isObjectId(content)) return null;
  return /^ref: (refs\/\S+)$/.exec(content)?.[1];
}

/**
 * The worktrees that have `branch` checked out (usually none, or the main worktree). Every merge
 * and promotion asks, so where the layout is the usual one (files ref storage, a main worktree
 * and linked ones) the worktrees' HEAD files are read directly, and a linked worktree's path only
 * for those on the branch; else `git worktree list` answers.
 */
export async function worktreesOnBranch(repoDir: string, branch: string): Promise<string[]> {
  const onDisk = await worktreesOnBranchOnDisk(repoDir, `refs/heads/${branch}`);
  if (onDisk !== null) return onDisk;
  return (await listWorktrees(repoDir)).filter((w) => w.branch === branch).map((w) => w.path);
}

/**
 * What `git worktree list` reads (gitrepository-layout: `HEAD`, `worktrees/<id>/HEAD` and
 * `worktrees/<id>/gitdir`; a bare repository has no `HEAD` checkout), read in-process with synchronous reads (a few microseconds each, so
 * hundreds of worktrees cost about what one git process does); null when anything is not as expected.
 */
export async function worktreesOnBranchOnDisk(repoDir: string, ref: string): Promise<string[] | null> {
  const { root, commonDir } = await findGitRepo(repoDir);
  if (!hasRefFiles(readOrNull(join(commonDir, 'config')))) return null;
  const paths: string[] = [];
  // A bare repository (the server's, Mode C) has no checkout of its own: only linked worktrees.
  if (root !== commonDir) {
    const main = parseHeadFile(readOrNull(join(commonDir, 'HEAD')));
    if (main === undefined) return null;
    if (main === ref) paths.push(root);
  }
  const linkedDir = join(commonDir, 'worktrees');
  let ids: string[];
  try {
    ids = readdirSync(linkedDir).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    ids = [];
  }
  for (const id of ids) {
    const dir = join(linkedDir, id);
    const head = parseHeadFile(readOrNull(join(dir, 'HEAD')));
    if (head === undefined) return null;
    if (head !== ref) continue;
    const gitdir = readOrNull(join(dir, 'gitdir'))?.trim();
    if (!gitdir) return null;
    paths.push(dirname(resolve(dir, gitdir)));
  }
  return paths;
}
