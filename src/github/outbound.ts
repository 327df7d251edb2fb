/**
 * Back to GitHub: hears the events bus and reports on linked pull requests and buffer commits.
 *
 * - A stream linked to a pull request (`github_pr_number` set, its repository linked by
 *   `github_full_name`) that is created, committed to, submitted, reviewed, merged, abandoned or
 *   reverted gets `gitswarm/consensus` on its head and its one consensus comment edited. The report
 *   is rebuilt from the database each time (core consensus), so events for one stream are coalesced:
 *   one report runs at a time per stream, and one more after it if events came meanwhile.
 * - `buffer.stabilized` on a linked repository sets `gitswarm/stabilize` on the buffer commit.
 *
 * Deliveries run in the background: the request that caused the event never waits for GitHub nor
 * fails with it. A failure that may pass (network, 5xx, a rate limit not waited out, a comment being
 * created by another instance) is retried with doubling delays, a bounded number of times; every
 * failure is told to `onError` (the server logs it, without tokens).
 */

import type { CoreDeps } from '../core/deps.js';
import { evaluateConsensus } from '../core/streams/consensus.js';
import { GitSwarmError } from '../errors.js';
import type { ActivityEntry, Repo, StabilizationResult } from '../store/index.js';
import { type GitHubClient, GitHubRequestError } from './client.js';
import { findInstallationFor } from './installations.js';
import { CommentClaimedError, consensusCommentBody, upsertPrComment } from './pr-comment.js';
import { consensusStatus, setCommitStatus, stabilizeStatus } from './statuses.js';

/** Stream events after which a linked pull request's status and comment are brought up to date. */
export const PR_REPORT_EVENTS: ReadonlySet<string> = new Set([
  'stream.created',
  'stream.committed',
  'stream.submitted',
  'stream.reviewed',
  'stream.merged',
  'stream.abandoned',
  'stream.reverted',
  'stream.updated',
]);

export interface GitHubOutboundOptions {
  /** Tries per delivery, the first included (default 4). */
  attempts?: number;
  /** Delay before the second try, doubling after (default 2 s). */
  retryDelayMs?: number;
  /** Told of each failed try: what was being delivered, and whether it will be retried. */
  onError?: (error: unknown, context: { delivery: string; attempt: number; willRetry: boolean }) => void;
}

/** How many last-sent reports are remembered (each a status or a comment body). */
const SENT_MEMORY = 10_000;

/** Whether trying again later may succeed. */
function isTransient(error: unknown): boolean {
  if (error instanceof CommentClaimedError) return true;
  if (error instanceof GitSwarmError) return false;
  if (error instanceof GitHubRequestError) return error.rateLimited || error.status >= 500;
  return true;
}

/** Reports GitSwarm's state back to GitHub, in the background. */
export class GitHubOutbound {
  readonly #deps: CoreDeps;
  readonly #client: GitHubClient;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #onError: NonNullable<GitHubOutboundOptions['onError']>;
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  /** What was last sent, per status (repo, commit, context) and per comment: a repeat is not sent. */
  readonly #sent = new Map<string, string>();
  #closed = false;

  constructor(deps: CoreDeps, client: GitHubClient, options: GitHubOutboundOptions = {}) {
    this.#deps = deps;
    this.#client = client;
    this.#attempts = Math.max(1, options.attempts ?? 4);
    this.#retryDelayMs = options.retryDelayMs ?? 2000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Starts whatever the event asks of GitHub; returns at once. */
  handle(event: ActivityEntry): void {
    if (this.#closed || !event.repo_id) return;
    if (PR_REPORT_EVENTS.has(event.event_type) && event.target_type === 'stream' && event.target_id) {
      this.#track(this.reportStream(event.target_id));
    } else if (event.event_type === 'buffer.stabilized') {
      const meta = event.metadata as {
        result?: StabilizationResult;
        buffer_commit?: string;
        tag?: string | null;
      };
      if (meta.result && meta.buffer_commit) {
        const { result, buffer_commit: commit } = meta;
        const repoId = event.repo_id;
        this.#track(
          this.#deliver(`gitswarm/stabilize ${commit}`, () =>
            this.reportStabilization(repoId, commit, result, meta.tag ?? null),
          ),
        );
      }
    }
  }

  /**
   * Brings a linked stream's pull request up to date (status and comment), retrying as configured.
   * Joins a report in flight for the stream and asks for one more after it.
   */
  reportStream(streamId: string): Promise<void> {
    const running = this.#running.get(streamId);
    if (running) {
      this.#again.add(streamId);
      return running;
    }
    const run = (async () => {
      try {
        do {
          this.#again.delete(streamId);
          await this.#deliver(`pull request of stream ${streamId}`, () => this.#reportStreamOnce(streamId));
        } while (this.#again.has(streamId) && !this.#closed);
      } finally {
        this.#running.delete(streamId);
      }
    })();
    this.#running.set(streamId, run);
    return run;
  }

  /** Sets `gitswarm/stabilize` on a buffer commit of a linked repository (one try). */
  async reportStabilization(
    repoId: string,
    commit: string,
    result: StabilizationResult,
    tag: string | null,
  ): Promise<void> {
    const repo = await this.#linkedRepo(repoId);
    if (!repo?.github_full_name) return;
    await setCommitStatus(this.#client, repo.github_full_name, commit, stabilizeStatus(result, tag));
  }

  /** Waits until no delivery is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Stops taking events, cancels pending retries and waits for the tries in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#timers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.#timers.clear();
    await this.idle();
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch(() => {}).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #reportStreamOnce(streamId: string): Promise<void> {
    const db = this.#deps.store.db;
    const stream = await db
      .selectFrom('gitswarm_streams')
      .selectAll()
      .where('id', '=', streamId)
      .executeTakeFirst();
    if (!stream || stream.github_pr_number === null) return;
    const repo = await this.#linkedRepo(stream.repo_id);
    const fullName = repo?.github_full_name;
    if (!repo || !fullName) return;
    const consensus = await evaluateConsensus(this.#deps, db, repo, stream);
    const head = consensus.head_commit ?? (await this.#pullHead(fullName, stream.github_pr_number));
    const status = consensusStatus(stream, consensus);
    await this.#unlessSent(`status ${fullName} ${head} ${status.context}`, JSON.stringify(status), () =>
      setCommitStatus(this.#client, fullName, head, status),
    );
    const merge =
      stream.status === 'merged'
        ? await db
            .selectFrom('gitswarm_merges')
            .select(['merge_commit', 'target_branch'])
            .where('stream_id', '=', stream.id)
            .orderBy('merged_at', 'desc')
            .executeTakeFirst()
        : null;
    const prNumber = stream.github_pr_number;
    const body = consensusCommentBody(stream, consensus, merge ?? null);
    await this.#unlessSent(`comment ${repo.id} ${prNumber}`, body, () =>
      upsertPrComment(this.#deps, this.#client, { repo, prNumber, body }).then(() => {}),
    );
  }

  /**
   * Sends unless the same content was the last sent under `key`: several events of one change
   * (a review, then the review status it moved) make one report on GitHub, not one per event,
   * which also spares the App's rate limit. Remembered only once sent; the oldest keys are dropped.
   */
  async #unlessSent(key: string, content: string, send: () => Promise<void>): Promise<void> {
    if (this.#sent.get(key) === content) return;
    await send();
    this.#sent.delete(key);
    this.#sent.set(key, content);
    if (this.#sent.size > SENT_MEMORY) this.#sent.delete(this.#sent.keys().next().value as string);
  }

  /** The pull request's head on GitHub (a conditional read: unchanged answers cost no rate limit). */
  async #pullHead(fullName: string, prNumber: number): Promise<string> {
    const answer = await this.#client.getConditional<{ head: { sha: string } }>(
      fullName,
      'GET /repos/{owner}/{repo}/pulls/{pull_number}',
      { pull_number: prNumber },
    );
    return answer.data.head.sha;
  }

  /** The repository when linked, telling the client its installation when the org's row knows it. */
  async #linkedRepo(repoId: string): Promise<Repo | undefined> {
    const repo = await this.#deps.store.db
      .selectFrom('gitswarm_repos')
      .selectAll()
      .where('id', '=', repoId)
      .executeTakeFirst();
    if (!repo?.github_full_name) return undefined;
    await rememberInstallation(this.#deps, this.#client, repo);
    return repo;
  }

  async #deliver(delivery: string, attempt: () => Promise<void>): Promise<void> {
    for (let n = 1; n <= this.#attempts; n += 1) {
      try {
        await attempt();
        return;
      } catch (error) {
        const willRetry = n < this.#attempts && !this.#closed && isTransient(error);
        this.#onError(error, { delivery, attempt: n, willRetry });
        if (!willRetry) return;
        await this.#sleep(this.#retryDelayMs * 2 ** (n - 1));
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.#timers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      entry.timer.unref();
      this.#timers.add(entry);
    });
  }
}

/**
 * Tells the client the installation that reaches the repository, when installation events recorded
 * one (src/github/installations.ts); otherwise the client asks GitHub (GET /repos/{owner}/{repo}/installation).
 */
export async function rememberInstallation(
  deps: CoreDeps,
  client: GitHubClient,
  repo: Pick<Repo, 'github_full_name'>,
): Promise<void> {
  if (!repo.github_full_name) return;
  const installation = await findInstallationFor(deps.store.db, repo.github_full_name);
  if (installation) client.rememberInstallation(repo.github_full_name, installation.installation_id);
}
