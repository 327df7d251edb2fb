/**
 * Conflicts as data: the conflicted paths of a three-way merge with the base, ours and theirs
 * contents of each (what `git merge-tree --write-tree` puts in stages 1, 2 and 3), read without a
 * worktree; and bringing a commit into a stream's own worktree (`git merge --no-commit`), which
 * leaves conflict markers in the files for the agent to resolve.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GitSwarmError } from '../errors.js';
import { type GitIdentity, identityEnv } from './author.js';
import { git, gitBytes, WITHOUT_HOOKS } from './git.js';
import { assertRevision, isObjectId } from './names.js';
import { mergeInProgress } from './repo.js';

/** The three sides of a conflicted path. */
export type ConflictSide = 'base' | 'ours' | 'theirs';

/** One conflicted path: each side's content, null where that side lacks the file. */
export interface ConflictFile {
  path: string;
  /** `utf8` when every side present is valid UTF-8 text; else every side is base64. */
  encoding: 'utf8' | 'base64';
  base: string | null;
  ours: string | null;
  theirs: string | null;
  /** Each side's file mode (`100644`, `100755`, `120000` a symlink, `160000` a submodule), null when absent. */
  modes: Record<ConflictSide, string | null>;
  /** Each side's blob size in bytes, null when absent. */
  sizes: Record<ConflictSide, number | null>;
  /** Sides present in git but left out (null here) because they exceed the size caps. */
  omitted: ConflictSide[];
}

export interface ReadConflictsOptions {
  /** The commit the agent works on (stage 2). */
  ours: string;
  /** The commit it must merge with (stage 3). */
  theirs: string;
  /** Largest side returned, in bytes (default 1 MiB); larger sides are listed in `omitted`. */
  maxFileBytes?: number;
  /** Largest sum of returned sides over all paths (default 8 MiB); the rest are `omitted`. */
  maxTotalBytes?: number;
}

export const CONFLICT_DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const CONFLICT_DEFAULT_MAX_TOTAL_BYTES = 8 * 1024 * 1024;

const STAGE_SIDES: Record<string, ConflictSide> = { '1': 'base', '2': 'ours', '3': 'theirs' };

interface StageEntry {
  mode: string;
  oid: string;
}

/**
 * The conflicted paths of merging `theirs` into `ours` (merge base found by git, as a merge would),
 * each with its three sides, sorted by path. Empty when the two merge cleanly. Writes no ref and
 * touches no worktree (merge-tree writes unreferenced objects only).
 */
export async function readConflicts(repoDir: string, options: ReadConflictsOptions): Promise<ConflictFile[]> {
  assertRevision(options.ours);
  assertRevision(options.theirs);
  const maxFile = options.maxFileBytes ?? CONFLICT_DEFAULT_MAX_FILE_BYTES;
  let budget = options.maxTotalBytes ?? CONFLICT_DEFAULT_MAX_TOTAL_BYTES;
  const merged = await git(
    ['merge-tree', '--write-tree', '-z', '--no-messages', options.ours, options.theirs],
    { cwd: repoDir, okExitCodes: [1] },
  );
  if (merged.exitCode === 0) return [];
  const stages = parseStages(merged.stdout);
  const sizes = await readSizes(
    repoDir,
    [...stages.values()].flatMap((sides) => Object.values(sides).map((entry) => entry.oid)),
  );
  const wanted = new Set<string>();
  const files: ConflictFile[] = [];
  for (const [path, sides] of [...stages.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file: ConflictFile = {
      path,
      encoding: 'utf8',
      base: null,
      ours: null,
      theirs: null,
      modes: { base: null, ours: null, theirs: null },
      sizes: { base: null, ours: null, theirs: null },
      omitted: [],
    };
    for (const side of ['base', 'ours', 'theirs'] as const) {
      const entry = sides[side];
      if (!entry) continue;
      file.modes[side] = entry.mode;
      const size = sizes.get(entry.oid) ?? null;
      file.sizes[side] = size;
      if (size === null || size > maxFile || size > budget) {
        file.omitted.push(side);
        continue;
      }
      budget -= size;
      wanted.add(entry.oid);
    }
    files.push(file);
  }
  const blobs = await readBlobs(repoDir, [...wanted]);
  for (const file of files) {
    const sides = stages.get(file.path) as Partial<Record<ConflictSide, StageEntry>>;
    const raw: Partial<Record<ConflictSide, Buffer>> = {};
    for (const side of ['base', 'ours', 'theirs'] as const) {
      const entry = sides[side];
      if (entry && !file.omitted.includes(side)) raw[side] = blobs.get(entry.oid);
    }
    const text = Object.values(raw).every((bytes) => bytes === undefined || isUtf8(bytes));
    file.encoding = text ? 'utf8' : 'base64';
    for (const side of ['base', 'ours', 'theirs'] as const) {
      const bytes = raw[side];
      if (bytes !== undefined) file[side] = bytes.toString(text ? 'utf8' : 'base64');
    }
  }
  return files;
}

/** `<mode> <oid> <stage>\t<path>` entries after the tree id in `merge-tree -z` output, by path. */
function parseStages(stdout: string): Map<string, Partial<Record<ConflictSide, StageEntry>>> {
  const [, ...entries] = stdout.split('\0');
  const stages = new Map<string, Partial<Record<ConflictSide, StageEntry>>>();
  for (const entry of entries) {
    // With --no-messages the entries end at the first empty field.
    if (entry === '') break;
    const tab = entry.indexOf('\t');
    const [mode = '', oid = '', stage = ''] = entry.slice(0, tab).split(' ');
    const side = STAGE_SIDES[stage];
    if (tab < 0 || !side || !isObjectId(oid)) continue;
    const path = entry.slice(tab + 1);
    const sides = stages.get(path) ?? {};
    sides[side] = { mode, oid };
    stages.set(path, sides);
  }
  return stages;
}

/** Object sizes in one `cat-file --batch-check`; an object git lacks (a submodule's commit) is left out. */
async function readSizes(repoDir: string, oids: readonly string[]): Promise<Map<string, number>> {
  const unique = [...new Set(oids)];
  const sizes = new Map<string, number>();
  if (unique.length === 0) return sizes;
  const out = await git(['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], {
    cwd: repoDir,
    input: `${unique.join('\n')}\n`,
  });
  for (const line of out.stdout.split('\n')) {
    const [oid = '', type, size] = line.split(' ');
    if (type === 'blob' && size !== undefined) sizes.set(oid, Number(size));
  }
  return sizes;
}

/** Blob contents as bytes: one `cat-file --batch` for all of them. */
async function readBlobs(repoDir: string, oids: readonly string[]): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  if (oids.length === 0) return blobs;
  const out = await gitBytes(['cat-file', '--batch'], { cwd: repoDir, input: `${oids.join('\n')}\n` });
  let at = 0;
  while (at < out.length) {
    const eol = out.indexOf(0x0a, at);
    if (eol < 0) break;
    const [oid = '', type = '', size = ''] = out.subarray(at, eol).toString('utf8').split(' ');
    if (type === 'missing' || size === '') {
      at = eol + 1;
      continue;
    }
    const length = Number(size);
    blobs.set(oid, out.subarray(eol + 1, eol + 1 + length));
    // Content, then one newline.
    at = eol + 1 + length + 1;
  }
  return blobs;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(bytes: Buffer): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export type WorktreeMergeOutcome =
  /** `commit` is already in the worktree's branch: nothing changed. */
  | { kind: 'up_to_date'; head: string }
  /** The branch had nothing of its own and now points at `commit` (no new commit). */
  | { kind: 'fast_forward'; head: string; previousHead: string }
  /** Merged cleanly and staged, with `MERGE_HEAD` set: the caller commits (with its Change-Id). */
  | { kind: 'staged'; head: string }
  /** Conflict markers are in the files (binary files keep ours), `MERGE_HEAD` is set. */
  | { kind: 'conflicted'; head: string; paths: string[] };

// Hooks and rerere are the repository's or the host's, not the engine's: off for this merge.
const MERGE_CONFIG = [
  ...WITHOUT_HOOKS,
  '-c',
  'rerere.enabled=false',
  '-c',
  'merge.autoStash=false',
  '-c',
  'merge.conflictStyle=merge',
];

/**
 * Brings `commit` into the branch checked out in `worktree` (which the caller guarantees is clean
 * and has no merge in progress), as `git merge --no-ff --no-commit` would: nothing is committed, so
 * the caller writes the commit with its own message and Change-Id. A branch with no commits of its
 * own is fast-forwarded. A conflict leaves the markers and `MERGE_HEAD` for the agent to resolve.
 */
export async function mergeIntoWorktree(
  worktree: string,
  commit: string,
  author: GitIdentity,
): Promise<WorktreeMergeOutcome> {
  if (!isObjectId(commit))
    throw new GitSwarmError('invalid_input', 'A merge source must be a full object id.');
  const env = identityEnv(author);
  const head = (await git(['rev-parse', 'HEAD'], { cwd: worktree })).stdout.trim();
  const contained = await git(['merge-base', '--is-ancestor', commit, head], {
    cwd: worktree,
    okExitCodes: [1],
  });
  if (contained.exitCode === 0) return { kind: 'up_to_date', head };
  const behind = await git(['merge-base', '--is-ancestor', head, commit], {
    cwd: worktree,
    okExitCodes: [1],
  });
  if (behind.exitCode === 0) {
    await git([...MERGE_CONFIG, 'merge', '--quiet', '--ff-only', commit], { cwd: worktree, env });
    return { kind: 'fast_forward', head: commit, previousHead: head };
  }
  const merged = await git([...MERGE_CONFIG, 'merge', '--quiet', '--no-ff', '--no-commit', commit], {
    cwd: worktree,
    env,
    okExitCodes: [1],
  });
  if (merged.exitCode === 0) return { kind: 'staged', head };
  const paths = await unmergedPaths(worktree);
  if (paths.length === 0) {
    throw new GitSwarmError(
      'git_failed',
      `git merge failed: ${merged.stderr.trim() || merged.stdout.trim()}`,
      {
        details: { git_stderr: merged.stderr.trim() },
      },
    );
  }
  return { kind: 'conflicted', head, paths };
}

/** The paths with unmerged index entries in a worktree, sorted. */
export async function unmergedPaths(worktree: string): Promise<string[]> {
  const out = await git(['diff', '--name-only', '--diff-filter=U', '-z'], { cwd: worktree });
  return [...new Set(out.stdout.split('\0').filter((path) => path !== ''))].sort();
}

// Read where the worktree's other refs are read; exported here too, where callers know it from.
export { mergeInProgress } from './repo.js';

/**
 * Paths among `paths` whose worktree file still holds a conflict marker line (`<<<<<<< `,
 * `=======`, `>>>>>>> ` in that order), so a commit would record an unresolved conflict.
 */
export async function pathsWithMarkers(worktree: string, paths: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const path of paths) {
    let content: string;
    try {
      content = await readFile(join(worktree, path), 'utf8');
    } catch {
      continue;
    }
    if (/^<{7}( |$)[\s\S]*^={7}$[\s\S]*^>{7}( |$)/m.test(content)) left.push(path);
  }
  return left;
}

/**
 * The paths a merge in progress in `worktree` would commit with conflict markers still in them:
 * those of `recorded` (the conflict the caller knows of) and the unmerged ones, whose file holds
 * a marker block. Empty when no merge is in progress.
 */
export async function markedConflictPaths(worktree: string, recorded: readonly string[]): Promise<string[]> {
  if ((await mergeInProgress(worktree)) === null) return [];
  const candidates = [...new Set([...recorded, ...(await unmergedPaths(worktree))])].sort();
  return pathsWithMarkers(worktree, candidates);
}
