/** Promotion: fast-forwarding a branch (main) to a commit (the buffer head) by compare-and-swap. */
import { GitSwarmError } from '../errors.js';
import { assertRevision, assertValidBranch, isObjectId } from './names.js';
import { moveRef, type OpLog } from './oplog.js';
import { isAncestor, readRef, resolveCommit } from './repo.js';

export interface FastForwardOptions {
  /** Branch name (not a full ref), e.g. `main`. */
  target: string;
  /** The commit to move it to. */
  to: string;
  oplog: OpLog;
  agentId?: string | null;
}

const MAX_ATTEMPTS = 8;

/**
 * Moves `target` forward to `to`; `not_fast_forward` when `to` does not contain the target's
 * head; `moved: false` when it is already there. Creates the branch when missing. Leaves the
 * operation pending for the caller to complete.
 */
export async function fastForward(
  repoDir: string,
  options: FastForwardOptions,
): Promise<{ moved: boolean; from: string | null; to: string; opId?: string }> {
  assertValidBranch(options.target);
  assertRevision(options.to);
  const to = isObjectId(options.to) ? options.to : await resolveCommit(repoDir, options.to);
  if (to === null) throw new GitSwarmError('not_found', `Revision ${options.to} does not exist.`);
  const ref = `refs/heads/${options.target}`;
  let current = await readRef(repoDir, ref);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (current === to) return { moved: false, from: current, to };
    if (current !== null && !(await isAncestor(repoDir, current, to))) {
      throw new GitSwarmError('not_fast_forward', `${options.target} is not an ancestor of ${to}.`, {
        details: { target: options.target, from: current, to },
      });
    }
    const move = await moveRef(repoDir, options.oplog, {
      ref,
      old: current,
      new: to,
      kind: 'promote',
      description: `Fast-forward ${options.target} to ${to}`,
      agentId: options.agentId ?? null,
    });
    if (move.moved) return { moved: true, from: current, to, opId: move.opId };
    current = move.current ?? (await readRef(repoDir, ref));
  }
  throw new GitSwarmError('ref_moved', `Branch ${options.target} kept moving; it was not promoted.`);
}
