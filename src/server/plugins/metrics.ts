/**
 * Prometheus metrics at `/metrics`: a histogram of HTTP request durations by method, route pattern and
 * status, and prom-client's default process metrics. Each app has its own registry, so several apps in
 * one process (tests, two instances) do not collide.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gitswarm_' });
  const duration = new Histogram({
    name: 'gitswarm_http_request_duration_seconds',
    help: 'Duration of HTTP requests in seconds, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.decorate('metrics', registry);

  app.addHook('onResponse', async (request, reply) => {
    // Route patterns, not raw URLs: ids in paths would explode the label set.
    const route = request.is404 ? 'not_found' : (request.routeOptions.url ?? 'unknown');
    duration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get(
    '/metrics',
    { config: { rateLimit: false, auth: 'none' }, schema: { hide: true } },
    async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    },
  );
}

/** Serves `/metrics` and records request durations. */
export const metrics = fp(metricsPlugin, { name: 'gitswarm-metrics', fastify: '5.x' });
