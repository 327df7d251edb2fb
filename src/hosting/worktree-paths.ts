/**
 * Path confinement for the files API (Mode C): an agent names files of its stream's server worktree
 * by relative path, and nothing it sends may reach outside that worktree or into git's own data.
 *
 * Two layers:
 * - `normaliseWorktreePath` is pure: it turns the text into `a/b/c` (repeated slashes and `.`
 *   components dropped) and refuses what is never a worktree path: empty, absolute, `..`, NUL and
 *   other control characters, backslashes, malformed Unicode, over-long names, and any component
 *   git itself refuses or folds to `.git` (`.GIT`, `.git.`, `.git `, `git~1`, `.g\u200cit`, …).
 * - `resolveWorktreePath` asks the filesystem: no component before the last may be a symlink or
 *   anything but a directory, so nothing is ever reached *through* a symlink (including one the
 *   agent created earlier with a patch); the last component is reported as it is (`lstat`, never
 *   followed), and devices, fifos and sockets are refused.
 *
 * Refusals are 400 `invalid_path` (a path that can never be valid) or 409 `invalid_state` (a path
 * valid in itself that the worktree's current contents block, e.g. a file where a directory must be).
 */
import { constants, type Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GitSwarmError } from '../errors.js';

/** Longest path accepted, in UTF-8 bytes (Linux's PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest path component, in UTF-8 bytes (NAME_MAX of common filesystems). */
export const MAX_NAME_BYTES = 255;

// Code points HFS+ ignores when comparing names (git's is_hfs_dotgit list): `.g\u200cit` is `.git` there.
const HFS_IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/gu;
// With the u flag a surrogate matches only when unpaired (text that is not well-formed UTF-16).
const LONE_SURROGATE = /[\ud800-\udfff]/u;
// C0 and C1 control characters, DEL included.
const CONTROL = /\p{Cc}/u;

function refuse(path: string, reason: string): never {
  throw new GitSwarmError('invalid_path', `Invalid path ${JSON.stringify(path)}: ${reason}.`, {
    hint: 'Name a file by its path relative to the worktree root, like src/index.ts.',
    details: { path },
  });
}

/**
 * Whether a path component is one git protects: `.git` under any case, with trailing dots or
 * spaces (NTFS drops them), with an NTFS stream suffix (`.git::$INDEX_ALLOCATION`), with
 * HFS-ignorable code points inside, or the NTFS short name `git~1`.
 */
export function isGitDirName(component: string): boolean {
  const folded = component.replace(HFS_IGNORABLE, '').toLowerCase();
  return /^\.git[. ]*(:.*)?$/u.test(folded) || /^git~\d+$/u.test(folded);
}

export interface NormaliseOptions {
  /** Accept the empty path (the worktree root), for directory listings. */
  allowRoot?: boolean;
}

/**
 * The normal form of a worktree-relative path (`a/b`), or 400 `invalid_path`. Pure: it never looks
 * at the filesystem. The caller passes the decoded text (HTTP routes decode percent-escapes first,
 * so `%2e%2e` arrives here as `..`).
 */
export function normaliseWorktreePath(input: string, options: NormaliseOptions = {}): string {
  if (typeof input !== 'string') refuse(String(input), 'not text');
  if (LONE_SURROGATE.test(input)) refuse(input, 'it is not well-formed Unicode');
  if (CONTROL.test(input)) refuse(input, 'it contains a control character');
  if (input.includes('\\')) refuse(input, 'it contains a backslash');
  if (input.startsWith('/')) refuse(input, 'it is absolute');
  if (Buffer.byteLength(input, 'utf8') > MAX_PATH_BYTES) refuse(input, `it is over ${MAX_PATH_BYTES} bytes`);
  const parts: string[] = [];
  for (const part of input.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') refuse(input, 'it contains ".."');
    if (Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES) {
      refuse(input, `a component is over ${MAX_NAME_BYTES} bytes`);
    }
    if (isGitDirName(part)) refuse(input, 'git’s own data (.git) is never a worktree file');
    parts.push(part);
  }
  if (parts.length === 0 && !options.allowRoot) refuse(input, 'it names no file');
  return parts.join('/');
}

export type WorktreeEntryType = 'file' | 'dir' | 'symlink';

/** What a confined path is on disk now. */
export interface ResolvedWorktreePath {
  /** The normalised relative path. */
  readonly path: string;
  /** The absolute path inside the worktree. */
  readonly absolute: string;
  /** The last component's `lstat`, or null when it does not exist (its parents may not either). */
  readonly stat: Stats | null;
  /** The type of the last component, or null when absent. */
  readonly type: WorktreeEntryType | null;
  /** Relative paths of the parent directories that do not exist yet, outermost first. */
  readonly missingParents: readonly string[];
}

function entryType(path: string, stat: Stats): WorktreeEntryType {
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isDirectory()) return 'dir';
  if (stat.isFile()) return 'file';
  refuse(path, 'it is a device, fifo or socket, not a file');
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return null;
    throw error;
  }
}

/**
 * Resolves a relative path inside `root` (an absolute, trusted worktree directory) without
 * following symlinks: every existing parent must be a real directory (a symlink → 400
 * `invalid_path`, a file → 409 `invalid_state`). The last component is described, not followed.
 */
export async function resolveWorktreePath(
  root: string,
  input: string,
  options: NormaliseOptions = {},
): Promise<ResolvedWorktreePath> {
  const path = normaliseWorktreePath(input, options);
  const parts = path === '' ? [] : path.split('/');
  const missingParents: string[] = [];
  let current = root;
  for (let i = 0; i < parts.length - 1; i++) {
    current = join(current, parts[i] as string);
    const rel = parts.slice(0, i + 1).join('/');
    if (missingParents.length > 0) {
      missingParents.push(rel);
      continue;
    }
    const stat = await lstatOrNull(current);
    if (stat === null) {
      missingParents.push(rel);
      continue;
    }
    if (stat.isSymbolicLink()) refuse(input, `${rel} is a symlink, and no path goes through one`);
    if (!stat.isDirectory()) {
      if (!stat.isFile()) refuse(input, `${rel} is a device, fifo or socket`);
      throw new GitSwarmError('invalid_state', `${rel} is a file, so ${path} cannot be inside it.`, {
        hint: `Delete ${rel} first, or choose another path.`,
        details: { path, blocking: rel },
      });
    }
  }
  const absolute = parts.length === 0 ? root : join(current, parts.at(-1) as string);
  const stat = missingParents.length > 0 ? null : await lstatOrNull(absolute);
  return { path, absolute, stat, type: stat ? entryType(path, stat) : null, missingParents };
}

/** `open` flags that never follow a symlink in the last component and never block on a fifo. */
export const NO_FOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

let procFdWorks: boolean | undefined;

/**
 * Checks, after opening, that the descriptor is the file at `expected` (Linux `/proc/self/fd`): a
 * directory swapped for a symlink between the checks and the `open` would show here. Where
 * `/proc` is missing the check is skipped (the per-component `lstat` walk still ran).
 */
export async function assertOpenedAt(fd: number, expected: string, path: string): Promise<void> {
  if (procFdWorks === false) return;
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${fd}`);
    procFdWorks = true;
  } catch {
    procFdWorks = false;
    return;
  }
  if (actual !== expected) refuse(path, 'it changed while it was opened');
}
