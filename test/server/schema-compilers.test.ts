/** Route schemas compile at first use (src/server/schema-compilers.ts), once, to the same code. */
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
});
