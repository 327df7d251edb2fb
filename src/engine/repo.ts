/**
 * Finding a repository and reading its refs, ancestry and tags. Read-only except `createTag`.
 */
import { basename, dirname } from 'node:path';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { type GitIdentity, identityEnv } from './author.js';
import { git, gitOut } from './git.js';
import { assertRevision, assertValidRef, assertValidTag } from './names.js';

/** A repository: its main worktree and the shared `.git` directory of all its worktrees. */
export interface GitRepo {
  /** Root of the main worktree (for a bare repository: the repository directory). */
  root: string;
  /** Absolute path of the shared git directory (`--git-common-dir`). */
  commonDir: string;
}

/** The repository containing `cwd` (the repo, any subdirectory, or a linked worktree). */
export async function findGitRepo(cwd: string): Promise<GitRepo> {
  let lines: string[];
  try {
    lines = (
      await gitOut(['rev-parse', '--path-format=absolute', '--git-common-dir', '--is-bare-repository'], {
        cwd,
      })
    ).split('\n');
  } catch (error) {
    if (!isGitSwarmError(error, 'git_failed')) throw error;
    throw new GitSwarmError('not_a_git_repo', `Not inside a git repository: ${cwd}`, { cause: error });
  }
  const commonDir = lines[0] ?? '';
  if (lines[1] === 'true') return { root: commonDir, commonDir };
  if (basename(commonDir) === '.git') return { root: dirname(commonDir), commonDir };
  // A separate git dir (`git init --separate-git-dir`): ask git where the main worktree is.
  const list = await gitOut(['worktree', 'list', '--porcelain'], { cwd });
  const first = /^worktree (.+)$/m.exec(list)?.[1];
  return { root: first ?? commonDir, commonDir };
}

/** The object id a full ref (`refs/heads/buffer`) points at, or null when it does not exist. */
export async function readRef(repoDir: string, ref: string): Promise<string | null> {
  assertValidRef(ref);
  const result = await git(['rev-parse', '--verify', '--quiet', ref], { cwd: repoDir, okExitCodes: [1] });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

/** The commit a revision names, or null when it names none. */
export async function resolveCommit(repoDir: string, rev: string): Promise<string | null> {
  assertRevision(rev);
  const result = await git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {
    cwd: repoDir,
    okExitCodes: [1],
  });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

/** Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor). */
export async function isAncestor(repoDir: string, ancestor: string, descendant: string): Promise<boolean> {
  assertRevision(ancestor);
  assertRevision(descendant);
  const result = await git(['merge-base', '--is-ancestor', ancestor, descendant], {
    cwd: repoDir,
    okExitCodes: [1],
  });
  return result.exitCode === 0;
}

/** The merge commits on the first-parent chain of `to` after `from` (exclusive; null = all), oldest first. */
export async function listFirstParentMerges(
  repoDir: string,
  from: string | null,
  to: string,
): Promise<string[]> {
  assertRevision(to);
  if (from !== null) assertRevision(from);
  const range = from === null ? [to] : [to, `^${from}`];
  const out = await gitOut(['rev-list', '--first-parent', '--merges', '--reverse', ...range, '--'], {
    cwd: repoDir,
  });
  return out === '' ? [] : out.split('\n');
}

export interface CreateTagOptions {
  name: string;
  commit: string;
  message: string;
  author: GitIdentity;
}

/** Creates an annotated tag; fails with already_exists when the tag exists. */
export async function createTag(repoDir: string, options: CreateTagOptions): Promise<void> {
  assertValidTag(options.name);
  assertRevision(options.commit);
  if (options.message.trim() === '') {
    throw new GitSwarmError('invalid_input', 'A tag message cannot be empty.');
  }
  const result = await git(['tag', '--annotate', '--no-sign', '--file=-', options.name, options.commit], {
    cwd: repoDir,
    input: options.message,
    env: identityEnv(options.author),
    okExitCodes: [128],
  });
  if (result.exitCode === 0) return;
  if (/already exists/.test(result.stderr)) {
    throw new GitSwarmError('already_exists', `Tag ${options.name} already exists.`);
  }
  throw new GitSwarmError('git_failed', `git tag failed: ${result.stderr.trim().split('\n')[0] ?? ''}`, {
    details: { git_stderr: result.stderr.trim() },
  });
}

/** Tags matching a `for-each-ref` pattern under refs/tags/ (e.g. `green/*`), oldest first, with the commit each names. */
export async function listTags(
  repoDir: string,
  pattern: string,
): Promise<{ name: string; commit: string }[]> {
  if (pattern.startsWith('-') || pattern.includes('..')) {
    throw new GitSwarmError('invalid_input', `Invalid tag pattern ${JSON.stringify(pattern)}.`);
  }
  const out = await gitOut(
    [
      'for-each-ref',
      '--sort=creatordate',
      '--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)',
      `refs/tags/${pattern}`,
    ],
    { cwd: repoDir },
  );
  if (out === '') return [];
  return out.split('\n').map((line) => {
    const [name = '', object = '', peeled = ''] = line.split('\0');
    return { name, commit: peeled || object };
  });
}
