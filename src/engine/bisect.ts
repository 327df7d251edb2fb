/**
 * Bisection over the buffer's first-parent merges: finds the first merge at which the test
 * command fails, given that the commit before the first candidate passed (the last green) and
 * the tested head failed. Pure: the caller supplies the probe, so a benchmark can count runs.
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
  /** Runs the test at a commit; true when it passes. */
  test: (commit: string, index: number) => Promise<boolean>;
}

export interface BisectResult {
  /** The first failing candidate, or null when every candidate passed (the break is elsewhere). */
  culprit: string | null;
  index: number | null;
  probes: BisectProbe[];
}

/**
 * Binary search for the first failing candidate: ⌈log2 n⌉ probes when the newest candidate is
 * the known-bad head, one more otherwise. Assumes the failure, once in, stays in (a flaky test
 * can mislead it; the stabilizer retries the head first to weed those out).
 */
export async function bisectFirstBad(input: BisectInput): Promise<BisectResult> {
  const n = input.candidates.length;
  const probes: BisectProbe[] = [];
  if (n === 0) return { culprit: null, index: null, probes };
  // Invariant: `good` passes (−1 is the last green), `bad` fails (n is the head beyond the candidates).
  let good = -1;
  let bad = input.lastIsKnownBad ? n - 1 : n;
  while (bad - good > 1) {
    const mid = Math.floor((good + bad) / 2);
    const commit = input.candidates[mid] as string;
    const passed = await input.test(commit, mid);
    probes.push({ commit, index: mid, passed });
    if (passed) good = mid;
    else bad = mid;
  }
  if (bad >= n) return { culprit: null, index: null, probes };
  return { culprit: input.candidates[bad] as string, index: bad, probes };
}

/** The most probes bisectFirstBad makes over `n` candidates. */
export function maxBisectProbes(n: number, lastIsKnownBad: boolean): number {
  const range = lastIsKnownBad ? n : n + 1;
  return range <= 1 ? 0 : Math.ceil(Math.log2(range));
}
