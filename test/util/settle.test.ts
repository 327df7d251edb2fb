import { describe, expect, it } from 'vitest';
import { settleInOrder } from '../../src/util/settle.js';

const later = <T>(ms: number, value: T, fail = false): Promise<T> =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(value) : resolve(value)), ms));

describe('settleInOrder', () => {
  it('returns both values once both are done', async () => {
    expect(await settleInOrder(later(5, 'a'), later(1, 2))).toEqual(['a', 2]);
  });

  it("throws the first one's failure when both fail, whichever failed first, after both settled", async () => {
    let secondSettled = false;
    const second = later(5, new Error('second'), true).finally(() => {
      secondSettled = true;
    });
    await expect(settleInOrder(later(10, new Error('first'), true), second)).rejects.toThrow('first');
    await expect(settleInOrder(later(1, 'a'), later(5, new Error('second'), true))).rejects.toThrow('second');
    expect(secondSettled).toBe(true);
  });

  it('waits for the second even when the first fails at once', async () => {
    let done = false;
    const second = later(10, 'b').then((value) => {
      done = true;
      return value;
    });
    await expect(settleInOrder(Promise.reject(new Error('first')), second)).rejects.toThrow('first');
    expect(done).toBe(true);
  });
});
