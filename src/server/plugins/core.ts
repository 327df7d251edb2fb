/**
 * The core's dependencies as an app decorator: every route calls the same core functions as the CLI,
 * with this store, clock and events bus.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Store } from '../../store/index.js';
import type { Clock } from '../../util/clock.js';

export interface CoreOptions {
  store: Store;
  clock: Clock;
}

async function corePlugin(app: FastifyInstance, options: CoreOptions): Promise<void> {
  app.decorate('deps', { store: options.store, clock: options.clock, events: app.events });
}

/** Decorates the app with `deps` (needs the events bus plugin first). */
export const core = fp(corePlugin, {
  name: 'gitswarm-core',
  fastify: '5.x',
  dependencies: ['gitswarm-events-bus'],
});
