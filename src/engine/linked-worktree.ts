/**
 * A linked worktree made with one git process where `git worktree add` starts three (itself, then
 * `update-ref` or `symbolic-ref` for the new HEAD, then `reset --hard`): GitSwarm adds one per
 * stream and one per stabilize run. git's admin folder of it is written here in the format
 * gitrepository-layout(5) documents (`worktrees/<id>/` with `gitdir`, `commondir` and `HEAD`; the
 * worktree's `.git` file naming it back), then `git read-tree --reset -u` fills the index and the
 * files, as the `reset --hard` of `git worktree add` does.
 *
 * Only for a repository as `git init` makes it: when its config asks for more of a new worktree
 * (per-worktree config, sparse checkout, relative paths, another ref storage, includes that may say
 * any of these) or the environment moves git's discovery, the caller lets git add it.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { realpathOrNull } from '../util/read-or-null.js';
import { gitOut } from './git.js';
import { isObjectId } from './names.js';
import { readRepoDirs } from './repo.js';
import { worktreesOnBranchOnDisk } from './worktree-list.js';

/** What a new worktree's HEAD is: a branch checked out, or a commit, detached. */
export type WorktreeHead = { branch: string } | { commit: string };

/** Repository settings under which a new worktree is more than its admin folder and a checkout. */
// Anywhere in the text: a word that only looks like one (in a URL, a comment) costs git's slower way.
const NEEDS_GIT = /\[include|worktreeconfig|sparsecheckout|relativeworktrees|refstorage/i;

/**
 * Adds the worktree at `path` (absolute; missing or an empty folder) with `head`, and returns true.
 * Returns false, having left nothing behind, when git should add it instead: the repository needs
 * more (see above), or anything is not as it should be (the folder has files, the branch is checked
 * out elsewhere or missing, the checkout failed), so that git's own rules and messages apply.
 */
export async function addLinkedWorktree(repoDir: string, path: string, head: WorktreeHead): Promise<boolean> {
  const dirs = readRepoDirs(repoDir);
  if (dirs === null || dirs.config === null || NEEDS_GIT.test(dirs.config) || path.includes('\n'))
    return false;
  // A detached HEAD file holds a full object id; git resolves anything else.
  if ('commit' in head && !isObjectId(head.commit)) return false;
  if ('branch' in head) {
    // git checks a branch out in one worktree at most.
    const checkouts = await worktreesOnBranchOnDisk(repoDir, `refs/heads/${head.branch}`);
    if (checkouts === null || checkouts.length > 0) return false;
  }
  const commonDir = realpathOrNull(dirs.commonDir) ?? dirs.commonDir;
  const createdPath = createEmptyFolder(path);
  if (createdPath === null) return false;
  const worktree = realpathOrNull(path) ?? path;
  let adminDir: string | null = null;
  try {
    adminDir = placeAdminFolder(commonDir, worktree, head);
    // Both named, as `git worktree add` names them for its `reset --hard`: a `core.worktree` in the
    // config must not send the checkout to another folder (the main worktree's files).
    await gitOut(['read-tree', '--reset', '-u', 'HEAD'], {
      cwd: worktree,
      env: { GIT_DIR: adminDir, GIT_WORK_TREE: worktree },
    });
    return true;
  } catch {
    if (adminDir !== null) rmSync(adminDir, { recursive: true, force: true });
    if (createdPath) rmSync(path, { recursive: true, force: true });
    else
      for (const entry of readdirOrEmpty(path)) rmSync(join(path, entry), { recursive: true, force: true });
    return false;
  }
}

/**
 * Makes `path` an empty folder: true when it made it, false when it was one already, null when
 * something else is there.
 */
function createEmptyFolder(path: string): boolean | null {
  try {
    if (mkdirSync(path, { recursive: true }) !== undefined) return true;
  } catch {
    return null;
  }
  try {
    return readdirSync(path).length === 0 ? false : null;
  } catch {
    return null; // not a folder
  }
}

/**
 * Claims the first free id in `worktrees/` by creating its folder (as git names it: the worktree's
 * folder name, then with 1, 2, … after it; two adds at once never share one), and writes it.
 */
function placeAdminFolder(commonDir: string, worktree: string, head: WorktreeHead): string {
  const admins = join(commonDir, 'worktrees');
  mkdirSync(admins, { recursive: true });
  const name =
    basename(worktree)
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^\.+/, '') || 'worktree';
  for (let n = 0; ; n++) {
    const adminDir = join(admins, n === 0 ? name : `${name}${n}`);
    try {
      mkdirSync(adminDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && n < 1000) continue;
      throw error;
    }
    // Locked while it is written, as `git worktree add` does: `git worktree prune` drops an admin
    // folder without `gitdir`, deleting its files under the writes, but passes over a locked one.
    const lock = join(adminDir, 'locked');
    writeFileSync(lock, 'initializing\n');
    // The worktree's `.git` before `gitdir`: from then on prune keeps the folder, lock or not; and
    // git passes over an admin folder without `gitdir`, so it never reads one half-written.
    writeFileSync(join(worktree, '.git'), `gitdir: ${adminDir}\n`);
    writeFileSync(join(adminDir, 'commondir'), '../..\n');
    writeFileSync(
      join(adminDir, 'HEAD'),
      'branch' in head ? `ref: refs/heads/${head.branch}\n` : `${head.commit}\n`,
    );
    writeFileSync(join(adminDir, 'gitdir'), `${join(worktree, '.git')}\n`);
    rmSync(lock, { force: true });
    return adminDir;
  }
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
