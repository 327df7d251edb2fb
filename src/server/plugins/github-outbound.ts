/**
 * The GitHub App's client for the routes (`githubClient`: null when no App is configured) and the
 * reports back to GitHub (src/github/outbound.ts), fed by the events bus for the app's lifetime.
 * Deliveries never hold up the request whose event caused them; on close the pending retries are
 * dropped and the tries in flight awaited.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { GitHubClient } from '../../github/client.js';
import { GitHubOutbound, type GitHubOutboundOptions } from '../../github/outbound.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The GitHub App's client, or null when the server has no App (plugins/github-outbound.ts). */
    githubClient: GitHubClient | null;
    /** Reports to GitHub (statuses, the PR comment), or null without an App. */
    githubOutbound: GitHubOutbound | null;
  }
}

export interface GitHubOutboundPluginOptions {
  client?: GitHubClient | null;
  outbound?: Omit<GitHubOutboundOptions, 'onError'>;
}

async function githubOutboundPlugin(
  app: FastifyInstance,
  options: GitHubOutboundPluginOptions,
): Promise<void> {
  const client = options.client ?? null;
  app.decorate('githubClient', client);
  if (!client) {
    app.decorate('githubOutbound', null);
    return;
  }
  const outbound = new GitHubOutbound(app.deps, client, {
    ...options.outbound,
    onError: (error, context) =>
      app.log.warn(
        {
          err: error instanceof Error ? { name: error.name, message: error.message } : String(error),
          ...context,
        },
        'GitHub delivery failed',
      ),
  });
  app.decorate('githubOutbound', outbound);
  const unsubscribe = app.events.subscribe((event) => outbound.handle(event));
  app.addHook('preClose', async () => {
    unsubscribe();
    await outbound.close();
  });
}

/** Decorates the app with `githubClient` and `githubOutbound` (needs the core plugin first). */
export const githubOutbound = fp(githubOutboundPlugin, {
  name: 'gitswarm-github-outbound',
  fastify: '5.x',
  dependencies: ['gitswarm-core'],
});
