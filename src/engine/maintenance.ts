/**
 * git's own housekeeping for a repository the engine writes to. git runs `git maintenance run
 * --auto` after its commands that write objects; the engine's commits turn that off (commit.ts: a
 * process per commit, and now and then a gc under the repository lock), and its merges write
 * objects with plumbing or by themselves (loose-objects.ts), which never run it. A repository that
 * only agents touch would collect loose objects without end. So a stabilization runs the same auto
 * maintenance once its own git work is done (run beside it, on a loaded machine it once packed
 * nothing: gc races the run's own worktree and ref writes). While there is little to do it costs a
 * few milliseconds; past git's thresholds (`gc.auto`, 6,700 loose objects by default, and
 * `gc.autoPackLimit`) it packs. `gc.auto = 0` turns it off, as it does for git.
 */
import { git } from './git.js';

const AUTO_MAINTENANCE = [
  // A hook is code from the repository (pre-auto-gc): not run outside a sandbox.
  '-c',
  'core.hooksPath=/dev/null',
  // Packed here, to its end, not by a gc left running in the background after the caller is done.
  '-c',
  'gc.autoDetach=false',
  'maintenance',
  'run',
  '--auto',
  '--quiet',
];

/**
 * Runs git's auto maintenance in the repository at `repoDir`. Resolves false when it failed (a gc
 * that lost a race with an agent's ref update, say): housekeeping never fails the work it follows.
 */
export async function runAutoMaintenance(repoDir: string): Promise<boolean> {
  try {
    await git(AUTO_MAINTENANCE, { cwd: repoDir });
    return true;
  } catch {
    return false;
  }
}
