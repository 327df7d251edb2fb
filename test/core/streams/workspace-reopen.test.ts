/**
 * After a revert, the author goes on: `reopenWorkspace` starts a new stream from the buffer with
 * the reverted change re-applied and the uncommitted work carried over, linked to the critical
 * task; merging the fix and a green stabilization complete the task. End to end on real git:
 * red → bisect → revert → reopen → fix → merge → green → task closed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  commitWorkspace,
  createWorkspace,
  destroyWorkspace,
  findWorkspace,
  mergeStream,
  reopenWorkspace,
} from '../../../src/core/federation.js';
import { stabilize } from '../../../src/core/stabilization/stabilization.js';
import { getStreamById } from '../../../src/core/streams/streams.js';
import { getTask, listTaskClaims } from '../../../src/core/tasks/tasks.js';
import { approve, useGitStore, writeFiles } from '../../helpers/federation-fixture.js';
import { seedStabilizeRepo, swarmCommit } from '../../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: workspace reopen after a revert`, () => {
    const fx = useGitStore(dialect);

    async function setUp() {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps));
      const [alice, bob] = [await seedAgent(deps, 'alice'), await seedAgent(deps, 'bob')];
      await swarmCommit(deps, seeded, alice, { 'a.txt': 'fine\n' });
      expect((await stabilize(deps, { repo: seeded.repo, actor: null })).result).toBe('green');
      return { deps, seeded, repo: seeded.repo, git: seeded.git, alice, bob };
    }

    /** Bob merges a breaking change and leaves uncommitted work; stabilize reverts it. */
    async function breakAndRevert(ctx: Awaited<ReturnType<typeof setUp>>) {
      const { deps, repo, bob } = ctx;
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: bob });
      writeFiles(worktree, { 'b.txt': 'BROKEN\n', 'b-lib.txt': 'lib v1\n' });
      const merged = await commitWorkspace(deps, { repo, agent: bob, message: 'Add b' });
      expect(merged.merged).toBe(true);
      // Work in progress: a change to a tracked file and a new file.
      writeFiles(worktree, { 'b-lib.txt': 'lib v2\n', 'notes.txt': 'wip\n' });
      const red = await stabilize(deps, { repo, actor: null });
      expect(red).toMatchObject({ result: 'red', breaking_stream_id: stream.id, reverted: true });
      return { stream, worktree, red, mergeCommit: merged.buffer_head as string };
    }

    it('end to end: red → bisect → revert → reopen → fix → merge → green → critical task completed', async () => {
      const ctx = await setUp();
      const { deps, repo, git, bob } = ctx;
      const { stream: old, worktree, red, mergeCommit } = await breakAndRevert(ctx);
      expect(red.culprit_commit).toBe(mergeCommit);
      const revertCommit = red.revert_commit as string;
      expect(await git.run(['log', '-1', '--format=%s', revertCommit])).toBe(
        `Revert merge ${mergeCommit.slice(0, 12)} of stream ${old.name} (red at ${red.buffer_commit.slice(0, 12)})`,
      );
      const taskId = red.task_id as string;
      expect(await getTask(fx.store.db, repo.id, taskId)).toMatchObject({
        status: 'open',
        assigned_to: bob.id,
      });

      // The dead ends now point to the way forward.
      await expect(commitWorkspace(deps, { repo, agent: bob, message: 'More' })).rejects.toMatchObject({
        code: 'invalid_state',
        hint: expect.stringContaining('gitswarm workspace reopen --as bob'),
      });
      await expect(destroyWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({
        code: 'worktree_dirty',
        hint: expect.stringContaining('gitswarm workspace reopen --as bob'),
      });
      await expect(createWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({
        code: 'invalid_state',
        hint: expect.stringContaining('gitswarm workspace reopen --as bob'),
      });

      const bufferBefore = await git.rev('buffer');
      const reopened = await reopenWorkspace(deps, { repo, agent: bob });
      expect(reopened).toMatchObject({
        worktree,
        carried_over: true,
        task_id: taskId,
        reapplied: [{ merge_commit: mergeCommit, revert_commit: revertCommit }],
      });
      expect(reopened.stream).toMatchObject({
        status: 'active',
        agent_id: bob.id,
        base_branch: 'buffer',
        base_commit: bufferBefore,
        task_id: taskId,
        name: `${old.name}-reopened`,
        metadata: { reopened_from: old.id },
      });
      // The buffer did not move (nor was it checked out); the old stream stays reverted.
      expect(await git.rev('buffer')).toBe(bufferBefore);
      expect((await getStreamById(fx.store.db, old.id)).status).toBe('reverted');
      // The new branch: the buffer head plus one commit that undoes the revert.
      const head = await git.rev(reopened.stream.branch);
      expect(head).toBe(reopened.head);
      expect(await git.run(['rev-parse', `${head}^`])).toBe(bufferBefore);
      expect(await git.run(['log', '-1', '--format=%s', head])).toBe(
        `Reapply merge ${mergeCommit.slice(0, 12)} of stream ${old.name}`,
      );
      expect(await git.show(head, 'b.txt')).toBe('BROKEN');
      expect(await git.show(head, 'b-lib.txt')).toBe('lib v1');
      // Same worktree, now on the new branch, with the work still uncommitted.
      expect(await git.run(['symbolic-ref', 'HEAD'], worktree)).toBe(`refs/heads/${reopened.stream.branch}`);
      expect(readFileSync(join(worktree, 'b-lib.txt'), 'utf8')).toBe('lib v2\n');
      expect(readFileSync(join(worktree, 'notes.txt'), 'utf8')).toBe('wip\n');
      expect(await git.run(['diff', '--cached', '--name-only'], worktree)).toBe('');
      expect(await git.run(['diff', '--name-only'], worktree)).toBe('b-lib.txt');
      expect(await git.run(['ls-files', '--others', '--exclude-standard'], worktree)).toBe('notes.txt');
      const workspace = await findWorkspace(fx.store.db, repo.id, bob.id);
      expect(workspace).toMatchObject({ stream_id: reopened.stream.id, path: worktree });
      // The task is claimed by bob, for the new stream.
      expect((await getTask(fx.store.db, repo.id, taskId)).status).toBe('claimed');
      expect(await listTaskClaims(fx.store.db, taskId)).toMatchObject([
        { agent_id: bob.id, stream_id: reopened.stream.id, status: 'active' },
      ]);

      // Bob fixes it; the swarm commit merges the stream, handing the claim in.
      writeFileSync(join(worktree, 'b.txt'), 'fixed\n');
      const fix = await commitWorkspace(deps, { repo, agent: bob, message: 'Fix b' });
      expect(fix).toMatchObject({ merged: true, stream_id: reopened.stream.id });
      expect((await getTask(fx.store.db, repo.id, taskId)).status).toBe('submitted');
      expect(await git.show('buffer', 'b-lib.txt')).toBe('lib v2');

      const green = await stabilize(deps, { repo, actor: null });
      expect(green).toMatchObject({ result: 'green', closed_task_ids: [taskId] });
      const task = await getTask(fx.store.db, repo.id, taskId);
      expect(task.status).toBe('completed');
      expect(task.completed_at).not.toBeNull();
      expect(await listTaskClaims(fx.store.db, taskId)).toMatchObject([
        { status: 'approved', reviewed_by: null },
      ]);
      // Only once: the next green completes nothing more.
      expect((await stabilize(deps, { repo, actor: null })).closed_task_ids).toBeUndefined();
    });

    it('refuses another agent, a stream that is not reverted, and conflicting work; nothing moves', async () => {
      const ctx = await setUp();
      const { deps, repo, git, alice, bob } = ctx;
      const { stream: old, worktree } = await breakAndRevert(ctx);
      await expect(reopenWorkspace(deps, { repo, agent: alice, streamRef: old.id })).rejects.toMatchObject({
        code: 'forbidden',
      });
      const alices = await findWorkspace(fx.store.db, repo.id, alice.id);
      await expect(reopenWorkspace(deps, { repo, agent: alice })).rejects.toMatchObject({
        code: 'invalid_state',
        message: expect.stringContaining('only a reverted stream is reopened'),
      });
      expect(alices).toBeDefined();

      // Alice merges a notes.txt of her own: Bob's untracked one conflicts with it when carried over.
      await swarmCommit(deps, ctx.seeded, alice, { 'notes.txt': 'alice notes\n' });
      const refs = await git.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      await expect(reopenWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('Your uncommitted changes conflict'),
        details: { paths: ['notes.txt'] },
      });
      expect(await git.run(['for-each-ref', '--format=%(refname) %(objectname)'])).toBe(refs);
      expect(await git.run(['symbolic-ref', 'HEAD'], worktree)).toBe(`refs/heads/${old.branch}`);
      expect(readFileSync(join(worktree, 'notes.txt'), 'utf8')).toBe('wip\n');
      expect(readFileSync(join(worktree, 'b-lib.txt'), 'utf8')).toBe('lib v2\n');
      expect((await findWorkspace(fx.store.db, repo.id, bob.id))?.stream_id).toBe(old.id);

      // Alice rewrites b.txt on the buffer: re-applying Bob's change itself conflicts.
      await swarmCommit(deps, ctx.seeded, alice, { 'b.txt': 'alice owns b now\n' });
      const refs2 = await git.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      await expect(reopenWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('Re-applying stream'),
        details: { paths: ['b.txt'] },
      });
      expect(await git.run(['for-each-ref', '--format=%(refname) %(objectname)'])).toBe(refs2);
    });

    it('a failure after the worktree moved puts everything back: old branch, the same files, no new branch or stream', async () => {
      const ctx = await setUp();
      const { deps, repo, git, bob } = ctx;
      const { stream: old, worktree, red } = await breakAndRevert(ctx);
      // A task past its expiry cannot be claimed: the link fails inside the record's transaction.
      await fx.store.db
        .updateTable('gitswarm_tasks')
        .set({ expires_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '=', red.task_id as string)
        .execute();
      const refs = await git.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      await expect(reopenWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({ code: 'expired' });
      expect(await git.run(['for-each-ref', '--format=%(refname) %(objectname)'])).toBe(refs);
      expect(await git.run(['symbolic-ref', 'HEAD'], worktree)).toBe(`refs/heads/${old.branch}`);
      expect(readFileSync(join(worktree, 'b-lib.txt'), 'utf8')).toBe('lib v2\n');
      expect(readFileSync(join(worktree, 'notes.txt'), 'utf8')).toBe('wip\n');
      expect(await git.run(['diff', '--cached', '--name-only'], worktree)).toBe('');
      const streams = await fx.store.db
        .selectFrom('gitswarm_streams')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('agent_id', '=', bob.id)
        .execute();
      expect(streams.map((s) => s.id)).toEqual([old.id]);
      expect((await findWorkspace(fx.store.db, repo.id, bob.id))?.stream_id).toBe(old.id);
      const pending = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('repo_id', '=', repo.id)
        .where('status', '=', 'pending')
        .execute();
      expect(pending).toEqual([]);
    });

    it('names the stream when the workspace is gone: a new worktree with the change re-applied', async () => {
      const ctx = await setUp();
      const { deps, repo, git, bob } = ctx;
      const { stream: old, worktree } = await breakAndRevert(ctx);
      // Bob throws his work away and removes the worktree.
      await git.run(['checkout', '--', '.'], worktree);
      await git.run(['clean', '-fdq'], worktree);
      await destroyWorkspace(deps, { repo, agent: bob });
      expect(existsSync(worktree)).toBe(false);
      await expect(reopenWorkspace(deps, { repo, agent: bob })).rejects.toMatchObject({
        code: 'invalid_state',
        hint: expect.stringContaining('gitswarm workspace reopen STREAM'),
      });
      const reopened = await reopenWorkspace(deps, { repo, agent: bob, streamRef: old.name });
      expect(reopened).toMatchObject({ worktree, carried_over: false });
      expect(readFileSync(join(worktree, 'b.txt'), 'utf8')).toBe('BROKEN\n');
      expect(await git.run(['status', '--porcelain'], worktree)).toBe('');
      // A second reopen of the same reverted stream gets the next free name.
      await destroyWorkspace(deps, { repo, agent: bob, abandon: true });
      const again = await reopenWorkspace(deps, { repo, agent: bob, streamRef: old.id });
      expect(again.stream.name).toBe(`${old.name}-reopened-2`);
    });

    it('review mode: the reopened stream is reviewed and merged like any other, and the green closes the task', async () => {
      const deps = testDeps(fx.store);
      const seeded = fx.keep(await seedStabilizeRepo(deps, { merge_mode: 'review' }));
      const { repo } = seeded;
      const bob = await seedAgent(deps, 'bob');
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: bob });
      writeFiles(worktree, { 'b.txt': 'BROKEN\n' });
      await commitWorkspace(deps, { repo, agent: bob, message: 'Add b' });
      await approve(deps, seeded, stream, bob);
      await mergeStream(deps, { repo, stream, actor: bob });
      const red = await stabilize(deps, { repo, actor: null });
      expect(red).toMatchObject({ result: 'red', breaking_stream_id: stream.id, reverted: true });

      const reopened = await reopenWorkspace(deps, { repo, agent: bob });
      expect(reopened.task_id).toBe(red.task_id);
      writeFiles(worktree, { 'b.txt': 'fixed\n' });
      await commitWorkspace(deps, { repo, agent: bob, message: 'Fix b' });
      await approve(deps, seeded, reopened.stream, bob);
      await mergeStream(deps, { repo, stream: reopened.stream, actor: bob });
      const green = await stabilize(deps, { repo, actor: null });
      expect(green).toMatchObject({ result: 'green', closed_task_ids: [red.task_id] });
      expect((await getTask(fx.store.db, repo.id, red.task_id as string)).status).toBe('completed');
      expect(await seeded.git.show('buffer', 'b.txt')).toBe('fixed');
    });
  });
}
