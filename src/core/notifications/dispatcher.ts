/**
 * Agent notifications: each agent may register one webhook URL with an event filter. Every activity
 * event on the bus that passes the filter (and that the agent did not cause itself, and whose
 * repository the agent can read) is recorded in gitswarm_agent_notifications and POSTed to the URL:
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
 * The retry schedule lives in the row (`next_attempt_at`), not in a timer: a server that restarts
 * resumes the retries it owed. An attempt first moves `next_attempt_at` past its own timeout (a
 * lease, taken by compare-and-swap), so of several instances sweeping the same rows one delivers,
 * and a crash mid-attempt only delays the delivery until the lease runs out.
 */
import type { ActivityEntry } from '../../store/index.js';
import { toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { resolveAccess } from '../access.js';
import type { CoreDeps } from '../deps.js';
import { isPrivateTarget } from './private-networks.js';
import { notificationId, signPayload } from './signing.js';

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BASE_DELAY_MS = 1000;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface NotificationDispatcherOptions {
  fetch?: typeof fetch;
  maxAttempts?: number;
  /** Delay before the first retry; each later retry doubles it. */
  baseDelayMs?: number;
  timeoutMs?: number;
  /** Told about failures of the dispatcher itself (database errors); never thrown at a publisher. */
  onError?: (error: unknown) => void;
  /**
   * Deliver to loopback, private and link-local addresses too (default false: a webhook URL must
   * not reach into the server's own network). Tests and single-host set-ups turn it on.
   */
  allowPrivateTargets?: boolean;
}

export interface NotificationDispatcher {
  /** Resolves when no delivery is running or waiting for a retry (tests and shutdown). */
  idle(): Promise<void>;
  /** Stops listening and sweeping; owed retries stay in the database for the next start. */
  stop(): void;
}

interface Preference {
  agent_id: string;
  webhook_url: string;
  webhook_secret: string;
  events: string[];
}

interface Delivery {
  id: string;
  agent_id: string;
  type: string;
  payload: Record<string, unknown>;
  attempts: number;
}

const PREFERENCES_TTL_MS = 2000;
/** How often owed retries are looked for even when none is known to be due (other instances', crashed leases). */
const SWEEP_INTERVAL_MS = 30_000;
const SWEEP_BATCH = 100;

/** Subscribes to the events bus and delivers notifications (see the module comment). */
export function startNotificationDispatcher(
  deps: CoreDeps,
  options: NotificationDispatcherOptions = {},
): NotificationDispatcher {
  const doFetch = options.fetch ?? fetch;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Longer than any attempt can take: the DNS check and the request are both bounded by timeoutMs.
  const leaseMs = 2 * timeoutMs + 1000;
  const onError = options.onError ?? (() => {});
  const db = deps.store.db;
  const at = (delayMs: number) => new Date(deps.clock.now().getTime() + delayMs).toISOString();
  /** Retries this dispatcher scheduled and has not made yet, by notification id. */
  const owed = new Set<string>();
  let inFlight = 0;
  let waiters: (() => void)[] = [];
  let stopped = false;
  let cache: { at: number; rows: Preference[] } | null = null;
  let wake: { timer: NodeJS.Timeout; at: number } | null = null;

  const settle = () => {
    if (inFlight === 0 && owed.size === 0) {
      const done = waiters;
      waiters = [];
      for (const resolve of done) resolve();
    }
  };

  const track = (work: Promise<void>) => {
    inFlight += 1;
    work.catch(onError).finally(() => {
      inFlight -= 1;
      settle();
    });
  };

  /** Sweeps for due retries in delayMs (or sooner, when a sweep is already planned sooner). */
  const wakeIn = (delayMs: number) => {
    if (stopped) return;
    const when = Date.now() + delayMs;
    if (wake && wake.at <= when) return;
    if (wake) clearTimeout(wake.timer);
    const timer = setTimeout(() => {
      wake = null;
      track(sweep());
    }, delayMs);
    timer.unref();
    wake = { timer, at: when };
  };

  const preferences = async (): Promise<Preference[]> => {
    const now = Date.now();
    if (cache && now - cache.at < PREFERENCES_TTL_MS) return cache.rows;
    const rows = await db
      .selectFrom('gitswarm_notification_preferences')
      .select(['agent_id', 'webhook_url', 'webhook_secret', 'events'])
      .where('enabled', '=', true)
      .where('webhook_url', 'is not', null)
      .where('webhook_secret', 'is not', null)
      .execute();
    cache = { at: now, rows: rows as Preference[] };
    return cache.rows;
  };

  /** POSTs the notification; the error that makes it count as not delivered, or null. */
  const post = async (delivery: Delivery, preference: Preference): Promise<string | null> => {
    const body = JSON.stringify(delivery.payload);
    try {
      if (!options.allowPrivateTargets && (await isPrivateTarget(preference.webhook_url))) {
        throw new Error('the webhook URL points into a private network; deliveries there are off');
      }
      const response = await doFetch(preference.webhook_url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'gitswarm-notifications',
          'x-gitswarm-event': delivery.type,
          'x-gitswarm-delivery': delivery.id,
          'x-gitswarm-signature': signPayload(preference.webhook_secret, body),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel().catch(() => {});
      return response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`;
    } catch (cause) {
      return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    }
  };

  /** One attempt at a delivery this dispatcher holds the lease of; records it and plans the next. */
  const attempt = async (delivery: Delivery) => {
    owed.delete(delivery.id);
    const n = delivery.attempts + 1;
    // The agent's settings as they are now: a retry follows a changed URL, and stops for a removed
    // webhook or an event the agent no longer asks for.
    const preference = (await preferences()).find(
      (p) => p.agent_id === delivery.agent_id && (p.events.length === 0 || p.events.includes(delivery.type)),
    );
    const error = preference
      ? await post(delivery, preference)
      : 'the webhook was removed or turned off, or no longer asks for this event';
    const retryInMs = error !== null && preference && n < maxAttempts ? baseDelayMs * 2 ** (n - 1) : null;
    await db
      .updateTable('gitswarm_agent_notifications')
      .set({
        delivered: error === null,
        attempts: n,
        last_error: error?.slice(0, 1000) ?? null,
        next_attempt_at: retryInMs === null ? null : at(retryInMs),
      })
      .where('id', '=', delivery.id)
      .execute();
    if (retryInMs !== null && !stopped) {
      owed.add(delivery.id);
      wakeIn(retryInMs);
    }
  };

  /** Takes the lease of every due retry (compare-and-swap on next_attempt_at) and attempts it. */
  const sweep = async () => {
    if (stopped) return;
    const now = at(0);
    const due = await db
      .selectFrom('gitswarm_agent_notifications')
      .select(['id', 'agent_id', 'type', 'payload', 'attempts'])
      .where('delivered', '=', false)
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .limit(SWEEP_BATCH)
      .execute();
    for (const delivery of due) {
      const leased = await db
        .updateTable('gitswarm_agent_notifications')
        .set({ next_attempt_at: at(leaseMs) })
        .where('id', '=', delivery.id)
        .where('delivered', '=', false)
        .where('next_attempt_at', '<=', now)
        .executeTakeFirst();
      if (Number(leased.numUpdatedRows) === 1) track(attempt(delivery));
      else owed.delete(delivery.id);
    }
    if (due.length === SWEEP_BATCH) return wakeIn(0);
    // Next at the earliest retry still waiting (a timer may fire a little before its row is due).
    const next = await db
      .selectFrom('gitswarm_agent_notifications')
      .select((eb) => eb.fn.min('next_attempt_at').as('at'))
      .where('delivered', '=', false)
      .executeTakeFirst();
    const untilNext = next?.at ? Date.parse(next.at) - deps.clock.now().getTime() : SWEEP_INTERVAL_MS;
    wakeIn(Math.min(Math.max(untilNext, 1), SWEEP_INTERVAL_MS));
  };

  const dispatch = async (event: ActivityEntry) => {
    if (event.event_type === 'agent.updated') cache = null;
    const candidates = (await preferences()).filter(
      (p) => p.agent_id !== event.agent_id && (p.events.length === 0 || p.events.includes(event.event_type)),
    );
    if (candidates.length === 0) return;
    const repo = event.repo_id
      ? await db.selectFrom('gitswarm_repos').selectAll().where('id', '=', event.repo_id).executeTakeFirst()
      : undefined;
    for (const preference of candidates) {
      if (repo) {
        const agent = await db
          .selectFrom('gitswarm_agents')
          .selectAll()
          .where('id', '=', preference.agent_id)
          .executeTakeFirst();
        if (agent?.status !== 'active') continue;
        if ((await resolveAccess(deps, db, repo, agent)).level === 'none') continue;
      }
      const id = notificationId(event.id, preference.agent_id);
      const payload = { id, type: event.event_type, created_at: event.created_at, event };
      // Recorded with the first attempt's lease already taken.
      const inserted = await db
        .insertInto('gitswarm_agent_notifications')
        .values({
          id,
          agent_id: preference.agent_id,
          type: event.event_type,
          payload: toJson(payload),
          next_attempt_at: at(leaseMs),
          created_at: isoNow(deps.clock),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      // Another instance heard the same event first and delivers it.
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) continue;
      track(attempt({ id, agent_id: preference.agent_id, type: event.event_type, payload, attempts: 0 }));
    }
  };

  const unsubscribe = deps.events.subscribe((event) => {
    if (!stopped) track(dispatch(event));
  });
  // Retries owed since before this start (a restart, a crash) are due now.
  track(sweep());

  return {
    idle() {
      if (inFlight === 0 && owed.size === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    stop() {
      stopped = true;
      unsubscribe();
      if (wake) clearTimeout(wake.timer);
      wake = null;
      owed.clear();
      settle();
    },
  };
}
