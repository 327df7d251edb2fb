/**
 * Stabilization results that blame nobody, and red runs that are already known: a command that
 * cannot start (exit 126/127, a missing interpreter) and a green commit turned red with nothing
 * merged are `error` (no retry, bisection, revert or task); a red whose culprit (or, without
 * one, whose failing commit) already has an open critical task links to it instead of filing
 * another.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stabilize } from '../../../src/core/stabilization/stabilization.js';
import { describeStartFailure } from '../../../src/engine/stabilize-run.js';
import { useGitStore } from '../../helpers/federation-fixture.js';
import { seedStabilizeRepo, swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

describe('describeStartFailure', () => {
  it('names what is missing from the shells’ and env’s own words, and only for exit 126/127', () => {
    expect(describeStartFailure(127, ['sh: 1: eslint: not found'], 'npm test')).toBe(
      'the stabilize command could not start: `eslint` not found (exit 127)',
    );
    expect(describeStartFailure(127, ['bash: line 1: mocha: command not found'], 'x')).toContain('`mocha`');
    expect(
      describeStartFailure(127, ["/usr/bin/env: 'python9': No such file or directory"], './t.sh'),
    ).toContain('`python9` not found');
    expect(describeStartFailure(126, ['sh: 1: ./t.sh: Permission denied'], './t.sh')).toBe(
      'the stabilize command could not start: `./t.sh` is not executable (exit 126)',
    );
    // Without a recognisable line, the command's first word.
    expect(describeStartFailure(127, ['something else'], 'jest --ci')).toContain('`jest` not found');
    for (const code of [0, 1, 2, 125, 128, null]) {
      expect(describeStartFailure(code, ['sh: 1: eslint: not found'], 'x')).toBeUndefined();
    }
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stabilize results that blame nobody, and known reds`, () => {
    const fx = useGitStore(dialect);
    const dirs: string[] = [];
    afterEach(() => {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    async function setUp(settings: Record<string, unknown> = {}) {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, settings));
      const [alice, bob] = [await seedAgent(deps, 'alice'), await seedAgent(deps, 'bob')];
      return { deps, seeded, repo: seeded.repo, git: seeded.git, alice, bob };
    }

    async function rows(repoId: string) {
      return fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .selectAll()
        .where('repo_id', '=', repoId)
        .orderBy('stabilized_at')
        .orderBy('id')
        .execute();
    }

    async function tasks(repoId: string) {
      return fx.store.db.selectFrom('gitswarm_tasks').selectAll().where('repo_id', '=', repoId).execute();
    }

    it('a tool that is not found (exit 127) is error: one run, no bisection, revert or task, and says what is missing', async () => {
      const { deps, seeded, repo, git, alice, bob } = await setUp({
        stabilize_command: 'gitswarm-no-such-linter --check && sh check.sh',
      });
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      // A merge that would be blamed if this run were red.
      const bobs = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      const progress: string[] = [];
      const result = await stabilize(deps, { repo, actor: alice, progress: (l) => progress.push(l) });
      expect(result).toMatchObject({
        result: 'error',
        error_kind: 'could_not_start',
        runs: 1,
        buffer_commit: bobs.bufferHead,
      });
      expect(result.error).toContain('`gitswarm-no-such-linter` not found (exit 127)');
      expect(result.hint).toContain('gitswarm config stabilize_command');
      expect(result.breaking_stream_id).toBeUndefined();
      expect(result.task_id).toBeUndefined();
      expect(progress.some((l) => l.includes('bisecting'))).toBe(false);
      expect(await git.rev('buffer')).toBe(bobs.bufferHead);
      expect(await tasks(repo.id)).toEqual([]);
      expect(await rows(repo.id)).toMatchObject([
        {
          result: 'error',
          breaking_stream_id: null,
          details: { error_kind: 'could_not_start', exit_code: 127, runs: 1 },
        },
      ]);
      const merge = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select('reverted_at')
        .where('merge_commit', '=', bobs.bufferHead)
        .executeTakeFirstOrThrow();
      expect(merge.reverted_at).toBeNull();
    });

    it('a missing interpreter (a script’s shebang) is the same error, naming the interpreter', async () => {
      const { deps, seeded, repo, git, alice } = await setUp({ stabilize_command: './run-tests' });
      await git.commitOn(
        'buffer',
        { 'run-tests': '#!/usr/bin/env gitswarm-python9\nprint("hi")\n' },
        'Add a test runner\n',
        'buffer',
      );
      // The executable bit, committed without a checkout.
      const worktree = mkdtempSync(join(tmpdir(), 'gitswarm-interp-'));
      dirs.push(worktree);
      await git.run(['worktree', 'add', '-q', worktree, 'buffer']);
      chmodSync(join(worktree, 'run-tests'), 0o755);
      await git.run(['-C', worktree, 'commit', '-q', '-am', 'Make it executable']);
      await git.run(['worktree', 'remove', '--force', worktree]);
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const result = await stabilize(deps, { repo, actor: null });
      expect(result).toMatchObject({ result: 'error', error_kind: 'could_not_start', runs: 1 });
      expect(result.error).toContain('`gitswarm-python9` not found (exit 127)');
      expect(await tasks(repo.id)).toEqual([]);
    });

    it('a green commit that fails with nothing merged since is an environment change: error, nobody blamed', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gitswarm-env-'));
      dirs.push(dir);
      const marker = join(dir, 'service-down');
      // `sandbox none`: the marker outside the repository stands for the environment.
      const { deps, seeded, repo, git, alice, bob } = await setUp({
        sandbox: 'none',
        stabilize_command: `if [ -e ${marker} ]; then echo "service down"; exit 1; fi; sh check.sh`,
      });
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      const bobs = await swarmCommit(deps, seeded, bob, { 'b.txt': 'fine too\n' });
      const green = await stabilize(deps, { repo, actor: null });
      expect(green).toMatchObject({ result: 'green', buffer_commit: bobs.bufferHead });

      writeFileSync(marker, '');
      const result = await stabilize(deps, { repo, actor: null });
      expect(result).toMatchObject({
        result: 'error',
        error_kind: 'environment_changed',
        buffer_commit: bobs.bufferHead,
        runs: 2,
      });
      expect(result.error).toContain(`passed before (${green.tag})`);
      expect(result.error).toContain('nothing merged since');
      expect(result.hint).toContain('Nobody is blamed');
      expect(await git.rev('buffer')).toBe(bobs.bufferHead);
      expect(await tasks(repo.id)).toEqual([]);
      expect((await rows(repo.id)).map((r) => [r.result, r.breaking_stream_id])).toEqual([
        ['green', null],
        ['error', null],
      ]);
    });

    it('a red whose culprit has an open critical task links to it; a new one only after it is closed', async () => {
      const { deps, seeded, repo, alice, bob } = await setUp({ auto_revert_on_red: false });
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');
      const bobs = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      const first = await stabilize(deps, { repo, actor: null });
      expect(first).toMatchObject({
        result: 'red',
        breaking_stream_id: bobs.streamId,
        revert_decision: 'auto_revert_off',
        task_linked: false,
      });
      expect(first.task_id).toBeTruthy();

      // Alice merges more; the buffer commit changes, the culprit does not.
      const later = await swarmCommit(deps, seeded, alice, { 'a2.txt': 'more\n' });
      const second = await stabilize(deps, { repo, actor: null });
      expect(second).toMatchObject({
        result: 'red',
        buffer_commit: later.bufferHead,
        breaking_stream_id: bobs.streamId,
        task_id: first.task_id,
        task_linked: true,
      });
      expect(await tasks(repo.id)).toHaveLength(1);

      // Once that task is closed, the same culprit gets a new one.
      await fx.store.db
        .updateTable('gitswarm_tasks')
        .set({ status: 'cancelled' })
        .where('id', '=', first.task_id as string)
        .execute();
      const third = await stabilize(deps, { repo, actor: null });
      expect(third).toMatchObject({ result: 'red', task_linked: false });
      expect(third.task_id).not.toBe(first.task_id);
      expect(await tasks(repo.id)).toHaveLength(2);
    });

    it('after a revert (no green since), the next red blames the new breaking merge, not the reverted one again', async () => {
      const { deps, seeded, repo, git, alice, bob } = await setUp();
      const carol = await seedAgent(deps, 'carol');
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');
      const bobs = await swarmCommit(deps, seeded, bob, { 'b.txt': 'BROKEN\n' });
      const first = await stabilize(deps, { repo, actor: null });
      expect(first).toMatchObject({ result: 'red', breaking_stream_id: bobs.streamId, reverted: true });
      // No stabilize in between: carol breaks it too, in another file.
      const carols = await swarmCommit(deps, seeded, carol, { 'c.txt': 'BROKEN\n' });
      const progress: string[] = [];
      const second = await stabilize(deps, { repo, actor: null, progress: (l) => progress.push(l) });
      expect(second).toMatchObject({
        result: 'red',
        breaking_stream_id: carols.streamId,
        culprit_commit: carols.bufferHead,
        reverted: true,
        task_linked: false,
      });
      expect(second.task_id).not.toBe(first.task_id);
      expect(progress.some((l) => l.includes(`since the revert ${first.revert_commit?.slice(0, 12)}`))).toBe(
        true,
      );
      const row = await fx.store.db
        .selectFrom('gitswarm_stabilizations')
        .select('details')
        .where('id', '=', second.stabilization_id)
        .executeTakeFirstOrThrow();
      expect(row.details).toMatchObject({
        bisect_from: first.revert_commit,
        bisect_from_kind: 'revert',
        candidates: [carols.bufferHead],
      });
      expect(await git.exitCode(['cat-file', '-e', 'buffer:c.txt'])).not.toBe(0);
    });

    it('a red with no culprit links to the task of the same failing commit, and files anew for another commit', async () => {
      const { deps, seeded, repo, git, alice } = await setUp();
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      expect((await stabilize(deps, { repo, actor: null })).result).toBe('green');
      // A commit pushed to the buffer outside GitSwarm: no merge of GitSwarm's to blame.
      await git.commitOn('buffer', { 'x.txt': 'BROKEN\n' }, 'Direct push\n', 'buffer');
      const first = await stabilize(deps, { repo, actor: alice });
      expect(first).toMatchObject({
        result: 'red',
        breaking_stream_id: null,
        culprit_commit: null,
        blame: 'no single merge',
        revert_decision: 'no_culprit',
        task_linked: false,
      });
      expect(first.task_id).toBeTruthy();
      const second = await stabilize(deps, { repo, actor: alice });
      expect(second).toMatchObject({ result: 'red', task_id: first.task_id, task_linked: true });
      expect(await tasks(repo.id)).toHaveLength(1);

      await git.commitOn('buffer', { 'y.txt': 'still\n' }, 'Another direct push\n', 'buffer');
      const third = await stabilize(deps, { repo, actor: alice });
      expect(third).toMatchObject({ result: 'red', task_linked: false });
      expect(third.task_id).not.toBe(first.task_id);
    });
  });
}
