/**
 * Worktree-free rebase: the branch's own commits are replayed onto a new base with
 * `merge-tree` (git 2.40+: `--merge-base`; older: the synthetic-parent trick) and new commit
 * objects keeping message (so the Change-Id), author and author date. The branch moves by one
 * compare-and-swap at the end; a conflict moves nothing.
 */
import { GitSwarmError } from '../errors.js';
import { git, hasMergeTreeBase } from './git.js';
import { assertRevision, assertValidBranch } from './names.js';
import { type CommitParts, identLine, mergeTree, syntheticCommit, writeCommits } from './objects.js';
import { moveRef, type OpLog } from './oplog.js';
import { isAncestor } from './repo.js';
import { syncWorktreeAfterRefMove } from './worktrees.js';

export type RebaseOutcome =
  | { kind: 'rebased'; head: string; previousHead: string; opId: string; mapping: Record<string, string> }
  | { kind: 'up_to_date'; head: string }
  | { kind: 'conflicted'; paths: string[]; at: string };

export interface RebaseBranchOptions {
  /** Branch name (not a full ref), e.g. `stream/<id>`. */
  branch: string;
  /** The new base (an object id). */
  onto: string;
  oplog: OpLog;
  streamId?: string | null;
  agentId?: string | null;
  /** The branch's worktree, clean (the caller guarantees it): updated after the move. */
  worktree?: string;
  /**
   * The commit the branch was last built on, when known (`git rebase --onto <onto> <upstream>`):
   * commits it holds are not replayed. This keeps a rebased parent's old commits out of its
   * children, and drops an abandoned parent's commits from a child moved onto the buffer.
   */
  upstream?: string | null;
}

interface PickedCommit {
  oid: string;
  parent: string | null;
  authorIdent: string;
  committerName: string;
  committerEmail: string;
  message: string;
}

const LOG_FIELDS = ['%H', '%P', '%an', '%ae', '%ad', '%cn', '%ce', '%B'];
const MAX_ATTEMPTS = 4;

/** The non-merge commits of `head` in none of `exclude`, oldest first, with what replay needs of each (one spawn). */
async function commitsToReplay(
  repoDir: string,
  exclude: readonly string[],
  head: string,
): Promise<PickedCommit[]> {
  const result = await git(
    [
      // Messages exactly as stored, in UTF-8 (new commits carry no encoding header); no
      // signature lines mixed into the output whatever the user's config says.
      '-c',
      'i18n.logOutputEncoding=UTF-8',
      'log',
      '--no-show-signature',
      '--reverse',
      '--no-merges',
      '-z',
      '--date=raw',
      `--format=${LOG_FIELDS.join('%x00')}`,
      head,
      ...exclude.map((oid) => `^${oid}`),
      '--',
    ],
    { cwd: repoDir },
  );
  const fields = result.stdout.split('\0');
  const commits: PickedCommit[] = [];
  for (let i = 0; i + LOG_FIELDS.length <= fields.length; i += LOG_FIELDS.length) {
    const [oid = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', message = ''] = fields.slice(
      i,
      i + LOG_FIELDS.length,
    );
    commits.push({
      oid,
      parent: parents === '' ? null : (parents.split(' ')[0] ?? null),
      authorIdent: `${an} <${ae}> ${ad}`,
      committerName: cn,
      committerEmail: ce,
      message,
    });
  }
  return commits;
}

/**
 * Replays `commits` onto `onto` (tree `ontoTree`). Per commit: one `merge-tree` and one
 * `hash-object` that writes the new commit together with the next pick's synthetic parent.
 */
async function replay(
  repoDir: string,
  onto: string,
  ontoTree: string,
  commits: readonly PickedCommit[],
): Promise<{ head: string; mapping: Record<string, string> } | { conflict: string[]; at: string }> {
  const withBase = await hasMergeTreeBase();
  // Committer date: when the replay happens, as `git rebase` does.
  const now = Math.floor(Date.now() / 1000);
  let head = onto;
  const mapping: Record<string, string> = {};
  const useSynthetic = (commit: PickedCommit | undefined) =>
    commit !== undefined && (!withBase || commit.parent === null);
  const first = commits[0];
  let ours: string | undefined = useSynthetic(first)
    ? (await writeCommits(repoDir, [syntheticCommit(ontoTree, first?.parent ?? null)]))[0]
    : undefined;
  for (let i = 0; i < commits.length; i++) {
    const commit = commits[i] as PickedCommit;
    const next = commits[i + 1];
    const merged =
      ours === undefined
        ? await mergeTree(repoDir, head, commit.oid, { mergeBase: commit.parent as string })
        : await mergeTree(repoDir, ours, commit.oid, { allowUnrelated: commit.parent === null });
    if (!merged.clean) return { conflict: merged.paths, at: commit.oid };
    const batch: CommitParts[] = [
      {
        tree: merged.tree,
        parents: [head],
        author: commit.authorIdent,
        committer: identLine(commit.committerName, commit.committerEmail, now),
        message: commit.message,
      },
    ];
    if (useSynthetic(next)) batch.push(syntheticCommit(merged.tree, next?.parent ?? null));
    const written = await writeCommits(repoDir, batch);
    head = written[0] as string;
    ours = written[1];
    mapping[commit.oid] = head;
  }
  return { head, mapping };
}

/**
 * The upstream whose commits must be left out: none when the new base already holds it (the usual
 * cascade, where excluding it changes nothing) or when it is no longer in the repository.
 */
async function upstreamToDrop(
  repoDir: string,
  upstream: string | null | undefined,
  onto: string,
): Promise<string | null> {
  if (!upstream || upstream === onto) return null;
  const held = await git(['merge-base', '--is-ancestor', upstream, onto], {
    cwd: repoDir,
    okExitCodes: [1, 128],
  });
  return held.exitCode === 1 ? upstream : null;
}

/** The branch head, the new base and its tree (one spawn); not_found when either is missing. */
async function resolveRebase(
  repoDir: string,
  ref: string,
  options: RebaseBranchOptions,
): Promise<{ head: string; onto: string; ontoTree: string }> {
  // The trailing `--` makes git read every argument as a revision.
  const resolved = await git(['rev-parse', ref, `${options.onto}^{commit}`, `${options.onto}^{tree}`, '--'], {
    cwd: repoDir,
    okExitCodes: [128],
  });
  const [head, onto, ontoTree] = resolved.stdout.trim().split('\n');
  if (resolved.exitCode !== 0 || head === undefined || onto === undefined || ontoTree === undefined) {
    throw new GitSwarmError(
      'not_found',
      `Branch ${options.branch} or revision ${options.onto} does not exist.`,
    );
  }
  return { head, onto, ontoTree };
}

/**
 * Replays the branch's non-merge commits since it left `onto` onto `onto`, worktree-free, and
 * publishes by compare-and-swap (retried from scratch if the branch itself moved meanwhile). A
 * branch with nothing to replay that is behind `onto` is fast-forwarded to it (`rebased`, empty
 * mapping). `up_to_date` when `onto` is already in the branch (or only merges are left); `conflicted`
 * (nothing moved) at the first commit that does not apply. With `worktree`, that clean worktree
 * follows the branch. The operation is left pending for the caller to complete.
 */
export async function rebaseBranch(repoDir: string, options: RebaseBranchOptions): Promise<RebaseOutcome> {
  assertValidBranch(options.branch);
  assertRevision(options.onto);
  if (options.upstream) assertRevision(options.upstream);
  const ref = `refs/heads/${options.branch}`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { head, onto, ontoTree } = await resolveRebase(repoDir, ref, options);
    const upstream = await upstreamToDrop(repoDir, options.upstream, onto);
    if (!upstream) {
      const based = await git(['merge-base', '--is-ancestor', onto, head], {
        cwd: repoDir,
        okExitCodes: [1],
      });
      if (based.exitCode === 0) return { kind: 'up_to_date', head };
    }
    const commits = await commitsToReplay(repoDir, upstream ? [onto, upstream] : [onto], head);
    let replayed: { head: string; mapping: Record<string, string> };
    if (commits.length === 0) {
      // Nothing of its own: a branch behind `onto` (or built only on a dropped upstream) follows
      // it, as `git rebase` does; one that only holds merges `onto` lacks is left alone rather than
      // lose them.
      if (!upstream && !(await isAncestor(repoDir, head, onto))) return { kind: 'up_to_date', head };
      replayed = { head: onto, mapping: {} };
    } else {
      const outcome = await replay(repoDir, onto, ontoTree, commits);
      if ('conflict' in outcome) return { kind: 'conflicted', paths: outcome.conflict, at: outcome.at };
      replayed = outcome;
    }
    const fastForward = commits.length === 0;
    const move = await moveRef(repoDir, options.oplog, {
      ref,
      old: head,
      new: replayed.head,
      kind: 'rebase',
      description: `${fastForward ? 'Fast-forward' : 'Rebase'} ${options.branch} onto ${onto}`,
      streamId: options.streamId ?? null,
      agentId: options.agentId ?? null,
      metadata: { onto, mapping: replayed.mapping, ...(fastForward ? { fast_forward: true } : {}) },
    });
    if (!move.moved) continue;
    if (options.worktree !== undefined) await syncWorktreeAfterRefMove(options.worktree, head, replayed.head);
    return {
      kind: 'rebased',
      head: replayed.head,
      previousHead: head,
      opId: move.opId,
      mapping: replayed.mapping,
    };
  }
  throw new GitSwarmError('ref_moved', `Branch ${options.branch} kept moving; it was not rebased.`);
}
