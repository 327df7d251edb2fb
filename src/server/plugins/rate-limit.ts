/**
 * Request limits, over @fastify/rate-limit and two window counters of our own:
 *
 * - per key: requests with a valid API key are counted per agent, others per client address;
 *   600 per minute by default. Server admins and trusted agents (GITSWARM_ADMINS,
 *   GITSWARM_TRUSTED_AGENTS) get ×5. Karma does not raise it: karma can be farmed, the operator's
 *   lists cannot.
 * - per address: every limited request also counts against its client address (1 200 per minute by
 *   default), so many keys from one address do not multiply its budget.
 * - registrations per address: POST /agents, 10 per hour by default.
 *
 * Over any of them: 429 `rate_limited` with `Retry-After` (seconds). With a Redis URL the counters
 * live in Redis, so several instances share one budget; Redis trouble lets requests through rather
 * than taking the API down. Routes opt out with `config.rateLimit: false` (health checks, metrics,
 * the WebSocket handshake, which has its own connection limits).
 */
import rateLimitPlugin from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { GitSwarmError } from '../../errors.js';
import type { Agent } from '../../store/index.js';

export const DEFAULT_RATE_LIMIT_MAX = 600;
export const DEFAULT_RATE_LIMIT_WINDOW_MS = 60_000;
/** How many times the per-key budget trusted agents and server admins get. */
export const TRUSTED_FACTOR = 5;
export const DEFAULT_PER_ADDRESS_MAX = 1200;
export const DEFAULT_REGISTRATIONS_MAX = 10;
export const DEFAULT_REGISTRATION_WINDOW_MS = 60 * 60 * 1000;

export interface RateLimitSettings {
  /** Requests per window per key (per address without a key). */
  max?: number;
  timeWindowMs?: number;
  /** Requests per window per client address, whatever the key (GITSWARM_RATE_LIMIT_PER_ADDRESS). */
  perAddressMax?: number;
  /** Registrations per client address per registration window (GITSWARM_REGISTRATIONS_PER_HOUR). */
  registrationsMax?: number;
  registrationWindowMs?: number;
  /** Share counters through Redis at this URL. */
  redisUrl?: string;
  /** Prefix of the Redis keys (tests isolate themselves with it). */
  redisNamespace?: string;
}

/** The per-key budget of one window: ×TRUSTED_FACTOR for a trusted agent (or admin). */
export function rateLimitFor(trusted: boolean, max = DEFAULT_RATE_LIMIT_MAX): number {
  return trusted ? max * TRUSTED_FACTOR : max;
}

function keyOf(request: FastifyRequest): string {
  return request.agent ? `agent:${request.agent.id}` : `ip:${request.ip}`;
}

/** Counts hits per key in fixed windows. */
interface WindowCounter {
  hit(key: string): Promise<{ count: number; resetInMs: number }>;
}

const MAX_MEMORY_WINDOWS = 100_000;

function memoryCounter(windowMs: number): WindowCounter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    async hit(key) {
      const now = Date.now();
      let window = windows.get(key);
      if (!window || window.resetAt <= now) {
        if (windows.size >= MAX_MEMORY_WINDOWS) {
          for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
        }
        window = { count: 0, resetAt: now + windowMs };
        windows.set(key, window);
      }
      window.count += 1;
      return { count: window.count, resetInMs: window.resetAt - now };
    },
  };
}

const HIT_SCRIPT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {c, redis.call('PTTL', KEYS[1])}`;

function redisCounter(redis: Redis, prefix: string, windowMs: number): WindowCounter {
  return {
    async hit(key) {
      const [count, ttl] = (await redis.eval(HIT_SCRIPT, 1, prefix + key, windowMs)) as [number, number];
      return { count, resetInMs: ttl > 0 ? ttl : windowMs };
    },
  };
}

function refuse(reply: FastifyReply, what: string, max: number, resetInMs: number): never {
  const seconds = Math.max(1, Math.ceil(resetInMs / 1000));
  reply.header('retry-after', String(seconds));
  throw new GitSwarmError(
    'rate_limited',
    `Limit of ${max} ${what} per client address exceeded; retry in ${seconds} seconds.`,
    { hint: 'Wait for the Retry-After header’s number of seconds, then retry.' },
  );
}

async function rateLimitsPlugin(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  const max = settings.max ?? DEFAULT_RATE_LIMIT_MAX;
  const windowMs = settings.timeWindowMs ?? DEFAULT_RATE_LIMIT_WINDOW_MS;
  const perAddressMax = settings.perAddressMax ?? DEFAULT_PER_ADDRESS_MAX;
  const registrationsMax = settings.registrationsMax ?? DEFAULT_REGISTRATIONS_MAX;
  const registrationWindowMs = settings.registrationWindowMs ?? DEFAULT_REGISTRATION_WINDOW_MS;
  const namespace = settings.redisNamespace ?? 'gitswarm-rl:';
  let redis: Redis | undefined;
  if (settings.redisUrl) {
    redis = new Redis(settings.redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 5000,
    });
    redis.on('error', (error) => app.log.warn({ err: error }, 'rate limit store (redis) error'));
    await redis.connect();
    const client = redis;
    app.addHook('onClose', async () => {
      await client.quit().catch(() => client.disconnect());
    });
  }
  const counter = (name: string, ms: number) =>
    redis ? redisCounter(redis, `${namespace}${name}:`, ms) : memoryCounter(ms);
  const perAddress = counter('addr', windowMs);
  const registrations = counter('reg', registrationWindowMs);
  const hit = async (c: WindowCounter, key: string) => {
    try {
      return await c.hit(key);
    } catch (error) {
      app.log.warn({ err: error }, 'rate limit counter failed; request let through');
      return { count: 0, resetInMs: 0 };
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config;
    if (request.is404 || config?.rateLimit === false) return;
    if (config?.registration) {
      const { count, resetInMs } = await hit(registrations, request.ip);
      if (count > registrationsMax) refuse(reply, 'registrations', registrationsMax, resetInMs);
    }
    const { count, resetInMs } = await hit(perAddress, request.ip);
    if (count > perAddressMax) refuse(reply, 'requests', perAddressMax, resetInMs);
  });

  await app.register(rateLimitPlugin, {
    global: true,
    max: (request: FastifyRequest) => rateLimitFor(app.roles.isTrusted(request.agent as Agent | null), max),
    timeWindow: windowMs,
    keyGenerator: keyOf,
    ...(redis ? { redis, nameSpace: namespace } : {}),
    // Redis trouble must not take the API down with it.
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new GitSwarmError(
        'rate_limited',
        `Rate limit of ${context.max} requests per window exceeded; retry in ${context.after}.`,
        { hint: 'Wait for the Retry-After header’s number of seconds, then retry.' },
      ),
  });
}

/** Registers the per-key, per-address and registration limits on every route registered after it. */
export const rateLimits = fp(rateLimitsPlugin, {
  name: 'gitswarm-rate-limit',
  fastify: '5.x',
  dependencies: ['gitswarm-auth'],
});
