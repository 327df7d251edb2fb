/**
 * What a red run may bisect: GitSwarm's merges on the buffer's first-parent line since the last
 * green tag, or, before any green, since the buffer's baseline (the commit `init` started the
 * buffer from). The project's own history before GitSwarm is never searched: nobody there can be
 * handed a task.
 *
 * Repositories set up before the baseline was recorded fall back to the first parent of the
 * first merge GitSwarm recorded on the buffer (the buffer head just before GitSwarm's first
 * merge); with no merge recorded there is nothing to bisect.
 *
 * A merge reverted since (by an earlier red run) would still fail every probe up to its revert
 * and take the blame again: the range starts after the newest revert commit on the line instead
 * (below the tested head), as a baseline, assumed to pass and so run first.
 */
import { findLastGreen, type GreenTag } from '../../engine/green-tags.js';
import { firstParent, isAncestor, listFirstParentCommits, listFirstParentMerges } from '../../engine/repo.js';
import type { Executor, Repo } from '../../store/index.js';
import type { CoreDeps } from '../deps.js';

/** Records the buffer's starting commit, once (`init`; a later call keeps the first). */
export async function recordBufferBaseline(
  deps: CoreDeps,
  repo: Pick<Repo, 'id'>,
  commit: string,
): Promise<void> {
  await deps.store.db
    .updateTable('gitswarm_repos')
    .set({ buffer_baseline: commit })
    .where('id', '=', repo.id)
    .where('buffer_baseline', 'is', null)
    .execute();
}

export interface BisectStart {
  /** The commit just before the range: known (green) or taken (baseline) to pass; null: none. */
  commit: string | null;
  /** Where it comes from, for progress lines and the record. */
  kind: 'green' | 'baseline' | 'first_merge' | 'revert' | 'none';
  green: GreenTag | null;
}

/** The bisection's lower bound for a red `head` (see the file's comment). */
async function findBisectStart(
  db: Executor,
  repo: Pick<Repo, 'id' | 'buffer_branch' | 'buffer_baseline'>,
  repoDir: string,
  head: string,
): Promise<BisectStart> {
  const start = await findRangeStart(db, repo, repoDir, head);
  if (start.kind === 'none') return start;
  // The newest revert on the line after the start and before the head, if any.
  const line = (await listFirstParentCommits(repoDir, start.commit, head)).slice(0, -1);
  const reverts = new Set<string>();
  for (let i = 0; i < line.length; i += 500) {
    const rows = await db
      .selectFrom('gitswarm_merges')
      .select('revert_commit')
      .where('repo_id', '=', repo.id)
      .where('revert_commit', 'in', line.slice(i, i + 500))
      .execute();
    for (const row of rows) if (row.revert_commit) reverts.add(row.revert_commit);
  }
  const newest = line.findLast((commit) => reverts.has(commit));
  return newest ? { commit: newest, kind: 'revert', green: start.green } : start;
}

async function findRangeStart(
  db: Executor,
  repo: Pick<Repo, 'id' | 'buffer_branch' | 'buffer_baseline'>,
  repoDir: string,
  head: string,
): Promise<BisectStart> {
  const green = await findLastGreen(repoDir, head);
  if (green) return { commit: green.commit, kind: 'green', green };
  if (repo.buffer_baseline && (await isAncestor(repoDir, repo.buffer_baseline, head).catch(() => false))) {
    return { commit: repo.buffer_baseline, kind: 'baseline', green: null };
  }
  const merges = await db
    .selectFrom('gitswarm_merges')
    .select('merge_commit')
    .where('repo_id', '=', repo.id)
    .where('target_branch', '=', repo.buffer_branch)
    .orderBy('merged_at')
    .orderBy('id')
    .execute();
  for (const { merge_commit } of merges) {
    if (!(await isAncestor(repoDir, merge_commit, head).catch(() => false))) continue;
    const parent = await firstParent(repoDir, merge_commit);
    if (parent) return { commit: parent, kind: 'first_merge', green: null };
  }
  return { commit: head, kind: 'none', green: null };
}

/** Describes the lower bound in a progress line: `green/…`, `the baseline 1a2b3c4d5e6f`. */
export function describeBisectStart(start: BisectStart): string {
  const short = start.commit?.slice(0, 12) ?? '';
  switch (start.kind) {
    case 'green':
      return start.green?.name ?? short;
    case 'baseline':
      return `the baseline ${short} (gitswarm init)`;
    case 'first_merge':
      return `${short} (before GitSwarm's first merge)`;
    case 'revert':
      return `the revert ${short}`;
    case 'none':
      return 'nothing GitSwarm merged';
  }
}

/** What a red `head` bisects: the lower bound and GitSwarm's merges after it, oldest first. */
export interface BisectRange {
  start: BisectStart;
  candidates: string[];
}

/** The bisection's range for a red `head` (see the file's comment). */
export async function findBisectRange(
  db: Executor,
  repo: Pick<Repo, 'id' | 'buffer_branch' | 'buffer_baseline'>,
  repoDir: string,
  head: string,
): Promise<BisectRange> {
  const start = await findBisectStart(db, repo, repoDir, head);
  return { start, candidates: await listBisectCandidates(db, repo, repoDir, start, head) };
}

/**
 * GitSwarm's merges on `head`'s first-parent line after `start`, oldest first: merges the store
 * has no record of (made outside GitSwarm) are not candidates, as no stream can answer for them.
 */
async function listBisectCandidates(
  db: Executor,
  repo: Pick<Repo, 'id'>,
  repoDir: string,
  start: BisectStart,
  head: string,
): Promise<string[]> {
  if (start.kind === 'none') return [];
  const merges = await listFirstParentMerges(repoDir, start.commit, head);
  if (merges.length === 0) return [];
  const recorded = new Set<string>();
  // Chunked: a long range must not hit a bound-parameter limit.
  for (let i = 0; i < merges.length; i += 500) {
    const rows = await db
      .selectFrom('gitswarm_merges')
      .select('merge_commit')
      .where('repo_id', '=', repo.id)
      .where('merge_commit', 'in', merges.slice(i, i + 500))
      .execute();
    for (const row of rows) recorded.add(row.merge_commit);
  }
  return merges.filter((commit) => recorded.has(commit));
}
