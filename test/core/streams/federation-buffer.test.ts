import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import {
  commitWorkspace,
  createWorkspace,
  mergeStream,
  promoteBuffer,
  revertStream,
} from '../../../src/core/federation.js';
import { getStream } from '../../../src/core/streams/streams.js';
import {
  approve,
  useGitStore,
  workOn,
  worktreeStatus,
  writeFiles,
} from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent } from '../../helpers/streams-fixture.js';

const review = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: swarm merges, promotion, revert`, () => {
    const fx = useGitStore(dialect);

    const setUp = (settings: Record<string, unknown> = review) => fx.seedWithCoder(settings);

    it('swarm mode: every commit merges into the buffer at once', async () => {
      const { deps, repo, git, coder } = await setUp({ merge_mode: 'swarm' });
      const { worktree, stream } = await createWorkspace(deps, { repo, agent: coder });
      writeFiles(worktree, { 'feature.txt': 'v1\n' });
      const first = await commitWorkspace(deps, { repo, agent: coder, message: 'Add feature' });
      expect(first.merged).toBe(true);
      expect(await git.rev('buffer')).toBe(first.buffer_head);
      expect(await git.show('buffer', 'feature.txt')).toBe('v1');
      expect((await getStream(fx.store.db, repo.id, stream.id)).status).toBe('merged');
      writeFiles(worktree, { 'feature.txt': 'v2\n' });
      const second = await commitWorkspace(deps, { repo, agent: coder, message: 'Improve feature' });
      expect(second.merged).toBe(true);
      expect(await git.show('buffer', 'feature.txt')).toBe('v2');
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .select('merge_commit')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges.map((m) => m.merge_commit).sort()).toEqual(
        [first.buffer_head, second.buffer_head].sort(),
      );
      expect(await git.run(['rev-list', '--first-parent', '--merges', '--count', 'buffer'])).toBe('2');
    });

    it('promotes: fast-forwards main to the buffer and records it; nothing to do the second time', async () => {
      const { deps, seeded, repo, git, coder } = await setUp();
      const { stream } = await workOn(deps, seeded, coder, { 'p.txt': 'p\n' });
      await approve(deps, seeded, stream, coder);
      const merged = await mergeStream(deps, { repo, stream, actor: coder });
      const mainBefore = await git.rev('main');
      await expect(promoteBuffer(deps, { repo, actor: coder, trigger: 'manual' })).rejects.toMatchObject({
        code: 'forbidden',
      });
      // Uncommitted changes in the user's checkout of main block the promotion; untracked files do not.
      writeFiles(git.dir, { 'README.md': 'local edit\n' });
      await expect(
        promoteBuffer(deps, { repo, actor: seeded.maintainer, trigger: 'manual' }),
      ).rejects.toMatchObject({
        code: 'worktree_dirty',
      });
      expect(await git.rev('main')).toBe(mainBefore);
      await git.run(['checkout', '--', 'README.md']);
      writeFiles(git.dir, { 'notes.local': 'mine\n' });
      const promoted = await promoteBuffer(deps, { repo, actor: seeded.maintainer, trigger: 'manual' });
      expect(promoted).toEqual({ promoted: true, from_commit: mainBefore, to_commit: merged.merge_commit });
      expect(await git.rev('main')).toBe(merged.merge_commit);
      // The user's checkout of main follows (its tracked files were clean).
      expect(await worktreeStatus(git, git.dir)).toBe('?? notes.local');
      expect(await git.run(['show', 'HEAD:p.txt'])).toBe('p');
      const rows = await fx.store.db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows).toMatchObject([
        {
          from_branch: 'buffer',
          to_branch: 'main',
          from_commit: mainBefore,
          to_commit: merged.merge_commit,
          triggered_by: 'manual',
          agent_id: seeded.maintainer.id,
        },
      ]);
      const again = await promoteBuffer(deps, { repo, actor: null, trigger: 'auto' });
      expect(again).toEqual({
        promoted: false,
        from_commit: merged.merge_commit,
        to_commit: merged.merge_commit,
      });
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['buffer.promoted'] });
      expect(events).toHaveLength(1);
    });

    it('reverts a merged stream on the buffer; a revert that conflicts changes nothing', async () => {
      const { deps, seeded, repo, git, coder } = await setUp();
      const other = await seedAgent(deps, 'other');
      const a = await workOn(deps, seeded, coder, {
        'lines.txt': 'ONE\ntwo\nthree\nfour\nfive\n',
        'a.txt': 'a\n',
      });
      await approve(deps, seeded, a.stream, coder);
      const mergedA = await mergeStream(deps, { repo, stream: a.stream, actor: coder });
      const b = await workOn(deps, seeded, other, { 'lines.txt': 'ONE!\ntwo\nthree\nfour\nfive\n' });
      await approve(deps, seeded, b.stream, other);
      const mergedB = await mergeStream(deps, { repo, stream: b.stream, actor: other });
      // Reverting a would undo the line b builds on: a conflict, nothing moves.
      const conflicted = await revertStream(deps, { repo, stream: a.stream, actor: null, reason: 'red' });
      expect(conflicted).toEqual({
        reverted: false,
        conflict_paths: ['lines.txt'],
        merge_commit: mergedA.merge_commit,
      });
      expect(await git.rev('buffer')).toBe(mergedB.merge_commit);
      expect((await getStream(fx.store.db, repo.id, a.stream.id)).status).toBe('merged');
      await expect(
        revertStream(deps, { repo, stream: b.stream, actor: coder, reason: 'x' }),
      ).rejects.toMatchObject({
        code: 'forbidden',
      });
      const reverted = await revertStream(deps, {
        repo,
        stream: b.stream,
        actor: seeded.maintainer,
        reason: 'broke the build',
      });
      expect(reverted).toMatchObject({ reverted: true, merge_commit: mergedB.merge_commit });
      if (!reverted.reverted) throw new Error('expected a revert');
      expect(await git.rev('buffer')).toBe(reverted.revert_commit);
      expect(await git.show('buffer', 'lines.txt')).toBe('ONE\ntwo\nthree\nfour\nfive');
      expect((await getStream(fx.store.db, repo.id, b.stream.id)).status).toBe('reverted');
      const merge = await fx.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('merge_commit', '=', mergedB.merge_commit)
        .executeTakeFirstOrThrow();
      expect(merge.revert_commit).toBe(reverted.revert_commit);
      expect(merge.reverted_at).not.toBeNull();
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.reverted'] });
      expect(events[0]?.metadata).toMatchObject({
        reason: 'broke the build',
        revert_commit: reverted.revert_commit,
      });
      await expect(
        revertStream(deps, { repo, stream: b.stream, actor: null, reason: 'again' }),
      ).rejects.toMatchObject({
        code: 'invalid_state',
      });
    });
  });
}
