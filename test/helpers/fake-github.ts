/**
 * A loopback stand-in for GitHub's REST API: a node:http server on 127.0.0.1 answering the endpoints
 * GitSwarm uses with the bodies of GitHub's published OpenAPI examples (@octokit/openapi), and
 * recording every request so tests assert what was sent. App endpoints demand a valid App JWT
 * (RS256 over the App key, iss = app id, unexpired); the others an installation token it minted and
 * that has not expired. GET answers carry an ETag and honour If-None-Match with 304. It can answer
 * the next request with a 403 rate limit.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** The path without the query string, decoded, without a GHES `/api/v3` prefix. */
  path: string;
  /** The path as sent (encoded, with any prefix). */
  rawPath: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** How it authenticated: a valid App JWT, a valid installation token, or neither. */
  auth: 'jwt' | 'token' | 'none';
  /** The bearer value sent (JWT or token). */
  credential: string | null;
  /** The status the fake answered with. */
  status?: number;
}

export interface FakeGitHubOptions {
  appId: number;
  /** The App's public key (PEM) to verify JWTs with. */
  publicKey: string;
  /** Installation id answered for every repository (unless `installations` says otherwise). */
  installationId?: number;
  /** How long minted tokens live (default one hour). */
  tokenLifetimeMs?: number;
}

type Examples = Record<string, { value: unknown }>;
interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        responses: Record<
          string,
          { content?: Record<string, { examples?: Record<string, { $ref?: string; value?: unknown }> }> }
        >;
      }
    >
  >;
  components: { examples: Examples };
}

let openApi: OpenApi | undefined;

/** The OpenAPI description, read once per test process. */
function spec(): OpenApi {
  if (!openApi) {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
    openApi = JSON.parse(readFileSync(file, 'utf8')) as OpenApi;
  }
  return openApi;
}

/** A deep copy of an operation's documented example answer. */
export function openApiExample(
  path: string,
  method: string,
  status: string,
  name?: string,
): Record<string, unknown> {
  const doc = spec();
  const examples = doc.paths[path]?.[method]?.responses[status]?.content?.['application/json']?.examples;
  if (!examples) throw new Error(`no example for ${method} ${path} ${status}`);
  const example = name ? examples[name] : Object.values(examples)[0];
  if (!example) throw new Error(`no example ${name} for ${method} ${path}`);
  const value = example.$ref
    ? doc.components.examples[example.$ref.split('/').pop() ?? '']?.value
    : example.value;
  return structuredClone(value) as Record<string, unknown>;
}

/** An RSA key pair for a test App (PKCS#1 private key, as GitHub hands out). */
export function generateAppKey(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Verifies an RS256 JWT; returns its claims, or null when the signature or shape is wrong. */
export function verifyJwt(jwt: string, publicKey: string): Record<string, unknown> | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return null;
  const [header, payload, signature] = parts as [string, string, string];
  try {
    const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string };
    if (head.alg !== 'RS256') return null;
    const ok = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      createPublicKey(publicKey),
      Buffer.from(signature, 'base64url'),
    );
    return ok ? (JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const notFound = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' };

export class FakeGitHub {
  readonly requests: RecordedRequest[] = [];
  /** Files by `owner/name:path` for the contents endpoint; others answer 404. */
  readonly files = new Map<string, string>();
  /** Installation ids by lowercased `owner/name`; a name mapped to null is not installed (404). */
  readonly installations = new Map<string, number | null>();
  /** Head SHAs of pull requests by `owner/name#number`. */
  readonly pullHeads = new Map<string, string>();
  /** Minted tokens and when they expire (ms). */
  readonly tokens = new Map<string, number>();
  tokenLifetimeMs: number;
  readonly #options: FakeGitHubOptions;
  readonly #server: Server;
  #rateLimitNext: 'retry-after' | 'reset' | null = null;
  #failures = 0;
  #held: Promise<void> | null = null;
  #commentIds = 1000;
  url = '';

  constructor(options: FakeGitHubOptions) {
    this.#options = options;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 3_600_000;
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: String(error) }));
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  /** Answers the next request with a 403 rate limit lifting a second or two later. */
  rateLimitNext(kind: 'retry-after' | 'reset'): void {
    this.#rateLimitNext = kind;
  }

  /** Holds every request from now (unanswered) until the returned release is called. */
  hold(): () => void {
    let release = () => {};
    this.#held = new Promise<void>((resolve) => {
      release = () => {
        this.#held = null;
        resolve();
      };
    });
    return release;
  }

  /** Answers the next `count` requests with 502 (GitHub having a bad minute). */
  failNext(count: number): void {
    this.#failures = count;
  }

  /** The recorded requests whose method and path match. */
  find(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    );
  }

  /** Waits (polling, up to `ms`) until `predicate` holds over the recorded requests. */
  async waitFor(predicate: (requests: RecordedRequest[]) => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this.requests)) {
      if (Date.now() > deadline) throw new Error('fake GitHub: timed out waiting for the expected requests');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #authenticate(header: string | undefined): Pick<RecordedRequest, 'auth' | 'credential'> {
    const match = /^(?:bearer|token) (.+)$/i.exec(header ?? '');
    const credential = match?.[1] ?? null;
    if (!credential) return { auth: 'none', credential };
    const claims = verifyJwt(credential, this.#options.publicKey);
    if (claims) {
      const now = Math.floor(Date.now() / 1000);
      const valid = String(claims.iss) === String(this.#options.appId) && Number(claims.exp) > now;
      return { auth: valid ? 'jwt' : 'none', credential };
    }
    const expires = this.tokens.get(credential);
    return { auth: expires !== undefined && expires > Date.now() ? 'token' : 'none', credential };
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const url = new URL(request.url ?? '/', 'http://fake');
    const recorded: RecordedRequest = {
      method: request.method ?? 'GET',
      path: decodeURIComponent(url.pathname.replace(/^\/api\/v3(?=\/)/, '')),
      rawPath: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: raw ? JSON.parse(raw) : null,
      ...this.#authenticate(request.headers.authorization),
    };
    this.requests.push(recorded);
    if (this.#held) await this.#held;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      recorded.status = status;
      const text = JSON.stringify(body);
      const etag = `W/"${createHash('sha1').update(text).digest('hex')}"`;
      if (recorded.method === 'GET' && status === 200 && request.headers['if-none-match'] === etag) {
        recorded.status = 304;
        response.writeHead(304, { etag, ...headers });
        response.end();
        return;
      }
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        ...(recorded.method === 'GET' && status === 200 ? { etag } : {}),
        ...headers,
      });
      response.end(text);
    };

    if (this.#rateLimitNext) {
      const kind = this.#rateLimitNext;
      this.#rateLimitNext = null;
      const reset = Math.floor(Date.now() / 1000) + 2;
      send(
        403,
        {
          message: 'API rate limit exceeded for installation.',
          documentation_url: 'https://docs.github.com/rest',
        },
        kind === 'retry-after'
          ? { 'retry-after': '1' }
          : { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
      );
      return;
    }

    if (this.#failures > 0) {
      this.#failures -= 1;
      send(502, { message: 'Server Error' });
      return;
    }

    const route = this.#route(recorded);
    if (!route) {
      send(404, notFound);
      return;
    }
    const needed = route.app ? 'jwt' : 'token';
    if (recorded.auth !== needed) {
      send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return;
    }
    const [status, body] = route.answer();
    send(status, body);
  }

  #route(r: RecordedRequest): { app: boolean; answer: () => [number, unknown] } | null {
    const { method, path } = r;
    let m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path);
    if (m && method === 'POST') {
      return {
        app: true,
        answer: () => {
          const body = openApiExample('/app/installations/{installation_id}/access_tokens', 'post', '201');
          const token = `ghs_${randomBytes(18).toString('hex')}`;
          const expires = Date.now() + this.tokenLifetimeMs;
          this.tokens.set(token, expires);
          return [201, { ...body, token, expires_at: new Date(expires).toISOString() }];
        },
      };
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/(.*)$/.exec(path);
    if (!m) return null;
    const fullName = `${m[1]}/${m[2]}`;
    const rest = m[3] ?? '';
    if (rest === 'installation' && method === 'GET') {
      return {
        app: true,
        answer: () => {
          const id = this.installations.has(fullName.toLowerCase())
            ? this.installations.get(fullName.toLowerCase())
            : (this.#options.installationId ?? 1);
          if (id === null || id === undefined) return [404, notFound];
          return [200, { ...openApiExample('/repos/{owner}/{repo}/installation', 'get', '200'), id }];
        },
      };
    }
    const token = (answer: () => [number, unknown]) => ({ app: false, answer });
    const body = r.body as Record<string, unknown> | null;
    const m1 = /^statuses\/([0-9a-f]{40})$/.exec(rest);
    if (m1 && method === 'POST') {
      return token(() => [
        201,
        { ...openApiExample('/repos/{owner}/{repo}/statuses/{sha}', 'post', '201'), ...body },
      ]);
    }
    const m2 = /^issues\/(\d+)\/comments$/.exec(rest);
    if (m2 && method === 'POST') {
      return token(() => {
        this.#commentIds += 1;
        return [
          201,
          {
            ...openApiExample('/repos/{owner}/{repo}/issues/{issue_number}/comments', 'post', '201'),
            id: this.#commentIds,
            body: body?.body,
          },
        ];
      });
    }
    const m3 = /^issues\/comments\/(\d+)$/.exec(rest);
    if (m3 && method === 'PATCH') {
      const id = Number(m3[1]);
      return token(() =>
        id > 1000 && id <= this.#commentIds
          ? [
              200,
              {
                ...openApiExample('/repos/{owner}/{repo}/issues/comments/{comment_id}', 'patch', '200'),
                id,
                body: body?.body,
              },
            ]
          : [404, notFound],
      );
    }
    const m4 = /^pulls\/(\d+)$/.exec(rest);
    if (m4 && method === 'GET') {
      const sha = this.pullHeads.get(`${fullName}#${m4[1]}`);
      return token(() => {
        if (!sha) return [404, notFound];
        const pull = openApiExample('/repos/{owner}/{repo}/pulls/{pull_number}', 'get', '200');
        return [200, { ...pull, number: Number(m4[1]), head: { ...(pull.head as object), sha } }];
      });
    }
    const m5 = /^contents\/(.+)$/.exec(rest);
    if (m5 && method === 'GET') {
      const filePath = m5[1] ?? '';
      const content = this.files.get(`${fullName}:${filePath}`);
      return token(() => {
        if (content === undefined) return [404, notFound];
        const file = openApiExample(
          '/repos/{owner}/{repo}/contents/{path}',
          'get',
          '200',
          'response-if-content-is-a-file',
        );
        return [
          200,
          {
            ...file,
            name: filePath.split('/').pop(),
            path: filePath,
            size: Buffer.byteLength(content),
            content: Buffer.from(content).toString('base64'),
          },
        ];
      });
    }
    const m6 = /^git\/trees\/(.+)$/.exec(rest);
    if (m6 && method === 'GET') {
      const recursive = r.query.get('recursive');
      return token(() => [
        200,
        openApiExample(
          '/repos/{owner}/{repo}/git/trees/{tree_sha}',
          'get',
          '200',
          recursive ? 'response-recursively-retrieving-a-tree' : 'default-response',
        ),
      ]);
    }
    if (rest === 'commits' && method === 'GET') {
      return token(() => [200, openApiExample('/repos/{owner}/{repo}/commits', 'get', '200')]);
    }
    return null;
  }
}

/** Starts a fake GitHub for a fresh test App (its id, keys and installation). */
export async function startFakeGitHub(
  options: Partial<FakeGitHubOptions> = {},
): Promise<{ github: FakeGitHub; appId: number; privateKey: string; publicKey: string }> {
  const keys = generateAppKey();
  const appId = options.appId ?? 4242;
  const github = await new FakeGitHub({
    appId,
    publicKey: keys.publicKey,
    installationId: options.installationId ?? 77,
    ...(options.tokenLifetimeMs ? { tokenLifetimeMs: options.tokenLifetimeMs } : {}),
  }).start();
  return { github, appId, ...keys };
}
