/**
 * Committing everything in a stream's worktree, with a Change-Id trailer. Only the worktree's
 * own branch moves (by `git commit`); no other ref is touched.
 */
import { GitSwarmError } from '../errors.js';
import { type GitIdentity, identityEnv } from './author.js';
import { isChangeId, newChangeId, readChangeId, withChangeId } from './change-id.js';
import { git, gitOut, WITHOUT_HOOKS } from './git.js';
import { assertValidRef } from './names.js';
import { readLooseRefs, readRef } from './repo.js';

export interface CommitAllOptions {
  message: string;
  author: GitIdentity;
  /** Keep this Change-Id (e.g. amending a change); a new one otherwise. */
  changeId?: string;
  /**
   * Full refs (`refs/heads/buffer`) to read in the same git call as the new commit, for a caller
   * that needs them next; a missing one reads as null.
   */
  alsoRead?: readonly string[];
}

export interface CommitAllResult {
  commit: string;
  changeId: string;
  /** The refs asked for with `alsoRead`, read right after the commit. */
  refs: Record<string, string | null>;
}

// Hooks are code from the repository; an engine commit must not run them outside a sandbox,
// and signing would prompt. Without the last two, every commit forks `git maintenance run
// --auto` (a process per commit, and gc now and then under the repository lock).
const COMMIT_CONFIG = [
  ...WITHOUT_HOOKS,
  '-c',
  'commit.gpgSign=false',
  '-c',
  'maintenance.auto=false',
  '-c',
  'gc.auto=0',
];

/**
 * Stages everything (`git add -A`) and commits it with a Change-Id trailer (the message's own,
 * else `changeId`, else a new one). Returns null when there is nothing to commit.
 */
export async function commitAll(
  worktree: string,
  options: CommitAllOptions,
): Promise<CommitAllResult | null> {
  if (options.message.trim() === '') {
    throw new GitSwarmError('invalid_input', 'A commit message cannot be empty.');
  }
  if (options.changeId !== undefined && !isChangeId(options.changeId)) {
    throw new GitSwarmError('invalid_input', `Invalid Change-Id ${JSON.stringify(options.changeId)}.`);
  }
  const alsoRead = options.alsoRead ?? [];
  for (const ref of alsoRead) assertValidRef(ref);
  const message = withChangeId(options.message, options.changeId ?? newChangeId());
  const changeId = readChangeId(message) as string;
  const env = identityEnv(options.author);
  await gitOut(['add', '-A'], { cwd: worktree });
  const result = await git(
    [...COMMIT_CONFIG, 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-F', '-'],
    {
      cwd: worktree,
      input: message,
      env,
      okExitCodes: [1],
    },
  );
  if (result.exitCode === 1) {
    // `commit` exits 1 both for "nothing to commit" and for real failures; the index decides.
    const staged = await git(['diff', '--cached', '--quiet'], { cwd: worktree, okExitCodes: [1] });
    if (staged.exitCode === 0) return null;
    throw new GitSwarmError(
      'git_failed',
      `git commit failed: ${result.stderr.trim() || result.stdout.trim()}`,
      {
        details: { git_stderr: result.stderr.trim() },
      },
    );
  }
  // Git just wrote the branch as a loose ref: read it (and the others) back without a process.
  const loose = await readLooseRefs(worktree, ['HEAD', ...alsoRead]);
  const refs: Record<string, string | null> = {};
  if (loose) {
    alsoRead.forEach((ref, i) => {
      refs[ref] = loose[i + 1] as string;
    });
    return { commit: loose[0] as string, changeId, refs };
  }
  // The trailing `--` makes git read every argument as a revision (git echoes it last).
  const read = await git(['rev-parse', 'HEAD', ...alsoRead, '--'], { cwd: worktree, okExitCodes: [128] });
  const oids = read.stdout.trim().split('\n');
  if (read.exitCode === 0 && oids.length === alsoRead.length + 2) {
    alsoRead.forEach((ref, i) => {
      refs[ref] = oids[i + 1] as string;
    });
    return { commit: oids[0] as string, changeId, refs };
  }
  // One of the refs is missing: read them one by one.
  const commit = await gitOut(['rev-parse', 'HEAD'], { cwd: worktree });
  for (const ref of alsoRead) refs[ref] = await readRef(worktree, ref);
  return { commit, changeId, refs };
}
