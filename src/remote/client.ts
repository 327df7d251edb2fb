/**
 * The HTTP client of a GitSwarm server's `/api/v1` API (Mode B). node:http(s) with kept-alive
 * connections (see HTTP_AGENT for why not fetch); JSON in and out; a timeout per attempt; retries with exponential back-off for calls
 * that are safe to repeat: GET/HEAD/PUT/DELETE, and a POST or PATCH only when it carries an
 * `Idempotency-Key` (the server replays it instead of running it twice), or when the connection was
 * refused (nothing was sent). The server's `{error: {code, message, hint}}` becomes a GitSwarmError
 * with that code; a server that cannot be reached or does not answer in time becomes
 * `server_unreachable` (exit 4). With its first call the client checks `GET /api/v1/meta` and
 * refuses a server that is not GitSwarm or speaks another API version (`server_incompatible`):
 * a read goes out alongside the check, a write only after it.
 */
import { randomUUID } from 'node:crypto';
import { ERROR_CATALOGUE, type ErrorCode, GitSwarmError } from '../errors.js';
import { settleInOrder } from '../util/settle.js';

/** The API version this client speaks (the server's `GET /api/v1/meta` → `api_version`). */
export const CLIENT_API_VERSION = 1;
export const API_PREFIX = '/api/v1';
/** Per attempt. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Attempts after the first for a call that may be repeated. */
export const DEFAULT_RETRIES = 2;
/** The first back-off; each next one doubles (with jitter). */
export const DEFAULT_BACKOFF_MS = 100;
/** A Retry-After longer than this is not waited for: the refusal is returned. */
const MAX_RETRY_AFTER_MS = 5_000;

/** What `GET /api/v1/meta` answers. */
export interface ServerMeta {
  name: string;
  version: string;
  api_version: number;
  api_prefix?: string;
  websocket?: string;
}

export interface ClientOptions {
  /** The server's base URL (`http://host:port`, maybe with a path prefix), normalized. */
  url: string;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string;
  /** Whose key it is (name), for hints. */
  agentName?: string;
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
  /** Aborts every call (SIGINT). */
  signal?: AbortSignal;
}

type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /**
   * A POST or PATCH with an Idempotency-Key may be retried: the server replays it. `true` makes a
   * fresh key for this call (the same key is sent on every attempt).
   */
  idempotencyKey?: string | true;
  timeoutMs?: number;
}

const REPEATABLE = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
/** Connection errors where the request never reached the server: safe to retry any call. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Connections are kept alive between calls of one command (an idle socket does not keep the
 * process running). node:http rather than fetch: the first fetch of a process loads and compiles
 * undici (measured 200-300 ms on the test machine, against 15-50 ms for node:http), and a command
 * line makes a fresh process for every command. Taken with getBuiltinModule, not imported: an
 * `import` of node:http builds its ES module view, which reads every export, and one of them
 * loads undici after all (Node 24: 50 ms against 6 ms). node:https (TLS) loads on the first
 * https call only.
 */
const http = process.getBuiltinModule('node:http');
const HTTP_AGENT = new http.Agent({ keepAlive: true });
type Transport = { agent: import('node:http').Agent; request: typeof import('node:http').request };
let https: Transport | undefined;

function transport(secure: boolean): Transport {
  if (!secure) return { agent: HTTP_AGENT, request: http.request };
  if (https === undefined) {
    const module = process.getBuiltinModule('node:https');
    https = { agent: new module.Agent({ keepAlive: true }), request: module.request };
  }
  return https;
}

interface OutgoingRequest {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A whole answer: status, headers, body text. */
interface IncomingAnswer {
  status: number;
  header(name: string): string | null;
  text: string;
}

/** A failure to talk to the server at all (as opposed to an answer), with whether it was sent. */
class TransportFailure extends Error {
  constructor(
    message: string,
    readonly notSent: boolean,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}

/** The innermost `code` of a connection failure (a wrapped socket error keeps it in `cause`). */
function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Seconds or an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A hint that tells an HTTP client what to send (`GET /api/v1/…`, a header), not a CLI user what to run. */
export function speaksHttp(hint: string): boolean {
  return /\b(GET|POST|PUT|PATCH|DELETE) \/api\/v1\/|\bAuthorization: Bearer\b/.test(hint);
}

export class GitSwarmClient {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly agentName: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #signal: AbortSignal | undefined;
  /** The compatibility check, made once and shared by clients made with `withApiKey`. */
  #meta: { promise?: Promise<ServerMeta> };

  constructor(options: ClientOptions, shared?: { promise?: Promise<ServerMeta> }) {
    this.url = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.agentName = options.agentName;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retries = options.retries ?? DEFAULT_RETRIES;
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.#signal = options.signal;
    this.#meta = shared ?? {};
  }

  /** The same server with another key (the compatibility check is not repeated). */
  withApiKey(apiKey: string | undefined, agentName?: string): GitSwarmClient {
    return new GitSwarmClient(
      {
        url: this.url,
        apiKey,
        agentName,
        timeoutMs: this.#timeoutMs,
        retries: this.#retries,
        backoffMs: this.#backoffMs,
        signal: this.#signal,
      },
      this.#meta,
    );
  }

  /** `ws://…/api/v1/ws` (or wss) of this server. */
  websocketUrl(): string {
    const url = new URL(`${this.url}${API_PREFIX}/ws`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  /**
   * Checks once that the server is GitSwarm and speaks this client's API version; throws
   * `server_unreachable` or `server_incompatible`. Every call runs it first.
   */
  connect(): Promise<ServerMeta> {
    if (!this.#meta.promise) {
      this.#meta.promise = this.#checkMeta();
      // A failed check is not remembered: the next call tries again.
      this.#meta.promise.catch(() => {
        this.#meta.promise = undefined;
      });
    }
    return this.#meta.promise;
  }

  async #checkMeta(): Promise<ServerMeta> {
    let meta: unknown;
    try {
      meta = await this.#send('GET', '/meta', {});
    } catch (error) {
      if (error instanceof GitSwarmError && error.code !== 'server_unreachable') {
        throw this.#notGitSwarm(`answered ${error.message}`);
      }
      throw error;
    }
    const found = meta as Partial<ServerMeta> | null;
    if (!found || typeof found !== 'object' || found.name !== 'gitswarm') {
      throw this.#notGitSwarm('does not say it is a GitSwarm server');
    }
    if (found.api_version !== CLIENT_API_VERSION) {
      throw new GitSwarmError(
        'server_incompatible',
        `The server at ${this.url} speaks GitSwarm API version ${String(found.api_version)} (server ${String(found.version)}); this client speaks version ${CLIENT_API_VERSION}.`,
        {
          hint:
            (found.api_version ?? 0) > CLIENT_API_VERSION
              ? 'Upgrade gitswarm on this machine to one that speaks the server’s API version.'
              : 'Ask the server’s operator to upgrade it, or use a gitswarm release of its version.',
          details: { server_api_version: found.api_version, client_api_version: CLIENT_API_VERSION },
        },
      );
    }
    return found as ServerMeta;
  }

  #notGitSwarm(why: string): GitSwarmError {
    return new GitSwarmError(
      'server_incompatible',
      `${this.url} is not a GitSwarm server: GET ${API_PREFIX}/meta ${why}.`,
      {
        hint: 'Check the URL (--server, GITSWARM_SERVER or the server in .gitswarm/config.json): it is the address gitswarm serve listens on, without /api/v1.',
      },
    );
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  patch<T>(path: string, body?: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...options, body });
  }

  put<T>(path: string, body?: unknown, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...options, body });
  }

  delete<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('DELETE', path, options);
  }

  /** One API call (`path` under /api/v1): checks the server first, then sends with retries. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    if (method === 'GET' || method === 'HEAD') {
      // A read changes nothing: it goes out with the check (one round trip less), and its answer
      // is used only once the server has passed. A write waits for the check.
      const [, answer] = await settleInOrder(this.connect(), this.#send<T>(method, path, options));
      return answer;
    }
    await this.connect();
    return this.#send<T>(method, path, options);
  }

  async #send<T>(method: string, path: string, options: RequestOptions): Promise<T> {
    const idempotencyKey = options.idempotencyKey === true ? randomUUID() : options.idempotencyKey;
    const repeatable = REPEATABLE.has(method) || idempotencyKey !== undefined;
    const url = new URL(`${this.url}${API_PREFIX}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const item of value) url.searchParams.append(key, String(item));
      else url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;

    for (let attempt = 0; ; attempt += 1) {
      const last = attempt >= this.#retries;
      const backoff = this.#backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
      let response: IncomingAnswer;
      try {
        response = await this.#sendOnce(url, { method, headers, body }, timeoutMs);
      } catch (error) {
        if (!(error instanceof TransportFailure)) throw error;
        if (!last && (repeatable || error.notSent)) {
          await wait(backoff, this.#signal);
          continue;
        }
        throw new GitSwarmError(
          'server_unreachable',
          `Cannot reach the GitSwarm server at ${this.url}: ${error.message}.`,
          {
            details: { server: this.url },
          },
        );
      }
      const status = response.status;
      if (status >= 200 && status < 300) {
        return (response.text === '' ? undefined : JSON.parse(response.text)) as T;
      }
      const retryAfter = retryAfterMs(response.header('retry-after'));
      const busy = status === 502 || status === 503 || status === 504 || status === 429;
      if (!last && repeatable && busy && (retryAfter ?? 0) <= MAX_RETRY_AFTER_MS) {
        await wait(Math.max(backoff, retryAfter ?? 0), this.#signal);
        continue;
      }
      throw await this.#errorOf(response, method, path);
    }
  }

  /** One HTTP exchange; connection failures and timeouts become TransportFailure. */
  #sendOnce(url: URL, init: OutgoingRequest, timeoutMs: number): Promise<IncomingAnswer> {
    const { agent, request: send } = transport(url.protocol === 'https:');
    return new Promise((resolve, reject) => {
      if (this.#signal?.aborted) {
        reject(this.#signal.reason);
        return;
      }
      let timedOut = false;
      const request = send(url, {
        method: init.method,
        headers: init.headers,
        agent,
      });
      const timer = setTimeout(() => {
        timedOut = true;
        request.destroy();
      }, timeoutMs);
      const onAbort = () => request.destroy(this.#signal?.reason as Error);
      this.#signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        this.#signal?.removeEventListener('abort', onAbort);
      };
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          done();
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            header: (name) => {
              const value = response.headers[name];
              return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
            },
            text,
          });
        });
        response.on('error', (error) => {
          done();
          reject(this.#transportFailure(error, timedOut, timeoutMs));
        });
      });
      request.on('error', (error) => {
        done();
        if (this.#signal?.aborted) reject(this.#signal.reason);
        else reject(this.#transportFailure(error, timedOut, timeoutMs));
      });
      request.end(init.body);
    });
  }

  #transportFailure(error: unknown, timedOut: boolean, timeoutMs: number): TransportFailure {
    if (timedOut) return new TransportFailure(`no answer within ${timeoutMs / 1000} s`, false, true);
    const code = causeCode(error);
    const message = error instanceof Error ? error.message : String(error);
    return new TransportFailure(message, code !== undefined && NOT_SENT.has(code), false);
  }

  /** The server's refusal as a GitSwarmError with its code, message and hint. */
  async #errorOf(response: IncomingAnswer, method: string, path: string): Promise<GitSwarmError> {
    const { text } = response;
    let parsed:
      | { error?: { code?: unknown; message?: unknown; hint?: unknown } & Record<string, unknown> }
      | undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = parsed?.error;
    const status = response.status;
    if (status === 401)
      return this.#unauthorized(typeof error?.message === 'string' ? error.message : undefined);
    if (error && isErrorCode(error.code)) {
      const { code, message, hint, ...details } = error;
      return new GitSwarmError(
        code,
        typeof message === 'string' ? message : `${method} ${path} failed (${status}).`,
        {
          // The server's hints name HTTP requests; the command line's own hint for the code fits a CLI user.
          ...(typeof hint === 'string' && !speaksHttp(hint) ? { hint } : {}),
          details: { ...details, http_status: status },
        },
      );
    }
    if (status === 502 || status === 503 || status === 504) {
      return new GitSwarmError(
        'server_unreachable',
        `The GitSwarm server at ${this.url} is unavailable (HTTP ${status}).`,
        {
          details: { server: this.url, http_status: status },
        },
      );
    }
    if (status === 404) {
      return new GitSwarmError(
        'not_found',
        `${method} ${API_PREFIX}${path} is not a route of the server at ${this.url}.`,
        {
          hint: 'The server may be older than this client; check its version with: curl SERVER/api/v1/meta',
        },
      );
    }
    return new GitSwarmError('internal_error', `${method} ${API_PREFIX}${path} failed with HTTP ${status}.`, {
      details: { http_status: status },
    });
  }

  #unauthorized(serverMessage: string | undefined): GitSwarmError {
    const who = this.agentName ? ` for ${this.agentName}` : '';
    if (!this.apiKey) {
      return new GitSwarmError('unauthorized', serverMessage ?? 'This needs an API key.', {
        hint: this.agentName
          ? `No API key${who} for ${this.url}: save one with gitswarm agent login ${this.agentName} --api-key KEY, or pass --api-key / GITSWARM_API_KEY.`
          : 'Name the acting agent with --as AGENT (its key comes from the credentials file), or pass --api-key / GITSWARM_API_KEY.',
      });
    }
    return new GitSwarmError('unauthorized', `The server at ${this.url} refused the API key${who}.`, {
      hint: `Save the right key with gitswarm agent login ${this.agentName ?? 'AGENT'} --api-key KEY, or pass --api-key / GITSWARM_API_KEY.`,
    });
  }
}
