/**
 * Live activity over WebSocket at `GET /api/v1/ws`.
 *
 * Authenticate with `Authorization: Bearer <key>` or `?token=<key>` (browsers cannot set headers on
 * a WebSocket). The handshake is not rate-limited. Protocol (JSON text frames):
 * - server → `{type:'welcome', agent:{id,name}}` once connected;
 * - client → `{type:'subscribe', repo_id?, events?: [...]}` adds a subscription (no repo: all
 *   repositories the agent can read; no events: every event name); server → `{type:'subscribed', ...}`;
 * - client → `{type:'unsubscribe'}` drops all subscriptions; `{type:'ping'}` → `{type:'pong'}`;
 * - server → `{type:'event', event: <activity entry>}` for each event on the bus that matches, in order;
 * - server → `{type:'error', error:{code, message}}` for a bad client message (the socket stays open).
 * Events of a repository the agent cannot read are never sent. A client too slow to drain its
 * socket is disconnected (1013) rather than buffered without bound.
 *
 * Connections are limited per key (10) and per client address (50) on each instance
 * (GITSWARM_WS_PER_KEY, GITSWARM_WS_PER_ADDRESS): a handshake beyond a limit is refused with
 * 429 `rate_limited` before the upgrade, and one that raced past it is closed at once with 1008.
 */
import websocketPlugin from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import Type from 'typebox';
import type { WebSocket } from 'ws';
import { EVENT_NAMES } from '../../core/activity/event-names.js';
import { resolveAccess } from '../../core/governance/access.js';
import { getRepo } from '../../core/repos/repos.js';
import { GitSwarmError, isGitSwarmError } from '../../errors.js';
import type { ActivityEntry, Agent } from '../../store/index.js';
import { KeyedCounts } from '../../util/counts.js';

export const WEBSOCKET_PATH = '/api/v1/ws';
const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_SUBSCRIPTIONS = 100;
const ACCESS_CACHE_MS = 30_000;
const HEARTBEAT_MS = 30_000;

interface Subscription {
  repoId: string | null;
  events: ReadonlySet<string> | null;
}

export const DEFAULT_WS_PER_KEY = 10;
export const DEFAULT_WS_PER_ADDRESS = 50;
/** Close code for a connection beyond a limit (policy violation). */
export const WS_LIMIT_CLOSE_CODE = 1008;

export interface WebsocketOptions {
  /** Heartbeat ping interval (ms); a client that misses one pong is dropped. */
  heartbeatMs?: number;
  /** Open connections per API key on this instance. */
  maxPerKey?: number;
  /** Open connections per client address on this instance. */
  maxPerAddress?: number;
}

function parseSubscription(message: Record<string, unknown>): Subscription {
  const repoId = message.repo_id;
  if (repoId !== undefined && repoId !== null && (typeof repoId !== 'string' || repoId.length > 100)) {
    throw new GitSwarmError('invalid_input', 'repo_id must be a repository id.');
  }
  const events = message.events;
  if (events !== undefined && events !== null) {
    if (!Array.isArray(events) || events.length > EVENT_NAMES.length) {
      throw new GitSwarmError('invalid_input', 'events must be a list of event names.');
    }
    for (const name of events) {
      if (typeof name !== 'string' || !(EVENT_NAMES as readonly string[]).includes(name)) {
        throw new GitSwarmError('invalid_input', `Unknown event name ${JSON.stringify(name)}.`, {
          hint: `Event names: ${EVENT_NAMES.join(', ')}`,
        });
      }
    }
  }
  return {
    repoId: typeof repoId === 'string' ? repoId : null,
    events: Array.isArray(events) && events.length > 0 ? new Set(events as string[]) : null,
  };
}

async function websocketRoutes(app: FastifyInstance, options: WebsocketOptions): Promise<void> {
  await app.register(websocketPlugin, { options: { maxPayload: MAX_MESSAGE_BYTES } });
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const maxPerKey = options.maxPerKey ?? DEFAULT_WS_PER_KEY;
  const maxPerAddress = options.maxPerAddress ?? DEFAULT_WS_PER_ADDRESS;
  const perKey = new KeyedCounts();
  const perAddress = new KeyedCounts();
  const overLimit = (agentId: string, address: string, margin: number): string | null => {
    if (perKey.get(agentId) + margin > maxPerKey) return `${maxPerKey} connections per key`;
    if (perAddress.get(address) + margin > maxPerAddress) return `${maxPerAddress} connections per address`;
    return null;
  };

  app.get(
    WEBSOCKET_PATH,
    {
      websocket: true,
      config: { auth: 'required', queryToken: true, rateLimit: false },
      // Refused before the upgrade when a limit is already reached: no socket is made.
      preHandler: async (request) => {
        const limit = request.agent ? overLimit(request.agent.id, request.ip, 1) : null;
        if (limit) {
          throw new GitSwarmError('rate_limited', `At most ${limit}; close one first.`, {
            hint: 'Reuse one connection with several subscriptions.',
          });
        }
      },
      schema: {
        summary: 'Live activity events (WebSocket)',
        tags: ['activity'],
        querystring: Type.Object(
          { token: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
      },
    },
    (socket: WebSocket, request) => {
      const agent = request.agent as Agent;
      const address = request.ip;
      perKey.add(agent.id);
      perAddress.add(address);
      socket.once('close', () => {
        perKey.remove(agent.id);
        perAddress.remove(address);
      });
      // Handshakes that passed the check together may overshoot it: the extra ones close at once.
      const limit = overLimit(agent.id, address, 0);
      if (limit) {
        socket.close(WS_LIMIT_CLOSE_CODE, `At most ${limit}`);
        return;
      }
      const deps = app.deps;
      const subscriptions: Subscription[] = [];
      const access = new Map<string, { readable: boolean; at: number }>();
      let chain: Promise<void> = Promise.resolve();
      let alive = true;

      const send = (message: unknown) => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
          socket.close(1013, 'Client too slow');
          return;
        }
        socket.send(JSON.stringify(message));
      };

      const canRead = async (repoId: string): Promise<boolean> => {
        const cached = access.get(repoId);
        const now = Date.now();
        if (cached && now - cached.at < ACCESS_CACHE_MS) return cached.readable;
        let readable = false;
        try {
          const repo = await getRepo(deps.store.db, repoId);
          readable = (await resolveAccess(deps, deps.store.db, repo, agent)).level !== 'none';
        } catch {
          readable = false;
        }
        access.set(repoId, { readable, at: now });
        return readable;
      };

      const matches = (event: ActivityEntry) =>
        subscriptions.some(
          (s) =>
            (s.repoId === null || s.repoId === event.repo_id) &&
            (s.events === null || s.events.has(event.event_type)),
        );

      const unsubscribe = app.events.subscribe((event) => {
        if (!matches(event)) return;
        // One chain per socket keeps events in bus order while access checks are awaited.
        chain = chain.then(async () => {
          if (!matches(event)) return;
          if (event.repo_id && !(await canRead(event.repo_id))) return;
          send({ type: 'event', event });
        });
      });

      const heartbeat = setInterval(() => {
        if (!alive) {
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, heartbeatMs);
      heartbeat.unref();
      socket.on('pong', () => {
        alive = true;
      });

      socket.on('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
      });

      socket.on('message', (data, isBinary) => {
        chain = chain.then(async () => {
          try {
            if (isBinary) throw new GitSwarmError('invalid_input', 'Send JSON text frames.');
            let message: unknown;
            try {
              message = JSON.parse(String(data));
            } catch {
              throw new GitSwarmError('invalid_input', 'The message is not valid JSON.');
            }
            if (typeof message !== 'object' || message === null || Array.isArray(message)) {
              throw new GitSwarmError('invalid_input', 'A message is a JSON object with a "type".');
            }
            const body = message as Record<string, unknown>;
            switch (body.type) {
              case 'subscribe': {
                if (subscriptions.length >= MAX_SUBSCRIPTIONS) {
                  throw new GitSwarmError('invalid_input', `At most ${MAX_SUBSCRIPTIONS} subscriptions.`);
                }
                const subscription = parseSubscription(body);
                if (subscription.repoId !== null) {
                  const repo = await getRepo(deps.store.db, subscription.repoId);
                  if ((await resolveAccess(deps, deps.store.db, repo, agent)).level === 'none') {
                    throw new GitSwarmError('forbidden', `Agent ${agent.name} cannot read this repository.`);
                  }
                }
                subscriptions.push(subscription);
                send({
                  type: 'subscribed',
                  repo_id: subscription.repoId,
                  events: subscription.events ? [...subscription.events] : null,
                });
                return;
              }
              case 'unsubscribe':
                subscriptions.length = 0;
                send({ type: 'unsubscribed' });
                return;
              case 'ping':
                send({ type: 'pong' });
                return;
              default:
                throw new GitSwarmError(
                  'invalid_input',
                  'Unknown message type; use subscribe, unsubscribe or ping.',
                );
            }
          } catch (error) {
            const clientError = isGitSwarmError(error)
              ? error
              : new GitSwarmError('internal_error', 'Internal server error.');
            if (!isGitSwarmError(error)) request.log.error({ err: error }, 'websocket message failed');
            send({ type: 'error', error: { code: clientError.code, message: clientError.message } });
          }
        });
      });

      send({ type: 'welcome', agent: { id: agent.id, name: agent.name } });
    },
  );
}

/** Serves `GET /api/v1/ws`: activity events from the bus to authenticated subscribers. */
export const websocket = fp(websocketRoutes, {
  name: 'gitswarm-websocket',
  fastify: '5.x',
  dependencies: ['gitswarm-core', 'gitswarm-auth'],
});
