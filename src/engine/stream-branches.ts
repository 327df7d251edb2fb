/** Stream branches: `stream/<id>`, created only where they do not exist yet (create-only CAS). */
import { GitSwarmError } from '../errors.js';
import { assertRevision, assertValidBranch, isObjectId } from './names.js';
import { moveRef, type OpLog } from './oplog.js';
import { resolveCommit } from './repo.js';

/** The branch of a stream. */
export function streamBranch(streamId: string): string {
  return `stream/${streamId}`;
}

export interface CreateBranchAtOptions {
  /** Branch name (not a full ref). */
  branch: string;
  /** Commit to create it at (an object id, or a revision resolved first). */
  at: string;
  oplog: OpLog;
  streamId?: string | null;
  agentId?: string | null;
}

/** Creates a branch through the operation log; `already_exists` when it exists. Returns the op id (pending). */
export async function createBranchAt(repoDir: string, options: CreateBranchAtOptions): Promise<string> {
  assertValidBranch(options.branch);
  assertRevision(options.at);
  const at = isObjectId(options.at) ? options.at : await resolveCommit(repoDir, options.at);
  if (at === null) throw new GitSwarmError('not_found', `Revision ${options.at} does not exist.`);
  const move = await moveRef(repoDir, options.oplog, {
    ref: `refs/heads/${options.branch}`,
    old: null,
    new: at,
    kind: 'stream_create',
    description: `Create branch ${options.branch}`,
    streamId: options.streamId ?? null,
    agentId: options.agentId ?? null,
  });
  if (!move.moved) throw new GitSwarmError('already_exists', `Branch ${options.branch} already exists.`);
  return move.opId;
}
