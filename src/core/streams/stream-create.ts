/**
 * Creating a stream: its branch from the buffer head (or a parent stream's head), its record (name,
 * parent and dependency rules, the task claim it is linked to) and the operation log entry, under
 * the repository's lock. `gitswarm workspace create` (Mode A) adds the agent's worktree through
 * `prepare`/`record`; the server of Mode C calls it alone and keeps the worktree in its pool.
 */
import { git } from '../../engine/git.js';
import { assertValidName } from '../../engine/names.js';
import { OpLog } from '../../engine/oplog.js';
import { createBranchAt, streamBranch } from '../../engine/stream-branches.js';
import {
  type Agent,
  type Executor,
  inTransaction,
  type Repo,
  type Stream,
  withRepoLock,
} from '../../store/index.js';
import { failpoint } from '../../util/failpoints.js';
import { newStreamId } from '../../util/ids.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { getRepo } from '../repos/repos.js';
import { branchHead } from './stream-cascade.js';
import { assertStreamNameFree, getFromStream, getLiveParent, insertStreamRecord } from './stream-records.js';
import { repoRoot } from './workspace-paths.js';

export interface CreateStreamInput {
  repo: Repo;
  agent: Agent;
  /** The stream's name; default: the agent's name and a short suffix. */
  name?: string;
  /** Link the agent's claim on this task (id or number) to the new stream. */
  taskRef?: string;
  /** Build on another stream (id, name or branch) instead of the buffer. */
  dependsOn?: string;
  /** Start at this stream's head (id, name or branch), its commits carried over, building on the buffer. */
  fromStream?: string;
  source?: Stream['source'];
  /** The hint of a taken name (how to choose another one). */
  nameHint?: string;
  /** What to do instead when the parent is not live. */
  parentHint?: string;
  /** Added to the `stream.created` event. */
  eventMetadata?: Record<string, unknown>;
  /** After the branch exists, before the record is written (Mode A adds the worktree). */
  prepare?: (planned: { id: string; name: string; branch: string }) => Promise<void>;
  /** In the record's transaction (Mode A records the workspace). */
  record?: (trx: Executor, stream: Stream) => Promise<void>;
  /** Undoes `prepare` when a later step fails (before the branch is deleted again). */
  undo?: () => Promise<void>;
}

/** Creates a stream (see the module comment); the caller's access is checked (write). */
export async function createStream(deps: CoreDeps, input: CreateStreamInput): Promise<Stream> {
  const { agent } = input;
  return withRepoLock(deps.store, input.repo.id, async () => {
    const repo = await getRepo(deps.store.db, input.repo.id);
    const repoDir = repoRoot(repo);
    await requireAction(deps, deps.store.db, repo, agent, 'write');
    const id = newStreamId();
    const name = input.name ?? `${agent.name.slice(0, 90)}-${id.slice(0, 6)}`;
    assertValidName('stream', name);
    await assertStreamNameFree(deps.store.db, repo.id, name, input.nameHint ?? 'Choose another name.');
    const parent =
      input.dependsOn === undefined
        ? null
        : await getLiveParent(
            deps.store.db,
            repo.id,
            input.dependsOn,
            input.parentHint ?? 'build on the buffer instead (leave out depends_on)',
          );
    const from =
      input.fromStream === undefined
        ? null
        : await getFromStream(deps.store.db, repo.id, input.fromStream, input.dependsOn);
    const baseBranch = parent ? parent.branch : repo.buffer_branch;
    const baseCommit = await branchHead(repoDir, baseBranch);
    const startAt = from ? await branchHead(repoDir, from.branch) : baseCommit;
    const branch = streamBranch(id);
    const oplog = new OpLog(deps.store, repo.id, deps.clock);
    const opId = await createBranchAt(repoDir, {
      branch,
      at: startAt,
      oplog,
      streamId: id,
      agentId: agent.id,
    });
    const undoBranch = async () => {
      await git(['update-ref', '-d', `refs/heads/${branch}`, startAt], { cwd: repoDir }).catch(() => {});
      await oplog.abort(opId);
    };
    try {
      await input.prepare?.({ id, name, branch });
    } catch (error) {
      await undoBranch();
      throw error;
    }
    failpoint('stream-create.after-worktree');
    try {
      return await inTransaction(deps.store.db, async (trx) => {
        const stream = await insertStreamRecord(deps, trx, {
          repo,
          agent,
          id,
          name,
          branch,
          source: input.source ?? 'cli',
          parent,
          baseBranch,
          baseCommit,
          fromStream: from,
          ...(input.taskRef !== undefined ? { taskRef: input.taskRef } : {}),
          ...(input.eventMetadata ? { eventMetadata: input.eventMetadata } : {}),
        });
        await input.record?.(trx, stream);
        await oplog.complete(opId, trx);
        return stream;
      });
    } catch (error) {
      await input.undo?.();
      await undoBranch();
      throw error;
    }
  });
}
