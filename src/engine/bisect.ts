/**
 * Bisection over the buffer's first-parent merges: finds the first merge at which the test
 * command fails, given that the commit before the first candidate passed (the last green) and
 * the tested head failed. Pure: the caller supplies the probe, so a benchmark can count runs.
 *
 * With a parallelism k > 1 it is a k-ary search: each round splits the open range into k + 1
 * parts and tests the k split points at once, then keeps the part where green turns red.
 */

export interface BisectProbe {
  commit: string;
  index: number;
  passed: boolean;
}

export interface BisectInput {
  /** Candidate commits, oldest first. The commit just before the first one is known to pass. */
  candidates: readonly string[];
  /**
   * Whether the newest candidate is itself known to fail (it is the tested head). When false,
   * the failing head lies beyond the last candidate and the culprit may be none of them.
   */
  lastIsKnownBad: boolean;
  /** Runs the test at a commit; true when it passes. Called up to `parallelism` times at once. */
  test: (commit: string, index: number) => Promise<boolean>;
  /** Probes run at once per round; 1 (the default) is a binary search, one probe at a time. */
  parallelism?: number;
  /** Called before each round of a k-ary search (k > 1) with the indexes it tests. */
  onRound?: (round: number, indexes: readonly number[]) => void;
  /**
   * A first round already under way (probes started beside the head's run, before it was known to
   * fail): its indexes, strictly inside the range, and their results in the same order. It takes
   * the place of the first round; the rounds after it split as usual.
   */
  firstRound?: { indexes: readonly number[]; passed: ReadonlyArray<Promise<boolean>> };
}

export interface BisectResult {
  /** The first failing candidate, or null when every candidate passed (the break is elsewhere). */
  culprit: string | null;
  index: number | null;
  probes: BisectProbe[];
}

/**
 * Search for the first failing candidate (see {@link maxBisectProbes} for the number of probes).
 * Assumes the failure, once in, stays in (a flaky test can mislead it; the stabilizer retries
 * the head to weed those out). No candidate is tested twice.
 */
export async function bisectFirstBad(input: BisectInput): Promise<BisectResult> {
  const n = input.candidates.length;
  const k = Math.max(1, Math.floor(input.parallelism ?? 1));
  const probes: BisectProbe[] = [];
  if (n === 0) return { culprit: null, index: null, probes };
  // Invariant: `good` passes (−1 is the last green), `bad` fails (n is the head beyond the candidates).
  let good = -1;
  let bad = input.lastIsKnownBad ? n - 1 : n;
  let round = 0;
  const early = input.firstRound;
  if (early?.indexes.some((index) => !(index > good && index < bad))) {
    throw new RangeError(`bisect: a first round outside the range (${early.indexes.join(', ')})`);
  }
  while (bad - good > 1) {
    const started = round === 0 && early && early.indexes.length > 0 ? early : undefined;
    const indexes = started ? started.indexes : splitPoints(good, bad, k);
    round += 1;
    if (k > 1) input.onRound?.(round, indexes);
    const passed = await settleAll(
      started
        ? [...started.passed]
        : indexes.map((index) => input.test(input.candidates[index] as string, index)),
    );
    indexes.forEach((index, i) => {
      probes.push({ commit: input.candidates[index] as string, index, passed: passed[i] as boolean });
    });
    // The first failing split point is the new `bad`; the last passing one below it the new `good`
    // (a pass above a failure can only be a flake: the failure wins).
    const firstFailing = indexes.findIndex((_, i) => !passed[i]);
    if (firstFailing >= 0) bad = indexes[firstFailing] as number;
    const below = indexes.filter((index, i) => index < bad && passed[i]);
    if (below.length > 0) good = below.at(-1) as number;
  }
  if (bad >= n) return { culprit: null, index: null, probes };
  return { culprit: input.candidates[bad] as string, index: bad, probes };
}

/**
 * The k split points strictly between `good` and `bad` cutting it into k + 1 near-equal parts
 * (fewer when the range holds fewer); with k = 1 the midpoint, as a binary search.
 */
export function splitPoints(good: number, bad: number, k: number): number[] {
  const span = bad - good;
  if (span <= 1) return [];
  if (k <= 1) return [Math.floor((good + bad) / 2)];
  const width = Math.min(k, span - 1);
  const points = new Set<number>();
  for (let i = 1; i <= width; i++) points.add(good + Math.round((i * span) / (width + 1)));
  return [...points].sort((a, b) => a - b);
}

/** Awaits every promise (so no run is left going), then throws the first rejection if any. */
async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * The probes a stabilizer may start beside the head's first run, before it is known to fail: the
 * split points of the whole range for k − 1 runs (the head's run takes the k-th), none with k = 1.
 * Given as `firstRound`, they leave every later round of k probes as before.
 */
export function firstRoundIndexes(n: number, lastIsKnownBad: boolean, parallelism: number): number[] {
  const k = Math.max(1, Math.floor(parallelism));
  return k > 1 ? splitPoints(-1, lastIsKnownBad ? n - 1 : n, k - 1) : [];
}

/**
 * The most probes bisectFirstBad makes over `n` candidates: ⌈log2 n⌉ (one more range when the
 * newest candidate is not the known-bad head) with k = 1; with k > 1 at most k per round over
 * ⌈log_{k+1} n⌉ rounds, computed exactly for the split rule above (the worst culprit position),
 * `withFirstRound` when the first round is {@link firstRoundIndexes}.
 */
export function maxBisectProbes(
  n: number,
  lastIsKnownBad: boolean,
  parallelism = 1,
  withFirstRound = false,
): number {
  const range = lastIsKnownBad ? n : n + 1;
  if (range <= 1) return 0;
  const k = Math.max(1, Math.floor(parallelism));
  if (k === 1) return Math.ceil(Math.log2(range));
  const memo = new Map<number, number>();
  // The most probes from a span on, given its first round's width: that round, then its worst part.
  const fromRound = (span: number, width: number): number => {
    const points = [0, ...splitPoints(0, span, width), span];
    let deepest = 0;
    for (let i = 1; i < points.length; i++) {
      deepest = Math.max(deepest, worst((points[i] as number) - (points[i - 1] as number)));
    }
    return points.length - 2 + deepest;
  };
  const worst = (span: number): number => {
    if (span <= 1) return 0;
    let total = memo.get(span);
    if (total === undefined) {
      total = fromRound(span, k);
      memo.set(span, total);
    }
    return total;
  };
  return withFirstRound ? fromRound(range, k - 1) : worst(range);
}

/** The most rounds (run-times of wall clock) bisectFirstBad takes over `n` candidates. */
export function maxBisectRounds(n: number, lastIsKnownBad: boolean, parallelism = 1): number {
  let span = lastIsKnownBad ? n : n + 1;
  const parts = Math.max(1, Math.floor(parallelism)) + 1;
  let rounds = 0;
  while (span > 1) {
    span = Math.ceil(span / parts);
    rounds += 1;
  }
  return rounds;
}
