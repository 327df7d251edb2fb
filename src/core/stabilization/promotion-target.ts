/**
 * Which commit a promotion moves the promote target (main) to. Main only ever receives tested
 * code: when the repository has a stabilize command, promotion fast-forwards main to the newest
 * green-tagged commit on the buffer's first-parent line, never past it, even when the buffer has
 * moved on since. `--force` (admin, recorded as a forced promotion) takes the buffer head as it
 * is. A repository without a stabilize command has nothing to test: the buffer head goes.
 */
import { findLastGreen, type GreenTag } from '../../engine/green-tags.js';
import { GitSwarmError } from '../../errors.js';
import type { Repo } from '../../store/index.js';
import { repoRoot } from '../streams/workspace-paths.js';

export interface PromotionTarget {
  /** The commit main may fast-forward to. */
  commit: string;
  /** The green tag on that commit, when there is one. */
  green: GreenTag | null;
  /** True when `force` let an untested commit through (record the promotion as forced). */
  forced: boolean;
}

/** Picks the promotion target for the buffer head; throws `not_green` when nothing tested can go. */
export async function resolvePromotionTarget(
  repo: Pick<Repo, 'id' | 'path' | 'buffer_branch' | 'stabilize_command'>,
  bufferHead: string,
  options: { force: boolean },
): Promise<PromotionTarget> {
  const hasTests = Boolean(repo.stabilize_command?.trim());
  const green = hasTests ? await findLastGreen(repoRoot(repo), bufferHead) : null;
  if (options.force) {
    return {
      commit: bufferHead,
      green: green?.commit === bufferHead ? green : null,
      forced: green?.commit !== bufferHead && hasTests,
    };
  }
  if (!hasTests) return { commit: bufferHead, green: null, forced: false };
  if (!green) {
    throw new GitSwarmError('not_green', `No commit on ${repo.buffer_branch} has passed stabilization yet.`, {
      details: { buffer_head: bufferHead },
    });
  }
  return { commit: green.commit, green, forced: false };
}
