/**
 * The GitHub App client against the loopback GitHub: the App JWT on app endpoints, installation
 * tokens cached and minted again near expiry, the installation looked up once, rate limits waited
 * out (bounded), conditional reads served from the ETag cache, and GHES base URLs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSwarmError } from '../../src/errors.js';
import { GitHubClient, GitHubRequestError, rateLimitWaitMs } from '../../src/github/client.js';
import { type FakeGitHub, startFakeGitHub, verifyJwt } from '../helpers/fake-github.js';

describe('GitHub App client', () => {
  let github: FakeGitHub;
  let appId: number;
  let privateKey: string;
  let publicKey: string;
  const waits: number[] = [];
  let client: GitHubClient;

  beforeAll(async () => {
    ({ github, appId, privateKey, publicKey } = await startFakeGitHub({ installationId: 31 }));
    client = new GitHubClient({
      appId,
      privateKey,
      apiUrl: github.url,
      maxRateLimitWaitMs: 5000,
      onRateLimit: (wait) => waits.push(wait.ms),
    });
  });
  afterAll(() => github.close());

  it('signs app endpoints with the App JWT (iss = app id) and looks the installation up once', async () => {
    const before = github.requests.length;
    expect(await client.installationIdFor('octo-org/widgets')).toBe(31);
    expect(await client.installationIdFor('Octo-Org/Widgets')).toBe(31);
    const lookups = github.requests
      .slice(before)
      .filter((r) => r.path === '/repos/octo-org/widgets/installation');
    expect(lookups).toHaveLength(1);
    const [lookup] = lookups;
    expect(lookup?.auth).toBe('jwt');
    expect(lookup?.headers.authorization).toMatch(/^bearer /i);
    const claims = verifyJwt(lookup?.credential ?? '', publicKey);
    expect(String(claims?.iss)).toBe(String(appId));
    expect(Number(claims?.exp) - Number(claims?.iat)).toBeLessThanOrEqual(11 * 60);
  });

  it('an App not installed on the repository is github_not_linked', async () => {
    github.installations.set('octo-org/elsewhere', null);
    const refused = await client.installationIdFor('octo-org/elsewhere').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GitSwarmError);
    expect((refused as GitSwarmError).code).toBe('github_not_linked');
  });

  it('mints an installation token with the JWT, uses it elsewhere, and reuses it while it has time left', async () => {
    const before = github.requests.length;
    const first = await client.installationToken(31);
    const second = await client.installationToken(31);
    expect(second.token).toBe(first.token);
    const mints = github.requests
      .slice(before)
      .filter((r) => r.path === '/app/installations/31/access_tokens');
    expect(mints).toHaveLength(1);
    expect(mints[0]?.auth).toBe('jwt');
    await client.repoRequest('octo-org/widgets', 'GET /repos/{owner}/{repo}/commits');
    const read = github.find('GET', '/repos/octo-org/widgets/commits').at(-1);
    expect(read?.auth).toBe('token');
    expect(read?.headers.authorization).toBe(`token ${first.token}`);
  });

  it('mints again a token that is within the refresh margin of its expiry', async () => {
    github.tokenLifetimeMs = 60_000; // GitHub gives a token with one minute left
    const nearExpiry = new GitHubClient({
      appId,
      privateKey,
      apiUrl: github.url,
      refreshMarginMs: 5 * 60_000,
    });
    const a = await nearExpiry.installationToken(31);
    const b = await nearExpiry.installationToken(31);
    expect(b.token).not.toBe(a.token);
    github.tokenLifetimeMs = 3_600_000;
    const c = await nearExpiry.installationToken(31);
    const d = await nearExpiry.installationToken(31);
    expect(d.token).toBe(c.token);
  });

  it('waits out a 403 rate limit (retry-after) and retries', async () => {
    await client.installationToken(31);
    github.rateLimitNext('retry-after');
    const started = Date.now();
    const answer = await client.repoRequest('octo-org/widgets', 'GET /repos/{owner}/{repo}/commits');
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(waits.at(-1)).toBe(1000);
    const last = github.find('GET', '/repos/octo-org/widgets/commits').slice(-2);
    expect(last.map((r) => r.auth)).toEqual(['token', 'token']);
  });

  it('gives up at once on a rate limit longer than it may wait', async () => {
    const impatient = new GitHubClient({ appId, privateKey, apiUrl: github.url, maxRateLimitWaitMs: 100 });
    await impatient.installationToken(31);
    github.rateLimitNext('reset');
    const started = Date.now();
    const failed = await impatient
      .repoRequest('octo-org/widgets', 'GET /repos/{owner}/{repo}/commits')
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(900);
    expect(failed).toBeInstanceOf(GitHubRequestError);
    expect((failed as GitHubRequestError).status).toBe(403);
    expect((failed as GitHubRequestError).rateLimited).toBe(true);
  });

  it('reads the wait from the headers GitHub sends', () => {
    const now = 1_700_000_000_000;
    const headers = (h: Record<string, string>) => ({ status: 403, response: { headers: h } });
    expect(rateLimitWaitMs(headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(
      rateLimitWaitMs(headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1700000002' }), now),
    ).toBe(2000);
    expect(rateLimitWaitMs(headers({ 'x-ratelimit-remaining': '10' }), now)).toBeNull();
    expect(rateLimitWaitMs({ status: 404, response: { headers: { 'retry-after': '1' } } }, now)).toBeNull();
    expect(rateLimitWaitMs({ status: 429 }, now)).toBe(60_000);
  });

  it('sends If-None-Match with the last ETag and serves the 304 from its cache', async () => {
    github.files.set('octo-org/widgets:docs/readme.md', 'hello');
    const route = 'GET /repos/{owner}/{repo}/contents/docs/readme.md';
    const first = await client.getConditional<{ content: string }>('octo-org/widgets', route);
    expect(first.fromCache).toBe(false);
    const second = await client.getConditional<{ content: string }>('octo-org/widgets', route);
    expect(second.fromCache).toBe(true);
    expect(second.data).toEqual(first.data);
    const reads = github.find('GET', '/repos/octo-org/widgets/contents/docs/readme.md');
    expect(reads.at(-1)?.headers['if-none-match']).toBe(first.headers.etag);
    // Changed on GitHub: a 200 with the new content replaces the cached one.
    github.files.set('octo-org/widgets:docs/readme.md', 'hello again');
    const third = await client.getConditional<{ content: string }>('octo-org/widgets', route);
    expect(third.fromCache).toBe(false);
    expect(Buffer.from(third.data.content, 'base64').toString()).toBe('hello again');
  });

  it('honours a GitHub Enterprise Server API URL (its /api/v3 prefix) and its host for git', async () => {
    const ghes = new GitHubClient({ appId, privateKey, apiUrl: `${github.url}/api/v3/` });
    expect(ghes.gitBaseUrl).toBe(github.url);
    await ghes.repoRequest('octo-org/widgets', 'GET /repos/{owner}/{repo}/commits');
    expect(github.requests.at(-1)?.rawPath).toBe('/api/v3/repos/octo-org/widgets/commits');
    expect(new GitHubClient({ appId, privateKey }).gitBaseUrl).toBe('https://github.com');
  });
});
