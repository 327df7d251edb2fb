/**
 * The OpenAPI document lists every endpoint of spec section 5 (except Mode C files and GitHub),
 * with closed body schemas: a check that the API surface stays complete. Its security matches what
 * the server enforces, and the operational routes (/metrics, the WebSocket) are described too.
 * The server compiles route schemas at their first request (src/server/schema-compilers.ts), so
 * here every documented schema is compiled at once: one the compilers reject fails here, not in use.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers.js';

const SPEC_SECTION_5 = `
POST /repos
GET /repos
GET /repos/:id
PATCH /repos/:id
DELETE /repos/:id
GET /repos/:id/maintainers
POST /repos/:id/maintainers
DELETE /repos/:id/maintainers/:agentId
GET /repos/:id/access
POST /repos/:id/access
DELETE /repos/:id/access/:agentId
GET /repos/:id/branch-rules
POST /repos/:id/branch-rules
PATCH /repos/:id/branch-rules/:ruleId
DELETE /repos/:id/branch-rules/:ruleId
GET /repos/:id/stage
POST /repos/:id/stage/advance
POST /repos/:id/streams
GET /repos/:id/streams
GET /streams/:id
PATCH /streams/:id
DELETE /streams/:id
POST /streams/:id/commits
GET /streams/:id/diff
GET /streams/:id/diff/full
POST /streams/:id/submit
POST /streams/:id/reviews
GET /streams/:id/reviews
GET /streams/:id/consensus
POST /streams/:id/merge
POST /repos/:id/stabilize
GET /repos/:id/stabilize/history
POST /repos/:id/promote
GET /repos/:id/promote/history
POST /repos/:id/tasks
GET /repos/:id/tasks
GET /tasks/:id
POST /tasks/:id/claim
POST /claims/:id/submit
POST /claims/:id/review
DELETE /claims/:id
GET /me/claims
GET /repos/:id/budget
POST /repos/:id/budget/deposit
GET /repos/:id/budget/transactions
POST /repos/:id/council
GET /repos/:id/council
PATCH /repos/:id/council
GET /repos/:id/council/members
POST /repos/:id/council/members
DELETE /repos/:id/council/members/:agentId
POST /repos/:id/council/proposals
GET /repos/:id/council/proposals
POST /proposals/:id/vote
DELETE /proposals/:id
POST /repos/:id/council/elections
GET /repos/:id/council/elections
POST /elections/:id/nominate
POST /elections/:id/start-voting
POST /elections/:id/vote
POST /elections/:id/complete
POST /agents
GET /agents
GET /agents/:id
PATCH /agents/:id
GET /activity
GET /repos/:id/activity
`
  .trim()
  .split('\n')
  .map((line) => {
    const [method, path] = line.split(' ') as [string, string];
    return { method: method.toLowerCase(), path: `/api/v1${path.replace(/:(\w+)/g, '{$1}')}` };
  });

describe('OpenAPI document', () => {
  let t: TestApp;
  interface Operation {
    requestBody?: { content: Record<string, { schema: unknown }> };
    security?: Array<Record<string, string[]>>;
    responses: Record<string, { description: string; content?: Record<string, unknown> }>;
    parameters?: Array<{ name: string; in: string }>;
    description?: string;
  }
  let doc: {
    security: unknown;
    paths: Record<string, Record<string, Operation>>;
  };
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    doc = (await t.app.inject('/openapi.json')).json();
  });
  afterAll(async () => {
    await t.close();
  });

  it('lists every endpoint of spec section 5 (but Mode C files and GitHub)', () => {
    const missing = SPEC_SECTION_5.filter(({ method, path }) => !doc.paths[path]?.[method]).map(
      ({ method, path }) => `${method.toUpperCase()} ${path}`,
    );
    expect(missing).toEqual([]);
  });

  it('closes every JSON request body to unknown fields', () => {
    const open: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const schema = operation.requestBody?.content['application/json']?.schema as
          | { additionalProperties?: unknown }
          | undefined;
        if (schema && schema.additionalProperties !== false) open.push(`${method} ${path}`);
      }
    }
    expect(open).toEqual([]);
  });

  it('compiles every documented response, body, parameter and query schema', () => {
    const serializerFor = SerializerSelector()();
    const failed: string[] = [];
    let compiled = 0;
    const compile = (where: string, build: () => unknown) => {
      try {
        build();
        compiled++;
      } catch (error) {
        failed.push(`${where}: ${String(error)}`);
      }
    };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const route = { method: method.toUpperCase(), url: path };
        for (const [status, response] of Object.entries(operation.responses)) {
          const json = (response.content?.['application/json'] as { schema?: unknown } | undefined)?.schema;
          if (json)
            compile(`${method} ${path} ${status}`, () =>
              serializerFor({ ...route, httpStatus: status, schema: json }),
            );
        }
        const body = operation.requestBody?.content['application/json']?.schema;
        if (body) {
          compile(`${method} ${path} body`, () =>
            TypeBoxValidatorCompiler({ ...route, httpPart: 'body', schema: body as never }),
          );
        }
        for (const parameter of operation.parameters ?? []) {
          const schema = (parameter as { schema?: unknown }).schema;
          if (schema) {
            compile(`${method} ${path} ${parameter.in} ${parameter.name}`, () =>
              TypeBoxValidatorCompiler({ ...route, httpPart: parameter.in, schema: schema as never }),
            );
          }
        }
      }
    }
    expect(failed).toEqual([]);
    // Every operation has at least a response schema: far more than one per documented path.
    expect(compiled).toBeGreaterThan(Object.keys(doc.paths).length * 2);
  });

  it('needs no key for /healthz, /readyz, /metrics and registration (no padlock)', () => {
    expect(doc.security).toEqual([{ bearer: [] }]);
    for (const [path, method] of [
      ['/healthz', 'get'],
      ['/readyz', 'get'],
      ['/metrics', 'get'],
      ['/api/v1/agents', 'post'],
    ] as const) {
      expect(doc.paths[path]?.[method]?.security, `${method} ${path}`).toEqual([]);
    }
  });

  it('says which operations need a key, and the server agrees for every one', async () => {
    const disagree: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const security = JSON.stringify(operation.security);
        // Reads say "optional" ([{}, bearer]) or "none" ([]); everything else needs the key (the default).
        const needsKey = operation.security === undefined;
        if (!needsKey && security !== '[]' && security !== '[{},{"bearer":[]}]') {
          disagree.push(`${method} ${path}: unexpected ${security}`);
        }
        const url = path.replace(/\{(\w+)\}/g, '00000000-0000-4000-8000-000000000000');
        const response = await t.app.inject({ method: method.toUpperCase() as 'GET', url });
        if ((response.statusCode === 401) !== needsKey) {
          disagree.push(`${method} ${path}: documented ${security}, anonymous gets ${response.statusCode}`);
        }
      }
    }
    expect(disagree).toEqual([]);
  });

  it('documents /metrics as Prometheus text and the WebSocket at /api/v1/ws', () => {
    const metricsOp = doc.paths['/metrics']?.get;
    expect(metricsOp?.responses['200']?.content).toHaveProperty('text/plain');
    const ws = doc.paths['/api/v1/ws']?.get;
    expect(ws).toBeDefined();
    expect(ws?.security).toBeUndefined(); // the document's default: a bearer key
    expect(Object.keys(ws?.responses ?? {})).toContain('101');
    expect(ws?.parameters?.map((p) => `${p.in}:${p.name}`)).toContain('query:token');
    expect(ws?.description).toContain('{type:"subscribe"');
  });
});
