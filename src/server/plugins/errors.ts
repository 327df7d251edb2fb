/**
 * One error handler for the whole API: every failure leaves as `{error: {code, message, hint?}}` with
 * the status the catalogue (src/errors.ts) gives its code, and a hint an HTTP client can follow
 * (http-hints.ts). Validation, body-parsing and routing errors
 * from Fastify are mapped to catalogue codes here, so clients see one vocabulary.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type ErrorCode, GitSwarmError, isGitSwarmError } from '../../errors.js';
import { httpHintOf } from '../http-hints.js';

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Turns the first schema violation into one sentence that names the field. */
export function describeValidation(part: string, issues: readonly ValidationIssue[]): string {
  // An unknown property also fails as "schema is false"; report the clearer additionalProperties issue.
  const issue =
    issues.find((i) => i.keyword === 'additionalProperties') ??
    issues.find((i) => i.keyword === 'required') ??
    issues[0];
  if (!issue) return `Invalid ${part}.`;
  const where = `${part}${issue.instancePath ?? ''}`;
  const params = issue.params ?? {};
  if (issue.keyword === 'additionalProperties') {
    const names = (params.additionalProperties ?? params.additionalProperty) as string[] | string | undefined;
    const list = Array.isArray(names) ? names : names ? [names] : [];
    return `Unknown field${list.length > 1 ? 's' : ''} ${list.map((n) => JSON.stringify(n)).join(', ')} in ${where}.`;
  }
  if (issue.keyword === 'required') {
    const names = (params.requiredProperties ?? params.missingProperty) as string[] | string | undefined;
    const list = Array.isArray(names) ? names : names ? [names] : [];
    return `Missing field${list.length > 1 ? 's' : ''} ${list.map((n) => JSON.stringify(n)).join(', ')} in ${where}.`;
  }
  return `Invalid ${where}: ${issue.message ?? 'does not match the schema'}.`;
}

/** PostgreSQL's SQLSTATE for a value that does not parse as the column's type. */
const INVALID_TEXT_REPRESENTATION = '22P02';

const FASTIFY_CODES: Record<string, { code: ErrorCode; message: (error: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: 'payload_too_large',
    message: () => 'The request body is larger than the server accepts (bodyLimit).',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: 'invalid_input',
    message: () => 'The request body is not valid JSON.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: 'invalid_input',
    message: () => 'The request body is empty; send a JSON document.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'unsupported_media_type',
    message: () => 'The request body has an unsupported Content-Type.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'invalid_input',
    message: () => 'The Content-Length header does not match the body.',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: 'uri_too_long',
    message: () => 'A path segment of the URL is longer than the server accepts (100 characters).',
  },
  FST_ERR_BAD_URL: {
    code: 'invalid_input',
    message: () => 'The URL is not valid (a percent-escape does not decode).',
  },
};

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'invalid_state';
    case 413:
      return 'payload_too_large';
    case 414:
      return 'uri_too_long';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    default:
      return status >= 500 ? 'internal_error' : 'invalid_input';
  }
}

/** Maps any thrown value to the GitSwarmError the client will see. */
export function toClientError(error: unknown): GitSwarmError {
  if (isGitSwarmError(error)) return error;
  const fastifyError = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError?.validation)) {
    return new GitSwarmError(
      'invalid_input',
      describeValidation(fastifyError.validationContext ?? 'request', fastifyError.validation),
    );
  }
  if (error instanceof SyntaxError)
    return new GitSwarmError('invalid_input', 'The request body is not valid JSON.');
  if (fastifyError?.code === INVALID_TEXT_REPRESENTATION) {
    // A user-given id that cannot be a uuid (PostgreSQL refuses it before looking): no such row.
    return /uuid/i.test(fastifyError.message)
      ? new GitSwarmError('not_found', 'No resource with that id.')
      : new GitSwarmError('invalid_input', 'A value has the wrong format.');
  }
  const known = fastifyError?.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (known) return new GitSwarmError(known.code, known.message(fastifyError));
  const status = typeof fastifyError?.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 500) return new GitSwarmError('internal_error', 'Internal server error.');
  return new GitSwarmError(codeForStatus(status), fastifyError.message || 'Bad request.');
}

function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const clientError = toClientError(error);
  if (clientError.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ code: clientError.code }, clientError.message);
  }
  const body = clientError.toJSON();
  const hint = httpHintOf(clientError);
  if (hint) body.error.hint = hint;
  else delete body.error.hint;
  if (clientError.code === 'internal_error') body.error.request_id = request.id;
  return reply.status(clientError.status).type('application/json; charset=utf-8').send(body);
}

/**
 * Errors the router meets before any route (a URL that does not decode, a too long path segment):
 * Fastify's `frameworkErrors` option, answered like every other error.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(error, request, reply);
}

/** Status line and error for what Node's HTTP parser refuses before Fastify sees a request. */
function parserRefusal(error: NodeJS.ErrnoException): { status: number; text: string; error: GitSwarmError } {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      text: 'Request Header Fields Too Large',
      error: new GitSwarmError(
        'headers_too_large',
        'The request line and headers are larger than the server accepts (16 KiB).',
      ),
    };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      text: 'Request Timeout',
      error: new GitSwarmError('invalid_input', 'The request was not received in time.'),
    };
  }
  return {
    status: 400,
    text: 'Bad Request',
    error: new GitSwarmError('invalid_input', 'The request is not valid HTTP.'),
  };
}

/**
 * Fastify's `clientErrorHandler`: a request Node's parser refuses (headers too large, not HTTP)
 * gets the documented error body too, then the connection is closed.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal = parserRefusal(error);
  const body = JSON.stringify(refusal.error.toJSON());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${refusal.status} ${refusal.text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return sendError(
      new GitSwarmError('not_found', `No route ${request.method} ${path.slice(0, 200)}`, {
        hint: 'The API is described at /openapi.json and /docs.',
      }),
      request,
      reply,
    );
  });
}

/** Installs the error handler and the not-found handler. */
export const errors = fp(errorsPlugin, { name: 'gitswarm-errors', fastify: '5.x' });
