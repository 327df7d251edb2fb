/**
 * Route schemas compiled on first use. Fastify compiles every route's body validator and response
 * serializer when the app boots: 300–600 ms of code generation for this API, most of it for
 * serializers of responses a given server may never send (error shapes, rarely used routes).
 * Compiling each one at its first request moves that cost to where it is needed, once per route,
 * and a server that is built and closed often (tests, in-process restarts) stops paying it.
 *
 * The compiled code is what the eager compilers produce; only its moment changes. A schema the
 * compiler rejects would fail its first request instead of the boot, so test/server/openapi.test.ts
 * compiles every documented schema at once.
 */
import { type SerializerFactory, SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/** `compile()`'s function, made on the first call and reused after. */
export function compiledOnFirstUse<A extends unknown[], R>(
  compile: () => (...args: A) => R,
): (...args: A) => R {
  let compiled: ((...args: A) => R) | undefined;
  return (...args) => {
    compiled ??= compile();
    return compiled(...args);
  };
}

const eagerSerializers = SerializerSelector();

/**
 * The server's `schemaController.compilersFactory.buildSerializer`: Fastify's own serializer
 * compiler (fast-json-stringify, with the app's shared schemas and options), run on first use.
 */
export const lazySerializers: SerializerFactory = (externalSchemas, serializerOptions) => {
  const compile = eagerSerializers(externalSchemas, serializerOptions);
  return (route) =>
    compiledOnFirstUse(() => compile({ ...route, schema: nullableForSerializer(route.schema) }));
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The response schema as the serializer is given it: each `anyOf: [S, {type: 'null'}]` (our
 * `Nullable(S)`) becomes S with `nullable: true`, which fast-json-stringify writes as a null check.
 * For an anyOf it runs a validator on each value to pick the branch, and a null value fails S
 * first, which builds an error object: about a fifth of what a stream list allocated, and a
 * young-generation collection with it every few hundred requests. Only the serializer sees the
 * rewrite; validation and the published OpenAPI keep the anyOf.
 */
export function nullableForSerializer(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableForSerializer);
  if (!isRecord(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = nullableForSerializer(value);
  const { anyOf, ...siblings } = out;
  if (!Array.isArray(anyOf) || anyOf.length !== 2) return out;
  const [first, second] = anyOf as unknown[];
  const nullFirst = isRecord(first) && first.type === 'null';
  const branch = nullFirst ? second : first;
  const other = nullFirst ? first : second;
  if (!isRecord(other) || other.type !== 'null' || Object.keys(other).length !== 1) return out;
  // A branch without a type of its own (a reference, a combination) stays an anyOf.
  if (!isRecord(branch) || typeof branch.type !== 'string') return out;
  return { ...siblings, ...branch, nullable: true };
}

/**
 * A TypeBox validator for the route, compiled at its first request: the type provider's, with one
 * change. Params, query strings and headers are converted from text before the check, and a value
 * that already passes the check is taken as it is: TypeBox's conversion leaves such a value
 * unchanged, and it walks the schema at each request (about 4% of a stream list's server time),
 * where the compiled check does not.
 */
export function lazyTypeBoxValidator(
  route: Parameters<FastifySchemaCompiler<unknown>>[0],
): ReturnType<FastifySchemaCompiler<unknown>> {
  return compiledOnFirstUse(() => {
    const validate = TypeBoxValidatorCompiler(route as Parameters<typeof TypeBoxValidatorCompiler>[0]);
    if (route.httpPart === 'body') return validate;
    const check = Compile(route.schema as TSchema);
    return (value: unknown) => (check.Check(value) ? { value } : validate(value));
  });
}
