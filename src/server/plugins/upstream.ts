/**
 * Mode C: pushes server-held repositories to their `remote_url` after every merge, revert and
 * promotion (whichever route, council decision or stabilization run made it: the events bus tells),
 * and retries owed pushes periodically (src/hosting/upstream.ts).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { UPSTREAM_EVENTS, UpstreamPusher } from '../../hosting/upstream.js';

async function upstreamPlugin(app: FastifyInstance): Promise<void> {
  const pusher = new UpstreamPusher(app.deps, app.hosting);
  app.decorate('upstream', pusher);
  if (!app.hosting.dataDir) return;
  const fail = (error: unknown) => app.log.warn({ err: error }, 'upstream push failed');
  const unsubscribe = app.events.subscribe((event) => {
    if (event.repo_id && UPSTREAM_EVENTS.has(event.event_type)) {
      pusher.changed(event.repo_id).catch(fail);
    }
  });
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    timer = setInterval(() => pusher.retryDue().catch(fail), app.hosting.upstreamRetrySeconds * 1000);
    timer.unref();
  });
  app.addHook('onClose', async () => {
    unsubscribe();
    clearInterval(timer);
    await pusher.idle();
  });
}

/** Decorates the app with `upstream` (needs the core plugin first). */
export const upstream = fp(upstreamPlugin, {
  name: 'gitswarm-upstream',
  fastify: '5.x',
  dependencies: ['gitswarm-core'],
});
