/**
 * Runs this instance's stabilization runner (hosting/stabilize-jobs.ts) for the app's lifetime:
 * it starts once the app is ready (taking over runs a dead instance left) and, on close, stops
 * the runs in flight and puts them back in the queue before the store closes.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type StabilizeRunner, startStabilizeRunner } from '../../hosting/stabilize-jobs.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's stabilization runner; null until the app is ready. */
    stabilizeRunner: StabilizeRunner | null;
  }
}

async function stabilizeRunnerPlugin(app: FastifyInstance): Promise<void> {
  let runner: StabilizeRunner | null = null;
  app.decorate('stabilizeRunner', {
    getter: () => runner,
  });
  app.addHook('onReady', async () => {
    runner = startStabilizeRunner(app.deps, {
      ...app.hosting.stabilizeRuns,
      instanceId: app.hosting.instanceId,
      allowUnsandboxed: app.hosting.allowUnsandboxed,
      onError: (error) => app.log.warn({ err: error }, 'stabilization runner'),
    });
  });
  app.addHook('preClose', async () => {
    await runner?.close();
  });
}

/** Starts the stabilization runner when the app is ready; stops it on close. */
export const stabilizeRunner = fp(stabilizeRunnerPlugin, {
  name: 'gitswarm-stabilize-runner',
  fastify: '5.x',
  dependencies: ['gitswarm-core'],
});
