/**
 * The events bus the server's core publishes activity to. In-process by default; with a Redis URL,
 * every instance publishes to one Redis channel and hears every instance's events from it, so
 * WebSocket subscribers and notification deliveries see all events whichever instance served the write.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { createLocalEventBus, type EventBus, type EventListener } from '../../core/activity/events.js';
import type { ActivityEntry } from '../../store/index.js';

export const DEFAULT_EVENTS_CHANNEL = 'gitswarm:events';

export interface RedisEventBus extends EventBus {
  /** Unsubscribes and disconnects both Redis connections. */
  close(): Promise<void>;
}

export interface RedisEventBusOptions {
  channel?: string;
  /** Told about publish failures and malformed messages; the bus never throws at a publisher. */
  onError?: (error: unknown) => void;
}

/** Opens a publisher and a subscriber connection and resolves once the subscription is active. */
export async function createRedisEventBus(
  url: string,
  options: RedisEventBusOptions = {},
): Promise<RedisEventBus> {
  const channel = options.channel ?? DEFAULT_EVENTS_CHANNEL;
  const onError = options.onError ?? (() => {});
  const connection = { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5000 };
  const publisher = new Redis(url, connection);
  const subscriber = new Redis(url, connection);
  publisher.on('error', onError);
  subscriber.on('error', onError);
  const listeners = new Set<EventListener>();
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    await subscriber.subscribe(channel);
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    throw error;
  }
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    let event: ActivityEntry;
    try {
      event = JSON.parse(message) as ActivityEntry;
    } catch (error) {
      onError(error);
      return;
    }
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        onError(error);
      }
    }
  });
  return {
    publish(event) {
      publisher.publish(channel, JSON.stringify(event)).catch(onError);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
    },
  };
}

export interface EventsBusOptions {
  /** A bus made by the caller (closed by the caller). */
  events?: EventBus;
  /** Use Redis pub/sub at this URL (closed with the app). */
  redisUrl?: string;
  channel?: string;
}

async function eventsBusPlugin(app: FastifyInstance, options: EventsBusOptions): Promise<void> {
  if (options.events) {
    app.decorate('events', options.events);
    return;
  }
  if (options.redisUrl) {
    const bus = await createRedisEventBus(options.redisUrl, {
      channel: options.channel,
      onError: (error) => app.log.warn({ err: error }, 'events bus (redis) error'),
    });
    app.decorate('events', bus);
    app.addHook('onClose', () => bus.close());
    return;
  }
  app.decorate('events', createLocalEventBus());
}

/** Decorates the app with `events`: the given bus, a Redis bus, or an in-process one. */
export const eventsBus = fp(eventsBusPlugin, { name: 'gitswarm-events-bus', fastify: '5.x' });
