/**
 * The dashboard's only way to the server: GET requests under /api/v1, with the API key typed into
 * the page (kept in sessionStorage for this tab, sent as a header, never put in the page's URL).
 */
const KEY_ITEM = 'gitswarm.apiKey';
const keyListeners = new Set();

/** The API key of this tab, or null (anonymous: public repositories only). */
export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_ITEM);
  } catch {
    return null;
  }
}

/** Keeps `key` for this tab (or forgets it with null) and tells the listeners. */
export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    // Storage refused (private mode): the key lives until the page closes.
  }
  for (const listener of keyListeners) listener(key);
}

/** Calls `listener(key)` whenever the key changes; returns the unsubscribe. */
export function onApiKeyChange(listener) {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

/** An error answer of the API: its HTTP status and the stable code of `{error: {code, message}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GETs `/api/v1${path}` and resolves to the parsed JSON; rejects with an ApiError on 4xx/5xx. */
export async function api(path) {
  const key = apiKey();
  const response = await fetch(`/api/v1${path}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body.error?.code ?? 'http_error',
      body.error?.message ?? `${response.status} ${response.statusText}`,
    );
  }
  return body;
}

/** Like `api`, but resolves to `fallback` when the answer is one of `statuses` (a fact that is absent). */
export async function apiOr(path, fallback, statuses = [404]) {
  try {
    return await api(path);
  } catch (error) {
    if (error instanceof ApiError && statuses.includes(error.status)) return fallback;
    throw error;
  }
}

/** `path` with `query`'s defined values as a query string. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
