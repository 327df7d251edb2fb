/**
 * The OpenAPI document (`/openapi.json`, browsable at `/docs`): the API's description and its
 * security. Each operation states what its route's `config.auth` enforces (plugins/auth.ts): no
 * key (`security: []`, no padlock), an optional key (GET routes: anonymous or bearer), or a required
 * one (the document's default). Two routes the generator would leave out are described here:
 * `/metrics` (Prometheus text) and `/api/v1/ws` (a WebSocket upgrade, hidden by @fastify/websocket).
 */
import type { SwaggerOptions } from '@fastify/swagger';
import type { AuthMode } from './types.js';

const DESCRIPTION =
  'Governance for many agents on one git repository: streams, reviews, consensus, the buffer, ' +
  'stabilization and promotion, tasks and bounties, council and elections. Errors are ' +
  '{error: {code, message, hint?}}. Authenticate with Authorization: Bearer <api key> (POST ' +
  '/api/v1/agents returns one, once); the acting agent is always the key’s owner. Rate limits: 600 ' +
  'requests per minute per key (per IP without one; ×5 for server admins and trusted agents), 1200 ' +
  'per minute per client address, 10 registrations per hour per address; over it, 429 ' +
  'rate_limited with Retry-After. Bodies up to 1 MiB (413 payload_too_large). Writes may carry an ' +
  'Idempotency-Key header: a retry with the same key and body replays the first response; the same ' +
  'key with another body is 409 idempotency_key_reused. Live events: GET /api/v1/ws (WebSocket).';

const BEARER = { bearer: [] as string[] };

/** The security requirement of a route with this auth mode (see plugins/auth.ts for the default). */
function securityOf(mode: AuthMode): Array<Record<string, string[]>> | undefined {
  if (mode === 'none') return [];
  if (mode === 'optional') return [{}, BEARER];
  return undefined; // required: the document's default
}

function authModeOf(route: { method: string | string[]; config?: unknown }): AuthMode {
  const configured = (route.config as { auth?: AuthMode } | undefined)?.auth;
  if (configured) return configured;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.every((m) => m === 'GET' || m === 'HEAD' || m === 'OPTIONS') ? 'optional' : 'required';
}

/** Documentation for routes whose own schema is hidden (see the module comment). */
const EXTRA_DOCS: Record<string, Record<string, unknown>> = {
  '/metrics': {
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Request durations by method, route pattern and status (gitswarm_http_request_duration_seconds) ' +
      'and the process metrics (gitswarm_*). Not rate-limited; no key. Restrict it at the proxy when the ' +
      'server is exposed.',
    tags: ['health'],
    response: {
      200: { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
    },
  },
  '/api/v1/ws': {
    summary: 'Live activity events (WebSocket)',
    description:
      'Upgrade to a WebSocket with Authorization: Bearer <key>, or ?token=<key> where headers cannot ' +
      'be set. JSON text frames. The server sends {type:"welcome", agent:{id, name}}. The client sends ' +
      '{type:"subscribe", repo_id?, events?: [names]} (answered {type:"subscribed", …}), ' +
      '{type:"unsubscribe"} or {type:"ping"} (answered {type:"pong"}). Each matching activity event ' +
      'arrives as {type:"event", event:{…}}; a bad message gets {type:"error", error:{code, message}} ' +
      'and the socket stays open. Events of repositories the agent cannot read are never sent; a ' +
      'client that does not drain its socket is closed with 1013.',
    tags: ['activity'],
    response: {
      101: { description: 'Switching Protocols: the WebSocket is open.', type: 'null' },
      401: { description: 'No key, or the key is not valid (the upgrade is refused).', type: 'null' },
    },
  },
};

/** @fastify/swagger's options for the app. */
export function openApiOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'GitSwarm API', version: '1', description: DESCRIPTION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [BEARER],
    },
    transform: ({ schema, url, route }) => {
      const extra = EXTRA_DOCS[url];
      const base = extra ? { ...schema, ...extra, hide: false } : schema;
      const security = securityOf(authModeOf(route));
      return { schema: security ? { ...base, security } : base, url };
    },
  };
}
