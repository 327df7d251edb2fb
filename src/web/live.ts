/**
 * Live activity for every page: one WebSocket (`/api/v1/ws`, subscribed to all readable
 * repositories) while an API key is set; without a key (the WebSocket needs one) the public feed is
 * polled every second instead. A lost connection is shown and retried with backoff; after it comes
 * back, listeners get a `null` event ("you may have missed events: reload").
 */
import { api, apiKey, onApiKeyChange, withQuery } from './api.js';
import type { ActivityEvent, LiveStatus } from './types.js';

/** A live event, or null: reconnected, events may have been missed (reload). */
export type LiveListener = (event: ActivityEvent | null) => void;

const POLL_MS = 1000;
const MAX_BACKOFF_MS = 8000;

const eventListeners = new Set<LiveListener>();
const statusListeners = new Set<(status: LiveStatus) => void>();
/** connecting | live | polling | offline */
let status: LiveStatus = 'connecting';
let socket: WebSocket | null = null;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let attempts = 0;
let generation = 0;
/** Ids of events already given out while polling (the windows overlap by a millisecond). */
const seen = new Set<string>();

function setStatus(next: LiveStatus): void {
  if (next === status) return;
  status = next;
  for (const listener of statusListeners) listener(status);
}

function dispatch(event: ActivityEvent | null): void {
  for (const listener of eventListeners) {
    try {
      listener(event);
    } catch (error) {
      console.error(error);
    }
  }
}

function stop() {
  generation += 1;
  clearTimeout(retryTimer);
  clearTimeout(pollTimer);
  if (socket) {
    socket.onclose = null;
    socket.close();
    socket = null;
  }
}

function retryLater(mine: number, run: (mine: number) => void): void {
  const delay = Math.min(250 * 2 ** attempts, MAX_BACKOFF_MS);
  attempts += 1;
  retryTimer = setTimeout(() => {
    if (mine === generation) run(mine);
  }, delay);
}

function connect(mine: number): void {
  const key = apiKey();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // Browsers cannot set headers on a WebSocket: the key goes in the handshake's query (never logged).
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws?token=${encodeURIComponent(key ?? '')}`);
  socket = ws;
  const wasLost = attempts > 0;
  ws.onmessage = (message: MessageEvent<string>) => {
    const data = JSON.parse(message.data) as { type: string; event?: ActivityEvent };
    if (data.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe' }));
    else if (data.type === 'subscribed') {
      attempts = 0;
      setStatus('live');
      if (wasLost) dispatch(null);
    } else if (data.type === 'event' && data.event) dispatch(data.event);
  };
  ws.onclose = () => {
    if (mine !== generation) return;
    socket = null;
    setStatus('offline');
    retryLater(mine, connect);
  };
}

function poll(mine: number, since: string): void {
  api<{ activity: ActivityEvent[] }>(withQuery('/activity', { limit: 200, after: since }))
    .then(({ activity }) => {
      if (mine !== generation) return;
      const lost = attempts > 0;
      attempts = 0;
      setStatus('polling');
      if (lost) dispatch(null);
      // Newest first from the API; listeners get them in order, each once.
      for (const event of [...activity].reverse()) {
        if (seen.has(event.id)) continue;
        seen.add(event.id);
        dispatch(event);
      }
      if (seen.size > 5000) seen.clear();
      // One millisecond back: `after` is exclusive, and two events may share a timestamp.
      const newest = activity[0] ? new Date(Date.parse(activity[0].created_at) - 1).toISOString() : since;
      pollTimer = setTimeout(() => mine === generation && poll(mine, newest), POLL_MS);
    })
    .catch(() => {
      if (mine !== generation) return;
      setStatus('offline');
      retryLater(mine, (again) => poll(again, since));
    });
}

function start() {
  stop();
  attempts = 0;
  setStatus('connecting');
  const mine = generation;
  if (apiKey()) connect(mine);
  else {
    // The first poll a second from now, as every later one, asking from a second before now:
    // nothing is missed, and the page's own first requests have the server to themselves.
    const since = new Date(Date.now() - POLL_MS).toISOString();
    pollTimer = setTimeout(() => mine === generation && poll(mine, since), POLL_MS);
  }
}

let started = false;
function ensureStarted() {
  if (started) return;
  started = true;
  onApiKeyChange(start);
  start();
}

/** Calls `listener(event)` for each live activity event (null: reconnected, reload); returns the unsubscribe. */
export function onLiveEvent(listener: LiveListener): () => void {
  ensureStarted();
  eventListeners.add(listener);
  return () => {
    eventListeners.delete(listener);
  };
}

/** Calls `listener(status)` on each change of the connection's status; returns the unsubscribe. */
export function onLiveStatus(listener: (status: LiveStatus) => void): () => void {
  ensureStarted();
  statusListeners.add(listener);
  listener(status);
  return () => {
    statusListeners.delete(listener);
  };
}
