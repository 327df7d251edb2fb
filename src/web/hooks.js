/** Data loading for pages: fetch, then fetch again when a live event concerns the data. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { onLiveEvent, onLiveStatus } from './live.js';

/**
 * Runs `load()` now and whenever `deps` change; with `live(event)`, again after each live event it
 * returns true for (and after a reconnect). Keeps the last data while reloading (no flicker, no
 * layout shift) and drops answers that arrive out of order.
 */
export function useResource(load, deps, live) {
  const [state, setState] = useState({ data: undefined, error: null });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const liveRef = useRef(live);
  liveRef.current = live;

  useEffect(() => {
    let scheduled = false;
    let alive = true;
    const run = () => {
      const mine = ++generation.current;
      loadRef.current().then(
        (data) => mine === generation.current && setState({ data, error: null }),
        (error) => mine === generation.current && setState((old) => ({ data: old.data, error })),
      );
    };
    setState({ data: undefined, error: null });
    run();
    const off = onLiveEvent((event) => {
      if (!liveRef.current) return;
      if (event !== null && !liveRef.current(event)) return;
      // Events of one message cause one reload; no timer (a background tab's timers are throttled).
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        if (alive) run();
      });
    });
    return () => {
      alive = false;
      off();
      generation.current += 1;
    };
    // The caller names what the load depends on (`deps`).
  }, deps);
  return state;
}

/** The live connection's status: connecting | live | polling | offline. */
export function useLiveStatus() {
  const [status, setStatus] = useState('connecting');
  useEffect(() => onLiveStatus(setStatus), []);
  return status;
}

/** The live events for which `accept(event)` holds, newest first, at most `max`. */
export function useLiveEvents(accept, max = 200) {
  const [events, setEvents] = useState([]);
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
