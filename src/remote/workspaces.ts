/**
 * Mode B workspaces: the agent's worktree at `.worktrees/<agent>/` on its stream branch, made in
 * this clone; the stream's record is the server's. A workspace is read from git itself (the
 * worktree at the agent's path and the `stream/<id>` branch it has checked out), so a connected
 * clone keeps no second record of it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  agentIdentity,
  excludeWorktreesDir,
  WORKTREES_DIR,
  worktreePath,
} from '../core/streams/workspace-paths.js';
import { commitAll } from '../engine/commit.js';
import { assertValidName } from '../engine/names.js';
import {
  casDelete,
  casPush,
  createLocalBranch,
  deleteLocalBranch,
  fetchBranch,
  fetchPullRequestHead,
  fetchStreamBranch,
  pushBranch,
} from '../engine/remote.js';
import { readRef, resolveCommit } from '../engine/repo.js';
import { streamBranch } from '../engine/stream-branches.js';
import { listWorktrees, worktreeBranchAt } from '../engine/worktree-list.js';
import { addWorktree, isWorktreeDirty, removeWorktree } from '../engine/worktrees.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { Stream } from '../store/index.js';
import { newStreamId } from '../util/ids.js';
import {
  getServerRepo,
  getServerStream,
  listServerStreams,
  type RemoteStreamsDeps,
  resolveServerStream,
  sendReport,
} from './streams.js';

const LIVE: readonly Stream['status'][] = ['active', 'in_review', 'conflicted'];
const MAX_MESSAGE_LENGTH = 20_000;

/** The agent's workspace in this clone: its worktree and the stream it has checked out, or null. */
export async function findLocalWorkspace(
  deps: RemoteStreamsDeps,
  agentName: string,
): Promise<{ path: string; branch: string; streamId: string } | null> {
  const path = worktreePath({ id: deps.repoId, path: deps.root }, agentName);
  const branch = await worktreeBranchAt(deps.root, path);
  if (!branch?.startsWith('stream/')) return null;
  return { path, branch, streamId: branch.slice('stream/'.length) };
}

async function requireLocalWorkspace(deps: RemoteStreamsDeps, agentName: string) {
  const workspace = await findLocalWorkspace(deps, agentName);
  if (!workspace) {
    throw new GitSwarmError('invalid_state', `Agent ${agentName} has no workspace.`, {
      hint: `Create one with: gitswarm workspace create --as ${agentName}`,
    });
  }
  return workspace;
}

export interface CreateRemoteWorkspaceInput {
  name?: string;
  task?: string;
  dependsOn?: string;
  /** Start at this stream's head (fetched on demand), building on the buffer. */
  fromStream?: string;
  /** Start at the head of the stream the server recorded for this GitHub pull request. */
  fromPr?: number;
}

/**
 * The live stream the server recorded for a GitHub pull request (src/github/pull-requests.ts),
 * else its newest one; stream_not_found when GitHub has not reported the pull request.
 */
async function pullRequestStream(deps: RemoteStreamsDeps, number: number): Promise<Stream> {
  const streams = (await listServerStreams(deps)).filter((s) => s.github_pr_number === number);
  const found = streams.find((s) => LIVE.includes(s.status)) ?? streams[0];
  if (!found) {
    throw new GitSwarmError('stream_not_found', `No stream for pull request #${number}.`, {
      hint: 'The server records one when GitHub reports the pull request (docs/github.md); check the repository is linked.',
    });
  }
  return found;
}

/**
 * A pull request's head: its branch on the remote, else GitHub's `refs/pull/N/head` there (a PR
 * from a fork, whose branch lives in the fork), else the branch in this clone.
 */
async function pullRequestHead(deps: RemoteStreamsDeps, stream: Stream, number: number): Promise<string> {
  const options = { remote: deps.remote };
  const head =
    (await fetchBranch(deps.root, stream.branch, options)) ??
    (await fetchPullRequestHead(deps.root, number, options)) ??
    (await readRef(deps.root, `refs/heads/${stream.branch}`));
  if (head === null) {
    throw new GitSwarmError(
      'not_found',
      `Pull request #${number}'s head is neither branch ${stream.branch} nor refs/pull/${number}/head on "${deps.remote}", nor here.`,
      { hint: `Fetch it into this clone: git fetch ${deps.remote} pull/${number}/head` },
    );
  }
  return head;
}

/**
 * Creates the stream branch and worktree here (from the remote's buffer head, or the head of the
 * stream it depends on, fetched on demand), pushes the branch (create-only), then records the
 * stream on the server with this clone's id. A refusal at any step takes back what was made.
 */
export async function createRemoteWorkspace(
  deps: RemoteStreamsDeps,
  input: CreateRemoteWorkspaceInput,
): Promise<{ stream: Stream; worktree: string }> {
  const agent = await deps.actor();
  const { root, remote } = deps;
  const path = worktreePath({ id: deps.repoId, path: root }, agent.name);
  const existing = await findLocalWorkspace(deps, agent.name);
  if (existing) {
    throw new GitSwarmError('invalid_state', `Agent ${agent.name} already has a workspace at ${path}`, {
      hint: `Destroy it first: gitswarm workspace destroy --as ${agent.name}`,
      details: { stream_id: existing.streamId, worktree: path },
    });
  }
  if (existsSync(path)) {
    throw new GitSwarmError('invalid_state', `A folder already exists where the worktree goes: ${path}`, {
      hint: `Remove it first: git worktree remove --force ${path}`,
      details: { worktree: path },
    });
  }
  const id = newStreamId();
  const name = input.name ?? `${agent.name.slice(0, 90)}-${id.slice(0, 6)}`;
  assertValidName('stream', name);
  const repo = await getServerRepo(deps);
  const parent = input.dependsOn === undefined ? null : await resolveServerStream(deps, input.dependsOn);
  if (input.fromPr !== undefined && input.fromStream !== undefined) {
    throw new GitSwarmError(
      'invalid_input',
      'A stream starts from a stream or from a pull request, not both.',
      {
        hint: 'Leave out --from-stream (or --from-pr).',
      },
    );
  }
  const from =
    input.fromPr !== undefined
      ? await pullRequestStream(deps, input.fromPr)
      : input.fromStream === undefined
        ? null
        : await resolveServerStream(deps, input.fromStream);
  const baseCommit = parent ? await streamHead(deps, parent) : await bufferHead(deps, repo.buffer_branch);
  // --from-stream: the branch starts at that stream's head (brought from the remote when it was
  // made on another clone); the record says it builds on the buffer (the server checks the rest).
  const startAt = from
    ? input.fromPr !== undefined
      ? await pullRequestHead(deps, from, input.fromPr)
      : await streamHead(deps, from)
    : baseCommit;
  const branch = streamBranch(id);
  const ref = `refs/heads/${branch}`;
  await createLocalBranch(root, branch, startAt);
  let worktreeAdded = false;
  let pushed = false;
  try {
    await excludeWorktreesDir(root);
    await addWorktree(root, { path, branch });
    worktreeAdded = true;
    const push = await casPush(root, { ref, oid: startAt, expected: 'absent' }, { remote });
    if (push.status === 'rejected') {
      throw new GitSwarmError('already_exists', `Branch ${branch} already exists on the remote "${remote}".`);
    }
    pushed = true;
    const { stream } = await deps.server.post<{ stream: Stream }>(
      `/repos/${encodeURIComponent(deps.repoId)}/streams`,
      {
        id,
        name,
        branch,
        base_commit: baseCommit,
        ...(parent ? { depends_on: parent.id } : {}),
        ...(from ? { from_stream: from.id } : {}),
        ...(input.task !== undefined ? { task: input.task } : {}),
      },
    );
    return { stream, worktree: path };
  } catch (error) {
    if (pushed) await casDelete(root, { ref, expected: startAt }, { remote }).catch(() => {});
    if (worktreeAdded) await removeWorktree(root, path).catch(() => {});
    await deleteLocalBranch(root, branch, startAt).catch(() => false);
    throw error;
  }
}

/**
 * The buffer head to start from: the remote's (fetched). When the remote has no buffer yet (the
 * first stream of a newly connected repository), this clone's buffer is published there,
 * create-only, so every clone builds on and merges into the same one.
 */
async function bufferHead(deps: RemoteStreamsDeps, buffer: string): Promise<string> {
  const options = { remote: deps.remote };
  const remoteHead = await fetchBranch(deps.root, buffer, options);
  if (remoteHead !== null) return remoteHead;
  const localHead = await readRef(deps.root, `refs/heads/${buffer}`);
  if (localHead === null) {
    throw new GitSwarmError(
      'not_found',
      `The buffer branch ${buffer} exists neither here nor on "${deps.remote}".`,
      {
        hint: `Create it from main and push it: git branch ${buffer} main && git push ${deps.remote} ${buffer}`,
      },
    );
  }
  const published = await casPush(
    deps.root,
    { ref: `refs/heads/${buffer}`, oid: localHead, expected: 'absent' },
    options,
  );
  // Another clone published it first: build on theirs.
  if (published.status === 'rejected' && published.remoteOid !== null) {
    return (await fetchBranch(deps.root, buffer, options)) ?? published.remoteOid;
  }
  return localHead;
}

/**
 * The head of a stream to build on or start from, fetched from the remote (on demand: a stream
 * made on another clone becomes a local branch here).
 */
export async function streamHead(deps: RemoteStreamsDeps, parent: Stream): Promise<string> {
  const fetched =
    parent.branch === streamBranch(parent.id)
      ? (await fetchStreamBranch(deps.root, parent.id, { remote: deps.remote })).local
      : ((await fetchBranch(deps.root, parent.branch, { remote: deps.remote })) ??
        (await readRef(deps.root, `refs/heads/${parent.branch}`)));
  if (fetched === null) {
    throw new GitSwarmError(
      'not_found',
      `Stream ${parent.name}'s branch ${parent.branch} exists neither here nor on "${deps.remote}".`,
      {
        hint: "Its author's clone has not pushed it yet; ask them to commit (which pushes), or build on the buffer.",
      },
    );
  }
  return fetched;
}

export interface RemoteWorkspaceListing {
  agent_id: string;
  agent_name: string;
  stream_id: string;
  stream_name: string;
  stream_status: Stream['status'];
  branch: string;
  worktree: string;
  created_at: string;
}

/** This clone's workspaces (worktrees under `.worktrees/` on a stream branch the server records). */
export async function listRemoteWorkspaces(deps: RemoteStreamsDeps): Promise<RemoteWorkspaceListing[]> {
  const base = join(deps.root, WORKTREES_DIR);
  const local = (await listWorktrees(deps.root)).filter(
    (w) => resolve(w.path).startsWith(`${base}/`) && w.branch?.startsWith('stream/'),
  );
  if (local.length === 0) return [];
  const streams = new Map((await listServerStreams(deps)).map((s) => [s.branch, s]));
  const listed: RemoteWorkspaceListing[] = [];
  for (const worktree of local) {
    const stream = streams.get(worktree.branch ?? '');
    if (!stream) continue;
    listed.push({
      agent_id: stream.agent_id,
      agent_name: resolve(worktree.path).slice(base.length + 1),
      stream_id: stream.id,
      stream_name: stream.name,
      stream_status: stream.status,
      branch: stream.branch,
      worktree: resolve(worktree.path),
      created_at: stream.created_at,
    });
  }
  return listed.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * Removes the agent's worktree here. Uncommitted changes are refused unless the stream is
 * abandoned with it; `abandon` asks the server first, so a refusal leaves the worktree in place.
 */
export async function destroyRemoteWorkspace(
  deps: RemoteStreamsDeps,
  input: { abandon?: boolean },
): Promise<{ stream_id: string; worktree: string; abandoned: boolean }> {
  const agent = await deps.actor();
  const workspace = await requireLocalWorkspace(deps, agent.name);
  const stream = await getServerStream(deps, workspace.streamId);
  const abandon = input.abandon === true && LIVE.includes(stream.status);
  if (!input.abandon && existsSync(workspace.path) && (await isWorktreeDirty(workspace.path))) {
    throw new GitSwarmError('worktree_dirty', `The worktree ${workspace.path} has uncommitted changes.`, {
      hint: `Commit them (gitswarm commit -m MSG --as ${agent.name}) or discard them with: gitswarm workspace destroy --as ${agent.name} --abandon`,
      details: { worktree: workspace.path },
    });
  }
  if (abandon) {
    await deps.server.delete(`/streams/${encodeURIComponent(stream.id)}`, { reason: 'workspace destroyed' });
  }
  await removeWorktree(deps.root, workspace.path);
  return { stream_id: stream.id, worktree: workspace.path, abandoned: abandon };
}

export interface RemoteCommitResult {
  commit: string;
  change_id: string;
  stream_id: string;
  merged: boolean;
  buffer_head?: string;
  /** Swarm mode: how often the buffer push was rejected and the merge made again on the new head. */
  push_retries?: number;
  cascade: unknown[];
}

/**
 * Commits everything in the agent's worktree (with a Change-Id), pushes the stream branch and
 * reports the commit to the server. A stream the server says takes no commits is refused before
 * anything is committed.
 */
export async function commitRemoteWorkspace(
  deps: RemoteStreamsDeps,
  input: {
    message: string;
    /**
     * Swarm mode: merges the stream into the shared buffer after the commit is reported (the
     * connected merge path: the server's decision, a compare-and-swap push of the buffer).
     */
    mergeIntoBuffer?: (
      stream: Stream,
    ) => Promise<{ buffer_head: string; push_retries: number; cascade: unknown[] }>;
    /** Replays this clone's streams built on this one onto the new head (see cascade.ts). */
    cascade?: (stream: Stream, head: string) => Promise<unknown[]>;
  },
): Promise<RemoteCommitResult> {
  const message = input.message.trim();
  if (message === '' || message.length > MAX_MESSAGE_LENGTH || message.includes('\0')) {
    throw new GitSwarmError(
      'invalid_input',
      `A commit message must be non-empty text of at most ${MAX_MESSAGE_LENGTH} characters.`,
    );
  }
  const agent = await deps.actor();
  const workspace = await requireLocalWorkspace(deps, agent.name);
  const [stream, repo] = await Promise.all([getServerStream(deps, workspace.streamId), getServerRepo(deps)]);
  const continuesSwarm = stream.status === 'merged' && repo.merge_mode === 'swarm';
  if (!LIVE.includes(stream.status) && !continuesSwarm) {
    throw new GitSwarmError(
      'invalid_state',
      `Stream ${stream.name} is ${stream.status}; it takes no more commits.`,
      {
        hint: `Start a new one: gitswarm workspace destroy --as ${agent.name} && gitswarm workspace create --as ${agent.name}`,
        details: { stream_id: stream.id, status: stream.status },
      },
    );
  }
  const committed = await commitAll(workspace.path, { message, author: agentIdentity(agent) });
  if (!committed) throw new GitSwarmError('nothing_to_commit', `Nothing to commit in ${workspace.path}`);
  const result = { commit: committed.commit, change_id: committed.changeId, stream_id: stream.id };
  try {
    await publishStreamBranch(deps, workspace.branch);
  } catch (error) {
    throw new GitSwarmError(
      'git_failed',
      `Committed ${committed.commit.slice(0, 12)} here, but could not push ${workspace.branch}: ${error instanceof Error ? error.message : String(error)}`,
      {
        hint: `Fix the remote, then push and report it: git push ${deps.remote} ${workspace.branch} && gitswarm sync`,
        details: { ...result, pushed: false, reported: false },
        cause: error,
      },
    );
  }
  const report = await sendReport(deps, 'commit', `/streams/${encodeURIComponent(stream.id)}/commits`, {
    commit: committed.commit,
    change_id: committed.changeId,
    message,
  });
  // Queued (the server did not answer): the merge needs its decision and the cascade its records.
  if (report.queued) return { ...result, merged: false, cascade: [] };
  if (repo.merge_mode === 'swarm' && input.mergeIntoBuffer) {
    try {
      const merged = await input.mergeIntoBuffer(stream);
      return {
        ...result,
        merged: true,
        buffer_head: merged.buffer_head,
        push_retries: merged.push_retries,
        cascade: merged.cascade,
      };
    } catch (error) {
      if (!isGitSwarmError(error, 'conflict')) throw error;
      throw new GitSwarmError(
        'conflict',
        `Committed ${committed.commit.slice(0, 12)}, but merging it into ${repo.buffer_branch} conflicts in: ${((error.details?.paths as string[]) ?? []).join(', ')}`,
        { hint: error.hint, details: { ...error.details, ...result, merged: false } },
      );
    }
  }
  const cascade = input.cascade ? await input.cascade(stream, committed.commit) : [];
  return { ...result, merged: false, cascade };
}

/**
 * Pushes the stream branch. This clone owns it, so when a local rebase rewrote it the push
 * replaces the remote copy, but only the copy just read (a lease), never a newer one.
 */
export async function publishStreamBranch(deps: RemoteStreamsDeps, branch: string): Promise<void> {
  const first = await pushBranch(deps.root, branch, { remote: deps.remote });
  if (first.status !== 'rejected') return;
  // Replace the remote copy only when it holds nothing this clone lacks (it pushed it itself).
  if (first.remoteOid !== null && (await resolveCommit(deps.root, first.remoteOid)) === null) {
    throw new GitSwarmError('conflict', `The remote's ${branch} has commits this clone does not have.`, {
      hint: `Look at them first: git fetch ${deps.remote} ${branch}`,
      details: { branch, remote_commit: first.remoteOid },
    });
  }
  const expected = first.remoteOid ?? 'absent';
  const second = await pushBranch(deps.root, branch, { remote: deps.remote, expected });
  if (second.status === 'rejected') {
    throw new GitSwarmError('conflict', `The remote copy of ${branch} moved while pushing; try again.`);
  }
}
