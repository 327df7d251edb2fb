/**
 * Reviews follow the code (Gerrit's copy conditions): a verdict is given on a stream head, with
 * the fingerprint of the stream's own diff then. It stays fresh while that diff is unchanged (a
 * rebase onto a moved buffer, or a merge of the buffer into the stream, keep it) and goes stale
 * when a commit changes the diff. Whether stale verdicts still count is the repository's
 * `stale_reviews` setting (consensus.ts applies it). The one place staleness is decided.
 *
 * Where the stream's code is known:
 * - a repository with a local clone: the stream branch's head and the patch-id of its diff
 *   against its base branch (the buffer, or a live parent stream's branch), cached per head in
 *   `gitswarm_diff_fingerprints` so each head is diffed once;
 * - no clone (a Mode B server): the latest commit the client recorded, without a fingerprint, so
 *   any new head makes earlier verdicts stale.
 * A review without a head (recorded before heads were, or when no head was known) is stale once
 * the stream records a commit after it.
 */
import { existsSync } from 'node:fs';
import { git } from '../../engine/git.js';
import { assertValidRef } from '../../engine/names.js';
import { diffFingerprint } from '../../engine/patch-id.js';
import { readRef } from '../../engine/repo.js';
import { isGitSwarmError } from '../../errors.js';
import {
  type Executor,
  queryTemplate,
  type Repo,
  type Stream,
  type StreamReview,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import type { CoreDeps } from '../deps.js';

/** What a stream's code is now, as far as it is known. */
export interface StreamCode {
  /** The stream's head commit; null when unknown (no branch, no recorded commit). */
  head: string | null;
  /** The fingerprint of the stream's diff at that head; null when there is no clone to diff in. */
  fingerprint: string | null;
  /** When the stream last recorded a commit (judges reviews that have no head). */
  last_commit_at: string | null;
}

/** The parts of a review its freshness depends on. */
export type ReviewedCode = Pick<StreamReview, 'head_commit' | 'diff_fingerprint' | 'reviewed_at'>;

/** Whether a verdict was given on code that has changed since. */
export function isStaleReview(review: ReviewedCode, code: StreamCode): boolean {
  if (review.head_commit === null) {
    return code.last_commit_at !== null && Date.parse(code.last_commit_at) > Date.parse(review.reviewed_at);
  }
  if (code.head === null || review.head_commit === code.head) return false;
  if (review.diff_fingerprint !== null && code.fingerprint !== null) {
    return review.diff_fingerprint !== code.fingerprint;
  }
  // The head moved and the diffs cannot be compared.
  return true;
}

type StreamRef = Pick<Stream, 'id' | 'branch' | 'base_branch'>;

/** The stream's latest recorded commit: a caller may batch it with its own reads (readStreamCodeAfter). */
export function lastCommitQuery(db: Executor, streamId: string) {
  return lastCommit.bind(db, { streamId });
}

/** Compiled once per store: reviews and merges read it under the repository's lock. */
const lastCommit = queryTemplate(['streamId'], (db, { streamId }) =>
  db
    .selectFrom('gitswarm_stream_commits')
    .select(['commit_hash', 'created_at'])
    .where('stream_id', '=', streamId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1),
);

/** The row lastCommitQuery reads. */
type LastCommit = { commit_hash: string; created_at: string };

async function readLastCommit(db: Executor, streamId: string): Promise<LastCommit | undefined> {
  return (await lastCommit(db, { streamId }))[0];
}

/** The stream's code now: its head and diff fingerprint (see the module comment for how). */
export async function readStreamCode(
  deps: CoreDeps,
  db: Executor,
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch'>,
  stream: StreamRef,
): Promise<StreamCode> {
  return readStreamCodeAfter(deps, db, repo, stream, await readLastCommit(db, stream.id));
}

/** readStreamCode, with the stream's latest commit already read (lastCommitQuery; undefined: none). */
export async function readStreamCodeAfter(
  deps: CoreDeps,
  db: Executor,
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch'>,
  stream: StreamRef,
  last: LastCommit | undefined,
): Promise<StreamCode> {
  if (!repo.path || !existsSync(repo.path)) return codeAt(deps, db, repo, stream, last, undefined);
  return codeAt(deps, db, repo, stream, last, await readRef(repo.path, `refs/heads/${stream.branch}`));
}

/**
 * The code of several streams (a merge queue), as readStreamCode, with their heads read in one
 * git call instead of one each.
 */
export async function readStreamCodes(
  deps: CoreDeps,
  db: Executor,
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch'>,
  streams: readonly StreamRef[],
): Promise<Map<string, StreamCode>> {
  const codes = new Map<string, StreamCode>();
  const clone = repo.path && existsSync(repo.path) ? repo.path : null;
  const heads = clone && streams.length > 0 ? await readBranchHeads(clone, streams) : null;
  for (const stream of streams) {
    const head = heads ? (heads.get(`refs/heads/${stream.branch}`) ?? null) : undefined;
    const last = await readLastCommit(db, stream.id);
    codes.set(stream.id, await codeAt(deps, db, repo, stream, last, head));
  }
  return codes;
}

/** Refname → head of the streams' branches that exist, from one `for-each-ref`. */
async function readBranchHeads(repoDir: string, streams: readonly StreamRef[]): Promise<Map<string, string>> {
  const refs = streams.map((stream) => `refs/heads/${stream.branch}`);
  for (const ref of refs) assertValidRef(ref);
  const out = await git(['for-each-ref', '--format=%(refname) %(objectname)', ...refs], { cwd: repoDir });
  const wanted = new Set(refs);
  const heads = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const [ref, oid] = line.split(' ');
    // A pattern also matches refs below it (refs/heads/a/b for refs/heads/a): only exact ones count.
    if (ref && oid && wanted.has(ref)) heads.set(ref, oid);
  }
  return heads;
}

/** The code at `head` (null: no branch; undefined: no clone to read one in). */
async function codeAt(
  deps: CoreDeps,
  db: Executor,
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch'>,
  stream: StreamRef,
  last: LastCommit | undefined,
  head: string | null | undefined,
): Promise<StreamCode> {
  const lastCommitAt = last?.created_at ?? null;
  if (head === undefined) {
    return { head: last?.commit_hash ?? null, fingerprint: null, last_commit_at: lastCommitAt };
  }
  if (head === null) return { head: null, fingerprint: null, last_commit_at: lastCommitAt };
  const fingerprint = await headFingerprint(deps, db, repo, stream.base_branch ?? repo.buffer_branch, head);
  return { head, fingerprint, last_commit_at: lastCommitAt };
}

/**
 * The fingerprint of `head`'s diff against `baseBranch`, from the cache or computed and cached.
 * For a given head it changes only if the base takes in the head's own commits (the stream
 * merged), after which its reviews no longer matter. A base branch that is gone (a parent stream
 * deleted) is diffed against the buffer instead.
 */
async function headFingerprint(
  deps: CoreDeps,
  db: Executor,
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch'>,
  baseBranch: string,
  head: string,
): Promise<string | null> {
  const cached = await db
    .selectFrom('gitswarm_diff_fingerprints')
    .select('fingerprint')
    .where('repo_id', '=', repo.id)
    .where('base_branch', '=', baseBranch)
    .where('head_commit', '=', head)
    .executeTakeFirst();
  if (cached) return cached.fingerprint;
  const repoDir = repo.path as string;
  let base = baseBranch;
  if ((await readRef(repoDir, `refs/heads/${base}`)) === null) base = repo.buffer_branch;
  let fingerprint: string;
  try {
    fingerprint = await diffFingerprint(repoDir, `refs/heads/${base}`, head);
  } catch (error) {
    // No buffer either (a half-initialised repository): nothing to compare with.
    if (isGitSwarmError(error) && error.code === 'git_failed') return null;
    throw error;
  }
  await db
    .insertInto('gitswarm_diff_fingerprints')
    .values({
      repo_id: repo.id,
      base_branch: baseBranch,
      head_commit: head,
      fingerprint,
      created_at: isoNow(deps.clock),
    })
    .onConflict((oc) => oc.columns(['repo_id', 'base_branch', 'head_commit']).doNothing())
    .execute();
  return fingerprint;
}
