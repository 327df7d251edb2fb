/**
 * The files API's operations on one worktree directory (Mode C): read, write, delete, list, status
 * and patch. Every path goes through worktree-paths.ts first; nothing here follows a symlink:
 * reads open with O_NOFOLLOW and check the descriptor's real path, writes create a fresh file
 * beside the target (O_EXCL | O_NOFOLLOW) and rename it over the old one, deletes unlink.
 *
 * Blob ids are git's ids of the bytes as stored (`git hash-object --no-filters`), computed here
 * with the repository's object format: a file's ETag, `If-Match` precondition and tree entry all
 * use them, and they equal the blob git records when the file is committed without filters.
 * A symlink's blob is its target text, as in git; reading one returns that text (never the file it
 * points at), and writing or patching through one is refused.
 *
 * Writes to one worktree are serialised in this process (`serialiseWorktreeWrite`); the caller adds
 * the repository lock so that other server instances serialise too.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  appendFile,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rmdir,
  unlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { git } from '../engine/git.js';
import { findGitRepo } from '../engine/repo.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import {
  assertOpenedAt,
  NO_FOLLOW_READ,
  normaliseWorktreePath,
  type ResolvedWorktreePath,
  resolveWorktreePath,
  type WorktreeEntryType,
} from './worktree-paths.js';

/** Prefix of the temporary files a write renames into place (never listed). */
const TEMP_PREFIX = '.gitswarm-write-';

const excluded = new Map<string, Promise<void>>();

/**
 * Lists the temporary files in the repository's `info/exclude` (shared by its worktrees), once per
 * worktree per process: one left behind by a crash mid-write is then never committed by `git add -A`
 * nor shown by the status.
 */
function excludeTempFiles(root: string): Promise<void> {
  let done = excluded.get(root);
  if (!done) {
    done = (async () => {
      const { commonDir } = await findGitRepo(root);
      const file = join(commonDir, 'info', 'exclude');
      const line = `${TEMP_PREFIX}*`;
      const current = await readFile(file, 'utf8').catch(() => '');
      if (current.split('\n').some((l) => l.trim() === line)) return;
      await mkdir(dirname(file), { recursive: true });
      await appendFile(file, `${current === '' || current.endsWith('\n') ? '' : '\n'}${line}\n`);
    })();
    done.catch(() => excluded.delete(root));
    excluded.set(root, done);
  }
  return done;
}

const objectFormats = new Map<string, Promise<'sha1' | 'sha256'>>();

/** The worktree's object format (sha1 or sha256), asked of git once per directory. */
function objectFormat(root: string): Promise<'sha1' | 'sha256'> {
  let format = objectFormats.get(root);
  if (!format) {
    format = git(['rev-parse', '--show-object-format'], { cwd: root }).then((r) =>
      r.stdout.trim() === 'sha256' ? 'sha256' : 'sha1',
    );
    format.catch(() => objectFormats.delete(root));
    objectFormats.set(root, format);
  }
  return format;
}

/** Git's blob id of `content` (as `git hash-object --no-filters` computes it). */
export async function blobId(root: string, content: Buffer): Promise<string> {
  const hash = createHash(await objectFormat(root));
  hash.update(`blob ${content.length}\0`);
  hash.update(content);
  return hash.digest('hex');
}

/** The worktree's real path (callers hand in the trusted directory; symlinks above it are resolved once). */
async function realRoot(root: string): Promise<string> {
  return realpath(root);
}

const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `work` after every earlier write to the same worktree in this process has finished (a FIFO
 * per directory); a failing write does not stop the ones after it.
 */
export function serialiseWorktreeWrite<T>(root: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(root) ?? Promise.resolve();
  const run = previous.then(work, work);
  const tail = run.catch(() => undefined);
  queues.set(root, tail);
  tail.then(() => {
    if (queues.get(root) === tail) queues.delete(root);
  });
  return run;
}

export function notFound(path: string): GitSwarmError {
  return new GitSwarmError('not_found', `No file ${path} in the stream's worktree.`, {
    hint: 'List the files with GET /streams/:id/tree.',
    details: { path },
  });
}

export interface FileContent {
  path: string;
  type: 'file' | 'symlink';
  content: Buffer;
  blob: string;
  size: number;
}

async function readRegular(resolved: ResolvedWorktreePath, maxBytes: number): Promise<Buffer> {
  const handle = await open(resolved.absolute, NO_FOLLOW_READ).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw notFound(resolved.path);
    if (error.code === 'ELOOP') {
      throw new GitSwarmError('invalid_path', `${resolved.path} became a symlink while it was read.`);
    }
    throw error;
  });
  try {
    await assertOpenedAt(handle.fd, resolved.absolute, resolved.path);
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new GitSwarmError('invalid_path', `${resolved.path} is not a regular file.`, {
        details: { path: resolved.path },
      });
    }
    if (stat.size > maxBytes) {
      throw new GitSwarmError('payload_too_large', `${resolved.path} is larger than ${maxBytes} bytes.`);
    }
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a file (its bytes) or a symlink (its target text) of the worktree; 404 `not_found` when
 * absent, 400 `invalid_path` for a directory or a path that is never valid.
 */
export async function readWorktreeFile(
  root: string,
  path: string,
  options: { maxBytes?: number } = {},
): Promise<FileContent> {
  const base = await realRoot(root);
  const resolved = await resolveWorktreePath(base, path);
  if (resolved.type === null) throw notFound(resolved.path);
  if (resolved.type === 'dir') {
    throw new GitSwarmError('invalid_path', `${resolved.path} is a directory.`, {
      hint: `List it with GET /streams/:id/tree?path=${resolved.path}`,
      details: { path: resolved.path },
    });
  }
  const content =
    resolved.type === 'symlink'
      ? Buffer.from(await readlink(resolved.absolute, { encoding: 'buffer' }))
      : await readRegular(resolved, options.maxBytes ?? Number.POSITIVE_INFINITY);
  return {
    path: resolved.path,
    type: resolved.type,
    content,
    blob: await blobId(base, content),
    size: content.length,
  };
}

/** The blob id of what is at the path now (file or symlink), or null when nothing is. */
async function currentBlob(base: string, resolved: ResolvedWorktreePath): Promise<string | null> {
  if (resolved.type === null) return null;
  if (resolved.type === 'dir') return null;
  if (resolved.type === 'symlink') {
    return blobId(base, Buffer.from(await readlink(resolved.absolute, { encoding: 'buffer' })));
  }
  return blobId(base, await readRegular(resolved, Number.POSITIVE_INFINITY));
}

/**
 * The preconditions a write or delete may carry: `ifMatch` (blob ids, or `*` for "exists"),
 * `ifNoneMatch: '*'` (create only). Parsed from the HTTP headers by `parseEtagList`.
 */
export interface WritePreconditions {
  ifMatch?: readonly string[];
  ifNoneMatch?: readonly string[];
}

/** The entity tags of an `If-Match` / `If-None-Match` header (`"a", W/"b"`, `*`), unquoted. */
export function parseEtagList(header: string | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const tags = header
    .split(',')
    .map((tag) =>
      tag
        .trim()
        .replace(/^W\//, '')
        .replace(/^"(.*)"$/, '$1'),
    )
    .filter((tag) => tag !== '');
  return tags;
}

function checkPreconditions(path: string, current: string | null, pre: WritePreconditions): void {
  const fail = (message: string) => {
    throw new GitSwarmError('precondition_failed', message, {
      hint: 'Read the file again (GET /streams/:id/files/<path>), then write with its ETag in If-Match.',
      details: { path, current_blob: current },
    });
  };
  if (pre.ifMatch !== undefined) {
    const matches = current !== null && (pre.ifMatch.includes('*') || pre.ifMatch.includes(current));
    if (!matches) {
      fail(
        current === null
          ? `${path} does not exist, so it does not match If-Match.`
          : `${path} changed since: its blob is ${current}`,
      );
    }
  }
  if (pre.ifNoneMatch !== undefined && current !== null) {
    if (pre.ifNoneMatch.includes('*') || pre.ifNoneMatch.includes(current)) {
      fail(`${path} exists (If-None-Match).`);
    }
  }
}

export interface WriteFileInput extends WritePreconditions {
  content: Buffer;
  /** Largest content accepted (413 `payload_too_large` above). */
  maxFileBytes: number;
}

export interface WriteFileResult {
  path: string;
  blob: string;
  size: number;
  /** Whether the file did not exist before. */
  created: boolean;
}

/** Creates each missing parent directory, refusing any that appeared as something else meanwhile. */
async function makeParents(base: string, resolved: ResolvedWorktreePath): Promise<void> {
  for (const rel of resolved.missingParents) {
    const absolute = join(base, rel);
    try {
      await mkdir(absolute, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = await lstat(absolute);
      if (!stat.isDirectory() || stat.isSymbolicLink()) {
        throw new GitSwarmError('invalid_path', `${rel} appeared as something other than a directory.`);
      }
    }
  }
}

/**
 * Writes a regular file, replacing the file at the path (its mode kept) or creating it and its
 * directories. Refused: a symlink, directory, device or fifo at the path (400/409), a symlink on
 * the way (400), content over `maxFileBytes` (413), a failed precondition (412). Not serialised:
 * call it inside `serialiseWorktreeWrite`.
 */
export async function writeWorktreeFile(
  root: string,
  path: string,
  input: WriteFileInput,
): Promise<WriteFileResult> {
  const base = await realRoot(root);
  const resolved = await resolveWorktreePath(base, path);
  if (input.content.length > input.maxFileBytes) {
    throw new GitSwarmError(
      'payload_too_large',
      `The file is ${input.content.length} bytes; a file is at most ${input.maxFileBytes} bytes.`,
      { hint: 'Split the file, or ask the operator to raise the limit.', details: { path: resolved.path } },
    );
  }
  if (resolved.type === 'symlink') {
    throw new GitSwarmError(
      'invalid_path',
      `${resolved.path} is a symlink; files are never written through one.`,
      {
        hint: `Delete it first (DELETE /streams/:id/files/${resolved.path}) to put a file there.`,
        details: { path: resolved.path },
      },
    );
  }
  if (resolved.type === 'dir') {
    throw new GitSwarmError('invalid_state', `${resolved.path} is a directory.`, {
      details: { path: resolved.path },
    });
  }
  checkPreconditions(resolved.path, await currentBlob(base, resolved), input);
  await excludeTempFiles(base);
  await makeParents(base, resolved);
  const dir = dirname(resolved.absolute);
  const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const mode = resolved.stat ? resolved.stat.mode & 0o777 : 0o644;
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  let renamed = false;
  try {
    await assertOpenedAt(handle.fd, temp, resolved.path);
    await handle.writeFile(input.content);
    if (resolved.stat) await handle.chmod(mode);
    await handle.close();
    await rename(temp, resolved.absolute);
    renamed = true;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
    }
  }
  return {
    path: resolved.path,
    blob: await blobId(base, input.content),
    size: input.content.length,
    created: resolved.type === null,
  };
}

/** Removes empty directories from `dir` up to (not including) `base`. */
async function pruneEmptyParents(base: string, dir: string): Promise<void> {
  let current = dir;
  while (current !== base && current.startsWith(`${base}/`)) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}

/**
 * Deletes a file or symlink (the link itself, never its target) and any parent directories it
 * leaves empty; 404 when absent, 400 for a directory, 412 for a failed `If-Match`.
 */
export async function deleteWorktreeFile(
  root: string,
  path: string,
  pre: WritePreconditions = {},
): Promise<{ path: string; blob: string }> {
  const base = await realRoot(root);
  const resolved = await resolveWorktreePath(base, path);
  if (resolved.type === null) throw notFound(resolved.path);
  if (resolved.type === 'dir') {
    throw new GitSwarmError('invalid_path', `${resolved.path} is a directory; delete its files one by one.`, {
      details: { path: resolved.path },
    });
  }
  const blob = (await currentBlob(base, resolved)) as string;
  checkPreconditions(resolved.path, blob, pre);
  await unlink(resolved.absolute);
  await pruneEmptyParents(base, dirname(resolved.absolute));
  return { path: resolved.path, blob };
}

export interface TreeEntry {
  path: string;
  type: WorktreeEntryType;
  /** Bytes (a symlink: its target's length); null for a directory. */
  size: number | null;
  /** Blob id of the content as it is now; null for a directory. */
  blob: string | null;
}

async function describeEntry(base: string, path: string): Promise<TreeEntry | null> {
  const absolute = join(base, path);
  const stat = await lstat(absolute).catch(() => null);
  if (!stat) return null;
  if (stat.isDirectory()) return { path, type: 'dir', size: null, blob: null };
  if (stat.isSymbolicLink()) {
    const target = Buffer.from(await readlink(absolute, { encoding: 'buffer' }));
    return { path, type: 'symlink', size: target.length, blob: await blobId(base, target) };
  }
  if (!stat.isFile()) return null; // devices, fifos and sockets are never listed
  const resolved: ResolvedWorktreePath = {
    path,
    absolute,
    stat,
    type: 'file',
    missingParents: [],
  };
  try {
    const content = await readRegular(resolved, Number.POSITIVE_INFINITY);
    return { path, type: 'file', size: content.length, blob: await blobId(base, content) };
  } catch (error) {
    if (isGitSwarmError(error, 'not_found')) return null; // deleted meanwhile
    throw error;
  }
}

/**
 * The entries under a directory of the worktree (default: its root), as they are now (uncommitted
 * changes included), sorted by path: one level, or every file below with `recursive`. `.git` and
 * the files API's own temporary files are never listed; a symlink is listed, never followed.
 */
export async function listWorktreeTree(
  root: string,
  dirPath = '',
  options: { recursive?: boolean } = {},
): Promise<TreeEntry[]> {
  const base = await realRoot(root);
  const resolved = await resolveWorktreePath(base, dirPath, { allowRoot: true });
  if (resolved.type === null) throw notFound(resolved.path);
  if (resolved.type !== 'dir') {
    throw new GitSwarmError('invalid_path', `${resolved.path} is not a directory.`, {
      details: { path: resolved.path },
    });
  }
  const entries: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = await readdir(join(base, rel));
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) continue;
      const path = rel === '' ? name : `${rel}/${name}`;
      try {
        normaliseWorktreePath(path);
      } catch {
        continue; // .git, and names no API call could address
      }
      const entry = await describeEntry(base, path);
      if (!entry) continue;
      if (entry.type === 'dir' && options.recursive) await visit(path);
      else entries.push(entry);
    }
  };
  await visit(resolved.path);
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return entries;
}

export type ChangeKind = 'added' | 'modified' | 'deleted';

export interface StatusChange {
  path: string;
  change: ChangeKind;
}

/**
 * The worktree's changes against its HEAD commit, staged or not: tracked files that differ or are
 * gone, and untracked files that are not ignored. Paths sorted.
 */
export async function worktreeStatus(root: string): Promise<StatusChange[]> {
  const base = await realRoot(root);
  const changes = new Map<string, ChangeKind>();
  const diff = await git(['diff', 'HEAD', '--name-status', '--no-renames', '-z', '--'], { cwd: base });
  const fields = diff.stdout.split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const status = fields[i] as string;
    const path = fields[i + 1] as string;
    const change: ChangeKind = status.startsWith('A')
      ? 'added'
      : status.startsWith('D')
        ? 'deleted'
        : 'modified';
    changes.set(path, change);
  }
  const untracked = await git(['ls-files', '--others', '--exclude-standard', '-z', '--'], { cwd: base });
  for (const path of untracked.stdout.split('\0')) {
    if (path !== '' && !path.split('/').some((part) => part.startsWith(TEMP_PREFIX)))
      changes.set(path, 'added');
  }
  return [...changes.entries()]
    .map(([path, change]) => ({ path, change }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface RejectedHunk {
  path: string;
  /** The line the hunk starts at in the file it failed to apply to, when git names one. */
  line: number | null;
  reason: string;
}

export interface ApplyPatchInput {
  patch: Buffer;
  /** Largest file the patch may leave behind (413 above; the patch is then undone). */
  maxFileBytes: number;
}

export interface ApplyPatchResult {
  /** Every path the patch touched (both sides of a rename), sorted. */
  paths: string[];
}

/** The paths a patch touches, as git reads them (`git apply --numstat -z`). */
async function patchPaths(base: string, patch: Buffer): Promise<string[]> {
  const result = await git(['apply', '--numstat', '-z', '--recount', '-'], {
    cwd: base,
    stream: Readable.from([patch]),
    okExitCodes: [1, 128],
  });
  if (result.exitCode !== 0) {
    throw new GitSwarmError('patch_rejected', 'The patch is not a unified diff git can read.', {
      hint: 'Send the output of git diff (with a/ and b/ prefixes) as Content-Type: text/x-diff.',
      details: { hunks: [], git_stderr: result.stderr.trim().slice(0, 2000) },
    });
  }
  // Each record: "added\tdeleted\tpath\0", or for a rename "added\tdeleted\t\0old\0new\0".
  const fields = result.stdout.split('\0');
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as string;
    if (field === '') continue;
    const match = /^(?:-|\d+)\t(?:-|\d+)\t(.*)$/s.exec(field);
    if (!match) continue;
    if (match[1] === '') {
      paths.push(fields[i + 1] as string, fields[i + 2] as string);
      i += 2;
    } else {
      paths.push(match[1] as string);
    }
  }
  return [...new Set(paths)].sort();
}

/** The hunks and files git named in a failed `git apply --check`. */
function rejectedHunks(stderr: string): RejectedHunk[] {
  const hunks: RejectedHunk[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.replace(/^error: /, '').trim();
    const failed = /^patch failed: (.*):(\d+)$/.exec(line);
    if (failed) {
      hunks.push({ path: failed[1] as string, line: Number(failed[2]), reason: 'the hunk does not match' });
      continue;
    }
    const other =
      /^(.*?): (does not exist in working directory|already exists in working directory|No such file or directory|patch does not apply|wrong type|does not match index|is beyond a symbolic link)$/.exec(
        line,
      );
    if (other && !hunks.some((h) => h.path === other[1] && other[2] === 'patch does not apply')) {
      hunks.push({ path: other[1] as string, line: null, reason: other[2] as string });
    }
    const beyond = /^affected file '(.*)' is beyond a symbolic link$/.exec(line);
    if (beyond) hunks.push({ path: beyond[1] as string, line: null, reason: 'beyond a symbolic link' });
  }
  return hunks;
}

// Gitlinks (submodule commits) are refused: the server keeps no submodules in stream worktrees.
const GITLINK_MODE =
  /^(?:new file mode|new mode|old mode|deleted file mode|index [0-9a-f]+\.\.[0-9a-f]+) 160000\s*$/m;

// A file header naming an absolute path (git would strip its first component; we refuse it instead).
const ABSOLUTE_HEADER = /^(?:---|\+\+\+) (\/(?!dev\/null(?:\t|\s*$))[^\t\n]*)/m;

/**
 * Applies a unified diff to the worktree with `git apply` (never a shell), all or nothing: every
 * path it touches is confined first (400 `invalid_path` for `.git`, `..`, absolute or
 * through-a-symlink paths), `git apply --check` must pass (else 409 `patch_rejected` naming the
 * hunks that failed, nothing changed), and a result with a file over `maxFileBytes` is undone
 * (413). Not serialised: call it inside `serialiseWorktreeWrite`.
 */
export async function applyWorktreePatch(root: string, input: ApplyPatchInput): Promise<ApplyPatchResult> {
  const base = await realRoot(root);
  if (input.patch.length === 0) {
    throw new GitSwarmError('invalid_input', 'The patch is empty.', {
      hint: 'Send the output of git diff as the body, with Content-Type: text/x-diff.',
    });
  }
  if (input.patch.includes(0)) {
    throw new GitSwarmError('invalid_input', 'The patch contains a NUL byte; send binary files with PUT.');
  }
  const text = input.patch.toString('latin1');
  if (GITLINK_MODE.test(text)) {
    throw new GitSwarmError('invalid_path', 'The patch adds or changes a submodule (mode 160000).', {
      hint: 'Submodules are not supported in server worktrees.',
    });
  }
  const absolute = ABSOLUTE_HEADER.exec(text);
  if (absolute) {
    throw new GitSwarmError(
      'invalid_path',
      `The patch names an absolute path: ${JSON.stringify(absolute[1])}.`,
      {
        hint: 'Paths in a patch are relative to the worktree root, with a/ and b/ prefixes (git diff).',
        details: { path: absolute[1] },
      },
    );
  }
  const paths = await patchPaths(base, input.patch);
  if (paths.length === 0) {
    throw new GitSwarmError('patch_rejected', 'The patch changes no file.', {
      hint: 'Send the output of git diff (with a/ and b/ prefixes) as Content-Type: text/x-diff.',
      details: { hunks: [] },
    });
  }
  for (const path of paths) {
    if (normaliseWorktreePath(path) !== path) {
      throw new GitSwarmError('invalid_path', `Invalid path ${JSON.stringify(path)} in the patch.`, {
        details: { path },
      });
    }
    const resolved = await resolveWorktreePath(base, path);
    if (resolved.type === 'dir') {
      throw new GitSwarmError('invalid_state', `${path} is a directory.`, { details: { path } });
    }
  }
  const args = ['apply', '--recount', '--whitespace=nowarn'];
  const check = await git([...args, '--check', '--verbose', '-'], {
    cwd: base,
    stream: Readable.from([input.patch]),
    okExitCodes: [1, 128],
  });
  if (check.exitCode !== 0) {
    const hunks = rejectedHunks(check.stderr);
    const named = hunks.map((h) => (h.line === null ? `${h.path} (${h.reason})` : `${h.path}:${h.line}`));
    throw new GitSwarmError(
      'patch_rejected',
      `The patch does not apply${named.length ? `: ${named.join(', ')}` : ''}; nothing was changed.`,
      {
        hint: 'Read the files again (GET /streams/:id/files/<path>) and make the patch against them.',
        details: { hunks, git_stderr: check.stderr.trim().slice(0, 2000) },
      },
    );
  }
  await git([...args, '-'], { cwd: base, stream: Readable.from([input.patch]) });
  for (const path of paths) {
    const stat = await lstat(join(base, path)).catch(() => null);
    if (stat && stat.size > input.maxFileBytes) {
      await git([...args, '--reverse', '-'], { cwd: base, stream: Readable.from([input.patch]) });
      throw new GitSwarmError(
        'payload_too_large',
        `The patch leaves ${path} at ${stat.size} bytes; a file is at most ${input.maxFileBytes} bytes.`,
        { details: { path } },
      );
    }
  }
  return { paths };
}
