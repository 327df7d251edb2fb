/**
 * `gitswarm merge STREAM` in a connected clone (Mode B, spec 3.1 step 8 and 3.3): the server
 * decides (POST /streams/:id/merge runs consensus, dependencies and permission), the clone does
 * the git: fetch, a worktree-free no-ff merge of the approved head onto the shared buffer, a
 * compare-and-swap push; a push that loses the race fetches, merges again on the new head and
 * retries; a conflict found on any attempt is reported as the stream's conflict. The merge is
 * then reported with its commit object (PATCH /streams/:id), which the server checks ties to the
 * approved head and the buffer head it knows. A clone's agents publish one at a time (the clone's
 * publish lock), so only clones race at the remote.
 */
import { agentIdentity } from '../core/streams/workspace-paths.js';
import { composeMerge } from '../engine/merge.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { ConnectedGit } from './git-ops.js';
import type { RemoteStream, ServerApi } from './server-api.js';

/** How many times a merge is recomputed when other clones keep publishing the buffer first. */
export const MAX_PUSH_ATTEMPTS = 30;

/**
 * Waits before a push that lost the race is recomputed: a random time up to a cap that doubles
 * per loss (25 ms, 50 ms, … 500 ms), so many agents publishing at once spread out instead of
 * colliding again (8 agents × 2 clones in swarm mode ran out of 8 immediate retries).
 */
export function pushBackoff(attempt: number): Promise<void> {
  const cap = Math.min(500, 25 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
}

/** How long a merge report waits for another clone's report of the head it was made on. */
const REPORT_ATTEMPTS = 6;

export interface MergeDecision {
  approved: true;
  stream_id: string;
  branch: string;
  buffer_branch: string;
  /** The buffer head as last reported (null before the first reported merge). */
  buffer_head: string | null;
  /** The approved stream head: the commit to merge. */
  head_commit: string | null;
}

export interface ConnectedMergeInput {
  api: ServerApi;
  git: ConnectedGit;
  /** The acting agent, as the server knows it (its name goes on the merge commit). */
  actor: { id: string; name: string };
  stream: RemoteStream;
  /**
   * Called before each push with the attempt number (0 first): lets a test make another clone
   * win the race at a chosen moment, with real git and a real server.
   */
  beforePush?: (attempt: number) => Promise<void>;
  /** Waits between reports while another clone's report of the buffer head is on its way. */
  pause?: (ms: number) => Promise<void>;
  /** How to go on when the server does not answer (the outbox); without it, exit 4. */
  offline?: MergeOffline;
  /**
   * Runs the publishing (merge, push, report) holding the clone's publish lock: its agents then
   * take turns, each starting from the head the one before pushed and reported, instead of
   * losing pushes to each other (a clone's 4 agents at once lost up to 30 in a row).
   */
  exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
}

/**
 * A merge while the server does not answer (spec/cli.md, Mode B, "Offline"): `allow` throws
 * `server_unreachable` unless the repository (as last seen) merges without a decision (swarm
 * mode, or `offline_merges` allow); `report` sends the merge report or queues it in the outbox,
 * where the server re-checks it when it arrives (and records a disagreement as a dispute).
 */
export interface MergeOffline {
  allow(): Promise<{ buffer_branch: string }>;
  report(body: Record<string, unknown>): Promise<{ queued: boolean }>;
}

export interface ConnectedMergeResult {
  merged: true;
  stream_id: string;
  merge_commit: string;
  buffer_head: string;
  cascade: unknown[];
  /** How many pushes lost the race and were recomputed on the new buffer head. */
  push_retries: number;
  /** Made without the server's decision (it did not answer); the report waits in the outbox. */
  offline?: true;
  /** The merge report waits in the outbox (`gitswarm sync` sends it). */
  queued?: true;
}

/** Asks, merges, publishes and reports (see the file's comment). Refusals throw the server's error. */
export async function mergeConnected(input: ConnectedMergeInput): Promise<ConnectedMergeResult> {
  const { git, stream } = input;
  const decision = await askDecision(input);
  const offline = decision.offline === true;
  const buffer = decision.buffer_branch;
  // The stream's branch is fetched unless the approved head is here (this clone committed it).
  const here = decision.head_commit !== null && (await git.hasCommit(decision.head_commit));
  if (!here) await git.fetch([decision.branch]);
  // Offline there is no approved head: the newest commit of the stream here (its reports wait in
  // the outbox ahead of the merge's, and the server checks the merge against them on arrival).
  const source = decision.head_commit ?? (offline ? await git.branchHead(decision.branch) : null);
  if (!source) {
    throw new GitSwarmError('empty_stream', `Stream ${stream.name} has no recorded commits.`);
  }
  if (!here && !(await git.hasCommit(source))) {
    throw new GitSwarmError(
      'invalid_state',
      `The approved head ${source} of stream ${stream.name} is not on the remote ${git.remote}.`,
      {
        hint: `Push the stream's branch from the clone it was committed in: git push ${git.remote} ${decision.branch}`,
        details: { stream_id: stream.id, head_commit: source },
      },
    );
  }
  const exclusive = input.exclusive ?? ((work) => work());
  return exclusive(() => publishMerge(input, { buffer, source, offline }));
}

/**
 * Merges `source` onto the remote's buffer head and publishes it (see the file's comment). The
 * buffer is fetched here, under the clone's publish lock: fetched before it, a head could be
 * older than what the clone's last publisher pushed meanwhile, and the push would lose to it.
 */
async function publishMerge(
  input: ConnectedMergeInput,
  { buffer, source, offline }: { buffer: string; source: string; offline: boolean },
): Promise<ConnectedMergeResult> {
  const { api, git, stream } = input;
  await git.fetch([buffer]);
  let head = await requireRemoteHead(git, buffer);
  const message = `Merge stream ${stream.name} into ${buffer}\n\nStream: ${stream.id}\n`;
  const author = agentIdentity(input.actor);
  for (let attempt = 0; attempt < MAX_PUSH_ATTEMPTS; attempt++) {
    const composed = await composeMerge(git.root, { head, source, message, author });
    if (composed.kind === 'conflicted') {
      const reported = await reportConflict(api, stream, composed.paths, head);
      throw new GitSwarmError(
        'conflict',
        `Stream ${stream.name} conflicts with ${buffer} in: ${composed.paths.join(', ')}`,
        {
          hint: `Merge ${buffer} into the worktree, resolve the files, commit, then merge again.`,
          details: {
            stream_id: stream.id,
            paths: composed.paths,
            buffer_head: head,
            conflict_reported: reported,
          },
        },
      );
    }
    await input.beforePush?.(attempt);
    const pushed = await git.pushIfAt(buffer, composed.commit, head);
    if (pushed.ok) {
      const queued = await reportMerge(input, composed.commit, offline);
      await git.followLocalBranch(buffer, head, composed.commit);
      return {
        merged: true,
        stream_id: stream.id,
        merge_commit: composed.commit,
        buffer_head: composed.commit,
        cascade: [],
        push_retries: attempt,
        ...(offline ? { offline: true as const } : {}),
        ...(queued ? { queued: true as const } : {}),
      };
    }
    // Another clone published the buffer first: merge again on what it published.
    await pushBackoff(attempt);
    await git.fetch([buffer]);
    head = await requireRemoteHead(git, buffer);
  }
  throw new GitSwarmError(
    'ref_moved',
    `The buffer ${buffer} kept moving on ${git.remote}; the merge was not published.`,
  );
}

/** The server's decision; offline, what the outbox's rules allow (or exit 4). */
async function askDecision(input: ConnectedMergeInput): Promise<MergeDecision & { offline?: boolean }> {
  const { stream } = input;
  try {
    return await input.api.post<MergeDecision>(`/streams/${encodeURIComponent(stream.id)}/merge`, {});
  } catch (error) {
    if (!input.offline || !isGitSwarmError(error, 'server_unreachable')) throw error;
    const { buffer_branch } = await input.offline.allow();
    return {
      approved: true,
      stream_id: stream.id,
      branch: stream.branch,
      buffer_branch,
      buffer_head: null,
      head_commit: null,
      offline: true,
    };
  }
}

async function requireRemoteHead(git: ConnectedGit, branch: string): Promise<string> {
  const head = await git.remoteHead(branch);
  if (!head) {
    throw new GitSwarmError('not_found', `The remote ${git.remote} has no branch ${branch}.`, {
      hint: `Publish it from the clone that ran init: git push ${git.remote} ${branch}`,
    });
  }
  return head;
}

/**
 * The stream's conflict, as the server records it (PATCH status conflicted). Only the author
 * reports it (a maintainer merging someone's stream is refused), and the server may be gone:
 * the conflict is the command's answer either way, so this says whether it was recorded.
 */
async function reportConflict(
  api: ServerApi,
  stream: RemoteStream,
  paths: string[],
  onto: string,
): Promise<boolean> {
  try {
    await api.patch(`/streams/${encodeURIComponent(stream.id)}`, {
      status: 'conflicted',
      conflict: { paths, onto },
    });
    return true;
  } catch (error) {
    if (isGitSwarmError(error, 'forbidden') || isGitSwarmError(error, 'server_unreachable')) return false;
    throw error;
  }
}

/**
 * Reports the pushed merge with its commit object. The merge was made on the remote's buffer
 * head; when that head is another clone's merge not reported yet, the server answers
 * commit_mismatch until that report lands, so the report is retried a few times meanwhile.
 */
async function reportMerge(input: ConnectedMergeInput, commit: string, offline: boolean): Promise<boolean> {
  const object = await input.git.commitObject(commit);
  const path = `/streams/${encodeURIComponent(input.stream.id)}`;
  const body = {
    status: 'merged',
    merge_commit: commit,
    commit_object: object,
    ...(offline ? { offline } : {}),
  };
  // Offline, or the server went away after the push: the report waits in the outbox.
  const queue = async () => (await (input.offline as MergeOffline).report(body)).queued;
  if (offline) return queue();
  const pause = input.pause ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      await input.api.patch(path, body);
      return false;
    } catch (error) {
      if (input.offline && isGitSwarmError(error, 'server_unreachable')) return queue();
      const lagging =
        isGitSwarmError(error, 'commit_mismatch') &&
        typeof error.details?.first_parent === 'string' &&
        attempt < REPORT_ATTEMPTS;
      if (!lagging) {
        throw withPushedMerge(error, commit);
      }
      await pause(100 * 2 ** attempt);
    }
  }
}

/** A refused report leaves a pushed merge the server does not know: say which, and what to do. */
function withPushedMerge(error: unknown, commit: string): unknown {
  if (!isGitSwarmError(error)) return error;
  return new GitSwarmError(error.code, `${error.message} (merge ${commit} was pushed but not recorded)`, {
    hint:
      error.hint ??
      'An admin records the buffer head with PUT /api/v1/repos/:id/buffer-head, or reverts the merge.',
    details: { ...error.details, merge_commit: commit, pushed: true },
    cause: error,
  });
}
