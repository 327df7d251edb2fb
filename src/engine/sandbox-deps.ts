/**
 * Dependency folders in the stabilize run: the main checkout's installed, git-ignored
 * `node_modules`, `.venv`, `vendor`, … appear in the throw-away worktree at the same relative
 * paths, so `npm test` finds eslint without any configuration. The original stays untouched: the
 * run sees it through a writable layer that is thrown away (bubblewrap's `--tmp-overlay`, bwrap
 * 0.9+), or a copy-on-write copy (`cp --reflink=auto`: a real copy where the file system cannot
 * share blocks) made into the throw-away worktree. Caches a tool writes (`eslint --cache`) land in
 * that layer and never leak back.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { GitSwarmError } from '../errors.js';
import { git } from './git.js';

/** Looked for when the repository does not say otherwise (top-level folders only). */
export const DEFAULT_DEPENDENCY_DIRS: readonly string[] = [
  'node_modules',
  '.venv',
  'venv',
  'vendor',
  'target',
];

/** One dependency folder: where it is in the main checkout, where the run sees it. */
export interface DependencyMount {
  /** The folder as stored (symlinks resolved), read only. */
  source: string;
  /** The same relative path inside the throw-away worktree. */
  target: string;
  /** The relative path, for messages. */
  relPath: string;
}

const FORBIDDEN_SEGMENTS = new Set(['', '.', '..', '.git', '.gitswarm', '.worktrees']);

/**
 * Checks one configured dependency folder: a relative path inside the checkout, not `.git`,
 * `.gitswarm` or `.worktrees`; returns it normalized (no trailing slash).
 */
export function assertDependencyDir(value: string): string {
  const trimmed = value.trim().replace(/\/+$/, '');
  const segments = trimmed.split('/');
  if (
    trimmed === '' ||
    isAbsolute(trimmed) ||
    trimmed.length > 200 ||
    /[\0\n\r\\]/.test(trimmed) ||
    segments.some((segment) => FORBIDDEN_SEGMENTS.has(segment))
  ) {
    throw new Error(
      `${JSON.stringify(value)} is not a folder path relative to the checkout (no "..", ".git", ".gitswarm" or ".worktrees")`,
    );
  }
  return normalize(trimmed);
}

/**
 * The configured folders that exist in the main checkout as folders (or links to folders) and
 * that git ignores there: a tracked folder is already in the worktree, an untracked but not
 * ignored one is the user's work in progress and is not shared.
 */
export async function findDependencyDirs(
  checkout: string,
  worktree: string,
  dirs: readonly string[],
): Promise<DependencyMount[]> {
  const found: DependencyMount[] = [];
  for (const dir of dirs) {
    const target = join(worktree, dir);
    // Tracked in the tested commit: the worktree has its own.
    if (existsSync(target) || !isDirectory(join(checkout, dir))) continue;
    // One path per call: git stops at the first path it cannot check (one beyond a symlink).
    const ignored = await git(['check-ignore', '-q', '--', dir], { cwd: checkout, okExitCodes: [1, 128] });
    if (ignored.exitCode !== 0) continue;
    found.push({ source: realpathSync(join(checkout, dir)), target, relPath: dir });
  }
  return found;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The bubblewrap arguments that show each folder through a thrown-away writable overlay (bwrap 0.9+). */
export function overlayArgs(mounts: readonly DependencyMount[]): string[] {
  return mounts.flatMap((mount) => ['--overlay-src', mount.source, '--tmp-overlay', mount.target]);
}

/**
 * Copies each folder into the throw-away worktree (`cp -a --reflink=auto`: blocks are shared where
 * the file system can, copied where it cannot). The copy goes with the worktree.
 */
export async function copyDependencyDirs(mounts: readonly DependencyMount[]): Promise<void> {
  for (const mount of mounts) {
    mkdirSync(dirname(mount.target), { recursive: true });
    const result = await runCopy(['-a', '--reflink=auto', '-T', '--', mount.source, mount.target]);
    if (result.code !== 0) {
      throw new GitSwarmError(
        'sandbox_unavailable',
        `Could not copy the dependency folder ${mount.relPath} into the test worktree: ${result.stderr.trim() || `cp exit ${result.code}`}`,
      );
    }
  }
}

function runCopy(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn('cp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => resolvePromise({ code: null, stderr: error.message }));
    child.on('close', (code) => resolvePromise({ code, stderr }));
  });
}
