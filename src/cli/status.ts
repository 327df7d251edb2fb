/**
 * `gitswarm status`: the repository's settings and stage, buffer against main, the agents at
 * work (live workspaces: agent, stream, head, commits ahead of the buffer), the live streams with
 * their review state, the merge queue and the last stabilization.
 *
 * Workspaces are listed apart from streams: in swarm mode each commit merges at once, so an
 * agent's stream is `merged` most of the time while the agent keeps working in it.
 *
 * Its cost stays flat however many streams there are: counts come from one aggregate query, and
 * the workspaces, streams and queue shown are capped (`--limit`, default STATUS_LIMIT).
 */
import { findBranchRule } from '../core/governance/branch-rules.js';
import { evaluateConsensus } from '../core/streams/consensus.js';
import { readStreamCodes } from '../core/streams/review-freshness.js';
import {
  countStreamsByStatus,
  countWorkspaces,
  listStreamsWithAgents,
  type StreamCounts,
} from '../core/streams/stream-summary.js';
import { LIVE_STREAM_STATUSES } from '../core/streams/streams.js';
import { listWorkspaces } from '../core/streams/workspaces.js';
import { countCommitsAhead } from '../engine/commit-count.js';
import { git } from '../engine/git.js';
import { readLooseRefs } from '../engine/repo.js';
import type { Executor, Repo, Stabilization, Stream } from '../store/index.js';
import { mapLimit } from '../util/map-limit.js';
import type { CommandDeps } from './context.js';
import { parseListLimit } from './list-limit.js';
import { fields, type Style, safeText, shortOid, table } from './output.js';

export interface StatusStreamView {
  id: string;
  name: string;
  branch: string;
  agent: string;
  status: Stream['status'];
  review_status: Stream['review_status'];
  parent_stream_id: string | null;
  conflict_paths: string[];
}

export interface WorkspaceView {
  agent: string;
  stream_id: string;
  stream_name: string;
  branch: string;
  /** The stream's status: `merged` for a swarm stream whose commits are all on the buffer. */
  stream_status: Stream['status'];
  worktree: string;
  /** The stream branch's head; null when the branch is gone. */
  head: string | null;
  /** Commits on the stream not yet on the buffer; null when either branch is gone. */
  ahead: number | null;
}

export interface QueueEntryView {
  stream_id: string;
  name: string;
  agent: string;
  /** Consensus reached: `gitswarm merge` would go ahead (dependencies permitting). */
  ready: boolean;
  approvals: number;
  rejections: number;
  /** Verdicts given on code that has changed since (counted only with stale_reviews keep). */
  stale_approvals: number;
  stale_rejections: number;
  reason: string;
}

/** How many workspaces, streams and queue entries `status` shows unless told otherwise. */
export const STATUS_LIMIT = 20;
/** The largest `--limit` taken: status is a summary; lists page elsewhere. */
export const MAX_STATUS_LIMIT = 1000;

export interface StatusCounts {
  /** Every stream of the repository by status, with `live` (active + in review + conflicted) and `total`. */
  streams: StreamCounts;
  workspaces: number;
  /** Streams in review (the whole merge queue). */
  queue: number;
}

export interface StatusResult {
  repo: {
    id: string;
    name: string;
    path: string | null;
    merge_mode: Repo['merge_mode'];
    ownership_model: Repo['ownership_model'];
    stage: Repo['stage'];
    buffer_branch: string;
    promote_target: string;
  };
  buffer_head: string | null;
  main_head: string | null;
  /** Commits on the buffer not yet on main. */
  buffer_ahead: number;
  /** Live workspaces: who is working on what (the first `limit`; `counts.workspaces` has them all). */
  workspaces: WorkspaceView[];
  /** The first `limit` live streams, oldest first (`counts.streams.live` has them all). */
  streams: StatusStreamView[];
  /** The first `limit` streams of the merge queue (`counts.queue` has them all). */
  queue: QueueEntryView[];
  /** How many there are in all (connected: counted from the server's stream list). */
  counts?: StatusCounts;
  /** How many of each list are shown at most. */
  limit?: number;
  last_stabilization: Pick<Stabilization, 'result' | 'tag' | 'buffer_commit' | 'stabilized_at'> | null;
  /** Connected only: the server, whether it answered, and the writes waiting to be sent to it. */
  server?: { url: string; repo_id: string | null; reachable: boolean; outbox_pending: number };
  /** Connected and the server did not answer: governance parts are missing (or from a cache). */
  stale?: boolean;
}

/**
 * The heads of `branches` by ref name (a missing branch is left out). Read from the loose ref
 * files when they all are (a status in a busy swarm then starts no git process), else by git.
 */
async function readHeads(root: string, branches: readonly string[]): Promise<Map<string, string>> {
  const refs = branches.map((b) => `refs/heads/${b}`);
  const loose = await readLooseRefs(root, refs);
  if (loose) return new Map(refs.map((ref, i) => [ref, loose[i] as string]));
  const out = await git(['for-each-ref', '--format=%(refname) %(objectname)', ...refs], { cwd: root });
  const heads = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const [ref, oid] = line.split(' ');
    if (ref && oid) heads.set(ref, oid);
  }
  return heads;
}

const GIT_COUNTS_AT_ONCE = 4;

/** What git says: the buffer and main heads, how far the buffer is ahead, each workspace's head. */
export async function gitPicture(
  root: string,
  branches: { buffer: string; main: string },
  workspaces: Awaited<ReturnType<typeof listWorkspaces>>,
): Promise<{
  bufferHead: string | null;
  mainHead: string | null;
  ahead: number;
  workspaces: WorkspaceView[];
}> {
  const heads = await readHeads(root, [branches.buffer, branches.main, ...workspaces.map((w) => w.branch)]);
  const bufferHead = heads.get(`refs/heads/${branches.buffer}`) ?? null;
  const mainHead = heads.get(`refs/heads/${branches.main}`) ?? null;
  const [ahead, workspaceViews] = await Promise.all([
    bufferHead && mainHead ? countCommitsAhead(root, mainHead, bufferHead) : 0,
    // A git process per workspace the pair is new to; a few at a time (a status may list 1,000).
    mapLimit(workspaces, GIT_COUNTS_AT_ONCE, async (w): Promise<WorkspaceView> => {
      const head = heads.get(`refs/heads/${w.branch}`) ?? null;
      return {
        agent: w.agent_name,
        stream_id: w.stream_id,
        stream_name: w.stream_name,
        branch: w.branch,
        stream_status: w.stream_status,
        worktree: w.path,
        head,
        ahead: head && bufferHead ? await countCommitsAhead(root, bufferHead, head) : null,
      };
    }),
  ]);
  return { bufferHead, mainHead, ahead, workspaces: workspaceViews };
}

/** The picture without a clone: the buffer head as clients last reported it (Mode B server). */
async function reportedPicture(db: Executor, repoId: string): ReturnType<typeof gitPicture> {
  const { getReportedBufferHead } = await import('../core/sync/reported-buffer.js');
  const bufferHead = await getReportedBufferHead(db, repoId);
  return { bufferHead, mainHead: null, ahead: 0, workspaces: [] };
}

export interface StatusOptions {
  /** How many workspaces, streams and queue entries to list (default STATUS_LIMIT). */
  limit?: string | number;
}

/** Collects the status of the repository (connected: the server's governance, with local git). */
export async function runStatus(opts: StatusOptions, deps: CommandDeps): Promise<StatusResult> {
  const limit = parseListLimit(opts.limit, STATUS_LIMIT, MAX_STATUS_LIMIT);
  if (deps.remote) {
    const { statusRemote } = await import('../remote/commands/status.js');
    return statusRemote({ ...deps, remote: deps.remote }, limit);
  }
  const { core, ctx } = deps;
  const { repo } = ctx;
  const db = core.store.db;
  const root = repo.path ?? ctx.root;
  const workspaces = await listWorkspaces(db, repo.id, { limit });
  const [picture, counts, workspaceCount, streams, inReview, stabilization] = await Promise.all([
    // No git here (the server of a Mode B repository, for MCP): the buffer head clients reported.
    root === ''
      ? reportedPicture(db, repo.id)
      : gitPicture(root, { buffer: repo.buffer_branch, main: repo.promote_target }, workspaces),
    countStreamsByStatus(db, repo.id),
    countWorkspaces(db, repo.id),
    listStreamsWithAgents(db, repo.id, { status: LIVE_STREAM_STATUSES, limit }),
    listStreamsWithAgents(db, repo.id, { status: ['in_review'], limit, mergeOrder: true }),
    db
      .selectFrom('gitswarm_stabilizations')
      .select(['result', 'tag', 'buffer_commit', 'stabilized_at'])
      .where('repo_id', '=', repo.id)
      .orderBy('stabilized_at', 'desc')
      .limit(1)
      .executeTakeFirst(),
  ]);
  const { bufferHead, mainHead, ahead } = picture;
  const workspaceViews = picture.workspaces;
  // The queue's heads in one git call and the buffer's rule once, not once per stream.
  const [codes, rule] = await Promise.all([
    readStreamCodes(core, db, repo, inReview),
    inReview.length > 0 ? findBranchRule(db, repo.id, repo.buffer_branch) : null,
  ]);
  const queue: QueueEntryView[] = [];
  for (const stream of inReview) {
    const consensus = await evaluateConsensus(core, db, repo, stream, rule ?? null, codes.get(stream.id));
    queue.push({
      stream_id: stream.id,
      name: stream.name,
      agent: stream.agent_name,
      ready: consensus.reached,
      approvals: consensus.approvals,
      rejections: consensus.rejections,
      stale_approvals: consensus.stale_approvals,
      stale_rejections: consensus.stale_rejections,
      reason: consensus.reason,
    });
  }
  return {
    repo: {
      id: repo.id,
      name: repo.name,
      path: repo.path,
      merge_mode: repo.merge_mode,
      ownership_model: repo.ownership_model,
      stage: repo.stage,
      buffer_branch: repo.buffer_branch,
      promote_target: repo.promote_target,
    },
    buffer_head: bufferHead,
    main_head: mainHead,
    buffer_ahead: ahead,
    workspaces: workspaceViews,
    streams: streams.map((s) => ({
      id: s.id,
      name: s.name,
      branch: s.branch,
      agent: s.agent_name,
      status: s.status,
      review_status: s.review_status,
      parent_stream_id: s.parent_stream_id,
      conflict_paths: s.conflict?.paths ?? [],
    })),
    queue,
    counts: { streams: counts, workspaces: workspaceCount, queue: counts.in_review },
    limit,
    last_stabilization: stabilization ?? null,
  };
}

/** "… and 9,980 more; see CMD" under a capped list, or nothing when all are shown. */
function moreLine(shown: number, total: number | undefined, see: string, style: Style): string[] {
  if (total === undefined || total <= shown) return [];
  return [style.dim(`… and ${(total - shown).toLocaleString('en-US')} more; see ${see}`)];
}

/** "10,000 live (9,000 active, 1,000 in review), 12 merged" : the non-zero counts. */
function describeCounts(counts: StreamCounts): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const live = (['active', 'in_review', 'conflicted'] as const)
    .filter((status) => counts[status] > 0)
    .map((status) => `${n(counts[status])} ${status.replace('_', ' ')}`);
  const done = (['merged', 'abandoned', 'reverted'] as const)
    .filter((status) => counts[status] > 0)
    .map((status) => `${n(counts[status])} ${status}`);
  return [`${n(counts.live)} live${live.length > 0 ? ` (${live.join(', ')})` : ''}`, ...done].join(', ');
}

/** ", 1 stale (code changed since)" when verdicts were given on an older diff. */
function describeStale(q: QueueEntryView): string {
  const stale = q.stale_approvals + q.stale_rejections;
  return stale > 0 ? `, ${stale} stale (code changed since)` : '';
}

/** The stream's review status; an approval that rests on stale verdicts says so. */
function reviewState(stream: StatusStreamView, queued: QueueEntryView | undefined, style: Style): string {
  if (!stream.review_status) return '-';
  if (stream.review_status === 'approved' && queued && !queued.ready && queued.stale_approvals > 0) {
    return style.yellow('approved (stale)');
  }
  return colourStatus(stream.review_status, style);
}

function colourStatus(status: string, style: Style): string {
  if (status === 'conflicted' || status === 'red' || status === 'changes_requested') return style.red(status);
  if (status === 'in_review') return style.yellow(status);
  if (status === 'approved' || status === 'green') return style.green(status);
  return status;
}

export function formatStatus(result: StatusResult, style: Style): string {
  const { repo } = result;
  const stab = result.last_stabilization;
  const lines = [
    fields([
      [
        style.dim('repo'),
        `${repo.name} (${repo.merge_mode} mode, ${repo.ownership_model} ownership, ${repo.stage})`,
      ],
      [style.dim(repo.buffer_branch), shortOid(result.buffer_head)],
      [
        style.dim(repo.promote_target),
        `${shortOid(result.main_head)}${result.buffer_ahead ? ` (${repo.buffer_branch} is ${result.buffer_ahead} commit${result.buffer_ahead === 1 ? '' : 's'} ahead)` : ''}`,
      ],
      [
        style.dim('stabilized'),
        stab
          ? `${colourStatus(stab.result, style)} at ${shortOid(stab.buffer_commit)} ${stab.stabilized_at}`
          : 'never',
      ],
      ...(result.server
        ? ([
            [
              style.dim('server'),
              `${result.server.url} ${result.server.reachable ? style.green('reachable') : style.red('unreachable')}${result.server.outbox_pending ? `, ${result.server.outbox_pending} waiting to send` : ''}`,
            ],
          ] as const)
        : []),
      ...(result.counts ? ([[style.dim('streams'), describeCounts(result.counts.streams)]] as const) : []),
    ]),
    '',
  ];
  if (result.workspaces.length > 0) {
    lines.push(style.bold('Workspaces'));
    lines.push(
      table(
        result.workspaces.map((w) => [
          w.agent,
          w.stream_id,
          safeText(w.stream_name),
          // A live workspace on a merged stream is a swarm agent still at work.
          w.stream_status === 'merged'
            ? style.green('active (merged)')
            : colourStatus(w.stream_status, style),
          shortOid(w.head),
          w.ahead === null ? '-' : `${w.ahead} ahead`,
        ]),
        ['AGENT', 'STREAM', 'NAME', 'STATUS', 'HEAD', repo.buffer_branch.toUpperCase()].map(style.dim),
      ),
      ...moreLine(result.workspaces.length, result.counts?.workspaces, '`gitswarm workspace list`', style),
    );
    lines.push('');
  }
  if (result.streams.length === 0 && result.workspaces.length === 0)
    lines.push('No active streams. Start one with: gitswarm workspace create --as AGENT');
  else if (result.streams.length === 0) lines.push('No streams waiting to merge.');
  else {
    lines.push(style.bold('Streams'));
    const queued = new Map(result.queue.map((q) => [q.stream_id, q]));
    lines.push(
      table(
        result.streams.map((s) => [
          s.id,
          safeText(s.name),
          s.agent,
          colourStatus(s.status, style),
          reviewState(s, queued.get(s.id), style),
        ]),
        ['ID', 'NAME', 'AGENT', 'STATUS', 'REVIEW'].map(style.dim),
      ),
      ...moreLine(
        result.streams.length,
        result.counts?.streams.live,
        `\`gitswarm workspace list\` or \`gitswarm status --limit ${MAX_STATUS_LIMIT}\``,
        style,
      ),
    );
  }
  if (result.queue.length > 0) {
    lines.push('', style.bold('Merge queue'));
    lines.push(
      table(
        result.queue.map((q) => [
          q.stream_id,
          safeText(q.name),
          q.ready ? style.green('ready') : style.yellow('waiting'),
          `${q.approvals} approve, ${q.rejections} request changes${describeStale(q)}`,
        ]),
      ),
      ...moreLine(
        result.queue.length,
        result.counts?.queue,
        `\`gitswarm status --limit ${MAX_STATUS_LIMIT}\``,
        style,
      ),
    );
  }
  return lines.join('\n');
}
