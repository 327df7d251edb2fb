/**
 * The git a connected clone does for merge, promote and stabilize: fetch the shared branches,
 * read their remote heads, publish by compare-and-swap (a push that succeeds only while the
 * remote branch is still at the head the change was computed on), and keep the clone's own
 * copy of the branch in step when nothing is checked out on it. Pure git, no governance.
 */
import { git } from '../engine/git.js';
import { hasCommit, readCommitText } from '../engine/loose-objects.js';
import { assertValidBranch, assertValidTag } from '../engine/names.js';
import { assertRemoteName, casPush, fetchRefs, trackingRef } from '../engine/remote.js';
import { isAncestor, readLooseRefs, readRef } from '../engine/repo.js';
import { worktreesOnBranch } from '../engine/worktree-list.js';
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
  /** The clone's own branch head, else the remote's as last fetched, else null. */
  branchHead(branch: string): Promise<string | null>;
  hasCommit(commit: string): Promise<boolean>;
  /**
   * Pushes `commit` to the branch only while the remote branch is at `expected` (null: absent).
   * `ok` false: the remote moved (nothing pushed); `already`: the remote was at `commit` already.
   */
  pushIfAt(
    branch: string,
    commit: string,
    expected: string | null,
  ): Promise<{ ok: boolean; already: boolean }>;
  /** Pushes a new tag; false when the remote already has a tag of that name. */
  pushTag(name: string): Promise<boolean>;
  /** Deletes a tag of this clone (one it made and could not record). */
  deleteTag(name: string): Promise<void>;
  /** `git cat-file commit <commit>`: what a merge report carries. */
  commitObject(commit: string): Promise<string>;
  /**
   * Moves the clone's own branch from `from` to `to` when it is there (or behind `to`) and no
   * worktree has it checked out; otherwise leaves it (the next fetch brings the news).
   */
  followLocalBranch(branch: string, from: string, to: string): Promise<void>;
}

/** ConnectedGit over the clone at `root` and its remote `remote` (engine/remote.ts does the pushing). */
export function connectedGit(root: string, remote: string): ConnectedGit {
  assertRemoteName(remote);
  const tracking = (branch: string) => trackingRef(`refs/heads/${assertValidBranch(branch)}`, { remote });
  return {
    root,
    remote,
    async fetch(branches, options = {}) {
      const refs = branches.map((b) => `refs/heads/${assertValidBranch(b)}`);
      if (options.tags !== undefined) {
        const tags = await listRemoteTags(root, remote, options.tags);
        refs.push(...tags);
      }
      await fetchRefs(root, refs, { remote });
    },
    remoteHead(branch) {
      return readRef(root, tracking(branch));
    },
    async branchHead(branch) {
      return (
        (await readRef(root, `refs/heads/${assertValidBranch(branch)}`)) ?? readRef(root, tracking(branch))
      );
    },
    hasCommit(commit) {
      return hasCommit(root, commit);
    },
    async pushIfAt(branch, commit, expected) {
      const ref = `refs/heads/${assertValidBranch(branch)}`;
      const outcome = await casPush(root, { ref, oid: commit, expected: expected ?? 'absent' }, { remote });
      if (outcome.status === 'rejected') return { ok: false, already: false };
      // The remote-tracking ref follows the push, so the next merge starts from it (git's push
      // moves it itself where the remote's fetch refspec maps the branch).
      if ((await readLooseRefs(root, [tracking(branch)]))?.[0] !== commit) {
        await git(['update-ref', tracking(branch), commit], { cwd: root });
      }
      return { ok: true, already: outcome.status === 'up_to_date' };
    },
    async pushTag(name) {
      const ref = `refs/tags/${assertValidTag(name)}`;
      const oid = await readRef(root, ref);
      if (oid === null) throw new GitSwarmError('not_found', `Tag ${name} does not exist in this clone.`);
      const outcome = await casPush(root, { ref, oid, expected: 'absent' }, { remote });
      return outcome.status !== 'rejected';
    },
    async deleteTag(name) {
      await git(['tag', '-d', '--', assertValidTag(name)], { cwd: root });
    },
    commitObject(commit) {
      // Byte for byte (not trimmed): the server hashes it to check it is the commit.
      return readCommitText(root, commit);
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

/** The remote's tags matching a pattern (`green/*`), as full refs. */
async function listRemoteTags(root: string, remote: string, pattern: string): Promise<string[]> {
  const out = await git(['ls-remote', '--refs', '--tags', remote, '--', `refs/tags/${pattern}`], {
    cwd: root,
  });
  return out.stdout
    .split('\n')
    .map((line) => line.split('\t')[1])
    .filter((ref): ref is string => ref !== undefined && ref !== '');
}
