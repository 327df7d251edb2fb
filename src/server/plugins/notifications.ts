/**
 * Runs the notification dispatcher (src/core/notifications/notifications.ts) for the app's lifetime: it hears
 * every event on the bus and delivers webhooks in the background. On close it stops listening,
 * aborts the deliveries in flight (their rows stay due for the next start) and waits at most the
 * shutdown grace (2 s by default) for them to put their rows back, however many rows are pending.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  type NotificationDispatcher,
  type NotificationDispatcherOptions,
  startNotificationDispatcher,
} from '../../core/notifications/notifications.js';

declare module 'fastify' {
  interface FastifyInstance {
    notifications: NotificationDispatcher | null;
  }
}

export type NotificationsOptions = Omit<NotificationDispatcherOptions, 'onError'>;

async function notificationsPlugin(
  app: FastifyInstance,
  options: { dispatcher: NotificationsOptions | false },
): Promise<void> {
  if (options.dispatcher === false) {
    app.decorate('notifications', null);
    return;
  }
  const dispatcher = startNotificationDispatcher(app.deps, {
    ...options.dispatcher,
    onError: (error) => app.log.warn({ err: error }, 'notification dispatch failed'),
  });
  app.decorate('notifications', dispatcher);
  app.addHook('preClose', async () => {
    await dispatcher.close();
  });
}

/** Starts webhook delivery of notifications (or not, with `dispatcher: false`). */
export const notifications = fp(notificationsPlugin, {
  name: 'gitswarm-notifications',
  fastify: '5.x',
  dependencies: ['gitswarm-core'],
});
