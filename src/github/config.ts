/**
 * The GitHub App's settings, read once from the environment. The webhook receiver needs only the
 * secret; the REST client (tokens, statuses, proxies) needs the App id and private key. A server
 * without any of them runs without GitHub: the webhook route then answers 503 `github_not_configured`.
 *
 * | Variable                      | Field            | Default                  |
 * |-------------------------------|------------------|--------------------------|
 * | `GITHUB_APP_ID`               | `appId`          | none                     |
 * | `GITHUB_APP_PRIVATE_KEY`      | `privateKey`     | none (PEM text)          |
 * | `GITHUB_APP_PRIVATE_KEY_FILE` | `privateKey`     | none (a PEM file's path) |
 * | `GITHUB_WEBHOOK_SECRET`       | `webhookSecret`  | none                     |
 * | `GITHUB_API_URL`              | `apiUrl`         | https://api.github.com   |
 */
import { readFileSync } from 'node:fs';
import { GitSwarmError } from '../errors.js';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

export interface GitHubConfig {
  /** The App's id (GITHUB_APP_ID); null when unset. */
  readonly appId: string | null;
  /** The App's private key in PEM (GITHUB_APP_PRIVATE_KEY, or the file GITHUB_APP_PRIVATE_KEY_FILE). */
  readonly privateKey: string | null;
  /** The secret GitHub signs webhook deliveries with (GITHUB_WEBHOOK_SECRET); null: no webhooks accepted. */
  readonly webhookSecret: string | null;
  /** The REST API's base URL without a trailing slash (GITHUB_API_URL, for GitHub Enterprise Server). */
  readonly apiUrl: string;
}

/**
 * Reads the GitHub settings from `env`. Throws invalid_input when both forms of the private key
 * are given, its file cannot be read, or GITHUB_API_URL is not an http(s) URL.
 */
export function readGitHubConfig(env: NodeJS.ProcessEnv = process.env): GitHubConfig {
  const inline = env.GITHUB_APP_PRIVATE_KEY || null;
  const file = env.GITHUB_APP_PRIVATE_KEY_FILE || null;
  if (inline && file) {
    throw new GitSwarmError(
      'invalid_input',
      'Set GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE, not both.',
    );
  }
  let privateKey = inline === null ? null : inline.replace(/\\n/g, '\n');
  if (file) {
    try {
      privateKey = readFileSync(file, 'utf8');
    } catch (error) {
      throw new GitSwarmError('invalid_input', `Cannot read GITHUB_APP_PRIVATE_KEY_FILE ${file}.`, {
        cause: error,
      });
    }
  }
  const apiUrl = (env.GITHUB_API_URL || DEFAULT_GITHUB_API_URL).replace(/\/+$/, '');
  let protocol: string;
  try {
    protocol = new URL(apiUrl).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new GitSwarmError(
      'invalid_input',
      `GITHUB_API_URL ${JSON.stringify(apiUrl)} is not an http(s) URL.`,
    );
  }
  return {
    appId: env.GITHUB_APP_ID || null,
    privateKey,
    webhookSecret: env.GITHUB_WEBHOOK_SECRET || null,
    apiUrl,
  };
}
