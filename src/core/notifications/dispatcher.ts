/**
 * Webhook delivery. Each activity event on the bus is fanned out (fan-out.ts) and recorded as one
 * row per recipient in gitswarm_agent_notifications, then POSTed to the recipient's URL:
 *
 *   POST <webhook_url>
 *   Content-Type: application/json
 *   X-GitSwarm-Event: <event name>
 *   X-GitSwarm-Delivery: <notification id>
 *   X-GitSwarm-Signature: sha256=<hex HMAC-SHA256 of the raw body with the agent's webhook secret>
 *   {"id": ..., "type": <event name>, "created_at": ..., "event": <activity entry>}
 *
 * A 2xx answer marks it delivered; anything else is retried with exponential backoff
 * (base, 2×base, 4×base, …) up to `maxAttempts`, then left failed with the last error. Delivery
 * runs after the change has committed and never delays the request that caused it. The
 * notification id is derived from (event id, agent id), so several server instances hearing the
 * same event over Redis record and deliver it once.
 *
 * The queue is the table (queue.ts), read a bounded batch at a time; a restarted server resumes
 * what it owed. Attempts run with bounded concurrency, overall and per target host, and each is
 * bounded in time (lookup, connect, whole request: post-webhook.ts); a row is leased for longer
 * than its attempt can take and is never leased again while this instance attempts it. A host
 * that keeps failing has its circuit opened (circuits.ts) and is left alone for a while. On
 * close, attempts in flight are aborted and their rows are due again at the next start.
 */
import type { ActivityEntry } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import type { CoreDeps } from '../deps.js';
import {
  circuitTarget,
  DEFAULT_CIRCUIT_OPEN_MS,
  DEFAULT_CIRCUIT_THRESHOLD,
  openCircuits,
  recordCircuitFailure,
  recordCircuitSuccess,
} from './circuits.js';
import { recipientsOf, type WebhookPreference } from './fan-out.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, postWebhook } from './post-webhook.js';
import {
  earliestDue,
  enqueueNotification,
  fetchDueBatch,
  leaseNotification,
  postponeAgentsNotifications,
  postponeNotifications,
  type QueuedNotification,
  recordAttempt,
} from './queue.js';
import { DEFAULT_LOOKUP_TIMEOUT_MS, type HostLookup } from './resolve-target.js';
import { notificationId, signPayload } from './signing.js';

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BASE_DELAY_MS = 1000;
/** The whole request, lookup and connect included. */
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_CONCURRENCY = 16;
export const DEFAULT_TARGET_CONCURRENCY = 2;
export const DEFAULT_BATCH_SIZE = 50;
/** How long close() waits for aborted attempts to put their rows back before it returns anyway. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 2000;

export interface NotificationDispatcherOptions {
  maxAttempts?: number;
  /** Delay before the first retry; each later retry doubles it. */
  baseDelayMs?: number;
  /** Bound on one attempt, lookup and connect included (default 10 s). */
  timeoutMs?: number;
  lookupTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Host name lookup (default: DNS with a timeout, resolve-target.ts); tests inject their own. */
  lookup?: HostLookup;
  /** Attempts running at once on this instance (default 16). */
  concurrency?: number;
  /** Attempts running at once to one target host (default 2). */
  targetConcurrency?: number;
  /** Due rows read per query (default 50; never more than the free attempt slots). */
  batchSize?: number;
  /** Consecutive failures of a host that open its circuit (default 5). */
  circuitThreshold?: number;
  /** How long an open circuit stays open (default 60 s). */
  circuitOpenMs?: number;
  shutdownGraceMs?: number;
  /** Told about failures of the dispatcher itself (database errors); never thrown at a publisher. */
  onError?: (error: unknown) => void;
  /**
   * Deliver to loopback, private and link-local addresses too (default false: a webhook URL must
   * not reach into the server's own network). Tests and single-host set-ups turn it on.
   */
  allowPrivateTargets?: boolean;
}

export interface DispatcherStats {
  /** Attempts running now. */
  inFlight: number;
  /** The most rows one queue read returned since the start. */
  largestBatch: number;
}

export interface NotificationDispatcher {
  /** Resolves when no attempt runs and no row waits for one (tests). */
  idle(): Promise<void>;
  /** Stops listening and reading the queue, and aborts attempts in flight. */
  stop(): void;
  /** stop(), then waits up to the shutdown grace for aborted attempts to put their rows back. */
  close(): Promise<void>;
  stats(): DispatcherStats;
}

const PREFERENCES_TTL_MS = 2000;
/** How often the queue is read even when no row is known to be due (other instances', crashed leases). */
const SWEEP_INTERVAL_MS = 30_000;
/** Agents excluded by name from a queue read because their host is busy; beyond this, rows are skipped. */
const MAX_EXCLUDED_AGENTS = 500;

interface Attempt {
  target: string | null;
  controller: AbortController;
}

/** Subscribes to the events bus and delivers notifications (see the module comment). */
export function startNotificationDispatcher(
  deps: CoreDeps,
  options: NotificationDispatcherOptions = {},
): NotificationDispatcher {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const targetConcurrency = Math.max(1, options.targetConcurrency ?? DEFAULT_TARGET_CONCURRENCY);
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const circuitThreshold = Math.max(1, options.circuitThreshold ?? DEFAULT_CIRCUIT_THRESHOLD);
  const circuitOpenMs = options.circuitOpenMs ?? DEFAULT_CIRCUIT_OPEN_MS;
  // Longer than any attempt can take (the request timeout bounds lookup, connect and answer),
  // with room for recording the outcome.
  const leaseMs = 2 * timeoutMs + 5000;
  const onError = options.onError ?? (() => {});
  const db = deps.store.db;
  const at = (delayMs: number) => new Date(deps.clock.now().getTime() + delayMs).toISOString();

  const attempts = new Map<string, Attempt>();
  const perTarget = new Map<string, number>();
  let busy = 0;
  let pumping = false;
  let pumpAgain = false;
  let largestBatch = 0;
  let waiters: (() => void)[] = [];
  let stopped = false;
  let cache: {
    at: number;
    rows: WebhookPreference[];
    byAgent: Map<string, WebhookPreference>;
    /** Circuit target (host:port) of each agent's URL. */
    targets: Map<string, string>;
  } | null = null;
  let wake: { timer: NodeJS.Timeout; at: number } | null = null;

  const drained = () => busy === 0 && attempts.size === 0;
  const settle = () => {
    if (!drained()) return;
    const done = waiters;
    waiters = [];
    for (const resolve of done) resolve();
  };
  const whenDrained = () => (drained() ? Promise.resolve() : new Promise<void>((r) => waiters.push(r)));

  const track = (work: Promise<void>) => {
    busy += 1;
    work.catch(onError).finally(() => {
      busy -= 1;
      settle();
    });
  };

  const kick = () => {
    if (!stopped) track(pump());
  };

  /** Reads the queue in delayMs (or sooner, when a read is already planned sooner). */
  const wakeIn = (delayMs: number) => {
    if (stopped) return;
    const when = Date.now() + delayMs;
    if (wake && wake.at <= when) return;
    if (wake) clearTimeout(wake.timer);
    const timer = setTimeout(() => {
      wake = null;
      kick();
    }, delayMs);
    timer.unref();
    wake = { timer, at: when };
  };

  const preferences = async () => {
    const now = Date.now();
    if (cache && now - cache.at < PREFERENCES_TTL_MS) return cache;
    const rows = (await db
      .selectFrom('gitswarm_notification_preferences')
      .select(['agent_id', 'webhook_url', 'webhook_secret', 'events'])
      .where('enabled', '=', true)
      .where('webhook_url', 'is not', null)
      .where('webhook_secret', 'is not', null)
      .execute()) as WebhookPreference[];
    cache = {
      at: now,
      rows,
      byAgent: new Map(rows.map((p) => [p.agent_id, p])),
      targets: new Map(rows.map((p) => [p.agent_id, circuitTarget(p.webhook_url)])),
    };
    return cache;
  };

  /** POSTs the notification; the error that makes it count as not delivered, or null. */
  const post = async (
    row: QueuedNotification,
    preference: WebhookPreference,
    signal: AbortSignal,
  ): Promise<string | null> => {
    const body = JSON.stringify(row.payload);
    try {
      const status = await postWebhook({
        url: preference.webhook_url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'gitswarm-notifications',
          'x-gitswarm-event': row.type,
          'x-gitswarm-delivery': row.id,
          'x-gitswarm-signature': signPayload(preference.webhook_secret, body),
        },
        body,
        timeoutMs,
        lookupTimeoutMs: options.lookupTimeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        lookup: options.lookup,
        allowPrivate: options.allowPrivateTargets,
        signal,
      });
      return status >= 200 && status < 300 ? null : `HTTP ${status}`;
    } catch (cause) {
      return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    }
  };

  /** Counts the outcome against the host's circuit; an opening circuit postpones the host's rows. */
  const recordCircuit = async (target: string, error: string | null) => {
    if (error === null) return recordCircuitSuccess(db, target, at(0));
    const openUntil = await recordCircuitFailure(db, {
      target,
      error,
      now: at(0),
      threshold: circuitThreshold,
      openUntil: at(circuitOpenMs),
    });
    if (openUntil === null) return;
    const { targets } = await preferences();
    const agents = [...targets].filter(([, t]) => t === target).map(([agentId]) => agentId);
    await postponeAgentsNotifications(db, agents, openUntil, [...attempts.keys()]);
  };

  /** One attempt at a row this dispatcher holds the lease of; records it and plans the next. */
  const attempt = async (
    row: QueuedNotification,
    preference: WebhookPreference | undefined,
    target: string | null,
    signal: AbortSignal,
  ) => {
    const n = row.attempts + 1;
    const error = preference
      ? await post(row, preference, signal)
      : 'the webhook was removed or turned off, or no longer asks for this event';
    if (signal.aborted && stopped) {
      // Cut short by shutdown: not an attempt; due again at the next start.
      await postponeNotifications(db, [row.id], at(0));
      return;
    }
    if (target) await recordCircuit(target, error);
    const retryInMs = error !== null && preference && n < maxAttempts ? baseDelayMs * 2 ** (n - 1) : null;
    await recordAttempt(db, row.id, {
      delivered: error === null,
      attempts: n,
      last_error: error,
      next_attempt_at: retryInMs === null ? null : at(retryInMs),
    });
    if (retryInMs !== null) wakeIn(retryInMs);
  };

  const begin = (
    row: QueuedNotification,
    preference: WebhookPreference | undefined,
    target: string | null,
  ) => {
    const controller = new AbortController();
    attempts.set(row.id, { target, controller });
    if (target) perTarget.set(target, (perTarget.get(target) ?? 0) + 1);
    track(
      attempt(row, preference, target, controller.signal).finally(() => {
        attempts.delete(row.id);
        if (target) {
          const left = (perTarget.get(target) ?? 1) - 1;
          if (left > 0) perTarget.set(target, left);
          else perTarget.delete(target);
        }
        kick();
      }),
    );
  };

  /** Agents whose target host has every slot taken here (their rows wait for a slot, not a read). */
  const agentsOfBusyTargets = (targets: Map<string, string>): string[] => {
    const busyTargets = new Set([...perTarget].filter(([, n]) => n >= targetConcurrency).map(([t]) => t));
    if (busyTargets.size === 0) return [];
    return [...targets]
      .filter(([, t]) => busyTargets.has(t))
      .map(([agentId]) => agentId)
      .slice(0, MAX_EXCLUDED_AGENTS);
  };

  /**
   * Starts attempts on due rows while slots are free. 'idle': nothing is due; 'full': every slot
   * is taken (a finishing attempt reads again); 'stuck': due rows could not be started now.
   */
  const fill = async (): Promise<'idle' | 'full' | 'stuck'> => {
    while (!stopped) {
      const free = concurrency - attempts.size;
      if (free <= 0) return 'full';
      const { byAgent, targets } = await preferences();
      const now = at(0);
      const open = await openCircuits(db, now);
      const excludeAgents = agentsOfBusyTargets(targets);
      const due = await fetchDueBatch(db, {
        now,
        limit: Math.min(free, batchSize),
        excludeIds: [...attempts.keys()],
        excludeAgents,
      });
      largestBatch = Math.max(largestBatch, due.length);
      if (due.length === 0) return 'idle';
      let moved = 0;
      // Rows of a host whose circuit is open wait for it to close, without spending an attempt.
      const waiting = new Map<string, string[]>();
      for (const row of due) {
        if (stopped) break;
        // The agent's settings as they are now: a retry follows a changed URL, and stops for a
        // removed webhook or an event the agent no longer asks for.
        const agentPreference = byAgent.get(row.agent_id);
        const preference =
          agentPreference &&
          (agentPreference.events.length === 0 || agentPreference.events.includes(row.type))
            ? agentPreference
            : undefined;
        const target = preference ? (targets.get(preference.agent_id) ?? null) : null;
        const closesAt = target ? open.get(target) : undefined;
        if (closesAt) {
          const ids = waiting.get(closesAt) ?? [];
          ids.push(row.id);
          waiting.set(closesAt, ids);
          moved += 1;
          continue;
        }
        if (attempts.size >= concurrency) break;
        if (target && (perTarget.get(target) ?? 0) >= targetConcurrency) continue;
        if (!(await leaseNotification(db, row.id, now, at(leaseMs)))) continue;
        moved += 1;
        begin(row, preference, target);
      }
      for (const [closesAt, ids] of waiting) await postponeNotifications(db, ids, closesAt);
      if (moved === 0) return 'stuck';
    }
    return 'full';
  };

  const pump = async () => {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    let state: Awaited<ReturnType<typeof fill>> = 'full';
    try {
      do {
        pumpAgain = false;
        state = await fill();
      } while (pumpAgain && !stopped);
    } finally {
      pumping = false;
    }
    if (stopped) return;
    if (state === 'stuck') return wakeIn(1000);
    if (state === 'full') return;
    // Next at the earliest row still waiting (a timer may fire a little before its row is due).
    const next = await earliestDue(db, agentsOfBusyTargets((await preferences()).targets));
    const untilNext = next ? Date.parse(next) - deps.clock.now().getTime() : SWEEP_INTERVAL_MS;
    wakeIn(Math.min(Math.max(untilNext, 1), SWEEP_INTERVAL_MS));
  };

  const dispatch = async (event: ActivityEntry) => {
    if (event.event_type === 'agent.updated') cache = null;
    const recipients = await recipientsOf(deps, db, event, (await preferences()).rows);
    for (const preference of recipients) {
      const id = notificationId(event.id, preference.agent_id);
      await enqueueNotification(db, {
        id,
        agent_id: preference.agent_id,
        type: event.event_type,
        payload: { id, type: event.event_type, created_at: event.created_at, event },
        due: at(0),
        created_at: isoNow(deps.clock),
      });
    }
    if (recipients.length > 0) kick();
  };

  const unsubscribe = deps.events.subscribe((event) => {
    if (!stopped) track(dispatch(event));
  });
  // Rows owed since before this start (a restart, a crash) are due now.
  kick();

  const stop = () => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    if (wake) clearTimeout(wake.timer);
    wake = null;
    for (const { controller } of attempts.values()) {
      controller.abort(Object.assign(new Error('the server is shutting down'), { name: 'AbortError' }));
    }
    settle();
  };

  return {
    async idle() {
      for (;;) {
        await whenDrained();
        if (stopped || (await earliestDue(db)) === null) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stop,
    async close() {
      stop();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        whenDrained(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
    },
    stats: () => ({ inFlight: attempts.size, largestBatch }),
  };
}
