/** Route schemas compile at first use (src/server/schema-compilers.ts), once, to the same code. */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { StreamView } from '../../src/server/routes/streams.js';
import {
  compiledOnFirstUse,
  lazySerializers,
  lazyTypeBoxValidator,
  nullableForSerializer,
} from '../../src/server/schema-compilers.js';
import { Closed, Nullable } from '../../src/server/schemas.js';
import { streamRecord } from '../helpers/streams-fixture.js';

/** The serializer `compile` (by default the server's) makes of a 200 response's schema. */
const serializerOf = (
  schema: unknown,
  compile: (route: never) => (value: unknown) => string = lazySerializers() as never,
) => compile({ method: 'GET', url: '/x', httpStatus: '200', schema } as never);

describe('schema compilers', () => {
  it('compile nothing until the first call, then once', () => {
    let compiles = 0;
    const double = compiledOnFirstUse(() => {
      compiles++;
      return (n: number) => n * 2;
    });
    expect(compiles).toBe(0);
    expect([double(1), double(2), double(3)]).toEqual([2, 4, 6]);
    expect(compiles).toBe(1);
  });

  it('serialize as the schema says: undeclared fields left out', () => {
    const serialize = lazySerializers()({
      method: 'GET',
      url: '/x',
      httpStatus: '200',
      schema: Type.Object({ id: Type.String(), n: Type.Integer() }),
    });
    expect(serialize({ id: 'a', n: 1, secret: 'k' })).toBe('{"id":"a","n":1}');
  });

  it('validate as TypeBox does: a wrong type is refused, a right one passes', () => {
    const validate = lazyTypeBoxValidator({
      method: 'POST',
      url: '/x',
      httpPart: 'body',
      schema: Type.Object({ n: Type.Integer() }, { additionalProperties: false }),
    });
    expect(validate({ n: 1 })).toEqual({ value: { n: 1 } });
    expect(validate({ n: 'one' })).toHaveProperty('error');
    expect(validate({ n: 1, extra: true })).toHaveProperty('error');
  });

  it('convert params and query strings from text only where the value does not already check', () => {
    const schema = Type.Object({
      id: Type.String(),
      limit: Type.Optional(Type.Integer({ minimum: 1 })),
      flag: Type.Optional(Type.Union([Type.Integer(), Type.String()])),
    });
    const validate = lazyTypeBoxValidator({ method: 'GET', url: '/x', httpPart: 'querystring', schema });
    // Already right: the very value, not a converted copy.
    const typed = { id: '7', flag: '12' };
    expect((validate(typed) as { value: unknown }).value).toBe(typed);
    expect(validate({ id: '7', limit: '5' })).toEqual({ value: { id: '7', limit: 5 } });
    expect(validate({ id: '7', limit: '0' })).toHaveProperty('error');
    expect(validate({ id: '7', limit: 'many' })).toHaveProperty('error');
    expect(validate({ limit: '5' })).toHaveProperty('error');
    // The same answers as the type provider's own validator, which converts first.
    const converting = TypeBoxValidatorCompiler({ schema, httpPart: 'querystring' } as never);
    for (const input of [
      { id: 'a' },
      { id: 'a', limit: '3' },
      { id: 'a', flag: 'x' },
      { id: 'a', flag: '9' },
    ]) {
      const ours = validate(structuredClone(input)) as { value?: unknown };
      const theirs = converting(structuredClone(input)) as { value?: unknown };
      expect(ours.value, JSON.stringify(input)).toEqual(theirs.value);
    }
  });

  it('give the serializer nullable schemas for Nullable(S), at any depth, and leave the rest', () => {
    const schema = Closed({
      name: Nullable(Type.String({ description: 'kept' })),
      n: Nullable(Type.Integer()),
      inner: Nullable(Closed({ at: Nullable(Type.String({ format: 'date-time' })) })),
      list: Type.Array(Nullable(Type.Number())),
      either: Type.Union([Type.String(), Type.Integer()]),
      three: Type.Union([Type.String(), Type.Null(), Type.Integer()]),
      nested: Nullable(Type.Union([Type.String(), Type.Integer()])),
      nullFirst: Type.Union([Type.Null(), Type.Boolean()]),
    });
    const rewritten = nullableForSerializer(schema) as {
      properties: Record<string, Record<string, unknown>>;
    };
    const { properties } = rewritten;
    expect(properties.name).toEqual({ type: 'string', description: 'kept', nullable: true });
    expect(properties.n).toEqual({ type: 'integer', nullable: true });
    expect(properties.inner).toMatchObject({ type: 'object', nullable: true, required: ['at'] });
    expect((properties.inner?.properties as Record<string, unknown> | undefined)?.at).toEqual({
      type: 'string',
      format: 'date-time',
      nullable: true,
    });
    expect(properties.list).toEqual({ type: 'array', items: { type: 'number', nullable: true } });
    expect(properties.nullFirst).toEqual({ type: 'boolean', nullable: true });
    // Not a Nullable: as they were.
    expect(properties.either).toEqual({ anyOf: [{ type: 'string' }, { type: 'integer' }] });
    expect(properties.three?.anyOf).toHaveLength(3);
    expect(properties.nested?.anyOf).toHaveLength(2);
    // The route's own schema (shared with validation and the OpenAPI document) is not touched.
    expect(schema.properties.name).toEqual({
      anyOf: [{ type: 'string', description: 'kept' }, { type: 'null' }],
    });
  });

  it('serialize a stream exactly as the anyOf schema does, nulls and values alike', () => {
    const stream = {
      ...streamRecord('a', {
        name: 'say "hi" \\ \u2028',
        status: 'active',
        review_status: null,
        created_at: '2026-12-06T10:00:00.000Z',
      }),
      repo_id: 'r',
      github_pr_number: null,
      github_pr_url: null,
    };
    const filled = {
      ...stream,
      github_pr_number: 12,
      github_pr_url: 'https://example.test/pr/12',
      review_status: 'approved',
      parent_stream_id: 'p',
      base_commit: 'abc',
      task_id: 't',
      conflict: {
        operation: 'merge',
        onto: 'buffer',
        paths: ['a.txt'],
        detected_at: '2026-12-06T10:00:00.000Z',
      },
      metadata: { note: 'x' },
    };
    const page = Type.Object({ streams: Type.Array(StreamView) });
    const ours = serializerOf(page);
    // Fastify's own serializer compiler, given the untouched schema (fast-json-stringify's anyOf).
    const theirs = serializerOf(page, SerializerSelector()());
    for (const value of [{ streams: [stream, filled] }, { streams: [] }]) {
      expect(ours(value)).toBe(theirs(value));
      expect(JSON.parse(ours(value))).toEqual(value);
    }
  });

  it('write a Nullable field by its type, as any other field, with no validator to pick a branch', () => {
    const schema = Closed({ label: Nullable(Type.String()), plain: Type.String() });
    // A number where a string is declared: written as a string, as a plain string field is. The
    // anyOf serializer asks a validator, which matches no branch and refuses the value.
    expect(serializerOf(schema)({ label: 5, plain: 6 })).toBe('{"label":"5","plain":"6"}');
    expect(() => serializerOf(schema, SerializerSelector()())({ label: 5, plain: 6 })).toThrow();
    expect(serializerOf(schema)({ label: null, plain: 'x' })).toBe('{"label":null,"plain":"x"}');
  });

  it('leave undeclared fields out of a Nullable object too: nothing more reaches the client', () => {
    const schema = Closed({ inner: Nullable(Closed({ a: Type.String() })) });
    expect(serializerOf(schema)({ inner: { a: 'x', api_key_hash: 'secret' } })).toBe('{"inner":{"a":"x"}}');
    expect(serializerOf(schema)({ inner: null, api_key_hash: 'secret' })).toBe('{"inner":null}');
  });
});
