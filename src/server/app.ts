/**
 * The HTTP server as a Fastify app that is built but not listening (serve.ts listens; tests use
 * `inject` or listen on port 0). The core does the work; the app adds transport: auth, rate limits,
 * validation, errors, events over WebSocket, notifications, metrics and the OpenAPI document.
 *
 * Routes live under `/api/v1`, one encapsulated plugin per area (routes/<area>.ts). Cross-cutting
 * plugins (plugins/*.ts) are fastify-plugin-wrapped and named, registered before the routes.
 */
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyServerOptions } from 'fastify';
import type { EventBus } from '../core/activity/events.js';
import type { RegistrationMode } from '../core/agents/invites.js';
import { GitHubClient } from '../github/client.js';
import type { GitHubConfig } from '../github/config.js';
import type { GitHubOutboundOptions } from '../github/outbound.js';
import { type HostingOptions, hostingConfig } from '../hosting/config.js';
import { GIT_HTTP_PREFIX, gitHttpRoutes } from '../hosting/git-http.js';
import type { Store } from '../store/index.js';
import { type Clock, systemClock } from '../util/clock.js';
import { openApiOptions } from './openapi.js';
import { auth } from './plugins/auth.js';
import { core } from './plugins/core.js';
import { clientErrorHandler, errors, frameworkErrors } from './plugins/errors.js';
import { eventsBus } from './plugins/events-bus.js';
import { githubOutbound } from './plugins/github-outbound.js';
import { idempotency } from './plugins/idempotency.js';
import { inputGuard } from './plugins/input-guard.js';
import { metrics } from './plugins/metrics.js';
import { type NotificationsOptions, notifications } from './plugins/notifications.js';
import { type RateLimitSettings, rateLimits } from './plugins/rate-limit.js';
import { requestId, requestIdFor } from './plugins/request-id.js';
import { stabilizeRunner } from './plugins/stabilize-runner.js';
import { upstream } from './plugins/upstream.js';
import { type WebsocketOptions, websocket } from './plugins/websocket.js';
import { activityRoutes } from './routes/activity.js';
import { adminRoutes } from './routes/admin.js';
import { agentRoutes } from './routes/agents.js';
import { cloneRoutes } from './routes/clone.js';
import { conflictRoutes } from './routes/conflicts.js';
import { councilRoutes } from './routes/council.js';
import { fileRoutes } from './routes/files.js';
import { githubProxyRoutes } from './routes/github-proxies.js';
import { githubWebhookRoutes } from './routes/github-webhooks.js';
import { healthRoutes } from './routes/health.js';
import { importRoutes } from './routes/imports.js';
import { type McpRouteOptions, mcpRoutes } from './routes/mcp.js';
import { metaRoutes } from './routes/meta.js';
import { repoRoutes } from './routes/repos.js';
import { stabilizationRoutes } from './routes/stabilization.js';
import { streamRoutes } from './routes/streams.js';
import { taskRoutes } from './routes/tasks.js';
import { type WebOptions, webRoutes } from './routes/web.js';
import { lazySerializers, lazyTypeBoxValidator } from './schema-compilers.js';
import type { ServerRoleLists } from './server-roles.js';
import type { App } from './types.js';

export const API_PREFIX = '/api/v1';
/** Largest request body accepted (1 MiB); larger ones get 413 `payload_too_large`. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface BuildAppOptions {
  store: Store;
  clock?: Clock;
  /** An events bus made by the caller; default: Redis pub/sub when `redisUrl` is set, else in-process. */
  events?: EventBus;
  /** Redis for the events bus and rate-limit counters, so several instances act as one. */
  redisUrl?: string;
  /** Redis channel of the events bus (default `gitswarm:events`; tests isolate themselves). */
  redisChannel?: string;
  /** Fastify logger options (pino); default: no logging. */
  logger?: boolean | Record<string, unknown>;
  /** Rate-limit settings, or false to turn limits off (benchmarks). */
  rateLimit?: RateLimitSettings | false;
  /** Notification delivery settings, or false to deliver nothing. */
  notifications?: NotificationsOptions | false;
  websocket?: WebsocketOptions;
  bodyLimit?: number;
  /** Allowed CORS origins (default: any origin; keys travel in a header, not cookies). */
  corsOrigin?: string | string[] | boolean;
  /** Trust X-Forwarded-* (behind a load balancer), so rate limits count real client IPs. */
  trustProxy?: boolean;
  /** Who may register (GITSWARM_REGISTRATION): open (default), invite or closed. */
  registration?: RegistrationMode;
  /** Server admins and trusted agents by id or name (GITSWARM_ADMINS, GITSWARM_TRUSTED_AGENTS). */
  roles?: ServerRoleLists;
  /** Mode C: the data dir of server-held repositories and their limits (default: none held). */
  hosting?: HostingOptions;
  /** The server's public base URL for clone URLs (GITSWARM_PUBLIC_URL); default: each request's host. */
  publicUrl?: string;
  /** MCP at /mcp: allowed Host names and Origins (DNS-rebinding protection), watcher interval. */
  mcp?: McpRouteOptions;
  /** The GitHub App's client (statuses and the PR comment back, clone URLs, proxies); default none. */
  githubClient?: GitHubClient | null;
  /** Retries of deliveries to GitHub (tries, first delay). */
  githubOutbound?: Omit<GitHubOutboundOptions, 'onError'>;
  /** The GitHub App's settings (src/github/config.ts); without a webhook secret, webhooks answer 503. */
  github?: GitHubConfig;
  /** The dashboard at `/` (routes/web.ts): where its build is, or false to serve none. */
  web?: WebOptions | false;
}

/** The App's REST client when its id and private key are configured (webhooks need neither). */
function appClientOf(config: GitHubConfig | undefined): GitHubClient | null {
  if (!config?.appId || !config.privateKey) return null;
  return new GitHubClient({ appId: config.appId, privateKey: config.privateKey, apiUrl: config.apiUrl });
}

/** Removes `token=` query values from logged URLs: keys never reach the logs. */
function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&]*/gi, '$1[redacted]');
}

function loggerOptions(logger: BuildAppOptions['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  return {
    ...(logger === true ? {} : logger),
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
      }),
    },
  };
}

/** Builds the app (not listening). Close it with `app.close()`; the store stays the caller's. */
export async function buildApp(options: BuildAppOptions): Promise<App> {
  const app = Fastify({
    logger: loggerOptions(options.logger),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: options.trustProxy ?? false,
    forceCloseConnections: 'idle',
    frameworkErrors,
    clientErrorHandler,
    schemaController: { compilersFactory: { buildSerializer: lazySerializers } },
  }).withTypeProvider() as unknown as App;
  // TypeBox validation: bodies are checked as sent (no coercion, unknown fields refused); params and
  // query strings are converted from text first.
  // An absent body counts as `{}`: routes whose fields are all optional accept a bare POST.
  app.setValidatorCompiler((route) => {
    const validate = lazyTypeBoxValidator(route);
    return route.httpPart === 'body' ? (value: unknown) => validate(value ?? {}) : validate;
  });

  // Graceful close: Node stops accepting at once and closes the connections that are idle then; a
  // keep-alive connection that finishes its request afterwards is closed by this sweep, so close
  // waits for requests in flight and no longer.
  let sweeper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    sweeper = setInterval(() => app.server.closeIdleConnections(), 50);
    sweeper.unref();
  });
  app.addHook('onClose', async () => clearInterval(sweeper));

  app.decorate('hosting', hostingConfig(options.hosting));
  await app.register(errors);
  // First, so it sees every route (it documents the routes added after it).
  await app.register(swagger, openApiOptions());
  await app.register(requestId);
  await app.register(eventsBus, {
    events: options.events,
    redisUrl: options.redisUrl,
    channel: options.redisChannel,
  });
  await app.register(core, { store: options.store, clock: options.clock ?? systemClock });
  await app.register(upstream);
  await app.register(githubOutbound, {
    client: options.githubClient === undefined ? appClientOf(options.github) : options.githubClient,
    outbound: options.githubOutbound,
  });
  await app.register(auth, { roles: options.roles, registration: options.registration });
  await app.register(inputGuard);
  if (options.rateLimit !== false) {
    await app.register(rateLimits, {
      redisUrl: options.redisUrl,
      redisNamespace: options.redisChannel ? `${options.redisChannel}:rl:` : undefined,
      ...options.rateLimit,
    });
  }
  await app.register(idempotency);
  await app.register(metrics);
  await app.register(cors, {
    origin: options.corsOrigin ?? '*',
    exposedHeaders: [
      'x-request-id',
      'retry-after',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
      'idempotent-replayed',
    ],
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { config: { auth: 'none' }, schema: { hide: true } }, async () => app.swagger());
  await app.register(websocket, options.websocket ?? {});
  await app.register(notifications, { dispatcher: options.notifications ?? {} });
  await app.register(stabilizeRunner);
  await app.register(healthRoutes);
  await app.register(gitHttpRoutes, { prefix: GIT_HTTP_PREFIX });
  await app.register(mcpRoutes, options.mcp ?? {});
  if (options.web !== false) await app.register(webRoutes, options.web ?? {});
  await app.register(
    async (api: App) => {
      await api.register(metaRoutes);
      await api.register(agentRoutes);
      await api.register(adminRoutes);
      await api.register(repoRoutes);
      await api.register(cloneRoutes, { publicUrl: options.publicUrl });
      await api.register(activityRoutes);
      await api.register(streamRoutes);
      await api.register(conflictRoutes);
      await api.register(fileRoutes);
      await api.register(githubProxyRoutes);
      await api.register(stabilizationRoutes);
      await api.register(taskRoutes);
      await api.register(councilRoutes);
      await api.register(importRoutes);
      await api.register(githubWebhookRoutes, { webhookSecret: options.github?.webhookSecret ?? null });
    },
    { prefix: API_PREFIX },
  );
  return app;
}

export type { App, FastifyBaseLogger };
