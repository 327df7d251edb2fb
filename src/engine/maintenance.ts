/**
 * git's own housekeeping for a repository the engine writes to. git runs `git maintenance run
 * --auto` after its commands that write objects; the engine's commits turn that off (commit.ts: a
 * process per commit, and now and then a gc under the repository lock), and its merges write
 * objects with plumbing or by themselves (loose-objects.ts), which never run it. A repository that
 * only agents touch would collect loose objects without end. So a stabilization runs the same auto
 * maintenance once its own git work is done (run beside it, on a loaded machine it once packed
 * nothing: gc races the run's own worktree and ref writes).
 *
 * A git process there cost a green stabilization 5–10 ms, nearly always to find nothing to do. So
 * git is asked only once its default thresholds are passed, counted here as git counts them: more
 * than 6,700 loose objects (estimated from objects/17) or more than 50 packs. git then applies the
 * repository's own settings (`gc.auto = 0` turns it off); a lower `gc.auto` than git's default is
 * not looked at sooner.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { git, WITHOUT_HOOKS } from './git.js';
import type { GitRepo } from './repo.js';

/** git's default gc.auto: the loose objects past which its auto maintenance packs. */
const GC_AUTO = 6_700;
/** git's default gc.autoPackLimit: the packs past which it consolidates them. */
const GC_AUTO_PACK_LIMIT = 50;

const AUTO_MAINTENANCE = [
  // A hook is code from the repository (pre-auto-gc): not run outside a sandbox.
  ...WITHOUT_HOOKS,
  // Packed here, to its end, not by a gc left running in the background after the caller is done.
  '-c',
  'gc.autoDetach=false',
  'maintenance',
  'run',
  '--auto',
  '--quiet',
];

/**
 * Runs git's auto maintenance in `repo` when git's default thresholds are passed. Resolves whether
 * git ran and succeeded; false too when it failed (a gc that lost a race with an agent's ref update,
 * say): housekeeping never fails the work it follows.
 */
export async function runAutoMaintenance(repo: Pick<GitRepo, 'root' | 'commonDir'>): Promise<boolean> {
  if (!(await pastDefaultThresholds(join(repo.commonDir, 'objects')))) return false;
  try {
    await git(AUTO_MAINTENANCE, { cwd: repo.root });
    return true;
  } catch {
    return false;
  }
}

/** A loose object's file name in its folder: the rest of a SHA-1 or SHA-256 id. */
const LOOSE_NAME = /^(?:[0-9a-f]{38}|[0-9a-f]{62})$/;

/** Whether git's auto gc would run with its default settings, estimated as git estimates it. */
async function pastDefaultThresholds(objectsDir: string): Promise<boolean> {
  const entries = (dir: string) => readdir(dir).catch(() => [] as string[]);
  // git counts one folder of the 256 and scales: more than ⌈6,700 / 256⌉ = 27 objects there.
  const loose = (await entries(join(objectsDir, '17'))).filter((name) => LOOSE_NAME.test(name));
  if (loose.length > Math.ceil(GC_AUTO / 256)) return true;
  const packs = await entries(join(objectsDir, 'pack'));
  const kept = new Set(packs.filter((name) => name.endsWith('.keep')).map((name) => name.slice(0, -5)));
  const counted = packs.filter((name) => name.endsWith('.pack') && !kept.has(name.slice(0, -5)));
  return counted.length > GC_AUTO_PACK_LIMIT;
}
