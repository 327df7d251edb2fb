/**
 * The git a connected clone does for merge, promote and stabilize: fetch the shared branches,
 * read their remote heads, publish by compare-and-swap (a push that succeeds only while the
 * remote branch is still at the head the change was computed on), and keep the clone's own
 * copy of the branch in step when nothing is checked out on it. Pure git, no governance.
 */
import { worktreesOnBranch } from '../core/checked-out-branches.js';
import { git } from '../engine/git.js';
import { assertValidBranch, assertValidTag, isObjectId } from '../engine/names.js';
import { isAncestor, readRef } from '../engine/repo.js';
import { GitSwarmError } from '../errors.js';

export interface ConnectedGit {
  /** The main repository root of the clone. */
  readonly root: string;
  /** The shared remote's name (default `origin`). */
  readonly remote: string;
  /** Fetches these branches into `refs/remotes/<remote>/…` (and green tags when asked). */
  fetch(branches: readonly string[], options?: { tags?: string }): Promise<void>;
  /** The branch's head on the remote as last fetched, or null when it has none. */
  remoteHead(branch: string): Promise<string | null>;
  hasCommit(commit: string): Promise<boolean>;
  /** Pushes `commit` to the branch only while the remote branch is at `expected` (null: absent). */
  pushIfAt(branch: string, commit: string, expected: string | null): Promise<{ ok: boolean }>;
  /** Pushes a new tag; false when the remote already has a tag of that name. */
  pushTag(name: string): Promise<boolean>;
  /** `git cat-file commit <commit>`: what a merge report carries. */
  commitObject(commit: string): Promise<string>;
  /**
   * Moves the clone's own branch from `from` to `to` when it is there (or behind `to`) and no
   * worktree has it checked out; otherwise leaves it (the next fetch brings the news).
   */
  followLocalBranch(branch: string, from: string, to: string): Promise<void>;
}

/** ConnectedGit over the clone at `root` and its remote `remote`. */
export function connectedGit(root: string, remote: string): ConnectedGit {
  if (remote.startsWith('-') || remote.trim() === '') {
    throw new GitSwarmError('invalid_input', `Invalid git remote name ${JSON.stringify(remote)}.`);
  }
  const tracking = (branch: string) => `refs/remotes/${remote}/${assertValidBranch(branch)}`;
  return {
    root,
    remote,
    async fetch(branches, options = {}) {
      const refspecs = branches.map((b) => `+refs/heads/${assertValidBranch(b)}:${tracking(b)}`);
      if (options.tags !== undefined) refspecs.push(`+refs/tags/${options.tags}:refs/tags/${options.tags}`);
      const result = await git(['fetch', '--quiet', '--no-tags', '--', remote, ...refspecs], {
        cwd: root,
        okExitCodes: [1, 128],
      });
      if (result.exitCode !== 0) {
        // A branch the remote lacks fails the whole fetch: fetch the others one by one.
        if (branches.length > 1 || options.tags !== undefined) {
          for (const branch of branches) await this.fetch([branch]).catch(() => {});
          if (options.tags !== undefined) await this.fetch([], { tags: options.tags }).catch(() => {});
          return;
        }
        throw remoteFailed(remote, 'fetch', result.stderr);
      }
    },
    remoteHead(branch) {
      return readRef(root, tracking(branch));
    },
    async hasCommit(commit) {
      if (!isObjectId(commit)) return false;
      const result = await git(['cat-file', '-e', `${commit}^{commit}`], {
        cwd: root,
        okExitCodes: [1, 128],
      });
      return result.exitCode === 0;
    },
    async pushIfAt(branch, commit, expected) {
      assertValidBranch(branch);
      const ref = `refs/heads/${branch}`;
      const lease = `--force-with-lease=${ref}:${expected ?? ''}`;
      const result = await git(['push', '--porcelain', '--quiet', lease, '--', remote, `${commit}:${ref}`], {
        cwd: root,
        okExitCodes: [1],
      });
      if (result.exitCode === 0) {
        // The remote-tracking ref follows the push (git does so only for configured refspecs).
        await git(['update-ref', tracking(branch), commit], { cwd: root });
        return { ok: true };
      }
      if (/\[rejected\]|stale info|fetch first|non-fast-forward/.test(result.stdout + result.stderr)) {
        return { ok: false };
      }
      throw remoteFailed(remote, 'push', result.stderr || result.stdout);
    },
    async pushTag(name) {
      assertValidTag(name);
      const ref = `refs/tags/${name}`;
      const result = await git(['push', '--porcelain', '--quiet', '--', remote, `${ref}:${ref}`], {
        cwd: root,
        okExitCodes: [1],
      });
      if (result.exitCode === 0) return true;
      if (/\[rejected\]|already exists/.test(result.stdout + result.stderr)) return false;
      throw remoteFailed(remote, 'push', result.stderr || result.stdout);
    },
    async commitObject(commit) {
      // Byte for byte (not trimmed): the server hashes it to check it is the commit.
      return (await git(['cat-file', 'commit', commit], { cwd: root })).stdout;
    },
    async followLocalBranch(branch, from, to) {
      const ref = `refs/heads/${assertValidBranch(branch)}`;
      const local = await readRef(root, ref);
      if (local === null || local === to) return;
      if (local !== from && !(await isAncestor(root, local, to))) return;
      if ((await worktreesOnBranch(root, branch)).length > 0) return;
      await git(['update-ref', ref, to, local], { cwd: root, okExitCodes: [128] });
    },
  };
}

function remoteFailed(remote: string, what: string, stderr: string): GitSwarmError {
  const line = stderr.trim().split('\n')[0] ?? '';
  return new GitSwarmError('git_failed', `git ${what} from ${remote} failed: ${line}`, {
    hint: `Check the remote with: git remote -v, then: git fetch ${remote}`,
    details: { remote, git_stderr: stderr.trim() },
  });
}
