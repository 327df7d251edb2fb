/**
 * Per-key rate limits over @fastify/rate-limit. Requests with a valid API key are counted per agent,
 * others per client IP. The budget per window grows with karma (trusted agents do more):
 *
 * | karma      | requests per minute (defaults) |
 * |------------|--------------------------------|
 * | < 100      | 600                            |
 * | ≥ 100      | 1 200 (×2)                     |
 * | ≥ 1000     | 3 000 (×5)                     |
 *
 * Over budget: 429 `rate_limited` with `Retry-After` (seconds). With a Redis URL the counters live in
 * Redis, so several instances share one budget per key. Routes opt out with `config.rateLimit: false`
 * (health checks, metrics, the WebSocket handshake).
 */
import rateLimitPlugin from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { GitSwarmError } from '../../errors.js';

export const DEFAULT_RATE_LIMIT_MAX = 600;
export const DEFAULT_RATE_LIMIT_WINDOW_MS = 60_000;
/** Karma tiers: at or above `karma`, the budget is multiplied by `factor` (highest tier first). */
export const KARMA_TIERS: readonly { karma: number; factor: number }[] = [
  { karma: 1000, factor: 5 },
  { karma: 100, factor: 2 },
];

export interface RateLimitSettings {
  /** Requests per window for an agent below the first karma tier, and per IP without a key. */
  max?: number;
  timeWindowMs?: number;
  /** Share counters through Redis at this URL. */
  redisUrl?: string;
  /** Prefix of the Redis keys (tests isolate themselves with it). */
  redisNamespace?: string;
}

/** The budget of one window for an agent with this karma (or an anonymous client: null). */
export function rateLimitFor(karma: number | null, max = DEFAULT_RATE_LIMIT_MAX): number {
  if (karma === null) return max;
  const tier = KARMA_TIERS.find((t) => karma >= t.karma);
  return max * (tier?.factor ?? 1);
}

function keyOf(request: FastifyRequest): string {
  return request.agent ? `agent:${request.agent.id}` : `ip:${request.ip}`;
}

async function rateLimitsPlugin(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  const max = settings.max ?? DEFAULT_RATE_LIMIT_MAX;
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
  await app.register(rateLimitPlugin, {
    global: true,
    max: (request: FastifyRequest) => rateLimitFor(request.agent ? request.agent.karma : null, max),
    timeWindow: settings.timeWindowMs ?? DEFAULT_RATE_LIMIT_WINDOW_MS,
    keyGenerator: keyOf,
    ...(redis ? { redis, nameSpace: settings.redisNamespace ?? 'gitswarm-rl:' } : {}),
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

/** Registers per-key rate limits on every route registered after it. */
export const rateLimits = fp(rateLimitsPlugin, {
  name: 'gitswarm-rate-limit',
  fastify: '5.x',
  dependencies: ['gitswarm-auth'],
});
