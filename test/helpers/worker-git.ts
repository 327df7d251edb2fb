/**
 * Where a test worker starts git. A worker runs file after file in one process (isolate: false)
 * and grows to 150 MB and more; starting git forks it, and a fork costs more the more memory is
 * mapped (git-spawner.ts). So the workers run git from the helper process, as the HTTP server does:
 * 11–15% less time for git-heavy files on a 2-core machine (2026-12-05). The setup file
 * (worker-git-setup.ts) takes the helper before each file; a file that tests git started from its
 * own process, as a CLI command starts it, calls `startGitHere` first.
 */
import { useGitSpawner } from '../../src/engine/git-spawner.js';

let release: (() => void) | undefined;

/** Runs this worker's git from the helper process (one use, held until `startGitHere`). */
export function useWorkerGitHelper(): void {
  release ??= useGitSpawner();
}

/** Until the next file, this worker starts git itself. */
export function startGitHere(): void {
  release?.();
  release = undefined;
}
