/**
 * The stabilizer's figures for `npm run bench` (called by bench/run.ts):
 *  - bisection: test runs of a red stabilize over 16 first-parent merges with one culprit, end to
 *    end through the real flow (head run + retry + probes; bound ⌈log2 16⌉ + 2 = 6), and the
 *    worst case over every culprit position;
 *  - time to blame: the same red buffer (16 merges, one culprit, a test that takes ~400 ms)
 *    bisected with stabilize_parallelism 2 and 1, alternately, in one run: the ratio of the
 *    median times (target ≤ 0.7) and the runs of each (target ≤ 6);
 *  - a green beside its first round: with k = 2 a green head with merges to bisect has a probe
 *    started beside it (stopped when it passes); its time against k = 1, with a test that keeps
 *    both cores busy (the probe's lowest CPU share is what keeps the ratio near 1);
 *  - overhead: wall time of a green `stabilize` minus the test command's own time run plainly in
 *    a checkout (worktree, sandbox start, tag, records); target ≤ 150 ms per run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalEventBus } from '../src/core/activity/events.js';
import { registerAgent } from '../src/core/agents/agents.js';
import type { CoreDeps } from '../src/core/deps.js';
import { commitWorkspace, createWorkspace } from '../src/core/federation.js';
import { createRepo, updateRepoSettings } from '../src/core/repos/repos.js';
import { stabilize } from '../src/core/stabilization/stabilization.js';
import { bisectFirstBad, firstRoundIndexes, maxBisectProbes } from '../src/engine/bisect.js';
import { checkSandbox, forgetSandboxChecks } from '../src/engine/sandbox.js';
import { openStore, type Repo } from '../src/store/index.js';
import { systemClock } from '../src/util/clock.js';
import { GIT_IDENTITY } from './git-fixture.js';

const MERGES = 16;
const CULPRIT = 10;
const OVERHEAD_ROUNDS = 10;
/** Red stabilizations per parallelism in the time-to-blame comparison. */
const BLAME_ROUNDS = 3;
/** A test suite that takes a while, so that running probes at once matters. */
const SLOW_COMMAND = 'sleep 0.4; sh check.sh';
/** Green stabilizations per parallelism in the green-beside-its-first-round comparison. */
const GREEN_ROUNDS = 5;
/** A test suite that keeps two cores busy for about a second (two shell loops at once). */
const BUSY_COMMAND =
  'busy() { i=0; while [ $i -lt 1000000 ]; do i=$((i + 1)); done; }; busy & busy; wait; sh check.sh';

const GIT_ENV = { ...process.env, ...GIT_IDENTITY };

const CHECK_SCRIPT = `#!/bin/sh
for f in *.txt; do
  [ -e "$f" ] || continue
  if grep -q BROKEN "$f"; then echo "FAIL: $f"; exit 1; fi
done
echo "all good"
`;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

interface Fixture {
  dir: string;
  deps: CoreDeps;
  repo: Repo;
  close(): Promise<void>;
}

/** A swarm-mode repository with check.sh on main and buffer, its store and its row. */
async function makeFixture(
  sandbox: 'bubblewrap' | 'none',
  settings: Record<string, unknown> = {},
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-bench-stabilize-'));
  const root = join(dir, 'repo');
  execFileSync('git', ['init', '-q', '-b', 'main', root], { env: GIT_ENV });
  writeFileSync(join(root, 'check.sh'), CHECK_SCRIPT);
  writeFileSync(join(root, '.gitignore'), '/.gitswarm/\n/.worktrees/\n');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'initial');
  git(root, 'branch', 'buffer');
  const store = await openStore(join(dir, 'federation.db'));
  const deps: CoreDeps = { store, clock: systemClock, events: createLocalEventBus() };
  const owner = await registerAgent(deps, { name: 'bench-owner' });
  const repo = await createRepo(deps, {
    name: 'bench',
    path: root,
    owner,
    settings: {
      merge_mode: 'swarm',
      stabilize_command: 'sh check.sh',
      sandbox,
      stabilize_parallelism: 1,
      ...settings,
    },
  });
  return {
    dir,
    deps,
    repo,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let agentCounter = 0;

/** One agent's workspace and one commit, merged to the buffer (swarm mode). */
async function swarmMerge(fixture: Fixture, file: string, content: string): Promise<void> {
  agentCounter += 1;
  const agent = await registerAgent(fixture.deps, { name: `bench-agent-${agentCounter}` });
  const { worktree } = await createWorkspace(fixture.deps, { repo: fixture.repo, agent });
  writeFileSync(join(worktree, file), content);
  await commitWorkspace(fixture.deps, { repo: fixture.repo, agent, message: `Add ${file}` });
}

/**
 * Worst total runs over every culprit position among `n` merges: the head, the probes, and the
 * retry (always with k = 1; with k > 1 only when no probe failed, i.e. the newest merge broke it).
 */
async function worstRuns(n: number, parallelism = 1): Promise<number> {
  let worst = 0;
  for (let culprit = 0; culprit < n; culprit++) {
    const firstRound = firstRoundIndexes(n, true, parallelism);
    const result = await bisectFirstBad({
      candidates: Array.from({ length: n }, (_, i) => `m${i}`),
      lastIsKnownBad: true,
      parallelism,
      // As the stabilizer starts it beside a head slower than reading the range.
      firstRound: { indexes: firstRound, passed: firstRound.map(async (index) => index < culprit) },
      test: async (_commit, index) => index < culprit,
    });
    const retry = parallelism === 1 || result.probes.every((p) => p.passed) ? 1 : 0;
    worst = Math.max(worst, 1 + result.probes.length + retry);
  }
  return worst;
}

async function benchBisect(sandbox: 'bubblewrap' | 'none'): Promise<Record<string, number>> {
  const fixture = await makeFixture(sandbox);
  try {
    const green = await stabilize(fixture.deps, { repo: fixture.repo, actor: null });
    if (green.result !== 'green') throw new Error(`bench: expected a green baseline, got ${green.result}`);
    for (let i = 0; i < MERGES; i++) {
      await swarmMerge(fixture, `file-${i}.txt`, i === CULPRIT ? 'BROKEN\n' : `fine ${i}\n`);
    }
    const red = await stabilize(fixture.deps, { repo: fixture.repo, actor: null });
    if (red.result !== 'red' || !red.reverted)
      throw new Error(`bench: expected a reverted red, got ${red.result}`);
    return {
      bisect_merges: MERGES,
      bisect_runs_e2e: red.runs,
      bisect_run_bound: Math.ceil(Math.log2(MERGES)) + 2,
      bisect_worst_runs_any_culprit: await worstRuns(MERGES),
      red_stabilize_ms: red.duration_ms,
    };
  } finally {
    await fixture.close();
  }
}

/** Stabilizes with parallelism `k`, adds the wall time to `times[k]`, and expects `result`. */
async function timedStabilize(
  fixture: Fixture,
  k: 1 | 2,
  result: 'green' | 'red',
  times: Record<1 | 2, number[]>,
): Promise<Awaited<ReturnType<typeof stabilize>>> {
  await updateRepoSettings(fixture.deps, fixture.deps.store.db, {
    repo: fixture.repo,
    actor: null,
    changes: { stabilize_parallelism: k },
  });
  const start = process.hrtime.bigint();
  const outcome = await stabilize(fixture.deps, { repo: fixture.repo, actor: null });
  times[k].push(Number(process.hrtime.bigint() - start) / 1e6);
  if (outcome.result !== result) throw new Error(`bench: expected ${result}, got ${outcome.result}`);
  return outcome;
}

/**
 * One red buffer (not reverted, so every round bisects the same range), stabilized with
 * parallelism 2 and 1 alternately: median wall time to the verdict and the runs of each.
 */
async function benchTimeToBlame(sandbox: 'bubblewrap' | 'none'): Promise<Record<string, number>> {
  const fixture = await makeFixture(sandbox, { stabilize_command: SLOW_COMMAND, auto_revert_on_red: false });
  try {
    const green = await stabilize(fixture.deps, { repo: fixture.repo, actor: null });
    if (green.result !== 'green') throw new Error(`bench: expected a green baseline, got ${green.result}`);
    for (let i = 0; i < MERGES; i++) {
      await swarmMerge(fixture, `file-${i}.txt`, i === CULPRIT ? 'BROKEN\n' : `fine ${i}\n`);
    }
    const times: Record<1 | 2, number[]> = { 1: [], 2: [] };
    const runs: Record<1 | 2, number[]> = { 1: [], 2: [] };
    const culprits = new Set<string | null | undefined>();
    for (let round = 0; round < BLAME_ROUNDS; round++) {
      for (const k of [2, 1] as const) {
        const red = await timedStabilize(fixture, k, 'red', times);
        culprits.add(red.culprit_commit);
        runs[k].push(red.runs);
      }
    }
    if (culprits.size !== 1)
      throw new Error('bench: parallel and sequential bisection blamed different merges');
    const sequential = median(times[1]);
    const parallel = median(times[2]);
    return {
      blame_sequential_ms: Math.round(sequential),
      blame_parallel2_ms: Math.round(parallel),
      blame_parallel2_vs_sequential: Number((parallel / sequential).toFixed(3)),
      blame_ratio_target: 0.7,
      blame_runs_sequential: Math.max(...runs[1]),
      blame_runs_parallel2: Math.max(...runs[2]),
      blame_runs_target: Math.ceil(Math.log2(MERGES)) + 2,
      blame_worst_runs_parallel2_any_culprit: await worstRuns(MERGES, 2),
      blame_run_bound_parallel2: 2 + maxBisectProbes(MERGES, true, 2, true),
    };
  } finally {
    await fixture.close();
  }
}

/**
 * Green heads with 4 merges since the last green, stabilized with parallelism 2 and 1 alternately
 * (new merges before each): with 2, a probe starts beside the head and is stopped when it passes.
 */
async function benchGreenBesideFirstRound(sandbox: 'bubblewrap' | 'none'): Promise<Record<string, number>> {
  const fixture = await makeFixture(sandbox, { stabilize_command: BUSY_COMMAND });
  try {
    const times: Record<1 | 2, number[]> = { 1: [], 2: [] };
    const runs: Record<1 | 2, number[]> = { 1: [], 2: [] };
    for (let round = 0; round < GREEN_ROUNDS; round++) {
      for (const k of [2, 1] as const) {
        for (let i = 0; i < 4; i++) await swarmMerge(fixture, `green-${round}-${k}-${i}.txt`, 'fine\n');
        runs[k].push((await timedStabilize(fixture, k, 'green', times)).runs);
      }
    }
    const beside = median(times[2]);
    const alone = median(times[1]);
    return {
      green_beside_first_round_ms: Math.round(beside),
      green_alone_ms: Math.round(alone),
      green_beside_vs_alone: Number((beside / alone).toFixed(3)),
      green_beside_extra_ms: Math.round(beside - alone),
      green_runs_counted: Math.max(...runs[2]),
    };
  } finally {
    await fixture.close();
  }
}

async function benchOverhead(sandbox: 'bubblewrap' | 'none'): Promise<Record<string, number>> {
  const fixture = await makeFixture(sandbox);
  const root = fixture.repo.path as string;
  try {
    const overheads: number[] = [];
    const totals: number[] = [];
    const plain: number[] = [];
    for (let round = 0; round < OVERHEAD_ROUNDS; round++) {
      await swarmMerge(fixture, `round-${round}.txt`, `round ${round}\n`);
      // The command's own time, run plainly in a checkout of the same commit.
      git(root, 'checkout', '-q', '--detach', 'buffer');
      let start = process.hrtime.bigint();
      execFileSync('/bin/sh', ['-c', 'sh check.sh'], { cwd: root, stdio: 'ignore' });
      const commandMs = Number(process.hrtime.bigint() - start) / 1e6;
      git(root, 'checkout', '-q', 'main');
      // A fresh process would probe bubblewrap: so does each round.
      forgetSandboxChecks();
      start = process.hrtime.bigint();
      const result = await stabilize(fixture.deps, { repo: fixture.repo, actor: null });
      const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
      if (result.result !== 'green') throw new Error(`bench: expected green, got ${result.result}`);
      plain.push(commandMs);
      totals.push(totalMs);
      overheads.push(totalMs - commandMs);
    }
    return {
      command_plain_ms: median(plain),
      green_stabilize_ms: median(totals),
      overhead_ms: median(overheads),
      overhead_max_ms: Math.max(...overheads),
      overhead_target_ms: 150,
    };
  } finally {
    await fixture.close();
  }
}

/** The stabilizer's bench figures: bisection run counts, parallel time to blame, per-run overhead. */
export async function benchStabilize(): Promise<Record<string, number | string>> {
  const sandbox = (await checkSandbox()).ok ? 'bubblewrap' : 'none';
  return {
    sandbox,
    ...(await benchBisect(sandbox)),
    ...(await benchTimeToBlame(sandbox)),
    ...(await benchGreenBesideFirstRound(sandbox)),
    ...(await benchOverhead(sandbox)),
  };
}
