/**
 * `gitswarm status` on a connected clone: the repository, streams, merge queue and last
 * stabilization as the server records them (consensus as the server computes it), git heads and
 * workspaces from this clone, and `server: {url, repo_id, reachable, outbox_pending}`. When the
 * server does not answer, the local part is printed with `reachable: false` and `stale: true`.
 */
import type { CommandDeps, RemoteDeps } from '../../cli/context.js';
import { gitPicture, type QueueEntryView, type StatusResult } from '../../cli/status.js';
import { tallyStreams } from '../../core/streams/stream-summary.js';
import { LIVE_STREAM_STATUSES } from '../../core/streams/streams.js';
import { listWorkspaces } from '../../core/streams/workspaces.js';
import { isGitSwarmError } from '../../errors.js';
import type { Repo, Stabilization, Stream } from '../../store/index.js';
import { getAllPages } from '../pages.js';
import type { ServerAgent } from './agent.js';

type Connected = CommandDeps & { remote: RemoteDeps };

interface Consensus {
  reached: boolean;
  reason: string;
  approvals: number;
  rejections: number;
  stale_approvals: number;
  stale_rejections: number;
}

/** Writes and pushes waiting in the outbox for this server (b-outbox's outboxSummary). */
async function outboxPending(deps: Connected): Promise<number> {
  const { outboxSummary } = await import('../outbox.js');
  return (await outboxSummary(deps.core.store.db, deps.remote.connection.url)).pending;
}

function repoPart(repo: Repo, path: string | null): StatusResult['repo'] {
  return {
    id: repo.id,
    name: repo.name,
    path,
    merge_mode: repo.merge_mode,
    ownership_model: repo.ownership_model,
    stage: repo.stage,
    buffer_branch: repo.buffer_branch,
    promote_target: repo.promote_target,
  };
}

/** `limit` caps the workspaces, streams and queue listed, as in Mode A; `counts` has them all. */
export async function statusRemote(deps: Connected, limit: number): Promise<StatusResult> {
  const { remote, ctx, core } = deps;
  const { client } = remote;
  const root = ctx.repo.path ?? ctx.root;
  const repoId = remote.repoId();
  const serverPart = async (reachable: boolean) => ({
    url: remote.connection.url,
    repo_id: repoId,
    reachable,
    outbox_pending: await outboxPending(deps),
  });
  const workspaces = await listWorkspaces(core.store.db, ctx.repo.id);

  let repo: Repo;
  try {
    repo = (await client.get<{ repo: Repo }>(`/repos/${repoId}`)).repo;
  } catch (error) {
    if (!isGitSwarmError(error, 'server_unreachable')) throw error;
    deps.io.stderr.write(`warning: ${error.message} Showing this clone only.\n`);
    const local = ctx.repo;
    const picture = await gitPicture(
      root,
      { buffer: local.buffer_branch, main: local.promote_target },
      workspaces,
    );
    return {
      repo: repoPart(local, local.path),
      buffer_head: picture.bufferHead,
      main_head: picture.mainHead,
      buffer_ahead: picture.ahead,
      workspaces: picture.workspaces,
      streams: [],
      queue: [],
      last_stabilization: null,
      server: await serverPart(false),
      stale: true,
    };
  }

  const [picture, streams, { agents }, { stabilizations }] = await Promise.all([
    gitPicture(root, { buffer: repo.buffer_branch, main: repo.promote_target }, workspaces),
    getAllPages<Stream>(client, `/repos/${repoId}/streams`, 'streams'),
    client.get<{ agents: ServerAgent[] }>('/agents'),
    client.get<{ stabilizations: Stabilization[] }>(`/repos/${repoId}/stabilize/history`, { limit: 1 }),
  ]);
  const agentName = new Map(agents.map((agent) => [agent.id, agent.name]));
  const counts = tallyStreams(streams.map((s) => [s.status, 1] as const));
  const live = streams.filter((s) => LIVE_STREAM_STATUSES.includes(s.status)).slice(0, limit);
  const inReview = streams
    .filter((s) => s.status === 'in_review')
    .sort((a, b) => b.merge_priority - a.merge_priority || a.created_at.localeCompare(b.created_at))
    .slice(0, limit);
  const consensus = await Promise.all(
    inReview.map((stream) =>
      client.get<{ consensus: Consensus }>(`/streams/${encodeURIComponent(stream.id)}/consensus`),
    ),
  );
  const queue: QueueEntryView[] = inReview.map((stream, i) => {
    const c = consensus[i]?.consensus as Consensus;
    return {
      stream_id: stream.id,
      name: stream.name,
      agent: agentName.get(stream.agent_id) ?? stream.agent_id,
      ready: c.reached,
      approvals: c.approvals,
      rejections: c.rejections,
      stale_approvals: c.stale_approvals,
      stale_rejections: c.stale_rejections,
      reason: c.reason,
    };
  });
  const last = stabilizations[0];
  return {
    repo: repoPart(repo, ctx.repo.path),
    buffer_head: picture.bufferHead,
    main_head: picture.mainHead,
    buffer_ahead: picture.ahead,
    workspaces: picture.workspaces.slice(0, limit),
    streams: live.map((s) => ({
      id: s.id,
      name: s.name,
      branch: s.branch,
      agent: agentName.get(s.agent_id) ?? s.agent_id,
      status: s.status,
      review_status: s.review_status,
      parent_stream_id: s.parent_stream_id,
      conflict_paths: s.conflict?.paths ?? [],
    })),
    queue,
    counts: { streams: counts, workspaces: workspaces.length, queue: counts.in_review },
    limit,
    last_stabilization: last
      ? {
          result: last.result,
          tag: last.tag,
          buffer_commit: last.buffer_commit,
          stabilized_at: last.stabilized_at,
        }
      : null,
    server: await serverPart(true),
  };
}
