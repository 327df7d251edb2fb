/** Data loading for pages: fetch, then fetch again when a live event concerns the data. */
import type { Ref } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { onLiveEvent, onLiveStatus } from './live.js';
import type { ActivityEvent, LiveStatus } from './types.js';

/** A resource's state: its last data (undefined until the first load) and the last error. */
export interface ResourceState<T> {
  data: T | undefined;
  error: unknown;
}

/**
 * Runs `load()` now and whenever `deps` change; with `live(event)`, again after each live event it
 * returns true for (and after a reconnect). Keeps the last data while reloading (no flicker, no
 * layout shift). At most one load is in flight: events meanwhile cause one more when it ends, and
 * with `minIntervalMs` loads start at least that far apart (a busy swarm's events must not turn
 * into a request storm against the reader's rate limit). The first load starts as the component
 * mounts, not after the first paint (when Preact runs plain effects): a page's requests leave at once.
 * While `enabled` is false nothing loads (the state stays "loading").
 */
export function useResource<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  live?: (event: ActivityEvent) => boolean,
  { minIntervalMs = 0, enabled = true }: { minIntervalMs?: number; enabled?: boolean } = {},
): ResourceState<T> {
  const [state, setState] = useState<ResourceState<T>>({ data: undefined, error: null });
  const loadRef = useRef(load);
  loadRef.current = load;
  const liveRef = useRef(live);
  liveRef.current = live;

  useLayoutEffect(() => {
    if (!enabled) return;
    let alive = true;
    let inFlight = false;
    let queued = false;
    let lastStart = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = (): void => {
      if (!alive) return;
      if (inFlight) {
        queued = true;
        return;
      }
      const wait = lastStart + minIntervalMs - Date.now();
      if (wait > 0) {
        timer ??= setTimeout(() => {
          timer = undefined;
          run();
        }, wait);
        return;
      }
      inFlight = true;
      lastStart = Date.now();
      loadRef
        .current()
        .then(
          (data) => {
            if (alive) setState({ data, error: null });
          },
          (error: unknown) => {
            if (alive) setState((old) => ({ data: old.data, error }));
          },
        )
        .finally(() => {
          inFlight = false;
          if (queued) {
            queued = false;
            run();
          }
        });
    };
    // A new `deps` starts afresh (on mount the state is fresh already: no render for nothing).
    setState((old) =>
      old.data === undefined && old.error === null ? old : { data: undefined, error: null },
    );
    run();
    const off = onLiveEvent((event) => {
      if (!liveRef.current) return;
      if (event !== null && !liveRef.current(event)) return;
      run();
    });
    return () => {
      alive = false;
      off();
      clearTimeout(timer);
    };
    // The caller names what the load depends on (`deps`).
  }, [...deps, enabled]);
  return state;
}

/**
 * Whether a section should load: at once when it is on screen as the page mounts (or is scrolled
 * to), otherwise once `soon` (the page's first view has loaded). A page's requests for
 * what is on screen have the server to themselves; the rest follow. Gives the ref to put on the
 * section's element.
 */
export function useWhenShown(soon: boolean): [Ref<HTMLElement>, boolean] {
  const ref = useRef<HTMLElement>(null);
  const [shown, setShown] = useState(false);
  useLayoutEffect(() => {
    const element = ref.current;
    if (shown || soon || !element) return;
    let observer: IntersectionObserver | undefined;
    let alive = true;
    // Measured before the first paint, but after the page's other effects have sent their requests
    // (the measure lays the page out, a few milliseconds): an on-screen section asks at once.
    queueMicrotask(() => {
      if (!alive) return;
      const box = element.getBoundingClientRect();
      if (box.top < innerHeight && box.bottom > 0) {
        setShown(true);
        return;
      }
      observer = new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting)) setShown(true);
      });
      observer.observe(element);
    });
    return () => {
      alive = false;
      observer?.disconnect();
    };
  }, [shown, soon]);
  return [ref, shown || soon];
}

/** The live connection's status: connecting | live | polling | offline. */
export function useLiveStatus(): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>('connecting');
  useEffect(() => onLiveStatus(setStatus), []);
  return status;
}

/** The live events for which `accept(event)` holds, newest first, at most `max`. */
export function useLiveEvents(accept: (event: ActivityEvent) => boolean, max = 200): ActivityEvent[] {
  const [events, setEvents] = useState<ActivityEvent[]>([]);
  const acceptRef = useRef(accept);
  acceptRef.current = accept;
  useEffect(
    () =>
      onLiveEvent((event) => {
        if (event && acceptRef.current(event)) setEvents((old) => [event, ...old].slice(0, max));
      }),
    [max],
  );
  return events;
}
