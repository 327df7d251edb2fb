/**
 * Reading a stream's files from its branch head, for a stream whose server worktree does not exist:
 * a read never creates a worktree (the pool is the server's costliest resource, and anyone with
 * read access may read). Git objects hold no symlinks to follow and no device files, so only the
 * path rules of the files API apply.
 */
import { git, gitBytes } from '../engine/git.js';
import { GitSwarmError } from '../errors.js';
import { type FileContent, notFound, type TreeEntry } from './files.js';
import { normaliseWorktreePath } from './worktree-paths.js';

interface GitTreeEntry {
  name: string;
  type: TreeEntry['type'] | 'submodule';
  blob: string;
  size: number | null;
}

/** The entries of a tree (`commit:dir`), or null when there is no such directory. */
async function lsTree(repoDir: string, commit: string, dir: string, recursive: boolean) {
  const treeish = dir === '' ? `${commit}^{tree}` : `${commit}:${dir}`;
  const kind = await git(['cat-file', '-t', treeish], { cwd: repoDir }).catch(() => null);
  if (kind?.stdout.trim() !== 'tree') return kind ? 'not_a_tree' : null;
  const { stdout } = await git(['ls-tree', '-z', '-l', ...(recursive ? ['-r'] : []), treeish], {
    cwd: repoDir,
  });
  const entries: GitTreeEntry[] = [];
  for (const record of stdout.split('\0')) {
    const tab = record.indexOf('\t');
    if (tab < 0) continue;
    const [mode, , blob, size] = record.slice(0, tab).split(/\s+/);
    const name = record.slice(tab + 1);
    const type =
      mode === '040000' ? 'dir' : mode === '120000' ? 'symlink' : mode === '160000' ? 'submodule' : 'file';
    entries.push({
      name,
      type,
      blob: blob ?? '',
      size: size === '-' || size === undefined ? null : Number(size),
    });
  }
  return entries;
}

/** The commit a branch points at. */
async function branchCommit(repoDir: string, branch: string): Promise<string> {
  const { stdout } = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
    cwd: repoDir,
  });
  return stdout.trim();
}

function splitPath(path: string): { dir: string; name: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { dir: '', name: path } : { dir: path.slice(0, slash), name: path.slice(slash + 1) };
}

/** A file (or a symlink's target text) as committed on the branch. */
export async function readBranchFile(
  repoDir: string,
  branch: string,
  path: string,
  options: { maxBytes?: number } = {},
): Promise<FileContent> {
  const normalised = normaliseWorktreePath(path);
  const { dir, name } = splitPath(normalised);
  const entries = await lsTree(repoDir, await branchCommit(repoDir, branch), dir, false);
  const entry = Array.isArray(entries) ? entries.find((e) => e.name === name) : undefined;
  if (!entry || entry.type === 'submodule') throw notFound(normalised);
  if (entry.type === 'dir') {
    throw new GitSwarmError('invalid_path', `${normalised} is a directory.`, {
      hint: `List it with GET /streams/:id/tree?path=${normalised}`,
      details: { path: normalised },
    });
  }
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  if ((entry.size ?? 0) > maxBytes) {
    throw new GitSwarmError('payload_too_large', `${normalised} is larger than ${maxBytes} bytes.`);
  }
  const content = await gitBytes(['cat-file', 'blob', entry.blob], { cwd: repoDir });
  return { path: normalised, type: entry.type, content, blob: entry.blob, size: content.length };
}

/** A directory's entries as committed on the branch (recursive: every file below it). */
export async function listBranchTree(
  repoDir: string,
  branch: string,
  dirPath = '',
  options: { recursive?: boolean } = {},
): Promise<TreeEntry[]> {
  const dir = dirPath === '' ? '' : normaliseWorktreePath(dirPath);
  const entries = await lsTree(repoDir, await branchCommit(repoDir, branch), dir, options.recursive === true);
  if (entries === null) throw notFound(dir);
  if (entries === 'not_a_tree') {
    throw new GitSwarmError('invalid_path', `${dir} is not a directory.`, { details: { path: dir } });
  }
  const listed: TreeEntry[] = [];
  for (const entry of entries) {
    if (entry.type === 'submodule') continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    try {
      normaliseWorktreePath(path);
    } catch {
      continue; // names no API call could address
    }
    listed.push(
      entry.type === 'dir'
        ? { path, type: 'dir', size: null, blob: null }
        : { path, type: entry.type, size: entry.size, blob: entry.blob },
    );
  }
  return listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
