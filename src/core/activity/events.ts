import type { ActivityEntry } from '../../store/index.js';

export type EventListener = (event: ActivityEntry) => void;

/**
 * Where recorded activity goes once its transaction commits: in-process by default; the server
 * swaps in a Redis-backed bus so every instance hears every event.
 */
export interface EventBus {
  publish(event: ActivityEntry): void;
  subscribe(listener: EventListener): () => void;
}

export function createLocalEventBus(): EventBus {
  const listeners = new Set<EventListener>();
  return {
    publish(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch {
          // A failing subscriber must not undo or block the change that was recorded.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
