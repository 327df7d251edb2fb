/**
 * Carrying out a passed council proposal through the same core functions a human command calls,
 * with the council as actor (actor null).
 *
 * Runs under the repository's lock and outside any transaction: merge, revert and promote do git
 * work and take their own transactions in federation. Database-only actions run in one transaction
 * with the record of their result. A proposal executes at most once: only a passed proposal with no
 * execution_result yet is picked up. A failure is recorded, not thrown: executed stays false,
 * execution_result is `{ok: false, error: {code, message}}` and the status stays 'passed'.
 */
import { GitSwarmError, isGitSwarmError } from '../../errors.js';
import {
  type AccessLevel,
  type CouncilProposal,
  type Executor,
  inTransaction,
  type Repo,
  toJson,
  withRepoLock,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import { getAgent } from '../agents/agents.js';
import type { CoreDeps } from '../deps.js';
import { mergeStream, promoteBuffer, revertStream } from '../federation.js';
import { getRepo, updateRepoSettings } from '../repos/repos.js';
import { getStream, isLiveStream } from '../streams/streams.js';
import { assertNotArchived } from './access.js';
import { addMaintainer, removeMaintainer } from './maintainers.js';

/** The shape of execution_result. */
export type ExecutionResult =
  | ({ ok: true } & Record<string, unknown>)
  | { ok: false; error: { code: string; message: string }; attempted_at: string };

export interface SetAccessLevelInput {
  repo: Repo;
  agentId: string;
  /** `none` removes the explicit grant (maintainer roles and the repository's mode still apply). */
  level: AccessLevel;
  /** Null when a council decision sets it. */
  actorId: string | null;
}

/** Sets or removes an agent's explicit access grant without a permission check (council decisions). */
export async function setAccessLevel(
  deps: CoreDeps,
  db: Executor,
  input: SetAccessLevelInput,
): Promise<{ changed: boolean }> {
  const agent = await getAgent(db, input.agentId);
  if (input.level === 'none') {
    const result = await db
      .deleteFrom('gitswarm_repo_access')
      .where('repo_id', '=', input.repo.id)
      .where('agent_id', '=', agent.id)
      .executeTakeFirst();
    const changed = Number(result.numDeletedRows) > 0;
    if (changed) {
      await recordActivity(deps, db, {
        event: 'access.revoked',
        repoId: input.repo.id,
        agentId: input.actorId,
        targetType: 'agent',
        targetId: agent.id,
        metadata: { agent: agent.name },
      });
    }
    return { changed };
  }
  const level = input.level;
  await db
    .insertInto('gitswarm_repo_access')
    .values({
      id: newId(),
      repo_id: input.repo.id,
      agent_id: agent.id,
      access_level: level,
      granted_by: input.actorId,
      expires_at: null,
      created_at: isoNow(deps.clock),
    })
    .onConflict((oc) =>
      oc
        .columns(['repo_id', 'agent_id'])
        .doUpdateSet({ access_level: level, granted_by: input.actorId, expires_at: null }),
    )
    .execute();
  await recordActivity(deps, db, {
    event: 'access.granted',
    repoId: input.repo.id,
    agentId: input.actorId,
    targetType: 'agent',
    targetId: agent.id,
    metadata: { agent: agent.name, level },
  });
  return { changed: true };
}

/** Sets a live stream's merge priority (higher merges first). */
export async function setMergePriority(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; streamId: string; priority: number; actorId: string | null },
): Promise<{ stream_id: string; merge_priority: number; previous_priority: number }> {
  const stream = await getStream(db, input.repo.id, input.streamId);
  if (!isLiveStream(stream)) {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${stream.id} is ${stream.status}; it is no longer in the queue.`,
    );
  }
  await db
    .updateTable('gitswarm_streams')
    .set({ merge_priority: input.priority, updated_at: isoNow(deps.clock) })
    .where('id', '=', stream.id)
    .execute();
  await recordActivity(deps, db, {
    event: 'stream.updated',
    repoId: input.repo.id,
    agentId: input.actorId,
    targetType: 'stream',
    targetId: stream.id,
    metadata: { merge_priority: input.priority, previous_priority: stream.merge_priority },
  });
  return { stream_id: stream.id, merge_priority: input.priority, previous_priority: stream.merge_priority };
}

type DbAction = (trx: Executor, repo: Repo) => Promise<Record<string, unknown>>;
type GitAction = (repo: Repo) => Promise<Record<string, unknown>>;

function str(data: Record<string, unknown>, key: string): string {
  const value = data[key];
  if (typeof value !== 'string') throw new Error(`Proposal action_data lacks ${key}`);
  return value;
}

/** The action of a proposal: a database step (run with its record) or a git step (run before it). */
function actionOf(
  deps: CoreDeps,
  proposal: CouncilProposal,
): { kind: 'db'; run: DbAction } | { kind: 'git'; run: GitAction } {
  const data = proposal.action_data;
  switch (proposal.proposal_type) {
    case 'add_maintainer':
    case 'remove_maintainer':
      return {
        kind: 'db',
        run: async (trx, repo) => {
          const agent = await getAgent(trx, str(data, 'agent_id'));
          const change = proposal.proposal_type === 'add_maintainer' ? addMaintainer : removeMaintainer;
          await change(deps, trx, { repo, actor: null, agent });
          return { agent_id: agent.id };
        },
      };
    case 'modify_access':
      return {
        kind: 'db',
        run: async (trx, repo) => {
          const level = str(data, 'level') as AccessLevel;
          const { changed } = await setAccessLevel(deps, trx, {
            repo,
            agentId: str(data, 'agent_id'),
            level,
            actorId: null,
          });
          return { agent_id: data.agent_id, level, changed };
        },
      };
    case 'change_settings':
      return {
        kind: 'db',
        run: async (trx, repo) => {
          const changes = (data.settings ?? {}) as Record<string, unknown>;
          await updateRepoSettings(deps, trx, { repo, actor: null, changes });
          return { settings: changes };
        },
      };
    case 'reorder_queue':
      return {
        kind: 'db',
        run: (trx, repo) =>
          setMergePriority(deps, trx, {
            repo,
            streamId: str(data, 'stream_id'),
            priority: Number(data.priority),
            actorId: null,
          }),
      };
    case 'merge_stream':
      return {
        kind: 'git',
        run: async (repo) => {
          const stream = await getStream(deps.store.db, repo.id, str(data, 'stream_id'));
          return { ...(await mergeStream(deps, { repo, stream, actor: null, trigger: 'council' })) };
        },
      };
    case 'revert_stream':
      return {
        kind: 'git',
        run: async (repo) => {
          const stream = await getStream(deps.store.db, repo.id, str(data, 'stream_id'));
          const reason = typeof data.reason === 'string' ? data.reason : `Council proposal ${proposal.id}`;
          const result = await revertStream(deps, { repo, stream, actor: null, reason });
          if (result.reverted === false) {
            throw new GitSwarmError(
              'conflict',
              `Reverting stream ${stream.id} conflicts with later changes.`,
              {
                details: { conflict_paths: result.conflict_paths },
              },
            );
          }
          return { ...result };
        },
      };
    case 'promote':
      return {
        kind: 'git',
        run: async (repo) => {
          return { ...(await promoteBuffer(deps, { repo, actor: null, trigger: 'council' })) };
        },
      };
  }
}

function failure(error: unknown, now: string): ExecutionResult {
  const code = isGitSwarmError(error) ? error.code : 'internal_error';
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, error: { code, message }, attempted_at: now };
}

async function recordExecution(
  deps: CoreDeps,
  db: Executor,
  proposal: CouncilProposal,
  repo: Repo,
  result: ExecutionResult,
): Promise<CouncilProposal> {
  const now = isoNow(deps.clock);
  const updated = await db
    .updateTable('gitswarm_council_proposals')
    .set({ executed: result.ok, executed_at: result.ok ? now : null, execution_result: toJson(result) })
    .where('id', '=', proposal.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: result.ok ? 'proposal.executed' : 'proposal.execution_failed',
    repoId: repo.id,
    agentId: null,
    targetType: 'proposal',
    targetId: proposal.id,
    metadata: { type: proposal.proposal_type, result },
  });
  return updated;
}

function isPending(proposal: CouncilProposal | undefined): proposal is CouncilProposal {
  return (
    proposal !== undefined &&
    proposal.status === 'passed' &&
    !proposal.executed &&
    proposal.execution_result === null
  );
}

/**
 * Executes a passed proposal that has not been executed (or attempted) yet and records the outcome;
 * returns the proposal as recorded. Any other proposal is returned unchanged. Must not be called
 * inside a transaction.
 */
export async function executeProposal(
  deps: CoreDeps,
  repo: Repo,
  proposalId: string,
): Promise<CouncilProposal> {
  return withRepoLock(deps.store, repo.id, async () => {
    const read = () =>
      deps.store.db
        .selectFrom('gitswarm_council_proposals')
        .selectAll()
        .where('id', '=', proposalId)
        .executeTakeFirst();
    const proposal = await read();
    if (!proposal) throw new Error(`Proposal ${proposalId} vanished`);
    if (!isPending(proposal)) return proposal;
    const action = actionOf(deps, proposal);
    if (action.kind === 'db') {
      try {
        return await inTransaction(deps.store.db, async (trx) => {
          const fresh = await getRepo(trx, repo.id);
          assertNotArchived(fresh, proposal.proposal_type);
          const details = await action.run(trx, fresh);
          return recordExecution(deps, trx, proposal, fresh, { ok: true, ...details });
        });
      } catch (error) {
        return inTransaction(deps.store.db, (trx) =>
          recordExecution(deps, trx, proposal, repo, failure(error, isoNow(deps.clock))),
        );
      }
    }
    let result: ExecutionResult;
    try {
      const fresh = await getRepo(deps.store.db, repo.id);
      assertNotArchived(fresh, proposal.proposal_type);
      result = { ok: true, ...(await action.run(fresh)) };
    } catch (error) {
      result = failure(error, isoNow(deps.clock));
    }
    return inTransaction(deps.store.db, (trx) => recordExecution(deps, trx, proposal, repo, result));
  });
}

/**
 * Executes the council's passed proposals that were never attempted (the voting process ended
 * before it could run them); returns how many it ran.
 */
export async function executePendingProposals(
  deps: CoreDeps,
  repo: Repo,
  councilId: string,
): Promise<number> {
  const pending = await deps.store.db
    .selectFrom('gitswarm_council_proposals')
    .select('id')
    .where('council_id', '=', councilId)
    .where('status', '=', 'passed')
    .where('executed', '=', false)
    .where('execution_result', 'is', null)
    .orderBy('resolved_at')
    .execute();
  for (const { id } of pending) await executeProposal(deps, repo, id);
  return pending.length;
}
