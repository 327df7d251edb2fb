/**
 * A plain HTTP transport for the outbox tests (Node's fetch against a real listening server, paths
 * under /api/v1 as GitSwarmClient takes them): each
 * write carries its Idempotency-Key and the named agent's key; no answer becomes
 * `server_unreachable`, as the product's client reports it.
 */
import { GitSwarmError } from '../../src/errors.js';
import type { SendRequest } from '../../src/remote/outbox.js';

export interface TestTransport {
  send: SendRequest;
  get(path: string): Promise<unknown>;
  /** Requests that got an answer, in order (method, path, key, replayed header). */
  answered: { method: string; path: string; key: string | null; status: number; replayed: boolean }[];
}

export function httpTransport(
  base: () => string,
  keys: Map<string, string>,
  defaultAgent: string,
): TestTransport {
  const answered: TestTransport['answered'] = [];
  const call = async (
    method: string,
    path: string,
    agent: string | null,
    body: unknown,
    key: string | null,
  ) => {
    const apiKey = keys.get(agent ?? defaultAgent);
    let response: Response;
    try {
      response = await fetch(`${base()}/api/v1${path}`, {
        method,
        headers: {
          ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          ...(key ? { 'idempotency-key': key } : {}),
          ...(body === undefined || body === null ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined || body === null ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new GitSwarmError('server_unreachable', `${base()} did not answer.`, { cause: error });
    }
    const text = await response.text();
    answered.push({
      method,
      path,
      key,
      status: response.status,
      replayed: response.headers.get('idempotent-replayed') === 'true',
    });
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : null };
  };
  return {
    answered,
    send: (request) =>
      call(request.method, request.path, request.agent, request.body, request.idempotencyKey),
    async get(path) {
      const answer = await call('GET', path, null, undefined, null);
      if (answer.status >= 400) {
        const error = (answer.body as { error: { code: string; message: string } }).error;
        throw new GitSwarmError(error.code as 'not_found', error.message);
      }
      return answer.body;
    },
  };
}
