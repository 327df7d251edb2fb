/**
 * What connected commands call to work through an outage (spec/cli.md, Mode B, "Offline"):
 *
 * - {@link sendOrQueue}: a write that needs no server decision (a commit report, submit, review,
 *   task submit…) is sent when the server answers, and queued in the outbox (exit 0, a notice
 *   "queued: N pending") when it does not. Earlier queued entries go first, so order holds.
 * - {@link pushOrQueue}: the same for a branch push the remote did not take.
 * - {@link readOrCache}: a read answered from the server and remembered, or from the cache marked
 *   stale when the server does not answer.
 * - {@link assertOfflineMergeAllowed}: review and gated merges need the server's decision, so they
 *   are refused offline (exit 4 `server_unreachable`) unless the repository's `offline_merges` is
 *   `allow`; the server then re-checks the merge when it is reported (core/sync/offline-merges.ts).
 *
 * None of these decides a governance rule: the server decides when the entry reaches it.
 */
import { ERROR_CATALOGUE, type ErrorCode, GitSwarmError, isGitSwarmError } from '../errors.js';
import type { Executor } from '../store/index.js';
import { cacheKey, readThrough, staleNotice } from './cache.js';
import {
  classifyAnswer,
  classifySendError,
  describeEntry,
  enqueuePush,
  enqueueRequest,
  newIdempotencyKey,
  type OutboxItem,
  type OutboxPush,
  outboxSummary,
  PERMANENT_PUSH_CODES,
  type PushRef,
  type ReplayResult,
  replayOutbox,
  type SendRequest,
  type ServerAnswer,
} from './outbox.js';

/** What the offline helpers need from a connected command. */
export interface OfflineContext {
  /** The clone's store (`.gitswarm/federation.db`), where the outbox and the cache live. */
  readonly db: Executor;
  /** The server URL as the connection resolved it. */
  readonly serverUrl: string;
  /** The server repository id (null before the clone's repository exists on the server). */
  readonly repoId: string | null;
  /** Sends one write (see outbox.ts SendRequest). */
  readonly send: SendRequest;
  /** Makes one branch push (see outbox.ts PushRef); without it queued pushes wait. */
  readonly push?: PushRef;
  /** Prints one notice line on stderr. */
  readonly notify: (line: string) => void;
}

export interface WriteRequest {
  /** The command that makes the write, shown in the outbox (`commit`, `review submit`). */
  command: string;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  /** Whose key sends it (the acting agent's name or id); null: the default key. */
  agent: string | null;
}

export type WriteOutcome =
  | { sent: true; queued: false; body: unknown }
  | { sent: false; queued: true; entry: OutboxItem; pending: number };

/** The server's refusal as the error the command reports (same code, message and hint). */
export function refusalError(answer: ServerAnswer): GitSwarmError {
  const error = ((answer.body as { error?: Record<string, unknown> } | null)?.error ?? {}) as Record<
    string,
    unknown
  >;
  const { code, message, hint, ...details } = error;
  const known = typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
  return new GitSwarmError(
    known ? (code as ErrorCode) : answer.status >= 500 ? 'internal_error' : 'invalid_input',
    typeof message === 'string' ? message : `The server answered ${answer.status}.`,
    {
      ...(typeof hint === 'string' ? { hint } : {}),
      ...(Object.keys(details).length > 0 ? { details } : {}),
    },
  );
}

/** Why an entry is queued: no answer, or earlier entries that still wait (and why they do). */
function queuedNotice(ctx: OfflineContext, what: string, pending: number, waitingFor?: string): void {
  const why = waitingFor
    ? `earlier queued changes still wait (${waitingFor})`
    : `${ctx.serverUrl} did not answer`;
  ctx.notify(
    `notice: ${why}; ${what} queued: ${pending} pending. It is sent by the next command that reaches the server, or: gitswarm sync`,
  );
}

/**
 * Replays the outbox when it holds pending entries (cheap when empty: one read). Returns null when
 * there was nothing to replay. Every connected command may call this first.
 */
export async function flushOutbox(ctx: OfflineContext): Promise<ReplayResult | null> {
  const before = await outboxSummary(ctx.db, ctx.serverUrl);
  if (before.pending === 0) return null;
  const result = await replayOutbox(ctx.db, {
    serverUrl: ctx.serverUrl,
    send: ctx.send,
    ...(ctx.push ? { push: ctx.push } : {}),
  });
  if (result.pushed > 0) ctx.notify(`notice: sent ${result.pushed} queued change(s) to ${ctx.serverUrl}.`);
  if (result.newly_failed > 0) {
    ctx.notify(
      `notice: the server refused ${result.newly_failed} queued change(s) for good; see: gitswarm sync (drop with --drop ID).`,
    );
  }
  return result;
}

/**
 * Sends a write, or queues it when the server does not answer (see the module comment). Resolves
 * with the server's success answer or the queued entry; throws the server's refusal as a
 * GitSwarmError (nothing queued: the server decided). A write whose answer was lost is queued with
 * the key it was sent with, so the server runs it at most once.
 */
export async function sendOrQueue(ctx: OfflineContext, write: WriteRequest): Promise<WriteOutcome> {
  const flushed = await flushOutbox(ctx);
  const idempotencyKey = newIdempotencyKey();
  const queue = async (): Promise<WriteOutcome> => {
    await enqueueRequest(ctx.db, {
      serverUrl: ctx.serverUrl,
      repoId: ctx.repoId,
      agent: write.agent,
      command: write.command,
      method: write.method,
      path: write.path,
      ...(write.body === undefined ? {} : { body: write.body }),
      idempotencyKey,
    });
    const { pending } = await outboxSummary(ctx.db, ctx.serverUrl);
    const entry = (await latestEntry(ctx.db, idempotencyKey)) as OutboxItem;
    queuedNotice(ctx, write.command, pending, flushed?.stopped ?? undefined);
    return { sent: false, queued: true, entry, pending };
  };
  // Earlier entries still wait: this one goes behind them.
  if (flushed && flushed.pending > 0) return queue();
  let outcome: ReturnType<typeof classifyAnswer>;
  try {
    outcome = classifyAnswer(
      await ctx.send({
        method: write.method,
        path: write.path,
        body: write.body,
        agent: write.agent,
        idempotencyKey,
      }),
    );
  } catch (error) {
    outcome = classifySendError(error);
    if (outcome.kind === 'refused' && isGitSwarmError(error)) throw error;
  }
  // A wrong or missing key is the user's to fix now (exit 1 unauthorized), not an outage.
  if (outcome.kind === 'unanswered' && outcome.status === 401) {
    if (isGitSwarmError(outcome.cause)) throw outcome.cause;
    outcome = { kind: 'refused', message: outcome.message };
  }
  if (outcome.kind === 'sent') {
    return { sent: true, queued: false, body: outcome.answer?.body };
  }
  if (outcome.kind === 'refused') {
    throw refusalError(
      outcome.answer ?? { status: 401, body: { error: { code: 'unauthorized', message: outcome.message } } },
    );
  }
  return queue();
}

async function latestEntry(db: Executor, idempotencyKey: string): Promise<OutboxItem | undefined> {
  const row = await db
    .selectFrom('gitswarm_outbox')
    .selectAll()
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
  return row ? describeEntry(row) : undefined;
}

export type PushOutcome =
  | { pushed: true; queued: false }
  | { pushed: false; queued: true; entry: OutboxItem; pending: number };

/**
 * Pushes a branch, or queues the push when the remote cannot be reached (or earlier entries still
 * wait). A refusal for good (`ref_moved`, `not_fast_forward`) is thrown: the command decides (a
 * compare-and-swap push fetches and retries; see b-merge's merge).
 */
export async function pushOrQueue(
  ctx: OfflineContext,
  push: OutboxPush & { command: string },
  pushRef: PushRef,
): Promise<PushOutcome> {
  const flushed = await flushOutbox(ctx);
  const queue = async (): Promise<PushOutcome> => {
    const row = await enqueuePush(ctx.db, {
      serverUrl: ctx.serverUrl,
      repoId: ctx.repoId,
      command: push.command,
      remote: push.remote,
      ref: push.ref,
      newValue: push.newValue,
      cas: push.cas,
      oldValue: push.oldValue,
    });
    const { pending } = await outboxSummary(ctx.db, ctx.serverUrl);
    queuedNotice(ctx, `the push of ${push.ref}`, pending, flushed?.stopped ?? undefined);
    return { pushed: false, queued: true, entry: describeEntry(row), pending };
  };
  if (flushed && flushed.pending > 0) return queue();
  try {
    await pushRef(push);
    return { pushed: true, queued: false };
  } catch (error) {
    if (isGitSwarmError(error) && PERMANENT_PUSH_CODES.has(error.code)) throw error;
    return queue();
  }
}

/**
 * A read through the cache: `fetch` asks the server; when it does not answer, the last answer is
 * returned with `stale: true` and a notice on stderr. Commands add `stale: true` to their --json
 * when it is set.
 */
export async function readOrCache<T>(
  ctx: OfflineContext,
  path: string,
  fetch: () => Promise<T>,
): Promise<{ value: T; stale: boolean; fetched_at: string }> {
  return readThrough(ctx.db, cacheKey(ctx.serverUrl, path), fetch, (cached) =>
    ctx.notify(staleNotice(cached.fetched_at, ctx.serverUrl)),
  );
}

/** The setting a repository view carries in `metadata.settings.offline_merges` (default refuse). */
export function offlineMergesSetting(repo: { metadata?: unknown }): 'allow' | 'refuse' {
  const settings = (repo.metadata as { settings?: { offline_merges?: unknown } } | null | undefined)
    ?.settings;
  return settings?.offline_merges === 'allow' ? 'allow' : 'refuse';
}

/**
 * Offline, a merge in review or gated mode has no server to decide it: refused with exit 4
 * (`server_unreachable`) unless the repository allows offline merges. `repo` is the repository as
 * the server last described it (the cached GET /repos/:id). Swarm mode merges without a decision.
 */
export function assertOfflineMergeAllowed(
  repo: { merge_mode: string; metadata?: unknown },
  serverUrl: string,
): void {
  if (repo.merge_mode === 'swarm' || offlineMergesSetting(repo) === 'allow') return;
  throw new GitSwarmError(
    'server_unreachable',
    `${serverUrl} did not answer, and a merge in ${repo.merge_mode} mode needs its decision.`,
    {
      hint: 'Merge once the server answers, or let an admin allow offline merges: gitswarm config offline_merges allow',
      details: { merge_mode: repo.merge_mode, offline_merges: offlineMergesSetting(repo) },
    },
  );
}
