/**
 * Mode C: pushing a server-held repository's buffer and main to its `remote_url` (the upstream)
 * after every merge, revert and promotion.
 *
 * Each such change marks the push as owed (`upstream_status = 'pending'`) and tries it at once. A
 * failed push is recorded (`failing`, `upstream_error`, `upstream_attempts`) with the time the next
 * try is due (`upstream_next_at`, doubling from 5 s up to 10 minutes); the next change tries again
 * at once, and a periodic sweep retries what is due. The push sends the branches as they are then,
 * so whatever happened while the upstream was down goes with the first push that works: nothing
 * is lost. Pushes are plain (no force): an upstream that moved on its own is a failure to look at,
 * not something to overwrite.
 */
import type { CoreDeps } from '../core/deps.js';
import { git, WITHOUT_HOOKS } from '../engine/git.js';
import type { Repo } from '../store/index.js';
import { isoNow } from '../util/clock.js';
import { type HostingConfig, requireDataDir } from './config.js';
import { transportOptions } from './server-repos.js';

/** The events after which the buffer or main has moved. */
export const UPSTREAM_EVENTS: ReadonlySet<string> = new Set([
  'stream.merged',
  'stream.reverted',
  'buffer.promoted',
  'buffer.head_set',
]);

const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 10 * 60_000;

export interface UpstreamView {
  status: 'ok' | 'pending' | 'failing';
  last_error: string | null;
  attempts: number;
  next_at: string | null;
}

/** How pushing to the upstream fares, for repository views; undefined without a `remote_url`. */
export function upstreamView(repo: Repo): UpstreamView | undefined {
  if (!repo.remote_url) return undefined;
  return {
    status: repo.upstream_status ?? 'pending',
    last_error: repo.upstream_error,
    attempts: repo.upstream_attempts,
    next_at: repo.upstream_next_at,
  };
}

/** A repository as the API shows it: with `upstream` when it has a `remote_url`. */
export function repoView(repo: Repo): Repo & { upstream?: UpstreamView } {
  const upstream = upstreamView(repo);
  return upstream ? { ...repo, upstream } : repo;
}

/** A URL with any credentials in it replaced, for messages. */
export function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]*@/g, '$1***@');
}

/** The delay before the next try after `attempts` failures in a row. */
export function retryDelayMs(attempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1));
}

/** Pushes one repository at a time per process; a change during a push asks for another. */
export class UpstreamPusher {
  readonly #deps: CoreDeps;
  readonly #hosting: HostingConfig;
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();

  constructor(deps: CoreDeps, hosting: HostingConfig) {
    this.#deps = deps;
    this.#hosting = hosting;
  }

  /**
   * Records that the repository's branches changed (a push is owed) and pushes. Resolves when the
   * push (and any asked for meanwhile) is done; never rejects for a failed push (it is recorded).
   */
  async changed(repoId: string): Promise<void> {
    const repo = await this.#read(repoId);
    if (!repo) return;
    if (repo.upstream_status !== 'pending') {
      await this.#deps.store.db
        .updateTable('gitswarm_repos')
        .set({ upstream_status: 'pending' })
        .where('id', '=', repoId)
        .execute();
    }
    await this.push(repoId);
  }

  /** Pushes now (joining a push in flight, and running once more after it). */
  push(repoId: string): Promise<void> {
    const running = this.#running.get(repoId);
    if (running) {
      this.#again.add(repoId);
      return running;
    }
    const run = (async () => {
      try {
        do {
          this.#again.delete(repoId);
          await this.#pushOnce(repoId);
        } while (this.#again.has(repoId));
      } finally {
        this.#running.delete(repoId);
      }
    })();
    this.#running.set(repoId, run);
    return run;
  }

  /** Retries every owed push that is due (the periodic sweep). */
  async retryDue(): Promise<void> {
    const now = Date.parse(isoNow(this.#deps.clock));
    const owed = await this.#deps.store.db
      .selectFrom('gitswarm_repos')
      .select(['id', 'upstream_next_at'])
      .where('server_git', '=', true)
      .where('remote_url', 'is not', null)
      .where('upstream_status', 'in', ['pending', 'failing'])
      .execute();
    await Promise.all(
      owed
        .filter((row) => row.upstream_next_at === null || Date.parse(row.upstream_next_at) <= now)
        .map((row) => this.push(row.id)),
    );
  }

  /** Waits for the pushes in flight (shutdown). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
  }

  async #read(repoId: string): Promise<Repo | undefined> {
    const repo = await this.#deps.store.db
      .selectFrom('gitswarm_repos')
      .selectAll()
      .where('id', '=', repoId)
      .executeTakeFirst();
    return repo?.server_git && repo.remote_url && repo.path ? repo : undefined;
  }

  async #pushOnce(repoId: string): Promise<void> {
    const repo = await this.#read(repoId);
    if (!repo?.remote_url || !repo.path) return;
    requireDataDir(this.#hosting);
    const refs = [repo.buffer_branch, repo.promote_target].map((b) => `refs/heads/${b}:refs/heads/${b}`);
    const result = await git(
      [
        ...transportOptions(this.#hosting.allowLocalClone),
        ...WITHOUT_HOOKS,
        'push',
        '--porcelain',
        '--',
        repo.remote_url,
        ...refs,
      ],
      { cwd: repo.path, okExitCodes: [1, 128] },
    ).catch((error: Error) => ({ exitCode: 128, stdout: '', stderr: error.message }));
    const db = this.#deps.store.db;
    if (result.exitCode === 0) {
      await db
        .updateTable('gitswarm_repos')
        .set({ upstream_status: 'ok', upstream_error: null, upstream_attempts: 0, upstream_next_at: null })
        .where('id', '=', repoId)
        .execute();
      return;
    }
    const attempts = repo.upstream_attempts + 1;
    const lines = `${result.stderr}\n${result.stdout}`
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('To ') && line !== 'Done');
    const message = redactUrl(lines.slice(0, 3).join(' | ') || `git push exited ${result.exitCode}`).slice(
      0,
      2000,
    );
    await db
      .updateTable('gitswarm_repos')
      .set({
        upstream_status: 'failing',
        upstream_error: message,
        upstream_attempts: attempts,
        upstream_next_at: new Date(
          Date.parse(isoNow(this.#deps.clock)) + retryDelayMs(attempts),
        ).toISOString(),
      })
      .where('id', '=', repoId)
      .execute();
  }
}
