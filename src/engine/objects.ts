/**
 * Git objects the engine writes itself: commits built from parts (several in one
 * `hash-object` spawn) and three-way tree merges with a chosen base, worktree-free.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from './git.js';

/** A commit object to write: tree, parents, ident lines (`Name <email> <unix-seconds> <±hhmm>`) and message. */
export interface CommitParts {
  tree: string;
  parents: readonly string[];
  author: string;
  committer: string;
  message: string;
}

/** The ident of throw-away commits: fixed, so the same synthetic commit is written only once. */
const SYNTHETIC_IDENT = 'GitSwarm <gitswarm@invalid> 0 +0000';

/** A throw-away commit with `tree` whose only parent is `parent` (none for a root). */
export function syntheticCommit(tree: string, parent: string | null): CommitParts {
  return {
    tree,
    parents: parent === null ? [] : [parent],
    author: SYNTHETIC_IDENT,
    committer: SYNTHETIC_IDENT,
    message: 'gitswarm synthetic\n',
  };
}

function serializeCommit(parts: CommitParts): string {
  const parents = parts.parents.map((parent) => `parent ${parent}\n`).join('');
  return `tree ${parts.tree}\n${parents}author ${parts.author}\ncommitter ${parts.committer}\n\n${parts.message}`;
}

/** Writes commit objects and returns their ids, in order: one spawn however many there are. */
export async function writeCommits(repoDir: string, commits: readonly CommitParts[]): Promise<string[]> {
  if (commits.length === 0) return [];
  if (commits.length === 1) {
    const out = await git(['hash-object', '-t', 'commit', '-w', '--stdin'], {
      cwd: repoDir,
      input: serializeCommit(commits[0] as CommitParts),
    });
    return [out.stdout.trim()];
  }
  const dir = await mkdtemp(join(tmpdir(), 'gitswarm-obj-'));
  try {
    const paths = await Promise.all(
      commits.map(async (commit, index) => {
        const path = join(dir, String(index));
        await writeFile(path, serializeCommit(commit));
        return path;
      }),
    );
    const out = await git(['hash-object', '-t', 'commit', '-w', '--no-filters', '--stdin-paths'], {
      cwd: repoDir,
      input: `${paths.join('\n')}\n`,
    });
    return out.stdout.trim().split('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A merged tree, or the paths that conflict. */
export type TreeMerge = { clean: true; tree: string } | { clean: false; paths: string[]; tree: string };

/**
 * `git merge-tree --write-tree` of two commits (merge base found by git, or `mergeBase` on
 * git 2.40+). Conflicts come back as data: the conflicted paths, parsed from `-z` output.
 */
export async function mergeTree(
  repoDir: string,
  ours: string,
  theirs: string,
  options: { mergeBase?: string; allowUnrelated?: boolean } = {},
): Promise<TreeMerge> {
  const args = ['merge-tree', '--write-tree', '-z', '--name-only', '--no-messages'];
  if (options.mergeBase !== undefined) args.push(`--merge-base=${options.mergeBase}`);
  if (options.allowUnrelated) args.push('--allow-unrelated-histories');
  const result = await git([...args, ours, theirs], { cwd: repoDir, okExitCodes: [1] });
  const [tree = '', ...rest] = result.stdout.split('\0');
  if (result.exitCode === 0) return { clean: true, tree };
  const paths = [...new Set(rest.filter((path) => path !== ''))];
  return { clean: false, paths, tree };
}

/** An ident line for `identity` at `date` (unix seconds, timezone `+0000`). */
export function identLine(name: string, email: string, unixSeconds: number, zone = '+0000'): string {
  return `${name} <${email}> ${unixSeconds} ${zone}`;
}
