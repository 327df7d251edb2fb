/**
 * Read-only git over smart HTTP for server-held repositories (Mode C), served by git's own
 * `git http-backend` run as a CGI program. URLs (outside `/api/v1`, as git wants them):
 *
 *   GET  /git/<repoId>.git/info/refs?service=git-upload-pack   (ref advertisement)
 *   POST /git/<repoId>.git/git-upload-pack                      (negotiation and the pack)
 *
 * so `git clone http://HOST/git/<repoId>.git` and `git fetch` work; the `.git` suffix is optional.
 * Nothing else is served: pushes (`git-receive-pack`, both steps) are refused with 403 `forbidden`
 * (agents write through the files API and commit), the dumb protocol (`info/refs` without a
 * service, `objects/…`, `HEAD`) is 404, and so is every repository without `server_git`.
 *
 * Who may read: anyone for a repository that is not private; an agent with read access
 * (src/core/governance/access.ts, through the same check as every other read) for a private one. The key
 * travels as `Authorization: Bearer KEY` (`git -c http.extraHeader="Authorization: Bearer KEY"`)
 * or as the password of HTTP Basic (git's credential helpers; the user name is ignored). An
 * anonymous request for a private repository gets 401 with `WWW-Authenticate: Basic`, so git asks
 * its credential helper.
 *
 * The backend is spawned with an argument vector (no shell) and an environment built here, never
 * the server's own (no database URL or secret reaches git): the repository directory is ours,
 * the path info one of two fixed strings, so no part of the URL reaches the filesystem. Its config
 * is pinned on the command line: `http.receivepack=false`, `http.getanyfile=false`. Request bodies
 * stream into it unparsed (git gzips large fetch requests; http-backend inflates them) and are at
 * most GIT_REQUEST_LIMIT bytes (413 above); its CGI headers (`Status:`, `Content-Type`, caching)
 * are parsed and its body streams out. A client that goes away kills its backend. How many
 * backends run at once, in all and per client, is bounded (src/hosting/git-process-slots.ts).
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { getRepoForAction } from '../core/governance/access.js';
import { getRepo } from '../core/repos/repos.js';
import { GitSwarmError } from '../errors.js';
import type { App } from '../server/types.js';
import type { Repo } from '../store/index.js';
import { isUuid } from '../util/ids.js';
import { type HostingConfig, hostedRepoDir } from './config.js';
import { GitProcessSlots } from './git-process-slots.js';

/** Where git is served: `<prefix>/<repoId>.git/…`. */
export const GIT_HTTP_PREFIX = '/git';
/**
 * Largest upload-pack request body (before inflating), and what http-backend may buffer of one
 * after (GIT_HTTP_MAX_REQUEST_BUFFER): 10 MiB, git's own default. A fetch's negotiation sends
 * its `have` lines in rounds far below this; 413 `payload_too_large` above.
 */
export const GIT_REQUEST_LIMIT = 10 * 1024 * 1024;
/** At most this much of a failing backend's output is kept for the error message and the log. */
const ERROR_TEXT_LIMIT = 4096;
/** CGI response headers passed on to the client (the rest are dropped). */
const PASSED_HEADERS = new Set(['content-type', 'cache-control', 'expires', 'pragma']);
const UPLOAD_PACK = 'git-upload-pack';
const RECEIVE_PACK = 'git-receive-pack';
const UPLOAD_PACK_REQUEST = `application/x-${UPLOAD_PACK}-request`;
/** `Git-Protocol: version=2` and the like (passed to git as GIT_PROTOCOL); anything else is dropped. */
const GIT_PROTOCOL_SHAPE = /^[A-Za-z0-9=:._-]{1,100}$/;

/** The URL of a repository's git: `<base>/git/<repoId>.git`. */
export function gitCloneUrl(baseUrl: string, repoId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${GIT_HTTP_PREFIX}/${repoId}.git`;
}

/** Where a server-held repository's git lives: its recorded path, else its place in the data dir. */
export function servedRepoDir(config: HostingConfig, repo: Pick<Repo, 'id' | 'path'>): string {
  return repo.path ?? hostedRepoDir(config, repo.id);
}

function readOnly(): GitSwarmError {
  return new GitSwarmError('forbidden', 'Git over HTTP is read-only on this server: pushes are refused.', {
    hint: 'Write files through PUT /api/v1/streams/:id/files/<path> and commit with POST /api/v1/streams/:id/commits.',
  });
}

function noSuchGitRepo(name: string): GitSwarmError {
  return new GitSwarmError('repo_not_found', `No git repository ${name.slice(0, 120)} is served here.`, {
    hint: 'GET /api/v1/repos/:id/clone-url gives the URL of a repository this server holds.',
  });
}

/**
 * The repository named by the URL segment (`<id>.git` or `<id>`), if it is held by the server
 * (`server_git`) and the caller may read it; else `repo_not_found` (unknown, malformed or not
 * server-held), `unauthorized` (anonymous on a private one) or `forbidden` (no read access).
 */
async function servedRepo(app: App, request: FastifyRequest, segment: string): Promise<Repo> {
  const id = segment.endsWith('.git') ? segment.slice(0, -'.git'.length) : segment;
  if (!isUuid(id)) throw noSuchGitRepo(segment);
  const repo = await getRepo(app.deps.store.db, id).catch((error: unknown) => {
    if (error instanceof GitSwarmError && error.code === 'repo_not_found') throw noSuchGitRepo(segment);
    throw error;
  });
  if (!repo.server_git) throw noSuchGitRepo(segment);
  if (request.agent) {
    return (await getRepoForAction(app.deps, app.deps.store.db, repo.id, request.agent, 'read')).repo;
  }
  if (repo.is_private) {
    throw new GitSwarmError('unauthorized', 'This repository is private; send an API key.', {
      hint: 'git -c http.extraHeader="Authorization: Bearer <api key>" clone <url>, or give the key as the password.',
    });
  }
  return repo;
}

interface CgiHead {
  status: number;
  headers: Record<string, string>;
  /** Body bytes that arrived with the headers. */
  rest: Buffer;
}

/** Splits a CGI response's header block off; null until the blank line has arrived. */
export function parseCgiHead(data: Buffer): CgiHead | null {
  const crlf = data.indexOf('\r\n\r\n');
  const lf = data.indexOf('\n\n');
  let end: number;
  let separator: number;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    end = crlf;
    separator = 4;
  } else if (lf >= 0) {
    end = lf;
    separator = 2;
  } else return null;
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of data.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') {
      const code = Number.parseInt(value, 10);
      if (code >= 100 && code <= 599) status = code;
    } else if (PASSED_HEADERS.has(name)) headers[name] = value;
  }
  return { status, headers, rest: data.subarray(end + separator) };
}

/** The catalogue error for a status http-backend answered with (its text as the message). */
function backendRefusal(status: number, text: string): GitSwarmError {
  const message = `git http-backend: ${text.trim().split('\n')[0] || `status ${status}`}`;
  if (status === 404) return new GitSwarmError('repo_not_found', message);
  if (status === 403) return new GitSwarmError('forbidden', message);
  if (status === 415) return new GitSwarmError('unsupported_media_type', message);
  if (status === 413) return new GitSwarmError('payload_too_large', message);
  if (status < 500) return new GitSwarmError('invalid_input', message);
  return new GitSwarmError('git_failed', message);
}

interface BackendCall {
  /** The bound on running backends; a slot is held until this call's process has exited. */
  slots: GitProcessSlots;
  repoDir: string;
  pathInfo: '/info/refs' | `/${typeof UPLOAD_PACK}`;
  query: string;
  /** The request body to stream in (POST), or null. */
  body: IncomingMessage | null;
}

function backendEnv(request: FastifyRequest, call: BackendCall): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PROJECT_ROOT: call.repoDir,
    PATH_INFO: call.pathInfo,
    QUERY_STRING: call.query,
    REQUEST_METHOD: request.method,
    GIT_HTTP_EXPORT_ALL: '1',
    // http-backend refuses a body of exactly its limit; ours is "more than GIT_REQUEST_LIMIT".
    GIT_HTTP_MAX_REQUEST_BUFFER: String(GIT_REQUEST_LIMIT + 1),
    REMOTE_ADDR: request.ip,
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'false',
    GIT_CONFIG_KEY_1: 'http.getanyfile',
    GIT_CONFIG_VALUE_1: 'false',
  };
  if (process.env.HOME) env.HOME = process.env.HOME;
  if (request.agent) env.REMOTE_USER = request.agent.name;
  const protocol = request.headers['git-protocol'];
  if (typeof protocol === 'string' && GIT_PROTOCOL_SHAPE.test(protocol)) env.GIT_PROTOCOL = protocol;
  if (call.body) {
    env.CONTENT_TYPE = UPLOAD_PACK_REQUEST;
    const length = request.headers['content-length'];
    if (length) env.CONTENT_LENGTH = length;
    const encoding = request.headers['content-encoding'];
    if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
  }
  return env;
}

/**
 * Runs http-backend for one request and answers with its response: status and headers once they
 * have arrived, then its output streamed. A backend that fails before its headers answers as the
 * matching catalogue error; one that fails after them cuts the response short (git notices).
 */
function runBackend(request: FastifyRequest, reply: FastifyReply, call: BackendCall): Promise<Readable> {
  // Taken before the promise so that a refusal is a plain 429, with nothing spawned.
  let release: () => void;
  try {
    release = call.slots.take(request.agent?.id ?? `address:${request.ip}`);
  } catch (error) {
    reply.header('retry-after', '2');
    throw error;
  }
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['http-backend'], {
      cwd: call.repoDir,
      env: backendEnv(request, call),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let settled = false;
    let tooLarge = false;
    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    // The client went away (or the response is done): the backend has nobody to answer.
    reply.raw.on('close', kill);
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrBytes < ERROR_TEXT_LIMIT) stderr.push(chunk);
      stderrBytes += chunk.length;
    });
    child.stdin.on('error', () => {});

    if (call.body) {
      let received = 0;
      call.body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > GIT_REQUEST_LIMIT && !tooLarge) {
          tooLarge = true;
          call.body?.unpipe(child.stdin);
          kill();
        }
      });
      call.body.pipe(child.stdin);
    } else child.stdin.end();

    let head = Buffer.alloc(0);
    // The parsed headers of a successful answer, held back until its first body byte: http-backend
    // writes them before it reads the request, and a failure until then is still answered as one.
    let answer: CgiHead | null = null;
    let out: PassThrough | null = null;
    let refusal: { status: number; text: Buffer[] } | null = null;
    const start = (first: Buffer) => {
      if (!answer) return;
      out = new PassThrough();
      reply.code(answer.status);
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      if (first.length > 0) out.write(first);
      settled = true;
      resolve(out);
    };
    const onData = (chunk: Buffer) => {
      if (out) {
        out.write(chunk);
        return;
      }
      if (answer) {
        start(chunk);
        return;
      }
      if (refusal) {
        if (Buffer.concat(refusal.text).length < ERROR_TEXT_LIMIT) refusal.text.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const parsed = parseCgiHead(head);
      if (!parsed) {
        if (head.length > 64 * 1024) {
          settled = true;
          kill();
          reject(new GitSwarmError('git_failed', 'git http-backend sent no end of its headers.'));
        }
        return;
      }
      if (parsed.status >= 400) {
        refusal = { status: parsed.status, text: [parsed.rest] };
        return;
      }
      answer = parsed;
      if (parsed.rest.length > 0) start(parsed.rest);
    };
    child.stdout.on('data', onData);
    child.on('error', (error) => {
      release();
      if (settled) out?.destroy(error);
      else {
        settled = true;
        reject(new GitSwarmError('git_failed', `Could not run git http-backend: ${error.message}`));
      }
    });
    child.on('close', (code, signal) => {
      release();
      reply.raw.off('close', kill);
      const stderrText = Buffer.concat(stderr).toString('utf8').trim();
      const failed = code !== 0 || tooLarge;
      if (failed) {
        request.log.warn(
          { code, signal, stderr: stderrText.slice(0, ERROR_TEXT_LIMIT) },
          'git http-backend failed',
        );
      }
      if (settled) {
        if (failed) out?.destroy(new Error(`git http-backend exited with ${code ?? signal}`));
        else out?.end();
        return;
      }
      if (!failed && answer) {
        start(Buffer.alloc(0));
        out?.end();
        return;
      }
      settled = true;
      if (tooLarge || /request was larger than our maximum size/.test(stderrText)) {
        reject(
          new GitSwarmError(
            'payload_too_large',
            `A git request body may be at most ${GIT_REQUEST_LIMIT} bytes.`,
          ),
        );
      } else if (refusal) {
        reject(backendRefusal(refusal.status, Buffer.concat(refusal.text).toString('utf8')));
      } else {
        const first = stderrText.split('\n')[0] ?? '';
        reject(new GitSwarmError('git_failed', `git http-backend failed (exit ${code ?? signal}): ${first}`));
      }
    });
  });
}

const RepoParams = Type.Object({ repo: Type.String({ maxLength: 200, description: '<repoId>.git' }) });
const ServiceQuery = Type.Object({ service: Type.Optional(Type.String({ maxLength: 100 })) });
const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const GIT_RESPONSES = {
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  413: ErrorBody,
  429: ErrorBody,
};
const binary = (contentType: string) => ({
  description: 'git smart-HTTP data',
  content: { [contentType]: { schema: { type: 'string', format: 'binary' } } },
});

/**
 * The read-only git routes (see the module comment). Registered at the root (not under the API
 * prefix); its raw body handling stays inside this plugin.
 */
export async function gitHttpRoutes(app: App): Promise<void> {
  // Git's request bodies are not parsed: the route streams them into http-backend (which also
  // inflates gzip). Both content types are taken, so a push is refused with 403, not 415.
  app.addContentTypeParser(
    [UPLOAD_PACK_REQUEST, `application/x-${RECEIVE_PACK}-request`],
    { bodyLimit: GIT_REQUEST_LIMIT },
    (_request, _payload, done) => done(null, undefined),
  );
  app.addHook('onSend', async (request, reply, payload) => {
    // An anonymous request for a private repository: let git ask its credential helper.
    if (reply.statusCode === 401) reply.header('www-authenticate', 'Basic realm="GitSwarm", charset="UTF-8"');
    // A refused POST may leave its body unread: close the connection rather than read it all.
    if (reply.statusCode >= 400 && request.method === 'POST') reply.header('connection', 'close');
    return payload;
  });
  const config = { auth: 'optional', basicAuth: true, idempotent: false } as const;
  const slots = new GitProcessSlots(app.hosting.maxGitProcesses, app.hosting.maxGitProcessesPerClient);

  app.get(
    '/:repo/info/refs',
    {
      config,
      schema: {
        summary: 'git smart HTTP: the ref advertisement (read-only; service=git-upload-pack)',
        description:
          'The first request of `git clone` / `git fetch` of the URL from GET /api/v1/repos/:id/clone-url. ' +
          'Private repositories need a key: Authorization: Bearer KEY, or HTTP Basic with the key as password. ' +
          'service=git-receive-pack (a push) is 403 forbidden.',
        tags: ['git'],
        params: RepoParams,
        querystring: ServiceQuery,
        response: {
          200: binary(`application/x-${UPLOAD_PACK}-advertisement`),
          400: ErrorBody,
          ...GIT_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const service = request.query.service;
      if (service === RECEIVE_PACK) throw readOnly();
      if (service !== UPLOAD_PACK) {
        throw new GitSwarmError(
          'repo_not_found',
          'Only smart HTTP is served (info/refs?service=git-upload-pack).',
          {
            hint: 'Use a git client that speaks smart HTTP (any git since 1.6.6).',
          },
        );
      }
      const repo = await servedRepo(app, request, request.params.repo);
      const body = await runBackend(request, reply, {
        slots,
        repoDir: servedRepoDir(app.hosting, repo),
        pathInfo: '/info/refs',
        query: `service=${UPLOAD_PACK}`,
        body: null,
      });
      return reply.send(body);
    },
  );

  app.post(
    `/:repo/${UPLOAD_PACK}`,
    {
      config,
      bodyLimit: GIT_REQUEST_LIMIT,
      schema: {
        summary: 'git smart HTTP: fetch negotiation and pack (read-only)',
        description: `Body: a git upload-pack request (${UPLOAD_PACK_REQUEST}, gzip allowed), at most ${GIT_REQUEST_LIMIT} bytes.`,
        tags: ['git'],
        params: RepoParams,
        response: { 200: binary(`application/x-${UPLOAD_PACK}-result`), 415: ErrorBody, ...GIT_RESPONSES },
      },
    },
    async (request, reply) => {
      const repo = await servedRepo(app, request, request.params.repo);
      if (request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() !== UPLOAD_PACK_REQUEST) {
        throw new GitSwarmError(
          'unsupported_media_type',
          `A git-upload-pack request has Content-Type ${UPLOAD_PACK_REQUEST}.`,
        );
      }
      const encoding = request.headers['content-encoding']?.toLowerCase();
      if (encoding && encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'identity') {
        throw new GitSwarmError(
          'unsupported_media_type',
          `Content-Encoding ${encoding.slice(0, 40)} is not accepted (gzip is).`,
        );
      }
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > GIT_REQUEST_LIMIT) {
        throw new GitSwarmError(
          'payload_too_large',
          `A git request body may be at most ${GIT_REQUEST_LIMIT} bytes.`,
        );
      }
      const body = await runBackend(request, reply, {
        slots,
        repoDir: servedRepoDir(app.hosting, repo),
        pathInfo: `/${UPLOAD_PACK}`,
        query: '',
        body: request.raw,
      });
      return reply.send(body);
    },
  );

  app.post(
    `/:repo/${RECEIVE_PACK}`,
    {
      config,
      schema: {
        summary: 'git push: refused (git over HTTP is read-only)',
        tags: ['git'],
        params: RepoParams,
        response: { 403: ErrorBody },
      },
    },
    async () => {
      throw readOnly();
    },
  );
}
