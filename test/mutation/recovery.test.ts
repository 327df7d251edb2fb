/**
 * Crash recovery, outcome by outcome (found by mutation testing of src/core/streams/recovery.ts). Each
 * after-crash state is made by the engine's own write-ahead steps run in this process (the intent
 * logged and the ref moved by `mergeIntoBranch`, `fastForward`, `revertMerge`, `rebaseBranch`,
 * `createBranchAt`: what a process killed at `*.after-update-ref` leaves), or by the intent alone
 * (`*.after-intent`). The crash tests in test/crash/ kill real processes at those failpoints, but
 * they run the built code in child processes, which a mutant in src/ never reaches.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity/activity.js';
import { commitWorkspace, recoverOperations, revertStream } from '../../src/core/federation.js';
import { submitForReview } from '../../src/core/streams/reviews.js';
import { getStream } from '../../src/core/streams/streams.js';
import { snapshotWorktree, switchWorktreeCarrying } from '../../src/engine/carry-over.js';
import { mergeIntoBranch } from '../../src/engine/merge.js';
import { moveRef, OpLog } from '../../src/engine/oplog.js';
import { fastForward } from '../../src/engine/promote.js';
import { rebaseBranch } from '../../src/engine/rebase.js';
import { revertMerge } from '../../src/engine/revert.js';
import { createBranchAt } from '../../src/engine/stream-branches.js';
import { toJson } from '../../src/store/index.js';
import { approve, useGitStore, workOn, worktreeStatus, writeFiles } from '../helpers/federation-fixture.js';
import { swarmCommit } from '../helpers/stabilize-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { seedAgent } from '../helpers/streams-fixture.js';

const AUTHOR = { name: 'Crash Test', email: 'crash@example.invalid' };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: crash recovery, outcome by outcome`, () => {
    const fx = useGitStore(dialect);

    const operation = (id: string) =>
      fx.store.db
        .selectFrom('gitswarm_operations')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    const operationsOf = (repoId: string) =>
      fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['kind', 'ref', 'status', 'description', 'stream_id', 'agent_id'])
        .where('repo_id', '=', repoId)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
    const recoveredEvents = async (repoId: string) =>
      (await listActivity(fx.store.db, { repoId, eventTypes: ['operation.recovered'] })).map((e) => ({
        agent_id: e.agent_id,
        target_type: e.target_type,
        target_id: e.target_id,
        metadata: e.metadata,
      }));

    it('a merge killed after the buffer moved is finished with its cascade; the recovery is logged exactly', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'api.js': 'v1\n' });
      const b = await workOn(deps, seeded, beta, { 'ext.js': 'ext\n' }, { dependsOn: a.stream.id });
      await approve(deps, seeded, a.stream, alpha);

      const merged = await mergeIntoBranch(git.dir, {
        target: 'buffer',
        source: a.commit,
        message: 'Merge a',
        author: AUTHOR,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: a.stream.id,
        agentId: alpha.id,
      });
      if (merged.kind !== 'merged') throw new Error('the merge conflicted');

      expect(await recoverOperations(deps, repo)).toEqual([
        { operation_id: merged.opId, kind: 'merge', ref: 'refs/heads/buffer', outcome: 'finished' },
      ]);
      expect((await getStream(fx.store.db, repo.id, a.stream.id)).status).toBe('merged');
      expect((await operation(merged.opId)).status).toBe('done');
      // The dependent now builds on the buffer and was replayed onto it.
      const child = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(child.base_branch).toBe('buffer');
      expect(child.base_commit).toBe(merged.commit);
      expect(await git.exitCode(['merge-base', '--is-ancestor', merged.commit, b.stream.branch])).toBe(0);
      expect(readFileSync(join(b.worktree, 'api.js'), 'utf8')).toBe('v1\n');
      expect(await recoveredEvents(repo.id)).toEqual([
        {
          agent_id: alpha.id,
          target_type: 'operation',
          target_id: merged.opId,
          metadata: {
            kind: 'merge',
            ref: 'refs/heads/buffer',
            old_oid: merged.previousHead,
            new_oid: merged.commit,
            stream_id: a.stream.id,
            outcome: 'finished',
          },
        },
      ]);
    });

    it('a merge killed after its intent rolls back: no merge recorded, its dependent left on it; a workspace that never got its branch leaves no deletion behind', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta, gamma] = [
        await seedAgent(deps, 'alpha'),
        await seedAgent(deps, 'beta'),
        await seedAgent(deps, 'gamma'),
      ];
      const a = await workOn(deps, seeded, alpha, { 'api.js': 'v1\n' });
      const b = await workOn(deps, seeded, beta, { 'ext.js': 'ext\n' }, { dependsOn: a.stream.id });
      await approve(deps, seeded, a.stream, alpha);
      const bufferHead = await git.rev('buffer');
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const lostMerge = await oplog.begin({
        ref: 'refs/heads/buffer',
        old: bufferHead,
        new: a.commit,
        kind: 'merge',
        description: 'Merge a',
        streamId: a.stream.id,
        agentId: alpha.id,
      });
      const lostCreate = await oplog.begin({
        ref: 'refs/heads/stream/00000000abcd',
        old: null,
        new: bufferHead,
        kind: 'stream_create',
        description: 'Create branch stream/00000000abcd',
        streamId: '00000000abcd',
        agentId: gamma.id,
      });

      expect(await recoverOperations(deps, repo)).toEqual([
        { operation_id: lostMerge, kind: 'merge', ref: 'refs/heads/buffer', outcome: 'rolled_back' },
        {
          operation_id: lostCreate,
          kind: 'stream_create',
          ref: 'refs/heads/stream/00000000abcd',
          outcome: 'rolled_back',
        },
      ]);
      expect(await git.rev('buffer')).toBe(bufferHead);
      expect((await getStream(fx.store.db, repo.id, a.stream.id)).status).toBe('in_review');
      const child = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(child.base_branch).toBe(a.stream.branch);
      expect(child.base_commit).toBe(b.stream.base_commit);
      expect(
        await fx.store.db.selectFrom('gitswarm_merges').select('id').where('repo_id', '=', repo.id).execute(),
      ).toEqual([]);
      // Nothing was deleted for the workspace whose branch never existed.
      const ops = await operationsOf(repo.id);
      expect(ops.filter((op) => op.kind === 'branch_delete')).toEqual([]);
      expect(ops.filter((op) => op.status === 'pending')).toEqual([]);
      const events = await recoveredEvents(repo.id);
      expect(new Map(events.map((e) => [e.target_id, [e.agent_id, e.metadata.outcome]]))).toEqual(
        new Map([
          [lostMerge, [alpha.id, 'rolled_back']],
          [lostCreate, [gamma.id, 'rolled_back']],
        ]),
      );
      expect(events.find((e) => e.target_id === lostMerge)?.metadata).toEqual({
        kind: 'merge',
        ref: 'refs/heads/buffer',
        old_oid: bufferHead,
        new_oid: a.commit,
        stream_id: a.stream.id,
        outcome: 'rolled_back',
      });
    });

    it('a promotion is recorded only for the repository’s promotion target: another branch fast-forwarded by a "promote" is finished without a record', async () => {
      const { deps, seeded } = await fx.seed({ promote_target: 'release' });
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const initial = await git.rev('main');
      await git.branch('release', initial);
      const a = await workOn(deps, seeded, coder, { 'shipped.txt': 'shipped\n' });
      await approve(deps, seeded, a.stream, coder);
      const bufferHead = await (async () => {
        const merged = await mergeIntoBranch(git.dir, {
          target: 'buffer',
          source: a.commit,
          message: 'Merge a',
          author: AUTHOR,
          oplog: new OpLog(fx.store, repo.id, deps.clock),
          streamId: a.stream.id,
          agentId: coder.id,
        });
        if (merged.kind !== 'merged') throw new Error('the merge conflicted');
        return merged.commit;
      })();
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const promoted = await fastForward(git.dir, {
        target: 'release',
        to: bufferHead,
        oplog,
        agentId: seeded.maintainer.id,
      });
      // Another commit than the promotion's: a promotion of it to the target would be a new record.
      const offTarget = await fastForward(git.dir, {
        target: 'side',
        to: a.commit,
        oplog,
        agentId: coder.id,
      });
      if (!promoted.opId || !offTarget.opId) throw new Error('the promotions did not move');

      const recovered = await recoverOperations(deps, repo);
      expect(recovered.map((r) => [r.kind, r.ref, r.outcome])).toEqual([
        ['merge', 'refs/heads/buffer', 'finished'],
        ['promote', 'refs/heads/release', 'finished'],
        ['promote', 'refs/heads/side', 'finished'],
      ]);
      const promotions = await fx.store.db
        .selectFrom('gitswarm_promotions')
        .select(['from_branch', 'to_branch', 'from_commit', 'to_commit', 'triggered_by', 'agent_id'])
        .where('repo_id', '=', repo.id)
        .execute();
      expect(promotions).toEqual([
        {
          from_branch: 'buffer',
          to_branch: 'release',
          from_commit: initial,
          to_commit: bufferHead,
          triggered_by: null,
          agent_id: seeded.maintainer.id,
        },
      ]);
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['buffer.promoted'] });
      expect(events.map((e) => [e.target_id, e.agent_id, e.metadata])).toEqual([
        [
          'release',
          seeded.maintainer.id,
          { from_commit: initial, to_commit: bufferHead, trigger: null, recovered: true },
        ],
      ]);
      expect((await operation(promoted.opId)).status).toBe('done');
      expect((await operation(offTarget.opId)).status).toBe('done');
      expect(await git.rev('main')).toBe(initial);
    });

    it('a merge into another branch than the buffer, or without a stream, is finished without a merge record; one into main is no promotion', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const a = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      await approve(deps, seeded, a.stream, coder);
      await git.branch('side');
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const base = { source: a.commit, message: 'Merge', author: AUTHOR, oplog, agentId: coder.id };
      const side = await mergeIntoBranch(git.dir, { ...base, target: 'side', streamId: a.stream.id });
      const anonymous = await mergeIntoBranch(git.dir, { ...base, target: 'buffer', streamId: null });
      // Into the promotion target (main), by a merge: not a promotion.
      const intoMain = await mergeIntoBranch(git.dir, { ...base, target: 'main', streamId: null });
      if (side.kind !== 'merged' || anonymous.kind !== 'merged' || intoMain.kind !== 'merged')
        throw new Error('a merge conflicted');

      expect((await recoverOperations(deps, repo)).map((r) => [r.ref, r.outcome])).toEqual([
        ['refs/heads/side', 'finished'],
        ['refs/heads/buffer', 'finished'],
        ['refs/heads/main', 'finished'],
      ]);
      expect(
        await fx.store.db
          .selectFrom('gitswarm_promotions')
          .select('id')
          .where('repo_id', '=', repo.id)
          .execute(),
      ).toEqual([]);
      expect((await getStream(fx.store.db, repo.id, a.stream.id)).status).toBe('in_review');
      expect(
        await fx.store.db.selectFrom('gitswarm_merges').select('id').where('repo_id', '=', repo.id).execute(),
      ).toEqual([]);
      expect((await operation(side.opId)).status).toBe('done');
      expect((await operation(anonymous.opId)).status).toBe('done');
      expect(await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.merged'] })).toEqual([]);
    });

    it('a revert whose intent does not name its merge marks the stream’s latest unreverted merge, not an older one nor one already reverted', async () => {
      const { deps, seeded } = await fx.seed({ merge_mode: 'swarm' });
      const { repo, git } = seeded;
      const ant = await seedAgent(deps, 'ant');
      const first = await swarmCommit(deps, seeded, ant, { 'one.txt': 'one\n' });
      const second = await swarmCommit(deps, seeded, ant, { 'two.txt': 'two\n' });
      const third = await swarmCommit(deps, seeded, ant, { 'three.txt': 'three\n' });
      const revertedThird = await revertStream(deps, {
        repo,
        stream: { id: first.streamId },
        actor: null,
        reason: 'red',
        mergeCommit: third.bufferHead,
      });
      expect(revertedThird.reverted).toBe(true);

      const outcome = await revertMerge(git.dir, {
        branch: 'buffer',
        mergeCommit: second.bufferHead,
        message: 'Revert the second',
        author: AUTHOR,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: first.streamId,
        agentId: ant.id,
      });
      if (outcome.kind !== 'reverted') throw new Error('the revert conflicted');
      // An intent that lost the merge it undoes (written before revert intents named it).
      await fx.store.db
        .updateTable('gitswarm_operations')
        .set({ metadata: toJson({}) })
        .where('id', '=', outcome.opId)
        .execute();

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['revert', 'finished'],
      ]);
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select(['merge_commit', 'revert_commit'])
        .where('stream_id', '=', first.streamId)
        .orderBy('merged_at')
        .execute();
      expect(merges).toEqual([
        { merge_commit: first.bufferHead, revert_commit: null },
        { merge_commit: second.bufferHead, revert_commit: outcome.commit },
        {
          merge_commit: third.bufferHead,
          revert_commit: revertedThird.reverted ? revertedThird.revert_commit : '',
        },
      ]);
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.reverted'] });
      const recovered = events.find((e) => e.metadata.revert_commit === outcome.commit);
      expect(recovered?.agent_id).toBe(ant.id);
      expect(recovered?.metadata).toMatchObject({
        merge_commit: second.bufferHead,
        reason: 'recovered after an interruption',
        recovered: true,
      });
      expect((await operation(outcome.opId)).status).toBe('done');
    });

    it('a rebase killed after its ref moved returns a stream conflicted by an earlier rebase to review, with its new base', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'shared.txt': 'one\n' });
      const b = await workOn(deps, seeded, beta, { 'shared.txt': 'beta\n' }, { dependsOn: a.stream.id });
      await submitForReview(deps, { repo, stream: b.stream, actor: beta });
      // A commits over the line B changed: the cascade stops B with a rebase conflict.
      writeFiles(a.worktree, { 'shared.txt': 'two\n' });
      await commitWorkspace(deps, { repo, agent: alpha, message: 'Two' });
      const conflicted = await getStream(fx.store.db, repo.id, b.stream.id);
      expect([conflicted.status, conflicted.conflict?.operation]).toEqual(['conflicted', 'rebase']);
      // A takes the change back; the cascade replaying B onto it dies after B's branch moved.
      const fixed = await git.commitOn(a.stream.branch, { 'shared.txt': 'one\n' }, 'One again');
      const rebased = await rebaseBranch(git.dir, {
        branch: b.stream.branch,
        onto: fixed,
        upstream: conflicted.base_commit,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: b.stream.id,
        agentId: alpha.id,
      });
      if (rebased.kind !== 'rebased') throw new Error(`the rebase was ${rebased.kind}`);

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['rebase', 'finished'],
      ]);
      const recovered = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(recovered).toMatchObject({ status: 'in_review', conflict: null, base_commit: fixed });
      expect((await operation(rebased.opId)).status).toBe('done');
      expect(await git.show(b.stream.branch, 'shared.txt')).toBe('beta');
    });

    it('a finished rebase keeps a merge conflict, clears a root stream’s rebase conflict and its deferred-rebase flag (nothing else kept), and never revives an abandoned stream', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' });
      const b = await workOn(deps, seeded, beta, { 'b.txt': 'b\n' });
      const c = await workOn(deps, seeded, await seedAgent(deps, 'gamma'), { 'c.txt': 'c\n' });
      const mergeConflict = {
        operation: 'merge',
        onto: await git.rev('buffer'),
        paths: ['b.txt'],
        detected_at: '2026-03-01T12:00:00.000Z',
      };
      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ status: 'conflicted', conflict: toJson(mergeConflict) })
        .where('id', '=', a.stream.id)
        .execute();
      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({
          status: 'conflicted',
          conflict: toJson({ ...mergeConflict, operation: 'rebase' }),
          metadata: toJson({ needs_rebase: true, kept: 'yes' }),
        })
        .where('id', '=', b.stream.id)
        .execute();
      // An abandoned stream keeps the conflict it had; a rebase never brings it back.
      const rebaseConflict = { ...mergeConflict, operation: 'rebase', paths: ['c.txt'] };
      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ status: 'abandoned', conflict: toJson(rebaseConflict) })
        .where('id', '=', c.stream.id)
        .execute();
      const newBase = await git.commitOn('buffer', { 'base.txt': 'base\n' });
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      for (const stream of [a.stream, b.stream, c.stream]) {
        const outcome = await rebaseBranch(git.dir, {
          branch: stream.branch,
          onto: newBase,
          oplog,
          streamId: stream.id,
        });
        expect(outcome.kind).toBe('rebased');
      }

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['rebase', 'finished'],
        ['rebase', 'finished'],
        ['rebase', 'finished'],
      ]);
      expect(await getStream(fx.store.db, repo.id, c.stream.id)).toMatchObject({
        status: 'abandoned',
        conflict: rebaseConflict,
        base_commit: newBase,
      });
      expect(await getStream(fx.store.db, repo.id, a.stream.id)).toMatchObject({
        status: 'conflicted',
        conflict: mergeConflict,
        base_commit: newBase,
      });
      const streamB = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(streamB).toMatchObject({ status: 'active', conflict: null, base_commit: newBase });
      expect(streamB.metadata).toEqual({ kept: 'yes' });
    });

    it('a cascade killed after its first dependent moved: recovery replays the dependents it had not reached', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [parent, one, two] = [
        await seedAgent(deps, 'parent'),
        await seedAgent(deps, 'one'),
        await seedAgent(deps, 'two'),
      ];
      const p = await workOn(deps, seeded, parent, { 'p.txt': 'p\n' });
      const c1 = await workOn(deps, seeded, one, { 'one.txt': 'one\n' }, { dependsOn: p.stream.id });
      const c2 = await workOn(deps, seeded, two, { 'two.txt': 'two\n' }, { dependsOn: p.stream.id });
      const newHead = await git.commitOn(p.stream.branch, { 'p2.txt': 'p2\n' });
      const rebased = await rebaseBranch(git.dir, {
        branch: c1.stream.branch,
        onto: newHead,
        upstream: c1.stream.base_commit,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: c1.stream.id,
        worktree: c1.worktree,
      });
      expect(rebased.kind).toBe('rebased');

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['rebase', 'finished'],
      ]);
      for (const child of [c1, c2]) {
        expect((await getStream(fx.store.db, repo.id, child.stream.id)).base_commit).toBe(newHead);
        expect(await git.exitCode(['merge-base', '--is-ancestor', newHead, child.stream.branch])).toBe(0);
      }
      expect(existsSync(join(c2.worktree, 'p2.txt'))).toBe(true);
      const rebasedEvents = await listActivity(fx.store.db, {
        repoId: repo.id,
        eventTypes: ['stream.rebased'],
      });
      expect(rebasedEvents.map((e) => e.target_id)).toEqual([c2.stream.id]);
    });

    it('a root stream’s rebase killed after it moved: recovery replays the streams built on it', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [root, child] = [await seedAgent(deps, 'root'), await seedAgent(deps, 'child')];
      const r = await workOn(deps, seeded, root, { 'r.txt': 'r\n' });
      const d = await workOn(deps, seeded, child, { 'd.txt': 'd\n' }, { dependsOn: r.stream.id });
      const bufferHead = await git.commitOn('buffer', { 'buffer.txt': 'moved on\n' });
      const rebased = await rebaseBranch(git.dir, {
        branch: r.stream.branch,
        onto: bufferHead,
        upstream: r.stream.base_commit,
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: r.stream.id,
        worktree: r.worktree,
      });
      if (rebased.kind !== 'rebased') throw new Error(`the rebase was ${rebased.kind}`);

      await recoverOperations(deps, repo);
      expect((await getStream(fx.store.db, repo.id, r.stream.id)).base_commit).toBe(bufferHead);
      expect((await getStream(fx.store.db, repo.id, d.stream.id)).base_commit).toBe(rebased.head);
      expect(readFileSync(join(d.worktree, 'buffer.txt'), 'utf8')).toBe('moved on\n');
    });

    it('a tag move is finished as it stands: no checkout of a branch synced, no stream’s branch deleted or base moved, no merge reverted', async () => {
      const { deps, seeded } = await fx.seed({ merge_mode: 'swarm' });
      const { repo, git } = seeded;
      const ant = await seedAgent(deps, 'ant');
      const merged = await swarmCommit(deps, seeded, ant, { 'one.txt': 'one\n' });
      await fx.store.db
        .updateTable('gitswarm_streams')
        .set({ metadata: toJson({ needs_rebase: true }) })
        .where('id', '=', merged.streamId)
        .execute();
      const streamBefore = await getStream(fx.store.db, repo.id, merged.streamId);
      const main = await git.rev('main');
      const elsewhere = await git.commitOn('elsewhere', { 'other.txt': 'other\n' });
      // "refs/tags/x" is as long as "refs/heads/": this tag's name ends like the branch main.
      await git.run(['tag', 'xmain', main]);
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      const tag = (fields: {
        ref: string;
        old: string | null;
        streamId?: string;
        metadata?: Record<string, unknown>;
      }) =>
        moveRef(git.dir, oplog, {
          ...fields,
          new: elsewhere,
          kind: 'tag',
          description: 'Tag',
          agentId: ant.id,
        });
      const moves = [
        await tag({ ref: 'refs/tags/xmain', old: main }),
        await tag({ ref: 'refs/tags/unrecorded', old: null, streamId: 'feedfacefeed' }),
        await tag({
          ref: 'refs/tags/of-a-stream',
          old: null,
          streamId: merged.streamId,
          metadata: { onto: main },
        }),
      ];
      expect(moves.map((m) => m.moved)).toEqual([true, true, true]);

      expect((await recoverOperations(deps, repo)).map((r) => [r.ref, r.outcome])).toEqual([
        ['refs/tags/xmain', 'finished'],
        ['refs/tags/unrecorded', 'finished'],
        ['refs/tags/of-a-stream', 'finished'],
      ]);
      expect(await worktreeStatus(git, git.dir)).toBe('');
      expect(await git.rev('refs/tags/unrecorded')).toBe(elsewhere);
      expect((await operationsOf(repo.id)).filter((op) => op.kind === 'branch_delete')).toEqual([]);
      expect(await getStream(fx.store.db, repo.id, merged.streamId)).toEqual(streamBefore);
      expect(
        await fx.store.db
          .selectFrom('gitswarm_merges')
          .select(['merge_commit', 'reverted_at'])
          .where('stream_id', '=', merged.streamId)
          .execute(),
      ).toEqual([{ merge_commit: merged.bufferHead, reverted_at: null }]);
    });

    it('a promotion that never moved leaves the checkout of its branch alone, even one the branch left behind', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const main = await git.rev('main');
      const bufferHead = await git.commitOn('buffer', { 'promoted.txt': 'promoted\n' });
      const lost = await new OpLog(fx.store, repo.id, deps.clock).begin({
        ref: 'refs/heads/main',
        old: main,
        new: bufferHead,
        kind: 'promote',
        description: 'Promote',
      });
      // Meanwhile someone moved main by hand (plain git): its checkout now looks like it deletes a file.
      const byHand = await git.commitOn('side', { 'by-hand.txt': 'by hand\n' }, 'By hand', main);
      await git.run(['update-ref', 'refs/heads/main', byHand, main]);
      const stale = await worktreeStatus(git, git.dir);
      expect(stale).not.toBe('');

      expect(await recoverOperations(deps, repo)).toEqual([
        { operation_id: lost, kind: 'promote', ref: 'refs/heads/main', outcome: 'rolled_back' },
      ]);
      expect(await worktreeStatus(git, git.dir)).toBe(stale);
      expect(existsSync(join(git.dir, 'by-hand.txt'))).toBe(false);
    });

    it('a workspace whose creation died is undone through the log: its branch deletion is logged for the stream and agent', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const coder = await seedAgent(deps, 'coder');
      const created = await createBranchAt(git.dir, {
        branch: 'stream/0123456789ab',
        at: await git.rev('buffer'),
        oplog: new OpLog(fx.store, repo.id, deps.clock),
        streamId: '0123456789ab',
        agentId: coder.id,
      });

      expect(await recoverOperations(deps, repo)).toEqual([
        {
          operation_id: created,
          kind: 'stream_create',
          ref: 'refs/heads/stream/0123456789ab',
          outcome: 'rolled_back',
        },
      ]);
      expect(await operationsOf(repo.id)).toEqual([
        {
          kind: 'stream_create',
          ref: 'refs/heads/stream/0123456789ab',
          status: 'rolled_back',
          description: 'Create branch stream/0123456789ab',
          stream_id: '0123456789ab',
          agent_id: coder.id,
        },
        {
          kind: 'branch_delete',
          ref: 'refs/heads/stream/0123456789ab',
          status: 'done',
          description: 'Delete stream/0123456789ab: its workspace was never recorded',
          stream_id: '0123456789ab',
          agent_id: coder.id,
        },
      ]);
      expect(
        await git.exitCode(['rev-parse', '--verify', '--quiet', 'refs/heads/stream/0123456789ab']),
      ).not.toBe(0);
    });

    it('a reopen that died after switching the worktree: it goes back to its recorded stream with the agent’s work, carried or kept as it was', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' });
      const b = await workOn(deps, seeded, beta, { 'b.txt': 'b\n' });
      const oplog = new OpLog(fx.store, repo.id, deps.clock);
      // What reopen does up to its failpoint: a new stream branch (here: the stream's work
      // re-applied, plus one more file), and the worktree switched onto it with its files.
      const reopenOnto = async (
        worktree: string,
        head: string,
        streamId: string,
        agentId: string,
        files: Record<string, string>,
      ) => {
        const reapplied = await git.commitOn(
          `tmp-${streamId}`,
          { 're.txt': 'reapplied\n' },
          'Reapplied',
          head,
        );
        await git.run(['branch', '-D', `tmp-${streamId}`]);
        await createBranchAt(git.dir, {
          branch: `stream/${streamId}`,
          at: reapplied,
          oplog,
          streamId,
          agentId,
        });
        const before = await snapshotWorktree(worktree);
        await switchWorktreeCarrying(worktree, {
          branch: `stream/${streamId}`,
          from: before.tree,
          to: reapplied,
        });
        writeFiles(worktree, files);
      };
      // Alpha's change carries onto its stream; beta's (to a file only the new branch has) cannot.
      await reopenOnto(a.worktree, a.commit, 'aaaaaaaaaaaa', alpha.id, { 'a.txt': 'a\nmore\n' });
      await reopenOnto(b.worktree, b.commit, 'bbbbbbbbbbbb', beta.id, { 're.txt': 'edited\n' });

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['stream_create', 'rolled_back'],
        ['stream_create', 'rolled_back'],
      ]);
      const branchOf = (worktree: string) => git.run(['symbolic-ref', '--short', 'HEAD'], worktree);
      expect(await branchOf(a.worktree)).toBe(a.stream.branch);
      expect(await git.rev(a.stream.branch)).toBe(a.commit);
      expect(readFileSync(join(a.worktree, 'a.txt'), 'utf8')).toBe('a\nmore\n');
      expect(existsSync(join(a.worktree, 're.txt'))).toBe(false);
      expect(await worktreeStatus(git, a.worktree)).toBe('M a.txt');
      expect(await branchOf(b.worktree)).toBe(b.stream.branch);
      expect(readFileSync(join(b.worktree, 're.txt'), 'utf8')).toBe('edited\n');
      expect(readFileSync(join(b.worktree, 'b.txt'), 'utf8')).toBe('b\n');
      for (const id of ['aaaaaaaaaaaa', 'bbbbbbbbbbbb']) {
        expect(await git.exitCode(['rev-parse', '--verify', '--quiet', `refs/heads/stream/${id}`])).not.toBe(
          0,
        );
      }
    });

    it('only a rebase’s recovery replays the dependents of its stream: a tag naming a stream leaves them where they are', async () => {
      const { deps, seeded } = await fx.seed();
      const { repo, git } = seeded;
      const [alpha, beta] = [await seedAgent(deps, 'alpha'), await seedAgent(deps, 'beta')];
      const a = await workOn(deps, seeded, alpha, { 'a.txt': 'a\n' });
      const d = await workOn(deps, seeded, beta, { 'd.txt': 'd\n' }, { dependsOn: a.stream.id });
      // A moved on without its cascade (its dependent is behind it).
      const ahead = await git.commitOn(a.stream.branch, { 'a2.txt': 'a2\n' });
      const dependentHead = await git.rev(d.stream.branch);
      const tagged = await moveRef(git.dir, new OpLog(fx.store, repo.id, deps.clock), {
        ref: 'refs/tags/a-release',
        old: null,
        new: ahead,
        kind: 'tag',
        description: 'Tag a',
        streamId: a.stream.id,
        agentId: alpha.id,
      });
      expect(tagged.moved).toBe(true);

      expect((await recoverOperations(deps, repo)).map((r) => [r.kind, r.outcome])).toEqual([
        ['tag', 'finished'],
      ]);
      expect(await git.rev(d.stream.branch)).toBe(dependentHead);
      expect((await getStream(fx.store.db, repo.id, d.stream.id)).base_commit).toBe(d.stream.base_commit);
      expect(await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.rebased'] })).toEqual(
        [],
      );
    });
  });
}
