/**
 * An agent's webhook settings (one URL, an event filter, a signing secret) and its notifications
 * (listed, marked read).
 */
import { randomBytes } from 'node:crypto';
import { GitSwarmError } from '../../errors.js';
import type { Agent, Executor } from '../../store/index.js';
import { toJson } from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import { EVENT_NAMES } from '../activity/event-names.js';
import type { CoreDeps } from '../deps.js';
import { type CircuitView, getCircuit } from './circuits.js';

export interface NotificationSettings {
  webhook_url: string | null;
  /** Event names delivered; empty = the agent's own events (see fan-out.ts). */
  events: string[];
  enabled: boolean;
  /** Whether a signing secret exists (the secret itself is shown only when created or rotated). */
  has_secret: boolean;
  /** The circuit breaker of the URL's host (open: deliveries there wait), or null without a URL. */
  circuit: CircuitView | null;
}

export type NotificationStatus = 'pending' | 'delivered' | 'failed';

export interface AgentNotification {
  id: string;
  type: string;
  payload: Record<string, unknown>;
  status: NotificationStatus;
  attempts: number;
  last_error: string | null;
  read: boolean;
  created_at: string;
}

function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GitSwarmError('invalid_input', 'The webhook URL is not a valid URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new GitSwarmError('invalid_input', 'The webhook URL must use http or https.');
  }
  if (url.username || url.password) {
    throw new GitSwarmError('invalid_input', 'The webhook URL may not contain credentials.');
  }
  if (value.length > 2048) throw new GitSwarmError('invalid_input', 'The webhook URL is too long.');
  return url.toString();
}

function parseEventFilter(events: readonly string[]): string[] {
  for (const name of events) {
    if (!(EVENT_NAMES as readonly string[]).includes(name)) {
      throw new GitSwarmError('invalid_input', `Unknown event name ${JSON.stringify(name)}.`, {
        hint: `Event names: ${EVENT_NAMES.join(', ')}`,
      });
    }
  }
  return [...new Set(events)];
}

/** The agent's notification settings (defaults when it never set any). */
export async function getNotificationSettings(
  db: Executor,
  agentId: string,
  now: string = new Date().toISOString(),
): Promise<NotificationSettings> {
  const row = await db
    .selectFrom('gitswarm_notification_preferences')
    .selectAll()
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
  return {
    webhook_url: row?.webhook_url ?? null,
    events: row?.events ?? [],
    enabled: row?.enabled ?? true,
    has_secret: Boolean(row?.webhook_secret),
    circuit: row?.webhook_url ? await getCircuit(db, row.webhook_url, now) : null,
  };
}

export interface SetNotificationSettingsInput {
  agent: Agent;
  /** null removes the webhook. */
  webhookUrl?: string | null;
  events?: readonly string[];
  enabled?: boolean;
  /** Make a new signing secret (one is made anyway the first time a URL is set). */
  rotateSecret?: boolean;
}

/**
 * Changes the agent's webhook settings. Returns the settings and, when a signing secret was
 * created or rotated, the secret: it is shown this once.
 */
export async function setNotificationSettings(
  deps: CoreDeps,
  db: Executor,
  input: SetNotificationSettingsInput,
): Promise<{ settings: NotificationSettings; webhook_secret?: string }> {
  const existing = await db
    .selectFrom('gitswarm_notification_preferences')
    .selectAll()
    .where('agent_id', '=', input.agent.id)
    .executeTakeFirst();
  const webhookUrl =
    input.webhookUrl === undefined
      ? (existing?.webhook_url ?? null)
      : input.webhookUrl === null
        ? null
        : parseWebhookUrl(input.webhookUrl);
  const events = input.events === undefined ? (existing?.events ?? []) : parseEventFilter(input.events);
  const enabled = input.enabled ?? existing?.enabled ?? true;
  let secret = existing?.webhook_secret ?? null;
  let shownSecret: string | undefined;
  if (input.rotateSecret || (webhookUrl !== null && !secret)) {
    secret = randomBytes(32).toString('hex');
    shownSecret = secret;
  }
  if (existing) {
    await db
      .updateTable('gitswarm_notification_preferences')
      .set({ webhook_url: webhookUrl, webhook_secret: secret, events: toJson(events), enabled })
      .where('agent_id', '=', input.agent.id)
      .execute();
  } else {
    await db
      .insertInto('gitswarm_notification_preferences')
      .values({
        id: newId(),
        agent_id: input.agent.id,
        webhook_url: webhookUrl,
        webhook_secret: secret,
        events: toJson(events),
        enabled,
        created_at: isoNow(deps.clock),
      })
      .execute();
  }
  await recordActivity(deps, db, {
    event: 'agent.updated',
    repoId: null,
    agentId: input.agent.id,
    targetType: 'agent',
    targetId: input.agent.id,
    metadata: { changed: ['notifications'] },
  });
  return {
    settings: {
      webhook_url: webhookUrl,
      events,
      enabled,
      has_secret: secret !== null,
      circuit: webhookUrl ? await getCircuit(db, webhookUrl, isoNow(deps.clock)) : null,
    },
    ...(shownSecret ? { webhook_secret: shownSecret } : {}),
  };
}

export interface ListNotificationsQuery {
  status?: NotificationStatus;
  limit?: number;
}

/** The agent's notifications, newest first. Pending ones have an attempt still to come. */
export async function listNotifications(
  db: Executor,
  agentId: string,
  query: ListNotificationsQuery = {},
): Promise<AgentNotification[]> {
  let q = db.selectFrom('gitswarm_agent_notifications').selectAll().where('agent_id', '=', agentId);
  if (query.status === 'delivered') q = q.where('delivered', '=', true);
  if (query.status === 'pending')
    q = q.where('delivered', '=', false).where('next_attempt_at', 'is not', null);
  if (query.status === 'failed') q = q.where('delivered', '=', false).where('next_attempt_at', 'is', null);
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(Math.min(Math.max(query.limit ?? 50, 1), 500))
    .execute();
  return rows.map((row) => ({
    id: row.id,
    type: row.type,
    payload: row.payload,
    status: row.delivered ? 'delivered' : row.next_attempt_at === null ? 'failed' : 'pending',
    attempts: row.attempts,
    last_error: row.last_error,
    read: row.read,
    created_at: row.created_at,
  }));
}

/** Marks notifications of the agent read; returns how many changed. */
export async function markNotificationsRead(
  db: Executor,
  agentId: string,
  ids: readonly string[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db
    .updateTable('gitswarm_agent_notifications')
    .set({ read: true })
    .where('agent_id', '=', agentId)
    .where('id', 'in', ids)
    .where('read', '=', false)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
