/**
 * Mode B stabilize on two clones of one bare remote against a real server: the clone runs the
 * real test script on the fetched buffer; green pushes its tag and auto-promotes as the server
 * answers; red bisects, reports the evidence (the server files the critical task and rules the
 * revert), pushes the revert by compare-and-swap; two clones red at once revert once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeConnected } from '../../src/remote/merge.js';
import { type StabilizeRepo, stabilizeConnected } from '../../src/remote/stabilize.js';
import { CHECK_COMMAND, CHECK_SCRIPT } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  type Agent,
  approve,
  type Clone,
  git,
  type ModeBWorld,
  makeStream,
  startModeBWorld,
} from './mode-b-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode B stabilize`, () => {
    let world: ModeBWorld;
    let dev: Agent;
    let cloneA: Clone;
    let cloneB: Clone;
    let repo: StabilizeRepo;

    beforeAll(async () => {
      world = await startModeBWorld(
        dialect,
        {
          stabilize_command: CHECK_COMMAND,
          sandbox: 'none',
          auto_promote_on_green: true,
          auto_revert_on_red: true,
        },
        { 'check.sh': CHECK_SCRIPT },
      );
      dev = await world.register(`dev-${dialect}`);
      cloneA = world.clone('machine-a');
      cloneB = world.clone('machine-b');
      repo = (await world.owner.api.get<{ repo: StabilizeRepo }>(`/repos/${world.repoId}`)).repo;
    });
    afterAll(() => world?.close());

    const merge = async (name: string, files: Record<string, string>) => {
      const s = await makeStream(world, cloneA, dev, name, files);
      await approve(dev, world.owner, s);
      const merged = await mergeConnected({ api: dev.api, git: cloneA.git, actor: dev, stream: s });
      return { ...s, merge: merged.merge_commit };
    };
    const stabilize = (clone: Clone, extra: Partial<Parameters<typeof stabilizeConnected>[0]> = {}) =>
      stabilizeConnected({ api: world.owner.api, git: clone.git, repo, actor: world.owner, ...extra });

    it('green: tags the tested buffer head, pushes the tag, records it, and auto-promotes', async () => {
      await merge('good', { 'good.txt': 'fine\n' });
      const head = world.remoteHead('buffer');
      const result = await stabilize(cloneA);
      expect(result).toMatchObject({ result: 'green', buffer_commit: head, promoted: true, runs: 1 });
      expect(result.tag).toMatch(/^green\//);
      // The tag is on the remote, at the tested commit, for every clone's bisection and promotion.
      expect(git(world.origin, 'rev-parse', `refs/tags/${result.tag}^{commit}`)).toBe(head);
      expect(world.remoteHead('main')).toBe(head);
      const { stabilizations } = await world.owner.api.get<{
        stabilizations: { result: string; buffer_commit: string; tag: string }[];
      }>(`/repos/${world.repoId}/stabilize/history`);
      expect(stabilizations[0]).toMatchObject({ result: 'green', buffer_commit: head, tag: result.tag });
    });

    it('red: bisects to the breaking merge, the server files the task, the revert is pushed once', async () => {
      const broken = await merge('breaks', { 'broken.txt': 'BROKEN\n' });
      await merge('innocent', { 'innocent.txt': 'fine\n' });
      const head = world.remoteHead('buffer');
      // Clone B has never seen these merges: it fetches them and the green tag.
      const result = await stabilize(cloneB);
      expect(result).toMatchObject({
        result: 'red',
        buffer_commit: head,
        breaking_stream_id: broken.id,
        culprit_commit: broken.merge,
        reverted: true,
        revert_decision: 'reverted',
      });
      expect(result.task_id).toEqual(expect.any(String));
      expect(result.task_number).toEqual(expect.any(Number));
      // The revert is the new remote buffer head, right on top of the tested head, undoing broken.txt.
      expect(world.remoteHead('buffer')).toBe(result.revert_commit);
      expect(git(world.origin, 'rev-parse', `${result.revert_commit}^1`)).toBe(head);
      expect(git(world.origin, 'ls-tree', '--name-only', 'buffer').split('\n')).not.toContain('broken.txt');
      // The server: the stream reverted, the revert its buffer head, a critical task for the author.
      const { stream } = await world.owner.api.get<{ stream: { status: string } }>(`/streams/${broken.id}`);
      expect(stream.status).toBe('reverted');
      const { buffer_head } = await world.owner.api.get<{ buffer_head: string }>(
        `/repos/${world.repoId}/buffer-head`,
      );
      expect(buffer_head).toBe(result.revert_commit);
      const { task } = await world.owner.api.get<{
        task: { priority: string; assignee_id: string | null; status: string };
      }>(`/tasks/${result.task_id}`);
      expect(task).toMatchObject({ priority: 'critical' });
      // Green again after the revert.
      expect((await stabilize(cloneA)).result).toBe('green');
    });

    it('two clones stabilizing red at once revert once: the loser finds the winner’s revert', async () => {
      const broken = await merge('breaks-again', { 'again.txt': 'BROKEN\n' });
      const head = world.remoteHead('buffer');
      let winner: Awaited<ReturnType<typeof stabilizeConnected>> | undefined;
      const loser = await stabilize(cloneA, {
        // Clone B runs, reverts and reports while clone A's revert is computed but not pushed.
        beforeRevertPush: async (attempt) => {
          if (attempt === 0) winner = await stabilize(cloneB);
        },
      });
      expect(winner).toMatchObject({ result: 'red', reverted: true, breaking_stream_id: broken.id });
      expect(loser).toMatchObject({
        result: 'red',
        reverted: true,
        breaking_stream_id: broken.id,
        revert_commit: winner?.revert_commit,
        task_id: winner?.task_id,
      });
      // One revert on the remote, on the tested head.
      expect(world.remoteHead('buffer')).toBe(winner?.revert_commit);
      expect(git(world.origin, 'rev-list', '--count', `${head}..buffer`)).toBe('1');
      const { stream } = await world.owner.api.get<{ stream: { status: string } }>(`/streams/${broken.id}`);
      expect(stream.status).toBe('reverted');
    });
  });
}
