/**
 * The Mode B outbox: the writes a connected command could not send and the branch pushes it could
 * not make while the server (or the remote) did not answer, kept in order in the clone's store
 * (`gitswarm_outbox`, migration 0009) and replayed in that order by the next command that reaches
 * the server, or by `gitswarm sync`.
 *
 * Exactly once: each write carries the Idempotency-Key it was given when queued (or when first
 * sent, if the answer was lost), and the server answers a repeated key with the stored answer
 * instead of running the write again. So an entry is deleted only after an answer, and a replay
 * that dies half-way is simply replayed again.
 *
 * Replay stops at the first entry that gets no answer (server down, rate limited, 5xx, a key still
 * running): the rest keep their order for the next try. An entry the server refuses for good (a
 * 4xx: the stream was abandoned meanwhile, forbidden, invalid) is marked `failed`: kept, shown by
 * `status` and `sync`, never sent again, and removed only by `sync --drop ID`.
 */
import { randomUUID } from 'node:crypto';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { Executor, OutboxEntry, OutboxState } from '../store/index.js';
import { inTransaction, toJson } from '../store/index.js';

/** A write as the outbox sends it. */
export interface OutboxRequest {
  method: string;
  /** The API path under `/api/v1` (as GitSwarmClient takes it), e.g. `/streams/abc/commits`. */
  path: string;
  body: unknown;
  /** Whose key sends it (name or id); null: the default key. */
  agent: string | null;
  idempotencyKey: string;
}

/** What the server answered: any status (2xx, 4xx, 5xx) with its JSON body. */
export interface ServerAnswer {
  status: number;
  body: unknown;
}

/**
 * Sends one write. Resolves with the server's answer whatever its status; rejects with a
 * `server_unreachable` GitSwarmError when no answer came (refused connection, timeout, reset). A
 * GitSwarmError carrying another code is taken as the server's answer with that code's status.
 */
export type SendRequest = (request: OutboxRequest) => Promise<ServerAnswer>;

/** A branch push as the outbox makes it. */
export interface OutboxPush {
  remote: string;
  /** The branch name (`stream/abc`, `buffer`), as pushed to `refs/heads/<ref>`. */
  ref: string;
  newValue: string;
  /** Compare-and-swap: the value the remote must still have (null: the branch must not exist). */
  cas: boolean;
  oldValue: string | null;
}

/**
 * Makes one push. Resolves when the remote has `newValue` (also when it already had it); rejects
 * with `ref_moved` or `not_fast_forward` when the remote refuses it for good, with any other
 * error when the remote could not be reached (tried again on the next replay).
 */
export type PushRef = (push: OutboxPush) => Promise<void>;

/** Error codes of a push that will never succeed as queued. */
export const PERMANENT_PUSH_CODES: ReadonlySet<string> = new Set([
  'ref_moved',
  'not_fast_forward',
  'conflict',
  'invalid_input',
  'invalid_name',
  'not_found',
]);

export const OUTBOX_KEY_PREFIX = 'gs-outbox-';

/** A fresh Idempotency-Key for a write (letters, digits and `-`: the server's key shape). */
export function newIdempotencyKey(): string {
  return `${OUTBOX_KEY_PREFIX}${randomUUID()}`;
}

export interface EnqueueRequestInput {
  serverUrl: string;
  repoId: string | null;
  agent: string | null;
  /** The command that queued it (`commit`, `review submit`), shown to people. */
  command: string;
  method: string;
  path: string;
  body?: unknown;
  /** The key the write was already sent with, when its answer was lost; default: a fresh one. */
  idempotencyKey?: string;
  createdAt?: string;
}

async function nextSeq(trx: Executor): Promise<number> {
  const row = await trx
    .selectFrom('gitswarm_outbox')
    .select((eb) => eb.fn.max('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

/** Queues a write at the end of the outbox. */
export async function enqueueRequest(db: Executor, input: EnqueueRequestInput): Promise<OutboxEntry> {
  const method = input.method.toUpperCase();
  if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    throw new Error(`Only writes are queued, not ${method}.`);
  }
  const now = input.createdAt ?? new Date().toISOString();
  return inTransaction(db, async (trx) =>
    trx
      .insertInto('gitswarm_outbox')
      .values({
        id: randomUUID(),
        seq: await nextSeq(trx),
        kind: 'request',
        server_url: input.serverUrl,
        repo_id: input.repoId,
        agent: input.agent,
        command: input.command,
        method,
        path: input.path,
        body: input.body === undefined ? null : toJson(input.body),
        idempotency_key: input.idempotencyKey ?? newIdempotencyKey(),
        remote: null,
        ref: null,
        old_value: null,
        new_value: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
}

export interface EnqueuePushInput extends OutboxPush {
  serverUrl: string;
  repoId: string | null;
  command: string;
}

/**
 * Queues a branch push. A push of the same branch still pending is brought forward instead of
 * queued twice: its new value becomes this one and its expected old value stays (the remote never
 * saw the value in between), so it keeps its place before the writes that name its commits.
 */
export async function enqueuePush(db: Executor, input: EnqueuePushInput): Promise<OutboxEntry> {
  const now = new Date().toISOString();
  return inTransaction(db, async (trx) => {
    const pending = await trx
      .selectFrom('gitswarm_outbox')
      .selectAll()
      .where('server_url', '=', input.serverUrl)
      .where('kind', '=', input.cas ? 'cas_push' : 'push')
      .where('remote', '=', input.remote)
      .where('ref', '=', input.ref)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (pending) {
      return trx
        .updateTable('gitswarm_outbox')
        .set({ new_value: input.newValue, updated_at: now })
        .where('id', '=', pending.id)
        .returningAll()
        .executeTakeFirstOrThrow();
    }
    return trx
      .insertInto('gitswarm_outbox')
      .values({
        id: randomUUID(),
        seq: await nextSeq(trx),
        kind: input.cas ? 'cas_push' : 'push',
        server_url: input.serverUrl,
        repo_id: input.repoId,
        agent: null,
        command: input.command,
        method: null,
        path: null,
        body: null,
        idempotency_key: newIdempotencyKey(),
        remote: input.remote,
        ref: input.ref,
        old_value: input.cas ? input.oldValue : null,
        new_value: input.newValue,
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** The outbox in replay order (one server's, or every server's). */
export async function listOutbox(
  db: Executor,
  filter: { serverUrl?: string; state?: OutboxState } = {},
): Promise<OutboxEntry[]> {
  let query = db.selectFrom('gitswarm_outbox').selectAll();
  if (filter.serverUrl !== undefined) query = query.where('server_url', '=', filter.serverUrl);
  if (filter.state !== undefined) query = query.where('state', '=', filter.state);
  return query.orderBy('seq').execute();
}

/** One line per entry, for `status` and `sync`. */
export interface OutboxItem {
  id: string;
  seq: number;
  kind: OutboxEntry['kind'];
  command: string;
  /** `POST /streams/x/commits` or `push origin stream/x`. */
  target: string;
  state: OutboxState;
  attempts: number;
  last_error: string | null;
  created_at: string;
}

export function describeEntry(entry: OutboxEntry): OutboxItem {
  return {
    id: entry.id,
    seq: entry.seq,
    kind: entry.kind,
    command: entry.command,
    target:
      entry.kind === 'request'
        ? `${entry.method} ${entry.path}`
        : `push ${entry.remote} ${entry.ref}${entry.kind === 'cas_push' ? ' (compare-and-swap)' : ''}`,
    state: entry.state,
    attempts: entry.attempts,
    last_error: entry.last_error,
    created_at: entry.created_at,
  };
}

export interface OutboxSummary {
  pending: number;
  failed: number;
  /** The failed entries, which wait for `sync --drop ID` (pending ones are replayed by themselves). */
  failed_entries: OutboxItem[];
}

/** What `status` shows of the outbox: counts, and the entries the server refused for good. */
export async function outboxSummary(db: Executor, serverUrl?: string): Promise<OutboxSummary> {
  const entries = await listOutbox(db, serverUrl === undefined ? {} : { serverUrl });
  const failed = entries.filter((e) => e.state === 'failed');
  return {
    pending: entries.length - failed.length,
    failed: failed.length,
    failed_entries: failed.map(describeEntry),
  };
}

/**
 * Removes one entry, named by its id, a unique prefix of it (at least 4 characters) or its
 * sequence number (`3` or `#3`). Pending entries may be dropped as well as failed ones.
 */
export async function dropEntry(db: Executor, ref: string): Promise<OutboxEntry> {
  const trimmed = ref.trim();
  const bySeqOnly = trimmed.startsWith('#');
  const wanted = trimmed.replace(/^#/, '');
  const isNumber = /^\d+$/.test(wanted);
  const isIdPrefix = !bySeqOnly && /^[0-9a-f-]{4,36}$/i.test(wanted);
  if (!isNumber && !isIdPrefix) {
    throw new GitSwarmError('invalid_input', `${JSON.stringify(ref)} is not an outbox entry id.`, {
      hint: 'Give the id (or its first characters) or the number shown by: gitswarm sync',
    });
  }
  // An id prefix may be all digits, so a bare number names an entry by number or by id.
  const seq = Number(wanted);
  const bySeq =
    // Larger than the integer column holds: no such entry (PostgreSQL would refuse the comparison).
    isNumber && seq <= 2_147_483_647
      ? await db.selectFrom('gitswarm_outbox').selectAll().where('seq', '=', seq).execute()
      : [];
  // The outbox is short; a prefix is matched here (PostgreSQL's uuid column takes no LIKE).
  const prefix = wanted.toLowerCase();
  const byId = isIdPrefix
    ? (await db.selectFrom('gitswarm_outbox').selectAll().execute()).filter(
        (entry) => entry.id.startsWith(prefix) && !bySeq.some((hit) => hit.id === entry.id),
      )
    : [];
  const matches = [...bySeq, ...byId];
  if (matches.length > 1) {
    throw new GitSwarmError(
      'invalid_input',
      `${JSON.stringify(ref)} names ${matches.length} outbox entries.`,
      {
        hint: 'Give more characters of the id.',
      },
    );
  }
  const entry = matches[0];
  if (!entry) {
    throw new GitSwarmError('not_found', `No outbox entry ${JSON.stringify(ref)}.`, {
      hint: 'List the outbox with: gitswarm sync --json (or gitswarm status)',
    });
  }
  await db.deleteFrom('gitswarm_outbox').where('id', '=', entry.id).execute();
  return entry;
}

/** How an attempt ended: sent (answered with success), refused for good, or no answer yet. */
export type AttemptOutcome =
  | { kind: 'sent'; answer?: ServerAnswer }
  | { kind: 'refused'; message: string; answer?: ServerAnswer }
  | { kind: 'unanswered'; message: string; status?: number; cause?: unknown };

function errorOf(body: unknown): { code?: string; message?: string } {
  const error = (body as { error?: unknown } | null)?.error;
  return error && typeof error === 'object' ? (error as { code?: string; message?: string }) : {};
}

/**
 * Whether an answer is final. 2xx: sent. No answer, 5xx, 408, 429, 401 (the key is fixed by logging
 * in again, not by dropping the write) and a key whose first request is still running (409
 * `invalid_state` about the Idempotency-Key): try again later. Any other 4xx: refused for good.
 */
export function classifyAnswer(answer: ServerAnswer): AttemptOutcome {
  if (answer.status >= 200 && answer.status < 300) return { kind: 'sent', answer };
  const { code, message } = errorOf(answer.body);
  const text = `${answer.status}${code ? ` ${code}` : ''}: ${message ?? 'no message'}`;
  const retryLater =
    answer.status >= 500 ||
    answer.status === 408 ||
    answer.status === 429 ||
    answer.status === 401 ||
    (answer.status === 409 && code === 'invalid_state' && /Idempotency-Key/i.test(message ?? ''));
  return retryLater
    ? { kind: 'unanswered', message: text, status: answer.status }
    : { kind: 'refused', message: text, answer };
}

/** The outcome of a send that threw: no answer, or the server's refusal carried as an error. */
export function classifySendError(error: unknown): AttemptOutcome {
  if (isGitSwarmError(error) && error.code !== 'server_unreachable') {
    const httpStatus = error.details?.http_status;
    const status = typeof httpStatus === 'number' ? httpStatus : error.status;
    const outcome = classifyAnswer({ status, body: error.toJSON() });
    return outcome.kind === 'unanswered' ? { ...outcome, cause: error } : outcome;
  }
  return {
    kind: 'unanswered',
    message: error instanceof Error ? error.message : String(error),
    cause: error,
  };
}

/** Sends one queued write and classifies the result. */
export async function attemptRequest(send: SendRequest, entry: OutboxEntry): Promise<AttemptOutcome> {
  try {
    return classifyAnswer(
      await send({
        method: entry.method ?? 'POST',
        path: entry.path ?? '/',
        body: entry.body ?? undefined,
        agent: entry.agent,
        idempotencyKey: entry.idempotency_key,
      }),
    );
  } catch (error) {
    return classifySendError(error);
  }
}

async function attemptPush(push: PushRef | undefined, entry: OutboxEntry): Promise<AttemptOutcome> {
  if (!push) return { kind: 'unanswered', message: 'no git remote to push to in this process' };
  try {
    await push({
      remote: entry.remote ?? 'origin',
      ref: entry.ref ?? '',
      newValue: entry.new_value ?? '',
      cas: entry.kind === 'cas_push',
      oldValue: entry.old_value,
    });
    return { kind: 'sent' };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (isGitSwarmError(error) && PERMANENT_PUSH_CODES.has(error.code)) return { kind: 'refused', message };
    return { kind: 'unanswered', message, cause: error };
  }
}

export interface ReplayOptions {
  serverUrl: string;
  send: SendRequest;
  push?: PushRef;
  /** Called after each entry is settled (sent or refused), e.g. to print progress. */
  onSettled?: (entry: OutboxEntry, outcome: AttemptOutcome) => void;
}

export interface ReplayResult {
  /** Entries sent (writes answered with success, pushes made) and removed from the outbox. */
  pushed: number;
  /** Entries refused for good by this replay (now `failed`). */
  newly_failed: number;
  /** Entries still waiting after the replay. */
  pending: number;
  /** All failed entries of this server, kept until dropped. */
  failed: number;
  /** Why the replay stopped early (no answer), or null when it went through the whole outbox. */
  stopped: string | null;
  /** The error that stopped it (a `server_unreachable` GitSwarmError when the server was down). */
  stoppedBy?: unknown;
  /** The status of the answer that stopped it (401, 429, 5xx), when there was one. */
  stoppedStatus?: number;
}

/**
 * Replays this server's pending entries in order (see the module comment). Safe to run again and
 * from two processes at once: a write repeats with its key, a push that already landed succeeds.
 */
export async function replayOutbox(db: Executor, options: ReplayOptions): Promise<ReplayResult> {
  let pushed = 0;
  let newlyFailed = 0;
  let stopped: string | null = null;
  let stoppedBy: unknown;
  let stoppedStatus: number | undefined;
  const entries = await listOutbox(db, { serverUrl: options.serverUrl, state: 'pending' });
  for (const entry of entries) {
    const outcome =
      entry.kind === 'request'
        ? await attemptRequest(options.send, entry)
        : await attemptPush(options.push, entry);
    const now = new Date().toISOString();
    if (outcome.kind === 'sent') {
      await db.deleteFrom('gitswarm_outbox').where('id', '=', entry.id).execute();
      pushed += 1;
    } else if (outcome.kind === 'refused') {
      await db
        .updateTable('gitswarm_outbox')
        .set({ state: 'failed', attempts: entry.attempts + 1, last_error: outcome.message, updated_at: now })
        .where('id', '=', entry.id)
        .execute();
      newlyFailed += 1;
    } else {
      await db
        .updateTable('gitswarm_outbox')
        .set({ attempts: entry.attempts + 1, last_error: outcome.message, updated_at: now })
        .where('id', '=', entry.id)
        .execute();
      stopped = outcome.message;
      stoppedBy = outcome.cause;
      stoppedStatus = outcome.status;
      break;
    }
    options.onSettled?.(entry, outcome);
  }
  const summary = await outboxSummary(db, options.serverUrl);
  return {
    pushed,
    newly_failed: newlyFailed,
    pending: summary.pending,
    failed: summary.failed,
    stopped,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
    ...(stoppedStatus === undefined ? {} : { stoppedStatus }),
  };
}
