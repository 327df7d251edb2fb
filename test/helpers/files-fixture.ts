/**
 * For the files API tests: a snapshot of every entry under a directory (type, mode, content hash or
 * link target), to prove a refused request changed nothing inside or outside a worktree, and
 * `git fsck` on a repository.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../../src/engine/git.js';

/** Path → description of every entry below `root` (symlinks described, never followed). */
export function snapshotTree(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const visit = (rel: string) => {
    const absolute = rel === '' ? root : join(root, rel);
    for (const name of readdirSync(absolute)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) entries.set(path, `link ${readlinkSync(full)}`);
      else if (stat.isDirectory()) {
        entries.set(path, `dir ${(stat.mode & 0o777).toString(8)}`);
        visit(path);
      } else if (stat.isFile()) {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex');
        entries.set(path, `file ${(stat.mode & 0o777).toString(8)} ${hash}`);
      } else entries.set(path, `special ${stat.mode}`);
    }
  };
  visit('');
  return entries;
}

/** `git fsck --full --strict` output; throws when git reports a problem (non-zero exit). */
export async function fsckClean(repoDir: string): Promise<string> {
  const result = await git(['fsck', '--full', '--strict', '--no-dangling'], {
    cwd: repoDir,
    okExitCodes: [1, 2],
  });
  if (result.exitCode !== 0) throw new Error(`git fsck failed: ${result.stdout}\n${result.stderr}`);
  return result.stdout.trim();
}
