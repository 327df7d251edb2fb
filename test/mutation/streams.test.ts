/**
 * Stream merge, cascade and revert at their edges (found by mutation testing): the refusals'
 * messages, hints and details; what each activity entry records; the merge and revert commits'
 * messages and authors; which merge a revert picks; a revert or a merge record that runs twice
 * (crash recovery) changes nothing the second time; a stream that moved on keeps its state; the
 * cascade's deferral, conflict and rebase records; re-parenting onto the buffer.
 */
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity/activity.js';
import { commitWorkspace, createWorkspace, mergeStream, revertStream } from '../../src/core/federation.js';
import {
  branchHead,
  branchHeads,
  cascadeDependents,
  needsRebase,
  rebaseStreamOntoBase,
  recoveredStatus,
  reparentOntoBuffer,
  streamBase,
} from '../../src/core/streams/stream-cascade.js';
import { assertMergeable, recordMerge } from '../../src/core/streams/stream-merge.js';
import { recordRevert, revertMessage } from '../../src/core/streams/stream-revert.js';
import { getStream, getStreamById, updateStream } from '../../src/core/streams/streams.js';
import { OpLog } from '../../src/engine/oplog.js';
import type { GitSwarmError } from '../../src/errors.js';
import type { Stream } from '../../src/store/index.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { approve, useGitStore, workOn, writeFiles } from '../helpers/federation-fixture.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { seedAgent } from '../helpers/streams-fixture.js';

const review = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

describe('needsRebase and recoveredStatus', () => {
  const stream = (fields: Partial<Stream>) =>
    ({ metadata: {}, conflict: null, review_status: null, ...fields }) as Stream;
  it('needs a rebase only when deferred (needs_rebase exactly true) or stopped by a rebase conflict', () => {
    expect(needsRebase(stream({ metadata: { needs_rebase: true } }))).toBe(true);
    expect(needsRebase(stream({ metadata: { needs_rebase: 'yes' } }))).toBe(false);
    expect(needsRebase(stream({}))).toBe(false);
    const conflict = (operation: 'merge' | 'rebase') =>
      ({ operation, onto: 'x', paths: [], detected_at: 'now' }) as Stream['conflict'];
    expect(needsRebase(stream({ conflict: conflict('rebase') }))).toBe(true);
    expect(needsRebase(stream({ conflict: conflict('merge') }))).toBe(false);
  });
  it('returns to review when the stream was submitted, else to active', () => {
    expect(recoveredStatus(stream({ review_status: null }))).toBe('active');
    expect(recoveredStatus(stream({ review_status: 'changes_requested' }))).toBe('in_review');
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stream merge, cascade and revert at their edges`, () => {
    const fx = useGitStore(dialect);

    const activity = async (repoId: string, event: string) =>
      (await listActivity(fx.store.db, { repoId, eventTypes: [event], limit: 100 })).reverse();

    it('names a missing branch; reads several heads; refuses a ref name git would misread', async () => {
      const { seeded } = await fx.seed(review);
      const dir = seeded.git.dir;
      const error = await caught(branchHead(dir, 'nope'));
      expect(error).toMatchObject({
        code: 'invalid_state',
        message: 'Branch nope does not exist.',
        hint: 'Run: gitswarm init',
        details: { branch: 'nope' },
      });
      const main = await seeded.git.rev('main');
      expect(await branchHeads(dir, ['main', 'buffer'])).toEqual([main, main]);
      expect(await branchHeads(dir, [])).toEqual([]);
      // A loose ref is read from its file, a packed one (no file) by git, a bad name refused: a
      // git on the search path that notes each call sees only the packed read.
      const git = recordGitCalls();
      expect(await withCommandEnv(git.env, () => branchHead(dir, 'main'))).toBe(main);
      expect(git.calls()).toEqual([]);
      await seeded.git.run(['pack-refs', '--all', '--prune']);
      expect(await withCommandEnv(git.env, () => branchHead(dir, 'main'))).toBe(main);
      expect(git.calls()).not.toEqual([]);
      await expect(branchHead(dir, '../config')).rejects.toMatchObject({ code: 'invalid_name' });
      await expect(branchHeads(dir, ['main', 'a..b'])).rejects.toMatchObject({ code: 'invalid_name' });
      await expect(branchHeads(dir, ['main', 'gone'])).rejects.toMatchObject({
        code: 'invalid_state',
        message: 'Branch gone does not exist.',
      });
    });

    it('merge refusals: another repository, merged, abandoned, dependency, empty, no consensus', async () => {
      const { deps, seeded, repo, coder } = await fx.seedWithCoder(review);
      const other = await fx.seed(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' }, { name: 'parent-work' });
      const peer = await seedAgent(deps, 'peer');
      const child = await workOn(deps, seeded, peer, { 'c.txt': 'c\n' }, { dependsOn: a.stream.id });

      const foreign = await caught(
        assertMergeable(deps, fx.store.db, { repo: other.seeded.repo, stream: a.stream, actor: null }),
      );
      expect(foreign).toMatchObject({
        code: 'stream_not_found',
        message: `No stream ${a.stream.id} in this repository.`,
      });

      await approve(deps, seeded, child.stream, peer);
      const dependency = await caught(mergeStream(deps, { repo, stream: child.stream, actor: peer }));
      expect(dependency).toMatchObject({
        code: 'dependency_unmerged',
        message: `Stream ${child.stream.name} depends on stream ${a.stream.name}, which is active; merge it first.`,
        hint: `Merge the parent first: gitswarm merge ${a.stream.id}`,
        details: { stream_id: child.stream.id, parent_stream_id: a.stream.id, parent_status: 'active' },
      });

      // No consensus: the message gives the numbers.
      const noConsensus = await caught(mergeStream(deps, { repo, stream: a.stream, actor: coder }));
      expect(noConsensus.code).toBe('no_consensus');
      expect(noConsensus.message).toBe(
        `Stream ${a.stream.name} has no consensus (insufficient_reviews): 0 approvals, 0 change requests, ratio 0.00 of 0.66.`,
      );
      expect(noConsensus.hint).toBe(`See the numbers with: gitswarm consensus ${a.stream.id}`);
      expect(noConsensus.details).toMatchObject({ consensus: { reached: false, threshold: 0.66 } });

      await approve(deps, seeded, a.stream, coder);
      const checked = await assertMergeable(deps, fx.store.db, { repo, stream: a.stream, actor: coder });
      expect(checked.consensus).toMatchObject({ reached: true });
      expect(checked.stream.id).toBe(a.stream.id);
      // A council decision needs no consensus and reports none.
      expect(
        (await assertMergeable(deps, fx.store.db, { repo, stream: a.stream, actor: null })).consensus,
      ).toBe(null);
      const merged = await mergeStream(deps, { repo, stream: a.stream, actor: coder });
      const again = await caught(mergeStream(deps, { repo, stream: a.stream, actor: coder }));
      expect(again).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${a.stream.name} is already merged.`,
        details: { stream_id: a.stream.id, status: 'merged' },
      });

      // The empty stream: its details name both heads.
      const { stream: empty } = await createWorkspace(deps, { repo, agent: await seedAgent(deps, 'idle') });
      const emptyError = await caught(mergeStream(deps, { repo, stream: empty, actor: null }));
      expect(emptyError).toMatchObject({
        code: 'empty_stream',
        message: `Stream ${empty.name} has nothing that is not already on buffer.`,
        details: { stream_id: empty.id, head: merged.merge_commit, buffer_head: merged.merge_commit },
      });

      const abandoned = await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, empty.id), {
        status: 'abandoned',
      });
      const dead = await caught(mergeStream(deps, { repo, stream: abandoned, actor: null }));
      expect(dead).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${empty.name} is abandoned; it cannot be merged.`,
        details: { stream_id: empty.id, status: 'abandoned' },
      });
    });

    it('gated mode and a maintainers_only buffer rule: a writer may not merge; swarm mode needs no consensus', async () => {
      const gated = await fx.seedWithCoder({ ...review, merge_mode: 'gated' });
      const work = await workOn(gated.deps, gated.seeded, gated.coder, { 'g.txt': 'g\n' });
      await approve(gated.deps, gated.seeded, work.stream, gated.coder);
      await expect(
        mergeStream(gated.deps, { repo: gated.repo, stream: work.stream, actor: gated.coder }),
      ).rejects.toMatchObject({ code: 'forbidden' });
      const byMaintainer = await mergeStream(gated.deps, {
        repo: gated.repo,
        stream: work.stream,
        actor: gated.seeded.maintainer,
      });
      expect(byMaintainer.merged).toBe(true);

      const swarm = await fx.seedWithCoder({ merge_mode: 'swarm' });
      const { stream } = await createWorkspace(swarm.deps, { repo: swarm.repo, agent: swarm.coder });
      const checked = await assertMergeable(swarm.deps, fx.store.db, {
        repo: swarm.repo,
        stream,
        actor: swarm.coder,
      });
      expect(checked.consensus).toBeNull();
    });

    it('the merge commit says which stream it merges, by whom; the record tells the trigger; recording twice adds nothing', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      await approve(deps, seeded, a.stream, coder);
      const byAgent = await mergeStream(deps, { repo, stream: a.stream, actor: coder });
      expect(await git.run(['log', '-1', '--format=%B', byAgent.merge_commit])).toBe(
        `Merge stream ${a.stream.name} into buffer\n\nStream: ${a.stream.id}`,
      );
      expect(await git.run(['log', '-1', '--format=%an <%ae>', byAgent.merge_commit])).toBe(
        `${coder.name} <${coder.name}@agents.gitswarm.invalid>`,
      );

      const peer = await seedAgent(deps, 'peer');
      const b = await workOn(deps, seeded, peer, { 'b.txt': 'b\n' });
      const byCouncil = await mergeStream(deps, { repo, stream: b.stream, actor: null });
      expect(await git.run(['log', '-1', '--format=%an <%ae>', byCouncil.merge_commit])).toBe(
        'gitswarm-council <council@agents.gitswarm.invalid>',
      );
      const swarmTrigger = await workOn(deps, seeded, await seedAgent(deps, 'third'), { 't.txt': 't\n' });
      const bySwarm = await mergeStream(deps, {
        repo,
        stream: swarmTrigger.stream,
        actor: null,
        trigger: 'swarm',
      });

      const merged = await activity(repo.id, 'stream.merged');
      expect(merged.every((e) => e.target_type === 'stream')).toBe(true);
      expect(merged.map((e) => [e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          a.stream.id,
          coder.id,
          {
            name: a.stream.name,
            merge_commit: byAgent.merge_commit,
            target_branch: 'buffer',
            trigger: 'agent',
          },
        ],
        [
          b.stream.id,
          null,
          {
            name: b.stream.name,
            merge_commit: byCouncil.merge_commit,
            target_branch: 'buffer',
            trigger: 'council',
          },
        ],
        [
          swarmTrigger.stream.id,
          null,
          {
            name: swarmTrigger.stream.name,
            merge_commit: bySwarm.merge_commit,
            target_branch: 'buffer',
            trigger: 'swarm',
          },
        ],
      ]);
      const rows = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select(['stream_id', 'agent_id', 'target_branch', 'merged_at'])
        .where('repo_id', '=', repo.id)
        .orderBy('merged_at')
        .execute();
      expect(rows.map((r) => [r.stream_id, r.agent_id, r.target_branch])).toEqual([
        [a.stream.id, coder.id, 'buffer'],
        [b.stream.id, null, 'buffer'],
        [swarmTrigger.stream.id, null, 'buffer'],
      ]);

      // Recovery records a merge that is already recorded: nothing new, the operation completes.
      const oplog = new OpLog(deps.store, repo.id, deps.clock);
      const op = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'merge')
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow();
      await fx.store.db
        .updateTable('gitswarm_operations')
        .set({ status: 'pending' })
        .where('id', '=', op.id)
        .execute();
      await recordMerge(deps, fx.store.db, {
        repo,
        streamId: swarmTrigger.stream.id,
        mergeCommit: bySwarm.merge_commit,
        agentId: null,
        trigger: 'recovery',
        opId: op.id,
        oplog,
      });
      expect((await activity(repo.id, 'stream.merged')).length).toBe(3);
      const status = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('id', '=', op.id)
        .executeTakeFirstOrThrow();
      expect(status.status).toBe('done');
      // complete: false leaves the operation to the caller.
      await fx.store.db
        .updateTable('gitswarm_operations')
        .set({ status: 'pending' })
        .where('id', '=', op.id)
        .execute();
      await recordMerge(deps, fx.store.db, {
        repo,
        streamId: swarmTrigger.stream.id,
        mergeCommit: bySwarm.merge_commit,
        agentId: null,
        trigger: 'recovery',
        opId: op.id,
        oplog,
        complete: false,
      });
      const pending = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('id', '=', op.id)
        .executeTakeFirstOrThrow();
      expect(pending.status).toBe('pending');
    });

    it('recording a merge of a stream that moved on (abandoned) keeps its status and still records the merge', async () => {
      const { deps, seeded, repo, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      const abandoned = await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, a.stream.id), {
        status: 'abandoned',
      });
      const oplog = new OpLog(deps.store, repo.id, deps.clock);
      const opId = await oplog.begin({
        kind: 'merge',
        ref: 'refs/heads/buffer',
        old: await seeded.git.rev('buffer'),
        new: a.commit,
        description: 'test',
        streamId: a.stream.id,
        agentId: null,
      });
      await recordMerge(deps, fx.store.db, {
        repo,
        streamId: abandoned.id,
        mergeCommit: a.commit,
        agentId: coder.id,
        trigger: 'recovery',
        opId,
        oplog,
      });
      expect((await getStreamById(fx.store.db, a.stream.id)).status).toBe('abandoned');
      const merged = await activity(repo.id, 'stream.merged');
      expect(merged.map((e) => e.metadata)).toEqual([
        { name: a.stream.name, merge_commit: a.commit, target_branch: 'buffer', trigger: 'recovery' },
      ]);
    });

    it('a merge conflict records the stream conflicted, with the activity and the refusal naming the buffer head', async () => {
      const { deps, seeded, repo, coder } = await fx.seedWithCoder(review);
      const other = await seedAgent(deps, 'other');
      const a = await workOn(deps, seeded, coder, { 'lines.txt': 'A\n' });
      const b = await workOn(deps, seeded, other, { 'lines.txt': 'B\n' });
      const first = await mergeStream(deps, { repo, stream: a.stream, actor: null });
      await approve(deps, seeded, b.stream, other);
      const error = await caught(mergeStream(deps, { repo, stream: b.stream, actor: other }));
      expect(error).toMatchObject({
        code: 'conflict',
        message: `Stream ${b.stream.name} conflicts with buffer in: lines.txt`,
        hint: 'Merge buffer into the worktree, resolve the files, commit, then merge again.',
        httpHint: `Read the conflict: GET /api/v1/streams/${b.stream.id}/conflicts; bring buffer in with conflict markers: POST /api/v1/streams/${b.stream.id}/update; write the resolved files, commit, then merge again.`,
        details: { stream_id: b.stream.id, paths: ['lines.txt'], buffer_head: first.merge_commit },
      });
      const conflicted = await getStreamById(fx.store.db, b.stream.id);
      expect(conflicted.conflict).toEqual({
        operation: 'merge',
        onto: first.merge_commit,
        paths: ['lines.txt'],
        detected_at: expect.stringMatching(/^\d{4}-/),
      });
      const events = await activity(repo.id, 'stream.conflicted');
      expect(events.map((e) => [e.target_type, e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          'stream',
          b.stream.id,
          other.id,
          { operation: 'merge', onto: first.merge_commit, onto_branch: 'buffer', paths: ['lines.txt'] },
        ],
      ]);
    });

    it('reverts the merge asked for, else the latest; the commit names it and the red commit; twice is refused', async () => {
      const { deps, repo, git, coder } = await fx.seedWithCoder({ merge_mode: 'swarm' });
      const { worktree, stream } = await createWorkspace(deps, { repo, agent: coder });
      writeFiles(worktree, { 'one.txt': '1\n' });
      const first = await commitWorkspace(deps, { repo, agent: coder, message: 'One' });
      writeFiles(worktree, { 'two.txt': '2\n' });
      const second = await commitWorkspace(deps, { repo, agent: coder, message: 'Two' });
      const firstMerge = first.buffer_head as string;
      const secondMerge = second.buffer_head as string;

      const missing = await caught(
        revertStream(deps, { repo, stream, actor: null, reason: 'x', mergeCommit: 'f'.repeat(40) }),
      );
      expect(missing).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${stream.name} has no unreverted merge ${'f'.repeat(40)}`,
      });

      const red = 'a'.repeat(40);
      const older = await revertStream(deps, {
        repo,
        stream,
        actor: null,
        reason: 'broke it',
        mergeCommit: firstMerge,
        redAt: red,
      });
      expect(older).toMatchObject({ reverted: true, merge_commit: firstMerge });
      if (!older.reverted) throw new Error('expected a revert');
      expect(await git.run(['log', '-1', '--format=%B', older.revert_commit])).toBe(
        [
          `Revert merge ${firstMerge.slice(0, 12)} of stream ${stream.name} (red at ${red.slice(0, 12)})`,
          '',
          `This reverts merge ${firstMerge}.`,
          'Reason: broke it',
          `Stream: ${stream.id}`,
        ].join('\n'),
      );
      expect(await git.run(['log', '-1', '--format=%an', older.revert_commit])).toBe('gitswarm-council');
      expect(await git.exitCode(['cat-file', '-e', 'buffer:one.txt'])).not.toBe(0);
      expect(await git.show('buffer', 'two.txt')).toBe('2');
      // The stream was merged: it is reverted now.
      expect((await getStreamById(fx.store.db, stream.id)).status).toBe('reverted');

      // Default: the latest unreverted merge.
      const latest = await revertStream(deps, { repo, stream, actor: null, reason: 'again' });
      expect(latest).toMatchObject({ reverted: true, merge_commit: secondMerge });
      const none = await caught(revertStream(deps, { repo, stream, actor: null, reason: 'thrice' }));
      expect(none).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${stream.name} is reverted and has no merge to revert.`,
        details: { stream_id: stream.id, status: 'reverted' },
      });
      const events = await activity(repo.id, 'stream.reverted');
      expect(events.map((e) => [e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          stream.id,
          null,
          {
            name: stream.name,
            merge_commit: firstMerge,
            revert_commit: older.revert_commit,
            reason: 'broke it',
          },
        ],
        [
          stream.id,
          null,
          {
            name: stream.name,
            merge_commit: secondMerge,
            revert_commit: (latest as { revert_commit: string }).revert_commit,
            reason: 'again',
          },
        ],
      ]);
    });

    it('reverting an older merge of a swarm stream that moved on keeps its status; recording twice changes nothing', async () => {
      const { deps, seeded, repo, coder } = await fx.seedWithCoder({ merge_mode: 'swarm' });
      const { worktree, stream } = await createWorkspace(deps, { repo, agent: coder });
      writeFiles(worktree, { 'one.txt': '1\n' });
      const first = await commitWorkspace(deps, { repo, agent: coder, message: 'One' });
      // The stream moves on: active again (a new commit on its way).
      const moved = await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ status: 'active' })
        .where('id', '=', stream.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      expect(moved.status).toBe('active');
      const result = await revertStream(deps, { repo, stream, actor: seeded.maintainer, reason: 'red' });
      if (!result.reverted) throw new Error('expected a revert');
      expect((await getStreamById(fx.store.db, stream.id)).status).toBe('active');
      const revertRow = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select(['reverted_at', 'revert_commit'])
        .where('merge_commit', '=', first.buffer_head as string)
        .executeTakeFirstOrThrow();
      expect(revertRow.revert_commit).toBe(result.revert_commit);

      const oplog = new OpLog(deps.store, repo.id, deps.clock);
      const op = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['id', 'agent_id'])
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'revert')
        .executeTakeFirstOrThrow();
      // The operation names who reverted.
      expect(op.agent_id).toBe(seeded.maintainer.id);
      await fx.store.db
        .updateTable('gitswarm_operations')
        .set({ status: 'pending' })
        .where('id', '=', op.id)
        .execute();
      await recordRevert(deps, fx.store.db, {
        repo,
        streamId: stream.id,
        mergeCommit: first.buffer_head as string,
        revertCommit: 'b'.repeat(40),
        agentId: null,
        reason: 'recovered',
        opId: op.id,
        oplog,
        recovered: true,
      });
      const after = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select(['reverted_at', 'revert_commit'])
        .where('merge_commit', '=', first.buffer_head as string)
        .executeTakeFirstOrThrow();
      expect(after).toEqual(revertRow);
      expect((await activity(repo.id, 'stream.reverted')).length).toBe(1);
      expect(
        (
          await fx.store.db
            .selectFrom('gitswarm_operations')
            .select('status')
            .where('id', '=', op.id)
            .executeTakeFirstOrThrow()
        ).status,
      ).toBe('done');
    });

    it('a recovered revert says so in its activity', async () => {
      const { deps, seeded, repo, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      const merged = await mergeStream(deps, { repo, stream: a.stream, actor: null });
      const oplog = new OpLog(deps.store, repo.id, deps.clock);
      const opId = await oplog.begin({
        kind: 'revert',
        ref: 'refs/heads/buffer',
        old: merged.merge_commit,
        new: merged.merge_commit,
        description: 'test',
        streamId: a.stream.id,
        agentId: null,
      });
      await recordRevert(deps, fx.store.db, {
        repo,
        streamId: a.stream.id,
        mergeCommit: merged.merge_commit,
        revertCommit: 'c'.repeat(40),
        agentId: coder.id,
        reason: null,
        opId,
        oplog,
        recovered: true,
      });
      const events = await activity(repo.id, 'stream.reverted');
      expect(events.map((e) => [e.agent_id, e.target_type, e.target_id, e.metadata])).toEqual([
        [
          coder.id,
          'stream',
          a.stream.id,
          {
            name: a.stream.name,
            merge_commit: merged.merge_commit,
            revert_commit: 'c'.repeat(40),
            reason: null,
            recovered: true,
          },
        ],
      ]);
      expect((await getStreamById(fx.store.db, a.stream.id)).status).toBe('reverted');
    });

    it('revertMessage: the subject without a red commit', () => {
      expect(
        revertMessage({ stream: { id: 's1', name: 'feat' }, mergeCommit: '0123456789abcdef', reason: 'why' }),
      ).toBe(
        'Revert merge 0123456789ab of stream feat\n\nThis reverts merge 0123456789abcdef.\nReason: why\nStream: s1\n',
      );
    });

    it('cascade: a dirty worktree defers once (recorded once), a conflict and a rebase are recorded with their heads', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const alpha = await seedAgent(deps, 'alpha');
      const beta = await seedAgent(deps, 'beta');
      const gamma = await seedAgent(deps, 'gamma');
      const a = await workOn(
        deps,
        seeded,
        alpha,
        { 'api.js': 'v1\n', 'lines.txt': 'one\n' },
        { name: 'base' },
      );
      const b = await workOn(deps, seeded, beta, { 'b.js': 'b\n' }, { dependsOn: a.stream.id });
      const c = await workOn(deps, seeded, gamma, { 'lines.txt': 'gamma\n' }, { dependsOn: a.stream.id });
      // b's worktree is dirty: deferred.
      writeFiles(b.worktree, { 'wip.txt': 'wip\n' });
      const headOfA0 = await git.rev(a.stream.branch);
      writeFiles(a.worktree, { 'api.js': 'v2\n', 'lines.txt': 'alpha\n' });
      await commitWorkspace(deps, { repo, agent: alpha, message: 'v2' });
      const headOfA = await git.rev(a.stream.branch);
      expect(headOfA).not.toBe(headOfA0);
      // Again, by hand: still dirty, no second record.
      const outcomes = await cascadeDependents(deps, repo, a.stream.id, alpha.id);
      expect(outcomes).toEqual([
        { stream_id: b.stream.id, outcome: 'deferred', reason: 'worktree_dirty' },
        { stream_id: c.stream.id, outcome: 'conflicted', paths: ['lines.txt'], onto: headOfA },
      ]);
      const updated = await activity(repo.id, 'stream.updated');
      const deferrals = updated.filter((e) => e.metadata.reason === 'worktree_dirty');
      expect(deferrals.map((e) => [e.target_type, e.target_id, e.agent_id, e.metadata])).toEqual([
        ['stream', b.stream.id, alpha.id, { needs_rebase: true, reason: 'worktree_dirty' }],
      ]);
      const conflicts = await activity(repo.id, 'stream.conflicted');
      expect(conflicts.at(-1)).toMatchObject({
        target_type: 'stream',
        target_id: c.stream.id,
        agent_id: alpha.id,
        metadata: { operation: 'rebase', onto: headOfA, onto_branch: a.stream.branch, paths: ['lines.txt'] },
      });
      const cConflicted = await getStreamById(fx.store.db, c.stream.id);
      expect(cConflicted.conflict).toEqual({
        operation: 'rebase',
        onto: headOfA,
        paths: ['lines.txt'],
        detected_at: expect.stringMatching(/^\d{4}-/),
      });

      // b cleans up: the rebase goes through and is recorded with both heads; the flag is cleared.
      await git.run(['clean', '-fdq'], b.worktree);
      const headOfB = await git.rev(b.stream.branch);
      const rebased = await rebaseStreamOntoBase(deps, {
        repo,
        stream: await getStreamById(fx.store.db, b.stream.id),
        worktree: b.worktree,
        trigger: 'commit',
        agentId: beta.id,
      });
      const newHead = await git.rev(b.stream.branch);
      expect(rebased).toEqual({ stream_id: b.stream.id, outcome: 'rebased', head: newHead, onto: headOfA });
      const bAfter = await getStreamById(fx.store.db, b.stream.id);
      expect(bAfter.metadata.needs_rebase).toBeUndefined();
      expect(bAfter.base_commit).toBe(headOfA);
      const rebasedEvents = await activity(repo.id, 'stream.rebased');
      expect(rebasedEvents.at(-1)).toMatchObject({
        target_type: 'stream',
        target_id: b.stream.id,
        agent_id: beta.id,
        metadata: {
          trigger: 'commit',
          onto: headOfA,
          onto_branch: a.stream.branch,
          head: newHead,
          previous_head: headOfB,
        },
      });
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['status', 'agent_id', 'stream_id'])
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'rebase')
        .execute();
      expect(ops.every((op) => op.status === 'done')).toBe(true);
      // The operation names who caused the rebase.
      expect(ops.filter((op) => op.stream_id === b.stream.id).map((op) => op.agent_id)).toEqual([beta.id]);

      // Up to date: nothing moves, and a leftover flag is cleared.
      const flagged = await updateStream(deps, fx.store.db, bAfter, {
        metadata: { ...bAfter.metadata, needs_rebase: true, keep: 1 },
      });
      const upToDate = await rebaseStreamOntoBase(deps, { repo, stream: flagged, trigger: 'cascade' });
      expect(upToDate).toEqual({ stream_id: b.stream.id, outcome: 'up_to_date', head: newHead });
      expect((await getStreamById(fx.store.db, b.stream.id)).metadata).toEqual({ keep: 1 });
      const untouched = await getStreamById(fx.store.db, b.stream.id);
      await rebaseStreamOntoBase(deps, { repo, stream: untouched, trigger: 'cascade' });
      expect((await getStreamById(fx.store.db, b.stream.id)).updated_at).toBe(untouched.updated_at);
    });

    it('a stream conflicted by a merge stays conflicted when a rebase onto its parent is clean', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const alpha = await seedAgent(deps, 'alpha');
      const beta = await seedAgent(deps, 'beta');
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' }, { name: 'merge-conflict-parent' });
      const b = await workOn(deps, seeded, beta, { 'b.txt': 'b\n' }, { dependsOn: a.stream.id });
      const conflict = {
        operation: 'merge' as const,
        onto: await git.rev('buffer'),
        paths: ['b.txt'],
        detected_at: '2026-03-01T12:00:00.000Z',
      };
      await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, b.stream.id), {
        status: 'conflicted',
        conflict,
      });
      writeFiles(a.worktree, { 'a2.txt': 'a2\n' });
      const committed = await commitWorkspace(deps, { repo, agent: alpha, message: 'More' });
      expect(committed.cascade.map((o) => [o.stream_id, o.outcome])).toEqual([[b.stream.id, 'rebased']]);
      const after = await getStreamById(fx.store.db, b.stream.id);
      expect(after.status).toBe('conflicted');
      expect(after.conflict).toEqual(conflict);
    });

    it('the base of a stream: its live parent, else the buffer; re-parenting skips dead and buffer-based children', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const alpha = await seedAgent(deps, 'alpha');
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' }, { name: 'root-work' });
      // Three children of the same parent, each by its own agent.
      const childOf = async (agent: string, name: string) =>
        workOn(
          deps,
          seeded,
          await seedAgent(deps, agent),
          { [`${name}.txt`]: `${name}\n` },
          { dependsOn: a.stream.id },
        );
      const b = await childOf('beta', 'b');
      const c = await childOf('gamma', 'c');
      const d = await childOf('delta', 'd');
      expect(await streamBase(fx.store.db, repo, b.stream)).toEqual({
        branch: a.stream.branch,
        head: await git.rev(a.stream.branch),
      });
      // c is abandoned, d already builds on the buffer: only b moves.
      await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, c.stream.id), {
        status: 'abandoned',
      });
      await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, d.stream.id), {
        base_branch: 'buffer',
      });
      const moved = await reparentOntoBuffer(
        deps,
        fx.store.db,
        repo,
        a.stream.id,
        alpha.id,
        'parent_abandoned',
      );
      expect(moved.map((s) => [s.id, s.base_branch])).toEqual([[b.stream.id, 'buffer']]);
      const events = (await activity(repo.id, 'stream.updated')).filter((e) => e.metadata.parent_stream_id);
      expect(events.map((e) => [e.target_type, e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          'stream',
          b.stream.id,
          alpha.id,
          { base_branch: 'buffer', reason: 'parent_abandoned', parent_stream_id: a.stream.id },
        ],
      ]);
      expect(
        await reparentOntoBuffer(deps, fx.store.db, repo, a.stream.id, alpha.id, 'parent_abandoned'),
      ).toEqual([]);
      // Built on the buffer now, though its parent is live.
      const bNow = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(await streamBase(fx.store.db, repo, bNow)).toEqual({
        branch: 'buffer',
        head: await git.rev('buffer'),
      });
      // A stream whose parent is no longer live builds on the buffer whatever its base says.
      const cNow = await getStream(fx.store.db, repo.id, c.stream.id);
      const orphan = { ...cNow, parent_stream_id: c.stream.id, base_branch: c.stream.branch };
      expect(await streamBase(fx.store.db, repo, orphan)).toEqual({
        branch: 'buffer',
        head: await git.rev('buffer'),
      });
    });

    it('a merge: its operation names the stream and the agent; the result is the new buffer head; the children re-parent with reason parent_merged', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' }, { name: 'merge-parent' });
      const beta = await seedAgent(deps, 'beta');
      const b = await workOn(deps, seeded, beta, { 'b.txt': 'b\n' }, { dependsOn: a.stream.id });
      await approve(deps, seeded, a.stream, coder);
      const merged = await mergeStream(deps, { repo, stream: a.stream, actor: coder });
      const bufferHead = await git.rev('buffer');
      expect(merged.merge_commit).toBe(bufferHead);
      expect(merged.buffer_head).toBe(bufferHead);
      expect(merged.cascade).toEqual([
        {
          stream_id: b.stream.id,
          outcome: 'rebased',
          head: await git.rev(b.stream.branch),
          onto: bufferHead,
        },
      ]);
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['stream_id', 'agent_id', 'status'])
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'merge')
        .execute();
      expect(ops).toEqual([{ stream_id: a.stream.id, agent_id: coder.id, status: 'done' }]);
      const events = (await activity(repo.id, 'stream.updated')).filter((e) => e.metadata.parent_stream_id);
      expect(events.map((e) => [e.target_type, e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          'stream',
          b.stream.id,
          coder.id,
          { base_branch: 'buffer', reason: 'parent_merged', parent_stream_id: a.stream.id },
        ],
      ]);
      expect((await getStreamById(fx.store.db, b.stream.id)).base_branch).toBe('buffer');

      // A council merge's operation names no agent.
      const c = await workOn(deps, seeded, await seedAgent(deps, 'gamma'), { 'c.txt': 'c\n' });
      await mergeStream(deps, { repo, stream: c.stream, actor: null });
      const councilOp = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['agent_id'])
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'merge')
        .where('stream_id', '=', c.stream.id)
        .executeTakeFirstOrThrow();
      expect(councilOp.agent_id).toBeNull();
    });

    it('a merge computes its tree once, before the checks: one merge-tree, then the ref move', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'once.txt': 'once\n' });
      await approve(deps, seeded, a.stream, coder);
      const calls = recordGitCalls();
      const merged = await withCommandEnv(calls.env, () =>
        mergeStream(deps, { repo, stream: a.stream, actor: coder }),
      );
      expect(merged.merge_commit).toBe(await git.rev('buffer'));
      const spawned = calls.commands();
      expect(spawned.filter((name) => name === 'merge-tree')).toHaveLength(1);
      expect(spawned).not.toContain('merge-base');
    });

    it('a child re-parented onto the buffer merges although its parent was abandoned', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' }, { name: 'dropped-parent' });
      const b = await workOn(
        deps,
        seeded,
        await seedAgent(deps, 'beta'),
        { 'b.txt': 'b\n' },
        {
          dependsOn: a.stream.id,
        },
      );
      // Before re-parenting, the unmerged parent blocks it.
      await expect(mergeStream(deps, { repo, stream: b.stream, actor: null })).rejects.toMatchObject({
        code: 'dependency_unmerged',
      });
      await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, a.stream.id), {
        status: 'abandoned',
      });
      await reparentOntoBuffer(deps, fx.store.db, repo, a.stream.id, null, 'parent_abandoned');
      const child = await getStreamById(fx.store.db, b.stream.id);
      expect([child.parent_stream_id, child.base_branch]).toEqual([a.stream.id, 'buffer']);
      const merged = await mergeStream(deps, { repo, stream: b.stream, actor: null });
      expect(merged.merge_commit).toBe(await git.rev('buffer'));
      expect((await getStreamById(fx.store.db, b.stream.id)).status).toBe('merged');
    });

    it('a conflict in several files names them all, comma-separated', async () => {
      const { deps, seeded, repo } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, await seedAgent(deps, 'alpha'), {
        'x.txt': 'A\n',
        'y.txt': 'A\n',
      });
      const b = await workOn(deps, seeded, await seedAgent(deps, 'beta'), { 'x.txt': 'B\n', 'y.txt': 'B\n' });
      await mergeStream(deps, { repo, stream: a.stream, actor: null });
      const error = await caught(mergeStream(deps, { repo, stream: b.stream, actor: null }));
      expect(error).toMatchObject({
        code: 'conflict',
        message: `Stream ${b.stream.name} conflicts with buffer in: x.txt, y.txt`,
        details: { paths: ['x.txt', 'y.txt'] },
      });
    });

    it('a child whose parent merged merges though it still names the parent as its base (a cascade cut short)', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' }, { name: 'merged-parent' });
      const b = await workOn(
        deps,
        seeded,
        await seedAgent(deps, 'beta'),
        { 'b.txt': 'b\n' },
        {
          dependsOn: a.stream.id,
        },
      );
      await mergeStream(deps, { repo, stream: a.stream, actor: null });
      // As a crash between the merge's record and its cascade leaves it: the parent merged, the
      // child still based on the parent's branch.
      await updateStream(deps, fx.store.db, await getStreamById(fx.store.db, b.stream.id), {
        base_branch: a.stream.branch,
      });
      const child = await getStreamById(fx.store.db, b.stream.id);
      expect([child.parent_stream_id, child.base_branch]).toEqual([a.stream.id, a.stream.branch]);
      const checked = await assertMergeable(deps, fx.store.db, { repo, stream: b.stream, actor: null });
      expect(checked.stream.id).toBe(b.stream.id);
      const merged = await mergeStream(deps, { repo, stream: b.stream, actor: null });
      expect(merged.merge_commit).toBe(await git.rev('buffer'));
    });
  });
}
