/**
 * The GitHub App's REST client: Octokit with the App JWT on app endpoints and an installation token
 * everywhere else, GitHub's rate limits waited out (bounded), and conditional reads.
 *
 * - Rate limits: a 403 or 429 carrying `retry-after`, or `x-ratelimit-remaining: 0` with
 *   `x-ratelimit-reset`, is retried after that wait, at most `maxRateLimitRetries` times and only when
 *   the wait is at most `maxRateLimitWaitMs`; otherwise the error goes to the caller. Token minting
 *   goes through the same wrapper.
 * - Conditional reads (`getConditional`): the ETag of each answer is kept per installation and URL
 *   (a bounded LRU); the next read sends `If-None-Match`, and GitHub's 304 (which costs no rate
 *   limit) is answered from the cache.
 * - The installation of `owner/name` is asked once (GET /repos/{owner}/{repo}/installation) and kept.
 */

import { Octokit } from '@octokit/core';
import { GitSwarmError } from '../errors.js';
import { GitHubAppAuth, type GitHubAppCredentials, type InstallationToken } from './app-auth.js';
import { DEFAULT_GITHUB_API_URL } from './config.js';

export interface GitHubClientOptions extends GitHubAppCredentials {
  /** An installation token with less than this left is minted again (default 5 minutes). */
  refreshMarginMs?: number;
  /** Longest rate-limit wait the client sits out (default 60 s); a longer one fails at once. */
  maxRateLimitWaitMs?: number;
  /** Retries after rate limits per request (default 3). */
  maxRateLimitRetries?: number;
  /** Conditional-read cache size in answers (default 500). */
  etagCacheEntries?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told of each rate-limit wait (for logs and metrics). */
  onRateLimit?: (wait: { ms: number; method: string; url: string }) => void;
}

/** A GitHub answer with its status and headers; `fromCache` when a 304 was served from the cache. */
export interface GitHubResponse<T = unknown> {
  status: number;
  data: T;
  headers: Record<string, string | number | undefined>;
  fromCache: boolean;
}

/** A failed GitHub request: its status and GitHub's message (never the token). */
export class GitHubRequestError extends Error {
  readonly status: number;
  /** Whether it was a rate limit the client did not wait out. */
  readonly rateLimited: boolean;

  constructor(status: number, message: string, rateLimited: boolean) {
    super(message);
    this.name = 'GitHubRequestError';
    this.status = status;
    this.rateLimited = rateLimited;
  }
}

type Params = Record<string, unknown>;
interface CachedAnswer {
  etag: string;
  status: number;
  data: unknown;
  headers: Record<string, string | number | undefined>;
}
interface OctokitFailure {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

const DEFAULT_MAX_WAIT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_ETAG_ENTRIES = 500;
/** GitHub asks for at least a minute after a secondary rate limit that names no wait. */
const SECONDARY_LIMIT_WAIT_MS = 60_000;

/**
 * How long to wait before retrying a failed request, or null when it is not a rate limit.
 * `retry-after` (seconds) wins; else `x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`
 * (epoch seconds); a 429, or a 403 saying "rate limit", without either waits a minute.
 */
export function rateLimitWaitMs(error: OctokitFailure, nowMs: number): number | null {
  if (error.status !== 403 && error.status !== 429) return null;
  const headers = error.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  if (headers['retry-after'] !== undefined && Number.isFinite(retryAfter)) {
    return Math.max(0, retryAfter * 1000);
  }
  if (String(headers['x-ratelimit-remaining']) === '0' && headers['x-ratelimit-reset'] !== undefined) {
    const reset = Number(headers['x-ratelimit-reset']) * 1000;
    if (Number.isFinite(reset)) return Math.max(0, reset - nowMs);
  }
  if (error.status === 429 || /rate limit/i.test(error.message ?? '')) return SECONDARY_LIMIT_WAIT_MS;
  return null;
}

function failureOf(error: unknown): OctokitFailure {
  return typeof error === 'object' && error !== null ? (error as OctokitFailure) : {};
}

/** GitHub's own message from an error answer, else the error's. */
function messageOf(failure: OctokitFailure): string {
  const data = failure.response?.data;
  if (
    typeof data === 'object' &&
    data !== null &&
    typeof (data as { message?: unknown }).message === 'string'
  ) {
    return (data as { message: string }).message;
  }
  return failure.message ?? 'GitHub request failed';
}

/** `owner/name` split, checked (GitHub's characters for owners and repositories). */
export function splitFullName(fullName: string): { owner: string; repo: string } {
  const match = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(fullName);
  if (!match?.[1] || !match[2] || match[2] === '.' || match[2] === '..') {
    throw new Error(`Not a GitHub owner/name: ${JSON.stringify(fullName)}`);
  }
  return { owner: match[1], repo: match[2] };
}

/** The GitHub App's client (one per server process). */
export class GitHubClient {
  /** The REST API base URL, without a trailing slash. */
  readonly apiUrl: string;
  readonly #octokit: Octokit;
  readonly #auth: GitHubAppAuth;
  readonly #installations = new Map<string, number>();
  readonly #etags = new Map<string, CachedAnswer>();
  readonly #etagEntries: number;
  readonly #now: () => number;

  constructor(options: GitHubClientOptions) {
    this.apiUrl = (options.apiUrl ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, '');
    this.#now = options.now ?? Date.now;
    this.#etagEntries = options.etagCacheEntries ?? DEFAULT_ETAG_ENTRIES;
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const maxWait = options.maxRateLimitWaitMs ?? DEFAULT_MAX_WAIT_MS;
    const maxRetries = options.maxRateLimitRetries ?? DEFAULT_MAX_RETRIES;
    this.#octokit = new Octokit({
      baseUrl: this.apiUrl,
      userAgent: 'gitswarm',
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    this.#octokit.hook.wrap('request', async (request, requestOptions) => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return await request(requestOptions);
        } catch (error) {
          const wait = rateLimitWaitMs(failureOf(error), this.#now());
          if (wait === null || attempt >= maxRetries || wait > maxWait) throw error;
          options.onRateLimit?.({
            ms: wait,
            method: String(requestOptions.method),
            url: String(requestOptions.url),
          });
          await sleep(wait);
        }
      }
    });
    this.#auth = new GitHubAppAuth({
      credentials: options,
      request: this.#octokit.request,
      refreshMarginMs: options.refreshMarginMs,
      now: this.#now,
    });
  }

  /** Where git clones from: the web host of the API (api.github.com → github.com; GHES: its host). */
  get gitBaseUrl(): string {
    const url = new URL(this.apiUrl);
    const host = url.host === 'api.github.com' ? 'github.com' : url.host;
    return `${url.protocol}//${host}`;
  }

  /** A request to an app endpoint, signed with the App JWT. */
  async appRequest<T = unknown>(route: string, params: Params = {}): Promise<GitHubResponse<T>> {
    const jwt = await this.#auth.appJwt();
    return this.#send<T>(route, params, `bearer ${jwt}`);
  }

  /** An installation token for the installation, good for at least the refresh margin. */
  async installationToken(installationId: number): Promise<InstallationToken> {
    try {
      return await this.#auth.installationToken(installationId);
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /** The installation of the App on `owner/name`: asked of GitHub once, then kept. */
  async installationIdFor(fullName: string): Promise<number> {
    const key = fullName.toLowerCase();
    const known = this.#installations.get(key);
    if (known !== undefined) return known;
    const { owner, repo } = splitFullName(fullName);
    let answer: GitHubResponse<{ id: number }>;
    try {
      answer = await this.appRequest<{ id: number }>('GET /repos/{owner}/{repo}/installation', {
        owner,
        repo,
      });
    } catch (error) {
      if (error instanceof GitHubRequestError && error.status === 404) {
        throw new GitSwarmError('github_not_linked', `The GitHub App is not installed on ${fullName}.`, {
          hint: `Install the App on ${fullName} (its settings page on GitHub, "Install App").`,
        });
      }
      throw error;
    }
    this.#installations.set(key, answer.data.id);
    return answer.data.id;
  }

  /** Tells the client an installation it learnt elsewhere (installation events, the orgs table). */
  rememberInstallation(fullName: string, installationId: number): void {
    this.#installations.set(fullName.toLowerCase(), installationId);
  }

  /**
   * A request as the installation on `owner/name` (`{owner}` and `{repo}` are filled in). A 401
   * (a revoked token) drops the cached token and tries once more with a new one.
   */
  async repoRequest<T = unknown>(
    fullName: string,
    route: string,
    params: Params = {},
  ): Promise<GitHubResponse<T>> {
    const installationId = await this.installationIdFor(fullName);
    const full = { ...splitFullName(fullName), ...params };
    try {
      const { token } = await this.installationToken(installationId);
      return await this.#send<T>(route, full, `token ${token}`);
    } catch (error) {
      if (!(error instanceof GitHubRequestError) || error.status !== 401) throw error;
      this.#auth.forget(installationId);
      const { token } = await this.installationToken(installationId);
      return this.#send<T>(route, full, `token ${token}`);
    }
  }

  /**
   * A conditional GET as the installation on `owner/name`: sends the ETag of the last answer for this
   * URL and serves a 304 from the cache.
   */
  async getConditional<T = unknown>(
    fullName: string,
    route: string,
    params: Params = {},
  ): Promise<GitHubResponse<T>> {
    const installationId = await this.installationIdFor(fullName);
    const full = { ...splitFullName(fullName), ...params };
    const { url } = this.#octokit.request.endpoint(route, full);
    const key = `${installationId} ${url}`;
    const cached = this.#etags.get(key);
    const { token } = await this.installationToken(installationId);
    try {
      const answer = await this.#send<T>(
        route,
        { ...full, ...(cached ? { headers: { 'if-none-match': cached.etag } } : {}) },
        `token ${token}`,
      );
      const etag = answer.headers.etag;
      if (typeof etag === 'string') this.#remember(key, { etag, ...answer });
      return answer;
    } catch (error) {
      if (error instanceof GitHubRequestError && error.status === 304 && cached) {
        this.#etags.delete(key);
        this.#etags.set(key, cached);
        return { status: cached.status, data: cached.data as T, headers: cached.headers, fromCache: true };
      }
      throw error;
    }
  }

  #remember(key: string, answer: CachedAnswer): void {
    this.#etags.delete(key);
    this.#etags.set(key, {
      etag: answer.etag,
      status: answer.status,
      data: answer.data,
      headers: answer.headers,
    });
    while (this.#etags.size > this.#etagEntries) {
      const oldest = this.#etags.keys().next().value;
      if (oldest === undefined) break;
      this.#etags.delete(oldest);
    }
  }

  async #send<T>(route: string, params: Params, authorization: string): Promise<GitHubResponse<T>> {
    const { headers, ...rest } = params as Params & { headers?: Record<string, string> };
    try {
      const answer = await this.#octokit.request(route, {
        ...rest,
        headers: { ...headers, authorization, 'x-github-api-version': '2022-11-28' },
      });
      return {
        status: answer.status,
        data: answer.data as T,
        headers: answer.headers as Record<string, string | number | undefined>,
        fromCache: false,
      };
    } catch (error) {
      throw this.#failure(error);
    }
  }

  /** An Octokit failure with a status as a GitHubRequestError (others unchanged). */
  #failure(error: unknown): unknown {
    const failure = failureOf(error);
    if (error instanceof GitHubRequestError || typeof failure.status !== 'number') return error;
    return new GitHubRequestError(
      failure.status,
      messageOf(failure),
      rateLimitWaitMs(failure, this.#now()) !== null,
    );
  }
}
