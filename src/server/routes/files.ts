/**
 * The files API of Mode C (docs/mode-c-files.md): an agent reads and writes its stream's files in
 * the server's worktree, lists them, sees their status against the stream's last commit, and
 * applies patches. The rules (paths confined, no symlink followed, limits, author or maintain+,
 * writes serialised) live in src/hosting (stream-files.ts, files.ts, worktree-paths.ts); this
 * plugin adds transport: raw bodies, ETag / If-Match, and the 16 MiB request limit.
 *
 * The raw-body parsers are registered in this plugin only (Fastify encapsulation): everywhere else
 * the API takes JSON bodies of at most 1 MiB.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { getStreamById } from '../../core/streams/streams.js';
import { GitSwarmError } from '../../errors.js';
import { parseEtagList } from '../../hosting/files.js';
import {
  applyStreamPatch,
  deleteStreamFile,
  listStreamTree,
  readStreamFile,
  streamStatus,
  writeStreamFile,
} from '../../hosting/stream-files.js';
import type { Repo, Stream } from '../../store/index.js';
import { actingAgent } from '../plugins/auth.js';
import { readableRepo } from '../route-helpers.js';
import { lazyTypeBoxValidator } from '../schema-compilers.js';
import { Closed, errorResponses, Id, Nullable } from '../schemas.js';
import type { App } from '../types.js';

// The wildcard `*` is the file path, decoded by the router (`%2e%2e` arrives as `..` and is refused
// by the confinement, src/hosting/worktree-paths.ts). TypeBox cannot convert a property named `*`,
// so this plugin's validator checks `id` alone (see below); the schema documents both.
const StreamIdParams = Closed({ id: Id });
const FileParams = {
  type: 'object',
  required: ['id', '*'],
  properties: {
    id: Id,
    '*': { type: 'string', description: 'The file path, relative to the worktree root (URL-encoded)' },
  },
} as const;
type FileParamsT = { id: string; '*': string };

const Blob = Type.String({ description: 'Git blob id of the content as stored (SHA-1 or SHA-256 hex)' });

const JsonFileBody = Closed({
  content: Type.String({ description: 'The file content: text, or base64 with encoding base64' }),
  encoding: Type.Optional(Type.Union([Type.Literal('utf8'), Type.Literal('base64')], { default: 'utf8' })),
});

/** Any body the raw parser takes: documented only (Fastify validates the JSON one). */
const RawBytes = Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'Raw bytes' });

const WriteResponse = Closed({ path: Type.String(), blob: Blob, size: Type.Integer() });

const TreeEntryView = Closed({
  path: Type.String(),
  type: Type.Union([Type.Literal('file'), Type.Literal('dir'), Type.Literal('symlink')]),
  size: Nullable(Type.Integer({ description: 'Bytes (a symlink: its target text); null for a directory' })),
  blob: Nullable(Blob),
});

const StatusView = Closed({
  path: Type.String(),
  change: Type.Union([Type.Literal('added'), Type.Literal('modified'), Type.Literal('deleted')]),
});

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes of a PUT body: raw bytes as sent, or the JSON document's content decoded. */
function contentOf(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  const json = body as { content: string; encoding?: 'utf8' | 'base64' };
  if (json.encoding === 'base64') {
    const compact = json.content.replace(/\s+/g, '');
    if (compact.length % 4 !== 0 || !BASE64.test(compact)) {
      throw new GitSwarmError('invalid_input', 'content is not valid base64.');
    }
    return Buffer.from(compact, 'base64');
  }
  return Buffer.from(json.content, 'utf8');
}

function etag(blob: string): string {
  return `"${blob}"`;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The Mode C files routes. */
export async function fileRoutes(app: App): Promise<void> {
  const deps = app.deps;
  const hosting = app.hosting;
  const bodyLimit = hosting.maxRequestBytes;

  // Raw bodies for these routes only: bytes of any type but JSON (text/plain included).
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_request, body, done) => done(null, body));
  // Raw bytes are the file as sent, whatever the schema documents for them; JSON bodies, params and
  // query strings are validated as everywhere else (src/server/app.ts).
  const validateStreamId = lazyTypeBoxValidator({
    schema: StreamIdParams,
    httpPart: 'params',
    method: 'GET',
    url: '',
  });
  app.setValidatorCompiler((route) => {
    if (route.schema === FileParams) {
      return (value: unknown) => {
        const params = value as FileParamsT;
        const checked = validateStreamId({ id: params.id });
        return typeof checked === 'object' && 'error' in checked && checked.error
          ? checked
          : { value: params };
      };
    }
    const validate = lazyTypeBoxValidator(route);
    if (route.httpPart !== 'body') return validate;
    return (value: unknown) => (Buffer.isBuffer(value) ? { value } : validate(value ?? {}));
  });

  const loadReadable = async (
    request: FastifyRequest,
    id: string,
  ): Promise<{ repo: Repo; stream: Stream }> => {
    const stream = await getStreamById(deps.store.db, id);
    return { stream, repo: await readableRepo(deps, request, stream.repo_id) };
  };

  /** A write's target: the acting agent, and the stream if it may read it (write rights come after). */
  const loadWritable = async (request: FastifyRequest, id: string) => {
    const actor = actingAgent(request);
    return { actor, ...(await loadReadable(request, id)) };
  };

  const preconditions = (request: FastifyRequest) => ({
    ifMatch: parseEtagList(headerText(request.headers['if-match'])),
    ifNoneMatch: parseEtagList(headerText(request.headers['if-none-match'])),
  });

  app.get(
    '/streams/:id/files/*',
    {
      schema: {
        summary: "Read a file of the stream's server worktree (Mode C)",
        description:
          'The raw bytes (application/octet-stream) with ETag: "<blob id>"; If-None-Match with that ETag ' +
          'answers 304. A symlink is read as its target text (never followed), with ' +
          'X-GitSwarm-File-Type: symlink. 404 not_found when absent; 400 invalid_path for a path outside ' +
          'the worktree, in .git, through a symlink or of a directory; 409 invalid_state for a repository ' +
          'the server holds no git of.',
        tags: ['files'],
        params: FileParams,
        response: {
          200: {
            description: 'The file’s bytes',
            content: { 'application/octet-stream': { schema: RawBytes } },
          },
          304: { description: 'Not modified (If-None-Match matched)', type: 'null' },
          ...errorResponses(400, 401, 403, 404, 409, 413),
        },
      },
    },
    async (request: FastifyRequest<{ Params: FileParamsT }>, reply: FastifyReply) => {
      const target = await loadReadable(request, request.params.id);
      const file = await readStreamFile(hosting, { ...target, path: request.params['*'] });
      reply.header('etag', etag(file.blob));
      reply.header('x-gitswarm-file-type', file.type);
      reply.header('x-content-type-options', 'nosniff');
      const ifNoneMatch = parseEtagList(headerText(request.headers['if-none-match']));
      if (ifNoneMatch?.includes(file.blob) || ifNoneMatch?.includes('*')) {
        return reply.code(304).send();
      }
      return reply.type('application/octet-stream').send(file.content);
    },
  );

  app.put(
    '/streams/:id/files/*',
    {
      bodyLimit,
      schema: {
        summary: "Write a file of the stream's server worktree (Mode C; its author or maintain+)",
        description:
          'The body is the file’s raw bytes (any Content-Type but JSON), or JSON {content, encoding?: ' +
          '"utf8" | "base64"} (text with NUL characters must go as base64 or raw bytes). Missing ' +
          'directories are created; a replaced file keeps its mode. If-Match: "<blob id>" (or *) → 412 ' +
          'precondition_failed when the file changed since; If-None-Match: * creates only. 201 when the ' +
          'file is new, 200 when replaced; ETag is the new blob id. Refused: 413 over the file limit ' +
          '(10 MiB by default) or the request limit (16 MiB); 400 invalid_path (outside the worktree, ' +
          '.git, control characters, a symlink on the way or at the path, a device); 403 forbidden (not ' +
          'the author, no maintain access); 409 invalid_state (a directory there, a stream that takes no ' +
          'more work, Mode B).',
        tags: ['files'],
        params: FileParams,
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: '"<blob id>" or *' })),
          'if-none-match': Type.Optional(Type.String({ description: '* to create only' })),
        }),
        body: {
          content: {
            'application/json': { schema: JsonFileBody },
            'application/octet-stream': { schema: RawBytes },
          },
        },
        response: {
          200: WriteResponse,
          201: WriteResponse,
          ...errorResponses(400, 401, 403, 404, 409, 412, 413),
        },
      } as never,
    },
    async (request: FastifyRequest<{ Params: FileParamsT }>, reply: FastifyReply) => {
      const target = await loadWritable(request, request.params.id);
      const result = await writeStreamFile(deps, hosting, {
        ...target,
        ...preconditions(request),
        path: request.params['*'],
        content: contentOf(request.body),
      });
      reply.header('etag', etag(result.blob));
      reply.code(result.created ? 201 : 200);
      return { path: result.path, blob: result.blob, size: result.size };
    },
  );

  app.delete(
    '/streams/:id/files/*',
    {
      schema: {
        summary: "Delete a file or symlink of the stream's server worktree (Mode C; its author or maintain+)",
        description:
          'Deletes the file (a symlink itself, never its target) and the directories it leaves empty. ' +
          'If-Match: "<blob id>" → 412 when the file changed since. 404 when absent; 400 for a directory.',
        tags: ['files'],
        params: FileParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ description: '"<blob id>" or *' })) }),
        response: {
          200: Closed({ path: Type.String(), deleted: Type.Literal(true), blob: Blob }),
          ...errorResponses(400, 401, 403, 404, 409, 412),
        },
      },
    },
    async (request: FastifyRequest<{ Params: FileParamsT }>) => {
      const target = await loadWritable(request, request.params.id);
      const result = await deleteStreamFile(deps, hosting, {
        ...target,
        ...preconditions(request),
        path: request.params['*'],
      });
      return { path: result.path, deleted: true as const, blob: result.blob };
    },
  );

  app.get(
    '/streams/:id/tree',
    {
      schema: {
        summary: "List the stream's server worktree (Mode C), uncommitted changes included",
        description:
          'One directory level (default: the root), or every file below with recursive=true. Entries ' +
          'are sorted by path; a directory has size and blob null; a symlink is listed, never followed. ' +
          '.git is never listed.',
        tags: ['files'],
        params: StreamIdParams,
        querystring: Closed({
          path: Type.Optional(
            Type.String({ maxLength: 16_384, description: 'A directory (default: the root)' }),
          ),
          recursive: Type.Optional(
            Type.Boolean({ description: 'Every file below, without directory entries' }),
          ),
        }),
        response: {
          200: Closed({ path: Type.String(), entries: Type.Array(TreeEntryView) }),
          ...errorResponses(400, 401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const target = await loadReadable(request, request.params.id);
      const path = request.query.path ?? '';
      const entries = await listStreamTree(hosting, {
        ...target,
        path,
        recursive: request.query.recursive === true,
      });
      return {
        path: path
          .split('/')
          .filter((p) => p !== '' && p !== '.')
          .join('/'),
        entries,
      };
    },
  );

  app.get(
    '/streams/:id/status',
    {
      schema: {
        summary: "What changed in the stream's server worktree since its last commit (Mode C)",
        description:
          'Files added (untracked and not ignored, or staged new), modified or deleted against the ' +
          'stream’s HEAD commit; sorted by path. Empty after a commit.',
        tags: ['files'],
        params: StreamIdParams,
        response: {
          200: Closed({ changes: Type.Array(StatusView) }),
          ...errorResponses(401, 403, 404, 409),
        },
      },
    },
    async (request) => {
      const target = await loadReadable(request, request.params.id);
      return { changes: await streamStatus(hosting, target) };
    },
  );

  app.post(
    '/streams/:id/patch',
    {
      bodyLimit,
      schema: {
        summary: "Apply a unified diff to the stream's server worktree (Mode C; its author or maintain+)",
        description:
          'Send the output of git diff (a/ and b/ prefixes) with Content-Type: text/x-diff. All or ' +
          'nothing: every path is confined first (400 invalid_path for .git, .., absolute paths, a path ' +
          'through a symlink, a submodule), then git apply --check must pass: else 409 patch_rejected with ' +
          'hunks: [{path, line, reason}] and nothing changed. Hunk line counts are recounted. A result ' +
          'with a file over the file limit is undone (413).',
        tags: ['files'],
        params: StreamIdParams,
        body: { content: { 'text/x-diff': { schema: RawBytes } } },
        response: {
          200: Closed({ applied: Type.Literal(true), paths: Type.Array(Type.String()) }),
          ...errorResponses(400, 401, 403, 404, 409, 413, 415),
        },
      } as never,
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      if (!Buffer.isBuffer(request.body)) {
        throw new GitSwarmError('unsupported_media_type', 'Send the patch as raw text, not JSON.', {
          hint: 'Send the output of git diff with Content-Type: text/x-diff.',
        });
      }
      const target = await loadWritable(request, request.params.id);
      const result = await applyStreamPatch(deps, hosting, { ...target, patch: request.body });
      return { applied: true as const, paths: result.paths };
    },
  );
}
