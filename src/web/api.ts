/**
 * The dashboard's only way to the server: GET requests under /api/v1, with the API key typed into
 * the page (kept in sessionStorage for this tab, sent as a header, never put in the page's URL).
 */
const KEY_ITEM = 'gitswarm.apiKey';
const keyListeners = new Set<(key: string | null) => void>();

/** The API key of this tab, or null (anonymous: public repositories only). */
export function apiKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_ITEM);
  } catch {
    return null;
  }
}

/** Keeps `key` for this tab (or forgets it with null) and tells the listeners. */
export function setApiKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_ITEM, key);
    else sessionStorage.removeItem(KEY_ITEM);
  } catch {
    // Storage refused (private mode): the key lives until the page closes.
  }
  for (const listener of keyListeners) listener(key);
}

/** Calls `listener(key)` whenever the key changes; returns the unsubscribe. */
export function onApiKeyChange(listener: (key: string | null) => void): () => void {
  keyListeners.add(listener);
  return () => {
    keyListeners.delete(listener);
  };
}

/** An error answer of the API: its HTTP status and the stable code of `{error: {code, message}}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GETs `/api/v1${path}` and resolves to the parsed JSON; rejects with an ApiError on 4xx/5xx. */
export async function api<T>(path: string): Promise<T> {
  const key = apiKey();
  const response = await fetch(`/api/v1${path}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const body = (await response.json().catch(() => ({}))) as T & ErrorBody;
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body.error?.code ?? 'http_error',
      body.error?.message ?? `${response.status} ${response.statusText}`,
    );
  }
  return body;
}

interface ErrorBody {
  error?: { code?: string; message?: string };
}

/** Like `api`, but resolves to `fallback` when the answer is one of `statuses` (a fact that is absent). */
export async function apiOr<T, F>(
  path: string,
  fallback: F,
  statuses: readonly number[] = [404],
): Promise<T | F> {
  try {
    return await api<T>(path);
  } catch (error) {
    if (error instanceof ApiError && statuses.includes(error.status)) return fallback;
    throw error;
  }
}

/** A query string's values: undefined, null and '' are left out. */
export type Query = Record<string, string | number | boolean | null | undefined>;

/** `path` with `query`'s defined values as a query string. */
export function withQuery(path: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Most rows a list request asks for (the API's maximum page). */
export const LIST_PAGE = 1000;
type ListAnswer = Record<string, unknown> & { next_cursor?: string | null };

/**
 * Every row of a list route (`field` of its answer), `LIST_PAGE` rows a request unless
 * `query.limit` says otherwise, following `next_cursor` until it is null. The dashboard ships with
 * its server, so every list it reads pages.
 */
export async function apiAll<T>(path: string, field: string, query: Query = {}): Promise<T[]> {
  const pageQuery = { limit: LIST_PAGE, ...query };
  let body = await api<ListAnswer>(withQuery(path, pageQuery));
  const rows = [...(body[field] as T[])];
  while (typeof body.next_cursor === 'string' && body.next_cursor) {
    body = await api<ListAnswer>(withQuery(path, { ...pageQuery, cursor: body.next_cursor }));
    rows.push(...(body[field] as T[]));
  }
  return rows;
}
