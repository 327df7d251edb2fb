/**
 * Types the server's plugins add to Fastify (decorators, route config), and the instance type the
 * route plugins are written against.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { EventBus } from '../core/activity/events.js';
import type { CoreDeps } from '../core/deps.js';
import type { HostingConfig } from '../hosting/config.js';
import type { UpstreamPusher } from '../hosting/upstream.js';
import type { Agent } from '../store/index.js';

/** Who may call a route: `required` needs a valid key, `optional` resolves one when given, `none` ignores it. */
export type AuthMode = 'required' | 'optional' | 'none';

declare module 'fastify' {
  interface FastifyInstance {
    /** The core's dependencies: store, clock and events bus (plugins/core.ts). */
    deps: CoreDeps;
    /** The events bus every instance publishes to and hears from (plugins/events-bus.ts). */
    events: EventBus;
    /** Mode C: where server-held repositories live and their limits (hosting/config.ts). */
    hosting: HostingConfig;
    /** Mode C: pushes server-held repositories to their remote_url (plugins/upstream.ts). */
    upstream: UpstreamPusher;
  }
  interface FastifyRequest {
    /** The agent owning the request's API key; null when none was given. */
    agent: Agent | null;
  }
  interface FastifyContextConfig {
    /** Default: `optional` for GET/HEAD/OPTIONS, `required` otherwise. */
    auth?: AuthMode;
    /** Accept the API key as `?token=` (WebSocket handshakes, where browsers cannot set headers). */
    queryToken?: boolean;
    /** Accept the API key as the password of HTTP Basic (git's credential helpers; hosting/git-http.ts). */
    basicAuth?: boolean;
    /** Replay writes carrying an Idempotency-Key (default true for POST, PATCH, PUT, DELETE). */
    idempotent?: boolean;
    /** Counts against the registrations-per-address window (POST /agents). */
    registration?: boolean;
  }
}

/** The Fastify instance routes are written against: TypeBox types for params, bodies and replies. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
