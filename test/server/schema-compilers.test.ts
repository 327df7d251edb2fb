/** Route schemas compile at first use (src/server/schema-compilers.ts), once, to the same code. */
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import {
  compiledOnFirstUse,
  lazySerializers,
  lazyTypeBoxValidator,
} from '../../src/server/schema-compilers.js';

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
});
