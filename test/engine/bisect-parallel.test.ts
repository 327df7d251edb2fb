/** k-ary bisection (stabilize_parallelism > 1): the culprit, the probe bound, no probe twice, k at once. */
import { describe, expect, it } from 'vitest';
import {
  bisectFirstBad,
  firstRoundIndexes,
  maxBisectProbes,
  maxBisectRounds,
  splitPoints,
} from '../../src/engine/bisect.js';

function commits(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `c${i}`);
}

/** A probe that takes a few ms, counting the runs in flight and the rounds. */
function tracker(culprit: number) {
  let inFlight = 0;
  let mostAtOnce = 0;
  const tested: number[] = [];
  return {
    tested,
    mostAtOnce: () => mostAtOnce,
    test: async (_commit: string, index: number) => {
      inFlight += 1;
      mostAtOnce = Math.max(mostAtOnce, inFlight);
      tested.push(index);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight -= 1;
      return index < culprit;
    },
  };
}

describe('bisectFirstBad with parallelism k > 1', () => {
  for (const k of [2, 3, 4]) {
    it(`k = ${k}: finds every culprit of 1..20 merges within the bound, never tests a merge twice, runs at most k at once`, async () => {
      for (let n = 1; n <= 20; n++) {
        for (const lastIsKnownBad of [true, false]) {
          for (let culprit = 0; culprit <= (lastIsKnownBad ? n - 1 : n); culprit++) {
            const probe = tracker(culprit);
            let rounds = 0;
            const result = await bisectFirstBad({
              candidates: commits(n),
              lastIsKnownBad,
              parallelism: k,
              test: probe.test,
              onRound: (_round, indexes) => {
                rounds += 1;
                expect(indexes.length).toBeLessThanOrEqual(k);
              },
            });
            const label = `n=${n} culprit=${culprit} lastIsKnownBad=${lastIsKnownBad}`;
            expect(result.index, label).toBe(culprit < n ? culprit : null);
            expect(new Set(probe.tested).size, label).toBe(probe.tested.length);
            expect(probe.tested.length, label).toBeLessThanOrEqual(maxBisectProbes(n, lastIsKnownBad, k));
            expect(rounds, label).toBeLessThanOrEqual(maxBisectRounds(n, lastIsKnownBad, k));
            expect(probe.mostAtOnce(), label).toBeLessThanOrEqual(k);
            if (lastIsKnownBad) expect(probe.tested, label).not.toContain(n - 1);
          }
        }
      }
    });
  }

  it('runs the k split points of a round at once', async () => {
    const probe = tracker(10);
    await bisectFirstBad({ candidates: commits(16), lastIsKnownBad: true, parallelism: 3, test: probe.test });
    expect(probe.mostAtOnce()).toBe(3);
  });

  it('16 merges, k = 2: 3 rounds and at most 5 probes (4 rounds of 1 with k = 1); culprit 10 takes 4 probes', async () => {
    expect(maxBisectRounds(16, true, 2)).toBe(3);
    expect(maxBisectProbes(16, true, 2)).toBe(5);
    expect(maxBisectRounds(16, true, 1)).toBe(4);
    expect(maxBisectProbes(16, true, 1)).toBe(4);
    const probe = tracker(10);
    const result = await bisectFirstBad({
      candidates: commits(16),
      lastIsKnownBad: true,
      parallelism: 2,
      test: probe.test,
    });
    expect(result.index).toBe(10);
    expect(probe.tested).toEqual([4, 10, 6, 8, 9]);
  });

  it('k = 1 is the binary search: the same probes in the same order as without the option', async () => {
    for (let culprit = 0; culprit < 13; culprit++) {
      const plain = tracker(culprit);
      const one = tracker(culprit);
      await bisectFirstBad({ candidates: commits(13), lastIsKnownBad: true, test: plain.test });
      await bisectFirstBad({ candidates: commits(13), lastIsKnownBad: true, parallelism: 1, test: one.test });
      expect(one.tested).toEqual(plain.tested);
      expect(one.mostAtOnce()).toBe(1);
    }
  });

  it('a pass above a failure in one round (a flake) leaves the failure as the bound', async () => {
    // Merge 3 breaks it; merge 7 passes by chance: the search still ends at 3.
    const result = await bisectFirstBad({
      candidates: commits(12),
      lastIsKnownBad: true,
      parallelism: 3,
      test: async (_commit, index) => index < 3 || index === 8,
    });
    expect(result.index).toBe(3);
  });

  it('a probe that throws ends the search only after the round’s other probes have finished', async () => {
    let finished = 0;
    await expect(
      bisectFirstBad({
        candidates: commits(10),
        lastIsKnownBad: true,
        parallelism: 3,
        test: async (_commit, index) => {
          if (index === splitPoints(-1, 9, 3)[0]) throw new Error('could not start');
          await new Promise((resolve) => setTimeout(resolve, 20));
          finished += 1;
          return true;
        },
      }),
    ).rejects.toThrow('could not start');
    expect(finished).toBe(2);
  });

  it('split points cut the open range into k + 1 near-equal parts, strictly inside it', () => {
    expect(splitPoints(-1, 15, 2)).toEqual([4, 10]);
    expect(splitPoints(-1, 15, 1)).toEqual([7]);
    expect(splitPoints(4, 10, 2)).toEqual([6, 8]);
    expect(splitPoints(8, 10, 2)).toEqual([9]);
    expect(splitPoints(3, 4, 5)).toEqual([]);
  });
});

describe('bisectFirstBad with a first round started beside the head (firstRound)', () => {
  /** The first round's results as a stabilizer hands them over: started before the search. */
  function startedRound(n: number, lastIsKnownBad: boolean, k: number, probe: ReturnType<typeof tracker>) {
    const indexes = firstRoundIndexes(n, lastIsKnownBad, k);
    return { indexes, passed: indexes.map((index) => probe.test(`c${index}`, index)) };
  }

  for (const k of [2, 3, 4]) {
    it(`k = ${k}: every culprit of 1..20 merges found within the bound, the first round's merges not run again`, async () => {
      for (let n = 1; n <= 20; n++) {
        for (const lastIsKnownBad of [true, false]) {
          for (let culprit = 0; culprit <= (lastIsKnownBad ? n - 1 : n); culprit++) {
            const probe = tracker(culprit);
            const firstRound = startedRound(n, lastIsKnownBad, k, probe);
            const rounds: number[][] = [];
            const result = await bisectFirstBad({
              candidates: commits(n),
              lastIsKnownBad,
              parallelism: k,
              firstRound,
              test: probe.test,
              onRound: (_round, indexes) => rounds.push([...indexes]),
            });
            const label = `n=${n} culprit=${culprit} lastIsKnownBad=${lastIsKnownBad}`;
            expect(result.index, label).toBe(culprit < n ? culprit : null);
            expect(new Set(probe.tested).size, label).toBe(probe.tested.length);
            expect(probe.tested.length, label).toBeLessThanOrEqual(
              maxBisectProbes(n, lastIsKnownBad, k, true),
            );
            expect(probe.mostAtOnce(), label).toBeLessThanOrEqual(k);
            if (firstRound.indexes.length > 0) expect(rounds[0], label).toEqual(firstRound.indexes);
            expect(
              result.probes.map((p) => p.index),
              label,
            ).toEqual(probe.tested);
          }
        }
      }
    });
  }

  it('16 merges, k = 2: the midpoint beside the head, then 2 rounds of 2; at most 5 probes, as without it', async () => {
    expect(firstRoundIndexes(16, true, 2)).toEqual([7]);
    expect(firstRoundIndexes(16, true, 3)).toEqual([4, 10]);
    expect(firstRoundIndexes(17, false, 2)).toEqual([8]);
    expect(firstRoundIndexes(16, true, 1)).toEqual([]);
    expect(firstRoundIndexes(1, true, 2)).toEqual([]);
    expect(maxBisectProbes(16, true, 2, true)).toBe(5);
    expect(maxBisectProbes(16, true, 3, true)).toBe(6);
    expect(maxBisectProbes(16, true, 1, true)).toBe(4);
    const probe = tracker(10);
    const rounds: number[][] = [];
    const result = await bisectFirstBad({
      candidates: commits(16),
      lastIsKnownBad: true,
      parallelism: 2,
      firstRound: startedRound(16, true, 2, probe),
      test: probe.test,
      onRound: (_round, indexes) => rounds.push([...indexes]),
    });
    expect(result.index).toBe(10);
    expect(rounds).toEqual([[7], [10, 12], [8, 9]]);
    expect(probe.tested).toEqual([7, 10, 12, 8, 9]);
  });

  it('a first round outside the range is refused', async () => {
    await expect(
      bisectFirstBad({
        candidates: commits(4),
        lastIsKnownBad: true,
        parallelism: 2,
        firstRound: { indexes: [3], passed: [Promise.resolve(true)] },
        test: async () => true,
      }),
    ).rejects.toThrow(RangeError);
  });
});
