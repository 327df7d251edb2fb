/**
 * The GitHub App's credentials at work: the App JWT for app endpoints, and installation tokens
 * minted on demand and reused until shortly before they expire.
 *
 * @octokit/auth-app signs the JWT and mints the tokens; its own cache keeps a token 59 minutes from
 * when it was minted, whatever `expires_at` GitHub gave. This module keeps each token by its real
 * expiry and mints a fresh one (`refresh: true`) once fewer than `refreshMarginMs` remain, so a token
 * handed out is always good for at least that long (a clone URL, a burst of requests).
 */
import { createAppAuth } from '@octokit/auth-app';
import type { Octokit } from '@octokit/core';

type RequestInterface = Octokit['request'];

/** What the App is: its id and private key (PEM), and the API it talks to (GitHub Enterprise Server). */
export interface GitHubAppCredentials {
  appId: string | number;
  /** The App's private key, PEM (PKCS#1 or PKCS#8). */
  privateKey: string;
  /** GITHUB_API_URL; default https://api.github.com (GHES: https://HOST/api/v3). */
  apiUrl?: string;
}

export interface InstallationToken {
  token: string;
  /** ISO time GitHub says the token stops working. */
  expiresAt: string;
}

export interface GitHubAppAuthOptions {
  credentials: GitHubAppCredentials;
  /** The request function tokens are minted with (the client's: base URL, rate limits). */
  request: RequestInterface;
  /** A token with less than this left is minted again (default 5 minutes). */
  refreshMarginMs?: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

/** Signs App JWTs and hands out installation tokens with at least the refresh margin left. */
export class GitHubAppAuth {
  readonly #auth: ReturnType<typeof createAppAuth>;
  readonly #margin: number;
  readonly #now: () => number;
  readonly #tokens = new Map<number, InstallationToken>();
  readonly #minting = new Map<number, Promise<InstallationToken>>();

  constructor(options: GitHubAppAuthOptions) {
    this.#auth = createAppAuth({
      appId: options.credentials.appId,
      privateKey: options.credentials.privateKey,
      request: options.request,
      log: { warn: () => {} },
    });
    this.#margin = options.refreshMarginMs ?? DEFAULT_TOKEN_REFRESH_MARGIN_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A JWT signed with the App's key (iss = app id, about ten minutes of life). */
  async appJwt(): Promise<string> {
    return (await this.#auth({ type: 'app' })).token;
  }

  /** An installation token good for at least the refresh margin; minted when the cached one is not. */
  async installationToken(installationId: number): Promise<InstallationToken> {
    const cached = this.#tokens.get(installationId);
    if (cached && Date.parse(cached.expiresAt) - this.#now() > this.#margin) return cached;
    const pending = this.#minting.get(installationId);
    if (pending) return pending;
    const minting = this.#mint(installationId).finally(() => this.#minting.delete(installationId));
    this.#minting.set(installationId, minting);
    return minting;
  }

  /** Drops a cached token (GitHub refused it: revoked, or the installation changed). */
  forget(installationId: number): void {
    this.#tokens.delete(installationId);
  }

  async #mint(installationId: number): Promise<InstallationToken> {
    const minted = await this.#auth({ type: 'installation', installationId, refresh: true });
    const token = { token: minted.token, expiresAt: minted.expiresAt };
    this.#tokens.set(installationId, token);
    return token;
  }
}
