/**
 * The git half of a migration: a connected clone shares its branches through the remote, so
 * before the server learns of the history, the branches it names are published there: the buffer,
 * the promote target, and the branch of every stream still open. Pushes only move a remote branch
 * forward (or create it); a remote branch that went elsewhere stops the migration before anything
 * is uploaded. Pushing again is a no-op, so a resumed migration pushes what is missing only.
 */
import { git, WITHOUT_HOOKS } from '../engine/git.js';
import { assertValidBranch } from '../engine/names.js';
import { GitSwarmError } from '../errors.js';
import type { Executor, Repo } from '../store/index.js';

/** Stream states whose branch still matters to others (merged work is in the buffer). */
const OPEN_STREAMS = ['active', 'in_review', 'conflicted'] as const;

export interface PublishedBranches {
  /** Branches the remote did not have at this commit before. */
  pushed: string[];
  /** Branches the remote already had at this commit. */
  up_to_date: string[];
}

async function localHead(root: string, branch: string): Promise<string | null> {
  const found = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
    cwd: root,
    okExitCodes: [1],
  });
  return found.exitCode === 0 ? found.stdout.trim() : null;
}

/** The branches to publish: buffer, promote target, open streams' (those that exist locally). */
async function branchesToPublish(db: Executor, repo: Repo): Promise<string[]> {
  const streams = await db
    .selectFrom('gitswarm_streams')
    .select('branch')
    .where('repo_id', '=', repo.id)
    .where('status', 'in', [...OPEN_STREAMS])
    .orderBy('created_at')
    .execute();
  const all = [repo.buffer_branch, repo.promote_target, ...streams.map((stream) => stream.branch)];
  return [...new Set(all)].map(assertValidBranch);
}

/** Pushes the branches a connected clone shares, fast-forward only; see the module comment. */
export async function publishBranches(
  root: string,
  db: Executor,
  repo: Repo,
  remote: string,
): Promise<PublishedBranches> {
  const refspecs: string[] = [];
  for (const branch of await branchesToPublish(db, repo)) {
    const oid = await localHead(root, branch);
    if (oid) refspecs.push(`${oid}:refs/heads/${branch}`);
  }
  const published: PublishedBranches = { pushed: [], up_to_date: [] };
  if (refspecs.length === 0) return published;
  const result = await git([...WITHOUT_HOOKS, 'push', '--porcelain', remote, '--', ...refspecs], {
    cwd: root,
    okExitCodes: [1],
  });
  const rejected: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const match = /^(.)\t[^:]*:refs\/heads\/(\S+)\t/.exec(line);
    if (!match?.[1] || !match[2]) continue;
    if (match[1] === '!') rejected.push(match[2]);
    else if (match[1] === '=') published.up_to_date.push(match[2]);
    else published.pushed.push(match[2]);
  }
  if (rejected.length > 0 || result.exitCode !== 0) {
    throw new GitSwarmError(
      'invalid_state',
      `The remote ${remote} has ${rejected.join(', ') || 'branches'} elsewhere than this clone: nothing was migrated.`,
      {
        hint: `Fetch from ${remote} and bring those branches together (or push them yourself), then migrate again.`,
        details: { rejected, git_stderr: result.stderr.trim() },
      },
    );
  }
  return published;
}

/** The buffer's local head, for the server's record of it (null when the branch is missing). */
export function bufferHead(root: string, repo: Repo): Promise<string | null> {
  return localHead(root, repo.buffer_branch);
}
