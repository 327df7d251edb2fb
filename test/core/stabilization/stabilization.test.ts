import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { getAgent } from '../../../src/core/agents/agents.js';
import { type StabilizeResult, stabilize } from '../../../src/core/stabilization/stabilization.js';
import { getTask } from '../../../src/core/tasks/tasks.js';
import { useGitStore } from '../../helpers/federation-fixture.js';
import { blobsStartingWith } from '../../helpers/git-fixture.js';
import { CHECK_COMMAND, seedStabilizeRepo, swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize`, () => {
    const fx = useGitStore(dialect);
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    async function setUp(settings: Record<string, unknown> = {}) {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, settings));
      const [alice, bob, carol] = [
        await seedAgent(deps, 'alice'),
        await seedAgent(deps, 'bob'),
        await seedAgent(deps, 'carol'),
      ];
      return { deps, seeded, repo: seeded.repo, git: seeded.git, alice, bob, carol };
    }

    function capture() {
      const output: string[] = [];
      const progress: string[] = [];
      return {
        output,
        progress,
        sinks: { output: (c: string) => output.push(c), progress: (l: string) => progress.push(l) },
      };
    }

    async function rows(repoId: string) {
      return fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .selectAll()
        .where('repo_id', '=', repoId)
        .orderBy('stabilized_at')
        .execute();
    }

    it('green: tags the tested commit, records the run with its log, and promotes when asked', async () => {
      const { deps, seeded, repo, git, alice } = await setUp({ auto_promote_on_green: true });
      const { bufferHead } = await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const { output, progress, sinks } = capture();
      const result = await stabilize(deps, { repo, actor: alice, ...sinks });

      expect(result).toMatchObject({ result: 'green', buffer_commit: bufferHead, promoted: true, runs: 1 });
      expect(result.tag).toMatch(/^green\/\d{8}T\d{6}Z$/);
      expect(await git.run(['cat-file', '-t', `refs/tags/${result.tag}`])).toBe('tag');
      expect(await git.rev(`${result.tag}`)).toBe(bufferHead);
      const message = await git.run(['tag', '-l', '--format=%(contents)', result.tag as string]);
      expect(message).toContain(`Command: ${CHECK_COMMAND}`);
      expect(message).toMatch(/Passed in \d+\.\d s/);
      expect(await git.rev('main')).toBe(bufferHead);

      expect(output.join('')).toContain('all good');
      expect(progress.some((l) => l.includes('run at'))).toBe(true);
      expect(progress.at(-1)).toContain('promoted main');
      expect(result.log_path).toMatch(/\.gitswarm\/logs\/stabilize-\d{8}T\d{6}Z\.log$/);
      expect(result.log_path.startsWith(git.dir)).toBe(true);
      expect(readFileSync(result.log_path, 'utf8')).toContain('all good');

      const [row] = await rows(repo.id);
      expect(row).toMatchObject({
        result: 'green',
        tag: result.tag,
        buffer_commit: bufferHead,
        breaking_stream_id: null,
        log_path: result.log_path,
      });
      expect(row?.duration_ms).toBeGreaterThanOrEqual(0);
      expect(row?.details).toMatchObject({ command: CHECK_COMMAND, runs: 1, agent_id: alice.id });
      const events = await listActivity(fx.store.db, {
        repoId: repo.id,
        eventTypes: ['buffer.stabilized', 'buffer.promoted'],
      });
      expect(events.map((e) => e.event_type).sort()).toEqual(['buffer.promoted', 'buffer.stabilized']);
      const promotion = await fx.store.db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .execute();
      expect(promotion).toMatchObject([{ to_commit: bufferHead, triggered_by: 'auto' }]);

      // The user's checkout and branches were never touched: main worktree still on main, clean.
      expect(await git.run(['symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
      expect(await git.run(['worktree', 'list', '--porcelain'])).not.toContain('gitswarm-verify');
    });

    it('runs git’s auto maintenance when its git work is done: past git’s default gc.auto, the loose objects are packed', async () => {
      const { deps, seeded, repo, git, alice } = await setUp();
      // More than ⌈6,700 / 256⌉ loose objects in objects/17: past git's default gc.auto, as git estimates it.
      const blobs = blobsStartingWith('17', 28);
      await swarmCommit(
        deps,
        seeded,
        alice,
        Object.fromEntries(blobs.map((b, i) => [`f${i}.txt`, b.content])),
      );
      const loose = () =>
        blobs.filter((b) => existsSync(join(git.dir, '.git', 'objects', '17', b.id.slice(2))));
      expect(loose()).toHaveLength(28);

      expect(await stabilize(deps, { repo, actor: alice })).toMatchObject({ result: 'green' });

      expect(loose()).toEqual([]);
      for (const blob of blobs) expect(await git.run(['cat-file', '-t', blob.id])).toBe('blob');
    });

    it('flaky: a failure that passes on the retry is flaky, not red, and is not tagged (sandbox none for the counter)', async () => {
      // The counter must survive between runs; the bubblewrap sandbox gives each run a fresh /tmp
      // and a read-only outside, so this test runs with `sandbox none`.
      const marker = join(mkdtempSync(join(tmpdir(), 'gitswarm-flaky-')), 'ran-once');
      dirs.push(join(marker, '..'));
      const { deps, seeded, repo, git, alice } = await setUp({
        sandbox: 'none',
        stabilize_command: `if [ -e ${marker} ]; then echo second-pass; else touch ${marker}; echo first-fail; exit 1; fi`,
      });
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const { output, sinks } = capture();
      const result = await stabilize(deps, { repo, actor: null, ...sinks });
      expect(result).toMatchObject({ result: 'flaky', runs: 2 });
      expect(result.tag).toBeUndefined();
      expect(output.join('')).toContain('WITHOUT a sandbox');
      expect(await git.run(['tag', '-l', 'green/*'])).toBe('');
      expect(await rows(repo.id)).toMatchObject([
        { result: 'flaky', tag: null, details: { first_exit_code: 1 } },
      ]);
    });

    it('red: bisects the merges since the last green, reverts the culprit, penalizes its author and files a critical task', async () => {
      const { deps, seeded, repo, git, alice, bob, carol } = await setUp();
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const green = await stabilize(deps, { repo, actor: null });
      expect(green.result).toBe('green');

      const bobsWork = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' }, 'Break things');
      const carols = await swarmCommit(deps, seeded, carol, { 'c.txt': 'fine too\n' });
      const alices = await swarmCommit(deps, seeded, alice, { 'a2.txt': 'more\n' });
      const tested = alices.bufferHead;
      const bobBefore = await getAgent(fx.store.db, bob.id);
      const { progress, sinks } = capture();
      const result = await stabilize(deps, { repo, actor: alice, ...sinks });

      expect(result).toMatchObject({
        result: 'red',
        buffer_commit: tested,
        breaking_stream_id: bobsWork.streamId,
        culprit_commit: bobsWork.bufferHead,
        reverted: true,
        revert_decision: 'reverted',
      });
      // Head run + retry + ⌈log2 3⌉ probes at most.
      expect(result.runs).toBeLessThanOrEqual(2 + 2);
      expect(progress.some((l) => l.includes('bisecting 3 merge(s) since green/'))).toBe(true);

      // The revert landed on the buffer without a checkout; the others' work stays.
      const head = await git.rev('buffer');
      expect(await git.run(['rev-parse', `${head}^`])).toBe(tested);
      expect(result.revert_commit).toBe(head);
      expect(await git.exitCode(['cat-file', '-e', `${head}:b.txt`])).not.toBe(0);
      expect(await git.show('buffer', 'c.txt')).toBe('fine too');
      expect(await git.show('buffer', 'a2.txt')).toBe('more');
      expect(await git.run(['symbolic-ref', 'HEAD'])).toBe('refs/heads/main');

      const merge = await fx.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('merge_commit', '=', bobsWork.bufferHead)
        .executeTakeFirstOrThrow();
      expect(merge).toMatchObject({ stream_id: bobsWork.streamId, revert_commit: head });
      expect(merge.reverted_at).not.toBeNull();
      expect(carols.streamId).not.toBe(bobsWork.streamId);
      const bobAfter = await getAgent(fx.store.db, bob.id);
      expect(bobAfter.karma).toBeLessThan(bobBefore.karma);

      const task = await getTask(fx.store.db, repo.id, result.task_id as string);
      expect(task).toMatchObject({ priority: 'critical', assigned_to: bob.id });
      expect(task.title).toContain('broke the buffer');
      expect(task.description).toContain(`Command: ${CHECK_COMMAND}`);
      expect(task.description).toContain(bobsWork.bufferHead);
      expect(task.description).toContain('FAIL: b.txt is broken');

      const red = (await rows(repo.id)).at(-1);
      expect(red).toMatchObject({
        result: 'red',
        buffer_commit: tested,
        breaking_stream_id: bobsWork.streamId,
        details: {
          reverted: true,
          auto_reverted: true,
          task_id: task.id,
          culprit_commit: bobsWork.bufferHead,
        },
      });
      expect(String(red?.details.log_excerpt)).toContain('FAIL: b.txt is broken');
      expect(readFileSync(result.log_path, 'utf8')).toContain('=== bisect 1 at');

      // With the culprit reverted the buffer is green again.
      const again = await stabilize(deps, { repo, actor: null });
      expect(again).toMatchObject({ result: 'green', buffer_commit: head });
    });

    it('red with a conflicting revert: nothing is forced, the task says so', async () => {
      const { deps, seeded, repo, git, alice, bob, carol } = await setUp();
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');
      const bobsWork = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      // Carol starts after Bob's merge and builds on his file: reverting his merge would now conflict.
      const after = await swarmCommit(deps, seeded, carol, { 'b.txt': 'BROKEN\nand more from carol\n' });
      const result = await stabilize(deps, { repo, actor: null });
      expect(result).toMatchObject({
        result: 'red',
        breaking_stream_id: bobsWork.streamId,
        reverted: false,
        revert_decision: 'conflicted',
      });
      expect(await git.rev('buffer')).toBe(after.bufferHead);
      const task = await getTask(fx.store.db, repo.id, result.task_id as string);
      expect(task.description).toContain('conflicts with later merges');
      expect(task.description).toContain('Conflicting paths: b.txt');
      const merge = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select('reverted_at')
        .where('merge_commit', '=', bobsWork.bufferHead)
        .executeTakeFirstOrThrow();
      expect(merge.reverted_at).toBeNull();
    });

    it('caps automatic reverts per rolling day; past the cap it only files the task', async () => {
      const { deps, seeded, repo, git, alice, bob, carol } = await setUp({ max_auto_reverts_per_day: 1 });
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      await stabilize(deps, { repo, actor: null });
      await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      expect(await stabilize(deps, { repo, actor: null })).toMatchObject({ result: 'red', reverted: true });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');

      const carols = await swarmCommit(deps, seeded, carol, { 'c.txt': 'BROKEN\n' });
      const capped = await stabilize(deps, { repo, actor: null });
      expect(capped).toMatchObject({
        result: 'red',
        breaking_stream_id: carols.streamId,
        reverted: false,
        revert_decision: 'daily_limit',
      });
      expect(capped.task_id).toBeTruthy();
      expect(await git.rev('buffer')).toBe(carols.bufferHead);

      // A day later the cap has room again.
      deps.clock.set(new Date(deps.clock.now().getTime() + 25 * 3600 * 1000).toISOString());
      expect(await stabilize(deps, { repo, actor: null })).toMatchObject({ result: 'red', reverted: true });
    });

    it('honours the stream’s opt-out and auto_revert_on_red = false: task, no revert', async () => {
      const { deps, seeded, repo, git, alice, bob } = await setUp();
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      await stabilize(deps, { repo, actor: null });
      const bobs = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ auto_revert_opt_out: true })
        .where('id', '=', bobs.streamId)
        .execute();
      const optedOut = await stabilize(deps, { repo, actor: null });
      expect(optedOut).toMatchObject({
        result: 'red',
        reverted: false,
        revert_decision: 'opted_out',
        breaking_stream_id: bobs.streamId,
      });
      expect(optedOut.task_id).toBeTruthy();
      expect(await git.rev('buffer')).toBe(bobs.bufferHead);

      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ auto_revert_opt_out: false })
        .where('id', '=', bobs.streamId)
        .execute();
      await fx.store.db
        .updateTable('gitswarm_repos')
        .set({ auto_revert_on_red: false })
        .where('id', '=', repo.id)
        .execute();
      const off: StabilizeResult = await stabilize(deps, { repo, actor: null });
      expect(off).toMatchObject({ result: 'red', reverted: false, revert_decision: 'auto_revert_off' });
      expect(await git.rev('buffer')).toBe(bobs.bufferHead);
    });

    it('refuses when no sandbox can be set up, before running or recording anything', async () => {
      const { deps, seeded, repo, alice } = await setUp();
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      await expect(
        stabilize(deps, { repo, actor: null, searchPath: '/nonexistent-gitswarm-bin' }),
      ).rejects.toMatchObject({
        code: 'sandbox_unavailable',
        hint: expect.stringContaining('gitswarm config sandbox none'),
      });
      expect(await rows(repo.id)).toEqual([]);
      expect(existsSync(join(seeded.git.dir, '.gitswarm', 'logs'))).toBe(false);
    });

    it('refuses without a stabilize command, and for an agent without write access', async () => {
      const { deps, repo } = await setUp({ stabilize_command: null });
      await expect(stabilize(deps, { repo, actor: null })).rejects.toMatchObject({ code: 'invalid_state' });
      const { deps: deps2, repo: privateRepo } = await setUp({ is_private: true });
      const outsider = await seedAgent(deps2, 'outsider');
      await expect(stabilize(deps2, { repo: privateRepo, actor: outsider })).rejects.toMatchObject({
        code: 'forbidden',
      });
    });
  });
}
