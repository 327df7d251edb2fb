import { describe, expect, it } from 'vitest';
import { bisectFirstBad, maxBisectProbes } from '../../src/engine/bisect.js';

function commits(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `c${i}`);
}

describe('bisectFirstBad', () => {
  it('finds every culprit position of 1..20 merges within ⌈log2 n⌉ probes when the head is the newest merge', async () => {
    for (let n = 1; n <= 20; n++) {
      for (let culprit = 0; culprit < n; culprit++) {
        const tested: string[] = [];
        const result = await bisectFirstBad({
          candidates: commits(n),
          lastIsKnownBad: true,
          test: async (commit, index) => {
            tested.push(commit);
            return index < culprit;
          },
        });
        expect(result.culprit).toBe(`c${culprit}`);
        expect(result.index).toBe(culprit);
        expect(tested.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(tested.length).toBeLessThanOrEqual(maxBisectProbes(n, true));
        expect(result.probes.map((p) => p.commit)).toEqual(tested);
        // The head is never re-tested: it is known bad.
        expect(tested).not.toContain(`c${n - 1}`);
      }
    }
  });

  it('uses 4 probes for 16 merges with one culprit (6 runs with the head run and its retry)', async () => {
    let worst = 0;
    for (let culprit = 0; culprit < 16; culprit++) {
      const result = await bisectFirstBad({
        candidates: commits(16),
        lastIsKnownBad: true,
        test: async (_commit, index) => index < culprit,
      });
      expect(result.culprit).toBe(`c${culprit}`);
      worst = Math.max(worst, result.probes.length);
    }
    expect(worst).toBe(4);
    expect(worst + 2).toBeLessThanOrEqual(Math.ceil(Math.log2(16)) + 2);
  });

  it('tests the newest merge too when the failing head lies beyond it, and reports no culprit when all merges pass', async () => {
    const found = await bisectFirstBad({
      candidates: commits(8),
      lastIsKnownBad: false,
      test: async (_commit, index) => index < 7,
    });
    expect(found.culprit).toBe('c7');
    expect(found.probes.some((p) => p.commit === 'c7')).toBe(true);
    expect(found.probes.length).toBeLessThanOrEqual(maxBisectProbes(8, false));

    const none = await bisectFirstBad({
      candidates: commits(8),
      lastIsKnownBad: false,
      test: async () => true,
    });
    expect(none).toMatchObject({ culprit: null, index: null });
    expect(none.probes.length).toBe(4);
  });

  it('needs no probe for a single known-bad merge or for no merges at all', async () => {
    const test = async () => {
      throw new Error('must not probe');
    };
    expect(await bisectFirstBad({ candidates: ['only'], lastIsKnownBad: true, test })).toEqual({
      culprit: 'only',
      index: 0,
      probes: [],
    });
    expect(await bisectFirstBad({ candidates: [], lastIsKnownBad: true, test })).toEqual({
      culprit: null,
      index: null,
      probes: [],
    });
  });
});
