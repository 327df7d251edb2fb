/**
 * A red stabilization with stabilize_parallelism > 1: k-ary bisection through the real flow (real
 * merges, the real check.sh, sandboxed runs), its run bound, the retry, clean-up and the setting.
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoSetting } from '../../../src/core/repos/repo-settings.js';
import { getRepo, updateRepoSettings } from '../../../src/core/repos/repos.js';
import { stabilize } from '../../../src/core/stabilization/stabilization.js';
import { findWorkspace } from '../../../src/core/streams/workspaces.js';
import { firstRoundIndexes, maxBisectProbes } from '../../../src/engine/bisect.js';
import { lowCpuShareAvailable } from '../../../src/engine/cgroup.js';
import { useGitStore } from '../../helpers/federation-fixture.js';
import {
  HELD_CHECK_COMMAND,
  releaseHeldRuns,
  seedStabilizeRepo,
  swarmCommit,
} from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

const MERGES = 6;
/** Whether runs here can get a lower CPU share than others: only then does a first round start early. */
const BACKGROUND = await lowCpuShareAvailable();
if (!BACKGROUND) {
  console.log(
    '[stabilization-parallel] no run cgroup with the cpu controller: no first round beside the head',
  );
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize with parallel bisection`, () => {
    const fx = useGitStore(dialect);
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    /** A green buffer, then MERGES merges of which `culprit` (or none) adds a BROKEN file. */
    async function redBuffer(settings: Record<string, unknown>, culprit: number | null) {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, settings));
      const alice = await seedAgent(deps, 'alice');
      await swarmCommit(deps, seeded, alice, { 'base.txt': 'fine\n' });
      const green = await stabilize(deps, { repo: seeded.repo, actor: null });
      expect(green.result).toBe('green');
      const merges: string[] = [];
      for (let i = 0; i < MERGES; i++) {
        const agent = await seedAgent(deps, `agent-${i}`);
        const merged = await swarmCommit(deps, seeded, agent, {
          [`f${i}.txt`]: i === culprit ? 'BROKEN\n' : `fine ${i}\n`,
        });
        merges.push(merged.bufferHead);
      }
      return { deps, seeded, repo: seeded.repo, git: seeded.git, merges };
    }

    async function worktreeCount(git: { run(args: string[]): Promise<string> }) {
      return (await git.run(['worktree', 'list', '--porcelain']))
        .split('\n')
        .filter((l) => l.startsWith('worktree ')).length;
    }

    async function redRow(repoId: string) {
      const row = await fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .selectAll()
        .where('repo_id', '=', repoId)
        .where('result', '=', 'red')
        .executeTakeFirstOrThrow();
      return row.details as {
        probes: { commit: string; passed: boolean }[];
        parallelism: number;
        runs: number;
      };
    }

    // Which merges a bisection probes does not depend on the store: the whole matrix runs on the
    // first dialect, one culprit for each k on the others (what they record is what differs).
    const culprits = dialect === DIALECTS[0] ? [0, 2, MERGES - 2] : [2];
    for (const k of [2, 3]) {
      for (const culprit of culprits) {
        it(`k = ${k}, culprit merge ${culprit + 1} of ${MERGES}: blamed within the bound, no commit run twice, worktrees removed`, async () => {
          const { deps, repo, git, merges } = await redBuffer({ stabilize_parallelism: k }, culprit);
          const before = await worktreeCount(git);
          const progress: string[] = [];
          const result = await stabilize(deps, { repo, actor: null, progress: (l) => progress.push(l) });
          expect(result).toMatchObject({ result: 'red', culprit_commit: merges[culprit], reverted: true });
          // The head once, the probes (a failing probe confirms the red: no separate retry).
          // With or without a first round started beside the head's run (only a head slower than
          // reading the range gets one: below).
          expect(result.runs).toBeLessThanOrEqual(
            1 + Math.max(maxBisectProbes(MERGES, true, k), maxBisectProbes(MERGES, true, k, true)),
          );
          const details = await redRow(repo.id);
          expect(details.parallelism).toBe(k);
          const probed = details.probes.map((p) => p.commit);
          expect(new Set(probed).size).toBe(probed.length);
          expect(probed).not.toContain(merges.at(-1));
          expect(details.probes.some((p) => !p.passed)).toBe(true);
          expect(result.runs).toBe(1 + probed.length);
          expect(progress.some((l) => l.startsWith('stabilize: bisect round 1:'))).toBe(true);
          expect(progress.some((l) => l.includes('retry at'))).toBe(false);
          expect(await worktreeCount(git)).toBe(before);
        });
      }
    }

    it('k = 2, a head that passes stops the first round started beside it: green, one run counted, its worktree removed', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(
        await seedStabilizeRepo(deps, {
          stabilize_parallelism: 2,
          // A merge with slow.txt takes 20 s to pass; the head (fast.txt) waits until the test lets
          // it go (once its first round has started); the others pass at once.
          stabilize_command: `if [ -e slow.txt ]; then sleep 20; sh check.sh; elif [ -e fast.txt ]; then ${HELD_CHECK_COMMAND}; else sh check.sh; fi`,
        }),
      );
      expect((await stabilize(deps, { repo: seeded.repo, actor: null })).result).toBe('green');
      // Three merges since: the first adds slow.txt, the newest (the head) removes it again. The
      // first round probes the first merge.
      const slow = await seedAgent(deps, 'slow');
      const added = await swarmCommit(deps, seeded, slow, { 'slow.txt': 'slow\n' });
      await swarmCommit(deps, seeded, await seedAgent(deps, 'other'), { 'f.txt': 'fine\n' });
      const workspace = await findWorkspace(deps.store.db, seeded.repo.id, slow.id);
      rmSync(join(workspace?.path as string, 'slow.txt'));
      await swarmCommit(deps, seeded, slow, { 'fast.txt': 'fine\n' });
      expect(firstRoundIndexes(3, true, 2)).toEqual([0]);
      expect(await seeded.git.exitCode(['cat-file', '-e', `${added.bufferHead}:slow.txt`])).toBe(0);
      const before = await worktreeCount(seeded.git);
      const progress: string[] = [];
      const started = Date.now();
      const result = await stabilize(deps, {
        repo: seeded.repo,
        actor: null,
        progress: (l) => {
          progress.push(l);
          if (!BACKGROUND || l.startsWith('stabilize: bisect round 1 starts beside')) {
            releaseHeldRuns(seeded.git.dir);
          }
        },
      });
      expect(result).toMatchObject({ result: 'green', runs: 1 });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(await worktreeCount(seeded.git)).toBe(before);
      const beside = progress.some((l) => l.startsWith('stabilize: bisect round 1 starts beside the run'));
      const stopped = readFileSync(result.log_path, 'utf8').includes(
        '=== bisect 1: interrupted (the run was stopped) ===',
      );
      // Where no run can get a lower CPU share than the head's, nothing starts beside it.
      expect([beside, stopped]).toEqual([BACKGROUND, BACKGROUND]);
    });

    for (const k of [2, 3]) {
      it(`k = ${k}, a head still running once the range is read: the first round (k − 1 probes) starts beside it at the lowest CPU share`, async () => {
        const { deps, repo, git, merges } = await redBuffer(
          {
            stabilize_parallelism: k,
            // The head waits until the test lets it go (once its first round has started).
            stabilize_command: `if [ -e f${MERGES - 1}.txt ]; then ${HELD_CHECK_COMMAND}; else sh check.sh; fi`,
          },
          1,
        );
        const progress: string[] = [];
        const result = await stabilize(deps, {
          repo,
          actor: null,
          progress: (l) => {
            progress.push(l);
            if (!BACKGROUND || l.startsWith('stabilize: bisect round 1 starts beside'))
              releaseHeldRuns(git.dir);
          },
        });
        expect(result).toMatchObject({ result: 'red', culprit_commit: merges[1] });
        expect(result.runs).toBeLessThanOrEqual(1 + maxBisectProbes(MERGES, true, k, BACKGROUND));
        const probed = (await redRow(repo.id)).probes.map((p) => p.commit);
        if (BACKGROUND) {
          expect(probed.slice(0, k - 1)).toEqual(firstRoundIndexes(MERGES, true, k).map((i) => merges[i]));
        }
        const startedAt = progress.findIndex((l) => l.startsWith('stabilize: bisect round 1 starts beside'));
        const headEnded = progress.findIndex((l) => /^stabilize: run at \w+: failed/.test(l));
        if (!BACKGROUND) {
          // Nowhere to give it a lower CPU share: the first round waits for the head, as it did.
          expect(startedAt).toBe(-1);
          return;
        }
        expect(startedAt).toBeGreaterThanOrEqual(0);
        expect(startedAt).toBeLessThan(headEnded);
        // Each run's limits close its section of the log: the head's and the later rounds' CPU
        // share is the usual one, the first round's the least.
        const log = readFileSync(result.log_path, 'utf8');
        const limits = (label: string) =>
          new RegExp(`=== ${label}: (passed|failed) \\([^;]*; ([^\n]*)\\) ===`).exec(log)?.[2] ?? '';
        expect(limits('run')).toMatch(/weight 100$/);
        for (let i = 1; i < k; i++) expect(limits(`bisect ${i}`)).toMatch(/weight 1(, cpu\.idle)?$/);
        expect(limits(`bisect ${k}`)).toMatch(/weight 100$/);
      });
    }

    it('k = 2, culprit the newest merge: no probe fails, so the head runs again to confirm; then blamed', async () => {
      const { deps, repo, git, merges } = await redBuffer({ stabilize_parallelism: 2 }, MERGES - 1);
      const before = await worktreeCount(git);
      const progress: string[] = [];
      const result = await stabilize(deps, { repo, actor: null, progress: (l) => progress.push(l) });
      expect(result).toMatchObject({ result: 'red', culprit_commit: merges.at(-1) });
      const details = await redRow(repo.id);
      expect(details.probes.every((p) => p.passed)).toBe(true);
      expect(result.runs).toBe(1 + details.probes.length + 1);
      expect(progress.some((l) => l.includes('running the head again to confirm'))).toBe(true);
      expect(progress.some((l) => l.includes('retry at'))).toBe(true);
      expect(await worktreeCount(git)).toBe(before);
    });

    it('k = 2, a head that fails once then passes is flaky: the probes pass, the retry passes (sandbox none for the counter)', async () => {
      const marker = join(mkdtempSync(join(tmpdir(), 'gitswarm-flaky-par-')), 'ran-once');
      dirs.push(join(marker, '..'));
      const deps = testDeps(fx.store);
      const seeded = fx.keep(
        await seedStabilizeRepo(deps, {
          sandbox: 'none',
          stabilize_parallelism: 2,
          // Fails only the very first time it runs at all: the head's first run (the green is seeded below).
          stabilize_command: `if [ -e ${marker} ] || [ ! -e armed.txt ]; then sh check.sh; else touch ${marker}; echo first-fail; exit 1; fi`,
        }),
      );
      const alice = await seedAgent(deps, 'alice');
      await swarmCommit(deps, seeded, alice, { 'base.txt': 'fine\n' });
      expect((await stabilize(deps, { repo: seeded.repo, actor: null })).result).toBe('green');
      for (let i = 0; i < 4; i++) {
        await swarmCommit(deps, seeded, await seedAgent(deps, `a${i}`), { [`f${i}.txt`]: `fine ${i}\n` });
      }
      await swarmCommit(deps, seeded, alice, { 'armed.txt': 'fine\n' });
      const result = await stabilize(deps, { repo: seeded.repo, actor: null });
      expect(result.result).toBe('flaky');
      const probes = result.runs - 2;
      expect(probes).toBeGreaterThan(0);
      expect(probes).toBeLessThanOrEqual(maxBisectProbes(5, true, 2));
      expect(await seeded.git.run(['tag', '-l', 'green/*'])).not.toContain('\n');
    });

    it('k = 2, stopped during a round: both runs are killed, their worktrees removed, nothing recorded as red', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(
        await seedStabilizeRepo(deps, {
          stabilize_parallelism: 2,
          // Passing runs with slow.txt take 5 s: the probes; the failing head fails at once.
          stabilize_command: 'sh check.sh && if [ -e slow.txt ]; then sleep 5; fi',
        }),
      );
      const alice = await seedAgent(deps, 'alice');
      await swarmCommit(deps, seeded, alice, { 'base.txt': 'fine\n' });
      expect((await stabilize(deps, { repo: seeded.repo, actor: null })).result).toBe('green');
      await swarmCommit(deps, seeded, await seedAgent(deps, 'slow'), { 'slow.txt': 'fine\n' });
      for (let i = 0; i < 4; i++) {
        await swarmCommit(deps, seeded, await seedAgent(deps, `a${i}`), { [`f${i}.txt`]: `fine ${i}\n` });
      }
      await swarmCommit(deps, seeded, alice, { 'z.txt': 'BROKEN\n' });
      const before = await worktreeCount(seeded.git);
      const controller = new AbortController();
      const started = Date.now();
      await expect(
        stabilize(deps, {
          repo: seeded.repo,
          actor: null,
          signal: controller.signal,
          progress: (line) => {
            if (line.startsWith('stabilize: bisect round 1:')) setTimeout(() => controller.abort(), 500);
          },
        }),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(4500);
      expect(await worktreeCount(seeded.git)).toBe(before);
      const results = await fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('result')
        .where('repo_id', '=', seeded.repo.id)
        .execute();
      expect(results.map((r) => r.result)).toEqual(['green']);
    });

    it('k = 1 is today’s order: run, retry, then one probe at a time', async () => {
      const { deps, repo, merges } = await redBuffer({ stabilize_parallelism: 1 }, 2);
      const progress: string[] = [];
      const result = await stabilize(deps, { repo, actor: null, progress: (l) => progress.push(l) });
      expect(result).toMatchObject({ result: 'red', culprit_commit: merges[2] });
      const labels = progress.filter((l) => / at [0-9a-f]{12}: sh /.test(l)).map((l) => l.split(' at ')[0]);
      expect(labels.slice(0, 3)).toEqual(['stabilize: run', 'stabilize: retry', 'stabilize: bisect 1']);
      expect(result.runs).toBe(2 + (await redRow(repo.id)).probes.length);
      expect(result.runs).toBeLessThanOrEqual(2 + maxBisectProbes(MERGES, true, 1));
      expect(progress.some((l) => l.includes('bisect round'))).toBe(false);
    });

    it('stabilize_parallelism: default the cores, an integer from 1 to 64, anything else refused', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, {}));
      await updateRepoSettings(deps, deps.store.db, {
        repo: seeded.repo,
        actor: null,
        changes: { stabilize_dependency_dirs: 'node_modules' },
      });
      const fresh = await getRepo(deps.store.db, seeded.repo.id);
      expect(repoSetting({ metadata: {} }, 'stabilize_parallelism')).toBe(
        Math.min(64, availableParallelism()),
      );
      expect(repoSetting(fresh, 'stabilize_parallelism')).toBe(1); // the fixture's
      for (const value of ['0', '65', '1.5', 'x', '', -2]) {
        await expect(
          updateRepoSettings(deps, deps.store.db, {
            repo: fresh,
            actor: null,
            changes: { stabilize_parallelism: value },
          }),
          String(value),
        ).rejects.toMatchObject({
          code: 'invalid_input',
          message: 'Invalid value for stabilize_parallelism: expected an integer from 1 to 64.',
        });
      }
      await updateRepoSettings(deps, deps.store.db, {
        repo: fresh,
        actor: null,
        changes: { stabilize_parallelism: '64' },
      });
      expect(repoSetting(await getRepo(deps.store.db, seeded.repo.id), 'stabilize_parallelism')).toBe(64);
    });
  });
}
