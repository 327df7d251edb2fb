/**
 * Stabilization in swarm mode end to end (spec 3.2), promotion up to the last green commit, and
 * concurrency: the buffer keeps moving while a run is in progress, and two runs at once.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { destroyWorkspace, promoteBuffer } from '../../../src/core/federation.js';
import { grantAccess } from '../../../src/core/governance/access.js';
import { type StabilizeResult, stabilize } from '../../../src/core/stabilization/stabilization.js';
import { useGitStore } from '../../helpers/federation-fixture.js';
import { CHECK_COMMAND, seedStabilizeRepo, swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize in swarm mode, promotion, concurrency`, () => {
    const fx = useGitStore(dialect);

    async function setUp(settings: Record<string, unknown> = {}) {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, settings));
      const agents = [
        await seedAgent(deps, 'ant'),
        await seedAgent(deps, 'bee'),
        await seedAgent(deps, 'cat'),
      ] as const;
      return { deps, seeded, repo: seeded.repo, git: seeded.git, agents };
    }

    it('3.2: commits auto-merge; stabilize catches the breaking merge, reverts it, and the others stay', async () => {
      const { deps, seeded, repo, git, agents } = await setUp({ auto_promote_on_green: true });
      const [ant, bee, cat] = agents;
      const mainBefore = await git.rev('main');
      await swarmCommit(deps, seeded, ant, { 'ant-1.txt': 'ant one\n' });
      await swarmCommit(deps, seeded, bee, { 'bee-1.txt': 'bee one\n' });
      const breaking = await swarmCommit(
        deps,
        seeded,
        cat,
        { 'cat-1.txt': 'BROKEN by cat\n' },
        'Cat breaks it',
      );
      await swarmCommit(deps, seeded, ant, { 'ant-2.txt': 'ant two\n' });
      const last = await swarmCommit(deps, seeded, bee, { 'bee-2.txt': 'bee two\n' });
      const merges = await git.run(['rev-list', '--first-parent', '--merges', '--count', 'buffer']);
      expect(Number(merges)).toBe(5);

      const red = await stabilize(deps, { repo, actor: ant });
      expect(red).toMatchObject({
        result: 'red',
        buffer_commit: last.bufferHead,
        breaking_stream_id: breaking.streamId,
        culprit_commit: breaking.bufferHead,
        reverted: true,
      });
      // No green yet, no baseline recorded (no init): every GitSwarm merge, after a run of the
      // commit before the first one; ⌈log2 5⌉ probes at most after the run and its retry.
      expect(red.runs).toBeLessThanOrEqual(2 + 1 + 3);
      expect(await git.rev('main')).toBe(mainBefore);
      for (const file of ['ant-1.txt', 'bee-1.txt', 'ant-2.txt', 'bee-2.txt']) {
        expect(await git.exitCode(['cat-file', '-e', `buffer:${file}`]), file).toBe(0);
      }
      expect(await git.exitCode(['cat-file', '-e', 'buffer:cat-1.txt'])).not.toBe(0);

      // Work goes on: cat's reverted stream takes no more commits, so cat starts a new workspace
      // with a fix; more merges; the next stabilize is green and promotes.
      await destroyWorkspace(deps, { repo, agent: cat });
      await swarmCommit(deps, seeded, cat, { 'cat-1.txt': 'fixed by cat\n' }, 'Cat fixes it');
      const after = await swarmCommit(deps, seeded, ant, { 'ant-3.txt': 'ant three\n' });
      const green = await stabilize(deps, { repo, actor: null });
      expect(green).toMatchObject({ result: 'green', buffer_commit: after.bufferHead, promoted: true });
      expect(await git.rev('main')).toBe(after.bufferHead);
      expect(await git.show('main', 'cat-1.txt')).toBe('fixed by cat');
    });

    it('promote moves main to the newest green commit, not past it, unless an admin forces it', async () => {
      const { deps, seeded, repo, git, agents } = await setUp();
      const [ant, bee] = agents;
      const mainBefore = await git.rev('main');
      await swarmCommit(deps, seeded, ant, { 'a.txt': 'a\n' });
      await expect(
        promoteBuffer(deps, { repo, actor: seeded.owner, trigger: 'manual' }),
      ).rejects.toMatchObject({
        code: 'not_green',
      });
      expect(await git.rev('main')).toBe(mainBefore);

      const green = await stabilize(deps, { repo, actor: null });
      const untested = await swarmCommit(deps, seeded, bee, { 'b.txt': 'b\n' });
      const promoted = await promoteBuffer(deps, { repo, actor: seeded.owner, trigger: 'manual' });
      expect(promoted).toEqual({ promoted: true, from_commit: mainBefore, to_commit: green.buffer_commit });
      expect(await git.rev('main')).toBe(green.buffer_commit);
      expect(await promoteBuffer(deps, { repo, actor: seeded.owner, trigger: 'manual' })).toMatchObject({
        promoted: false,
        to_commit: green.buffer_commit,
      });

      // --force: a maintainer may not, an admin may, and it is recorded as forced.
      await expect(
        promoteBuffer(deps, { repo, actor: seeded.maintainer, trigger: 'manual', force: true }),
      ).rejects.toMatchObject({ code: 'forbidden' });
      const admin = await seedAgent(deps, 'admin');
      await grantAccess(deps, fx.store.db, { repo, actor: seeded.owner, agent: admin, level: 'admin' });
      const forced = await promoteBuffer(deps, { repo, actor: admin, trigger: 'manual', force: true });
      expect(forced).toMatchObject({ promoted: true, to_commit: untested.bufferHead });
      const rows = await fx.store.db
        .selectFrom('gitswarm_promotions')
        .select(['to_commit', 'triggered_by'])
        .where('repo_id', '=', repo.id)
        .orderBy('promoted_at')
        .execute();
      expect(rows).toEqual([
        { to_commit: green.buffer_commit, triggered_by: 'manual' },
        { to_commit: untested.bufferHead, triggered_by: 'forced' },
      ]);
    });

    /**
     * A stabilize command that, on its first run only, waits (polling a marker the test creates in
     * the read-only `.git`, which the sandbox sees live) so the test can merge meanwhile.
     */
    function gatedCommand(commonDir: string): { command: string; open: () => void } {
      const marker = join(commonDir, `gitswarm-test-go-${process.pid}`);
      return {
        command: `if [ ! -e ${marker} ]; then echo waiting; while [ ! -e ${marker} ]; do sleep 0.05; done; fi; ${CHECK_COMMAND}`,
        open: () => writeFileSync(marker, 'go\n'),
      };
    }

    function whenOutput(text: string): { sink: (chunk: string) => void; seen: Promise<void> } {
      let buffer = '';
      let resolve!: () => void;
      const seen = new Promise<void>((r) => {
        resolve = r;
      });
      return {
        sink: (chunk) => {
          buffer += chunk;
          if (buffer.includes(text)) resolve();
        },
        seen,
      };
    }

    it('judges only the commit it tested while agents keep merging; promotion stops at that commit', async () => {
      const { deps, seeded, repo, git, agents } = await setUp({
        auto_promote_on_green: true,
        stabilize_timeout_seconds: 60,
      });
      const [ant, bee, cat] = agents;
      const tested = await swarmCommit(deps, seeded, ant, { 'a.txt': 'a\n' });
      const gate = gatedCommand(join(git.dir, '.git'));
      await fx.store.db
        .updateTable('gitswarm_repos')
        .set({ stabilize_command: gate.command })
        .where('id', '=', repo.id)
        .execute();
      const waiting = whenOutput('waiting');
      const running = stabilize(deps, { repo, actor: null, output: waiting.sink });
      await waiting.seen;
      await swarmCommit(deps, seeded, bee, { 'b.txt': 'b\n' });
      const moved = await swarmCommit(deps, seeded, cat, { 'c.txt': 'BROKEN but untested\n' });
      gate.open();
      const result = await running;

      expect(result).toMatchObject({ result: 'green', buffer_commit: tested.bufferHead, promoted: true });
      expect(await git.rev(result.tag as string)).toBe(tested.bufferHead);
      expect(await git.rev('buffer')).toBe(moved.bufferHead);
      // main got the tested commit, never the untested ones merged meanwhile.
      expect(await git.rev('main')).toBe(tested.bufferHead);
    });

    it('fixes the bisect range at the start of a red run; the revert lands on the moved buffer', async () => {
      const { deps, seeded, repo, git, agents } = await setUp({ stabilize_timeout_seconds: 60 });
      const [ant, bee, cat] = agents;
      await swarmCommit(deps, seeded, ant, { 'a.txt': 'a\n' });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');
      const breaking = await swarmCommit(deps, seeded, bee, { 'b.txt': 'BROKEN\n' });
      const tested = await swarmCommit(deps, seeded, ant, { 'a2.txt': 'a2\n' });
      const gate = gatedCommand(join(git.dir, '.git'));
      await fx.store.db
        .updateTable('gitswarm_repos')
        .set({ stabilize_command: gate.command })
        .where('id', '=', repo.id)
        .execute();
      const waiting = whenOutput('waiting');
      const running = stabilize(deps, { repo, actor: null, output: waiting.sink });
      await waiting.seen;
      const meanwhile = await swarmCommit(deps, seeded, cat, { 'c.txt': 'c\n' });
      gate.open();
      const result = await running;

      expect(result).toMatchObject({
        result: 'red',
        buffer_commit: tested.bufferHead,
        breaking_stream_id: breaking.streamId,
        reverted: true,
      });
      const row = await fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('details')
        .where('id', '=', result.stabilization_id)
        .executeTakeFirstOrThrow();
      expect(row.details.candidates).toEqual([breaking.bufferHead, tested.bufferHead]);
      expect(row.details.candidates).not.toContain(meanwhile.bufferHead);
      // The revert sits on top of the moved buffer; cat's merge made meanwhile stays.
      expect(await git.run(['rev-parse', 'buffer^'])).toBe(meanwhile.bufferHead);
      expect(await git.show('buffer', 'c.txt')).toBe('c');
      expect(await git.exitCode(['cat-file', '-e', 'buffer:b.txt'])).not.toBe(0);
    });

    it('two runs at once: one reverts, the other sees it done and links to the same task', async () => {
      const { deps, seeded, repo, git, agents } = await setUp();
      const [ant, bee] = agents;
      await swarmCommit(deps, seeded, ant, { 'a.txt': 'a\n' });
      await stabilize(deps, { repo, actor: null });
      const breaking = await swarmCommit(deps, seeded, bee, { 'b.txt': 'BROKEN\n' });
      const tested = await swarmCommit(deps, seeded, ant, { 'a2.txt': 'a2\n' });

      const results: StabilizeResult[] = await Promise.all([
        stabilize(deps, { repo, actor: null }),
        stabilize(deps, { repo, actor: null }),
      ]);
      expect(results.map((r) => r.result)).toEqual(['red', 'red']);
      expect(results.every((r) => r.breaking_stream_id === breaking.streamId)).toBe(true);
      expect(results.map((r) => r.revert_decision).sort()).toEqual(['already_reverted', 'reverted']);
      expect(results.filter((r) => r.reverted)).toHaveLength(1);
      // The second run links to the first one's task (the same culprit): one task, named by both.
      expect(results.filter((r) => r.task_linked)).toHaveLength(1);
      expect(new Set(results.map((r) => r.task_id)).size).toBe(1);
      expect(results[0]?.task_id).toBeTruthy();
      // Exactly one revert commit on top of the tested head.
      expect(await git.run(['rev-parse', 'buffer^'])).toBe(tested.bufferHead);
      const tasks = await fx.store.db
        .selectFrom('gitswarm_tasks')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(tasks).toHaveLength(1);
      expect(existsSync(results[0]?.log_path as string)).toBe(true);
      expect(results[0]?.log_path).not.toBe(results[1]?.log_path);
    });
  });
}
