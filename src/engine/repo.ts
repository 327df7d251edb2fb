/**
 * Finding a repository and reading its refs, ancestry and tags. Read-only except `createTag`.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import { commandEnv } from '../util/command-env.js';
import { readOrNull, statOrNull } from '../util/read-or-null.js';
import { type GitIdentity, identityEnv } from './author.js';
import { git, gitOut } from './git.js';
import { assertRevision, assertValidRef, assertValidTag, isObjectId } from './names.js';

/** A repository: its main worktree and the shared `.git` directory of all its worktrees. */
export interface GitRepo {
  /** Root of the main worktree (for a bare repository: the repository directory). */
  root: string;
  /** Absolute path of the shared git directory (`--git-common-dir`). */
  commonDir: string;
}

/**
 * The repository containing `cwd` (the repo, any subdirectory, or a linked worktree). Every
 * command asks this first, so the usual layouts are read from the file system; anything unusual
 * (git environment variables, a bare or separate git directory, another owner) is left to git.
 */
export async function findGitRepo(cwd: string): Promise<GitRepo> {
  const found = findGitRepoOnDisk(cwd);
  if (found) return found;
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

// Variables that change how git finds a repository: with any of them set, git decides.
const DISCOVERY_ENV = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_COMMON_DIR',
  'GIT_CEILING_DIRECTORIES',
  'GIT_DISCOVERY_ACROSS_FILESYSTEM',
  'GIT_CONFIG_PARAMETERS',
];

/**
 * What `git rev-parse --git-common-dir` answers, for a worktree whose `.git` is the repository's
 * own directory or a linked worktree's `gitdir:` file, found by walking up from `cwd` as git
 * does; null for every other case (git is asked instead).
 */
function findGitRepoOnDisk(cwd: string): GitRepo | null {
  if (discoveryMoved()) return null;
  let dir: string;
  try {
    dir = realpathSync(cwd);
  } catch {
    return null;
  }
  if (dir.split(sep).includes('.git')) return null; // inside a git directory
  const uid = process.getuid?.();
  // Git stops at a file-system boundary; so does this walk (and git then decides).
  const device = statOrNull(dir)?.dev;
  for (;;) {
    const dotGit = join(dir, '.git');
    const stat = statOrNull(dotGit);
    if (stat) {
      if (uid !== undefined && stat.uid !== uid) return null; // git's safe.directory rules apply
      if (stat.isDirectory()) {
        return isPlainGitDir(dotGit) ? { root: dir, commonDir: dotGit } : null;
      }
      if (!stat.isFile()) return null;
      const gitDir = /^gitdir: (.+)$/m.exec(readOrNull(dotGit) ?? '')?.[1];
      if (!gitDir) return null;
      const linked = resolve(dir, gitDir);
      const common = readOrNull(join(linked, 'commondir'))?.trim();
      if (!common) return null;
      let commonDir: string;
      try {
        commonDir = realpathSync(resolve(linked, common));
      } catch {
        return null;
      }
      if (basename(commonDir) === '.git') {
        return isPlainGitDir(commonDir) ? { root: dirname(commonDir), commonDir } : null;
      }
      // A linked worktree of a bare repository (a server-held one, Mode C): git names the bare
      // directory as both.
      return isBareGitDir(commonDir) ? { root: commonDir, commonDir } : null;
    }
    // No `.git` here: git then asks whether this folder is itself a repository (a bare one) before
    // it looks further up; so must this walk, or a bare repository inside a checkout (a server's
    // data dir in a project folder) would be taken for that checkout.
    if (isBareGitDir(dir)) {
      const owner = statOrNull(dir)?.uid;
      return uid !== undefined && owner !== uid ? null : { root: dir, commonDir: dir };
    }
    const parent = dirname(dir);
    if (parent === dir || statOrNull(parent)?.dev !== device) return null;
    dir = parent;
  }
}

/** A repository's own `.git` directory with no setting that moves its worktree or makes it bare. */
function isPlainGitDir(gitDir: string): boolean {
  if (!statOrNull(join(gitDir, 'HEAD'))?.isFile()) return false;
  const config = readOrNull(join(gitDir, 'config'));
  return config !== null && !/^\s*(bare\s*=\s*true|worktree\s*=)/im.test(config);
}

/**
 * A bare repository's directory as `git init --bare` or `git clone --bare` make it: HEAD naming a
 * branch or a commit, objects/ and refs/, and `bare = true` with no worktree setting. Anything
 * else (a git directory of a checkout, a linked worktree's, an odd config) is not, and git decides.
 */
function isBareGitDir(dir: string): boolean {
  const head = readOrNull(join(dir, 'HEAD'))?.trim();
  if (head === undefined || !(/^ref: refs\/\S+$/.test(head) || isObjectId(head))) return false;
  if (!statOrNull(join(dir, 'objects'))?.isDirectory() || !statOrNull(join(dir, 'refs'))?.isDirectory())
    return false;
  if (statOrNull(join(dir, 'commondir'))) return false;
  const config = readOrNull(join(dir, 'config'));
  return config !== null && /^\s*bare\s*=\s*true\s*$/im.test(config) && !/^\s*worktree\s*=/im.test(config);
}

/**
 * Reads shared refs (branches, remote-tracking branches, tags; or `HEAD` for the branch the
 * worktree has checked out) of the worktree rooted at `worktree` from its loose ref files, without
 * running git: for a caller that just had git write them (a commit, a compare-and-swap, a push
 * that moved a remote-tracking ref) and reads them back on a hot path. Null when any of them is
 * not a plain loose ref (packed, symbolic, another ref storage): then ask git.
 */
export async function readLooseRefs(worktree: string, refs: readonly string[]): Promise<string[] | null> {
  const dirs = filesRefDirs(worktree);
  if (!dirs) return null;
  const { gitDir, commonDir } = dirs;
  const oids: string[] = [];
  for (const ref of refs) {
    let name = ref;
    if (ref === 'HEAD') {
      const head = readOrNull(join(gitDir, 'HEAD'))?.trim() ?? '';
      if (isObjectId(head)) {
        oids.push(head);
        continue;
      }
      name = /^ref: (refs\/heads\/\S+)$/.exec(head)?.[1] ?? '';
    }
    if (!isSharedRef(name)) return null;
    assertValidRef(name);
    const oid = readOrNull(join(commonDir, name))?.trim() ?? '';
    if (!isObjectId(oid)) return null;
    oids.push(oid);
  }
  return oids;
}

/**
 * Branches, remote-tracking branches and tags: refs every worktree shares, stored in the common
 * directory (unlike `refs/bisect/…`, `refs/worktree/…` and the like, which are each worktree's own).
 */
function isSharedRef(ref: string): boolean {
  return /^refs\/(heads|remotes|tags)\//.test(ref);
}

/**
 * The worktree's own git directory and the repository's common one, when its refs are plain files
 * (the files ref storage, no `extensions.refStorage`); null otherwise, or when `worktree` is not
 * the root of a checkout: then ask git.
 */
function filesRefDirs(worktree: string): { gitDir: string; commonDir: string } | null {
  const dirs = checkoutDirs(worktree);
  if (dirs === null || !hasRefFiles(dirs.config)) return null;
  return { gitDir: dirs.gitDir, commonDir: dirs.commonDir };
}

/** Whether a repository's config (its text) keeps refs as plain files: no `extensions.refStorage`. */
export function hasRefFiles(config: string | null): config is string {
  return config !== null && !/^\s*refstorage\s*=/im.test(config);
}

/**
 * The repository's own config file (its common directory's `config`) for the checkout rooted at
 * `worktree`, read without git; null when git must be asked (not a checkout's root, or git's
 * discovery moved by the environment).
 */
export function readRepoConfig(worktree: string): string | null {
  if (discoveryMoved()) return null;
  return checkoutDirs(worktree)?.config ?? null;
}

/**
 * The directories of the repository at `repoDir`, a checkout's root or a bare repository (a
 * server's, Mode C), and its config text, read without git; null when git must be asked.
 */
export function readRepoDirs(repoDir: string): RepoDirs | null {
  if (discoveryMoved()) return null;
  const checkout = checkoutDirs(repoDir);
  if (checkout !== null || !isBareGitDir(repoDir)) return checkout;
  return { gitDir: repoDir, commonDir: repoDir, config: readOrNull(join(repoDir, 'config')) };
}

/** Whether the environment moves git's discovery of a repository: then git decides. */
function discoveryMoved(): boolean {
  const env = commandEnv();
  return DISCOVERY_ENV.some((name) => env[name] !== undefined);
}

export interface RepoDirs {
  /** The own git directory: `.git`, a linked worktree's admin folder, or the bare repository. */
  gitDir: string;
  /** The repository's common directory. */
  commonDir: string;
  /** Its config file's text; null when it cannot be read. */
  config: string | null;
}

/** The git directories of the checkout rooted at `worktree`, and its repository's config text. */
function checkoutDirs(worktree: string): RepoDirs | null {
  const dotGit = join(worktree, '.git');
  const stat = statOrNull(dotGit);
  let gitDir: string;
  if (stat?.isDirectory()) gitDir = dotGit;
  else if (stat?.isFile()) {
    const target = /^gitdir: (.+)$/m.exec(readOrNull(dotGit) ?? '')?.[1];
    if (!target) return null;
    gitDir = resolve(worktree, target);
  } else return null;
  const common = readOrNull(join(gitDir, 'commondir'))?.trim();
  const commonDir = common ? resolve(gitDir, common) : gitDir;
  return { gitDir, commonDir, config: readOrNull(join(commonDir, 'config')) };
}

/**
 * The commit a merge in progress in `worktree` brings in (`MERGE_HEAD`), or null when none is.
 * Every commit asks, so with plain ref files the worktree's `MERGE_HEAD` file is read directly
 * (git writes it there, and deletes it when the merge is committed or aborted); else git answers.
 */
export async function mergeInProgress(worktree: string): Promise<string | null> {
  const dirs = filesRefDirs(worktree);
  if (dirs) {
    const text = readOrNull(join(dirs.gitDir, 'MERGE_HEAD'));
    if (text === null && !statOrNull(join(dirs.gitDir, 'MERGE_HEAD'))) return null;
    const first = text?.split('\n')[0]?.trim() ?? '';
    if (isObjectId(first)) return first;
  }
  const out = await git(['rev-parse', '-q', '--verify', 'MERGE_HEAD'], { cwd: worktree, okExitCodes: [1] });
  return out.exitCode === 0 ? out.stdout.trim() : null;
}

/**
 * The object id a full ref (`refs/heads/buffer`) points at, or null when it does not exist. A
 * branch is read from its loose ref file when it is one (merges and reviews ask several times
 * under the repository's lock); git answers for the rest.
 */
export async function readRef(repoDir: string, ref: string): Promise<string | null> {
  assertValidRef(ref);
  if (isSharedRef(ref)) {
    const loose = await readLooseRefs(repoDir, [ref]);
    if (loose) return loose[0] as string;
  }
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

/** The first parent of a commit, or null for a root commit or an unknown one. */
export async function firstParent(repoDir: string, commit: string): Promise<string | null> {
  assertRevision(commit);
  const result = await git(['rev-parse', '--verify', '--quiet', `${commit}^1^{commit}`], {
    cwd: repoDir,
    okExitCodes: [1, 128],
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
  return listFirstParent(repoDir, from, to, ['--merges']);
}

/** Every commit on the first-parent chain of `to` after `from` (exclusive; null = all), oldest first. */
export async function listFirstParentCommits(
  repoDir: string,
  from: string | null,
  to: string,
): Promise<string[]> {
  return listFirstParent(repoDir, from, to, []);
}

async function listFirstParent(
  repoDir: string,
  from: string | null,
  to: string,
  filter: readonly string[],
): Promise<string[]> {
  assertRevision(to);
  if (from !== null) assertRevision(from);
  const range = from === null ? [to] : [to, `^${from}`];
  const out = await gitOut(['rev-list', '--first-parent', ...filter, '--reverse', ...range, '--'], {
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
