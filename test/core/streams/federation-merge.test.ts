import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { commitWorkspace, createWorkspace, mergeStream } from '../../../src/core/federation.js';
import { submitReview } from '../../../src/core/streams/reviews.js';
import { getStream } from '../../../src/core/streams/streams.js';
import { isGitSwarmError } from '../../../src/errors.js';
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
  describe(`${dialectLabel(dialect)}: merging streams`, () => {
    const fx = useGitStore(dialect);

    const setUp = (settings: Record<string, unknown> = review) => fx.seedWithCoder(settings);

    it('runs the review flow end to end: commit, submit, approve, merge (no-ff into the buffer)', async () => {
      const { deps, seeded, repo, git, coder } = await setUp();
      const bufferBefore = await git.rev('buffer');
      const { stream, commit } = await workOn(deps, seeded, coder, { 'cache.js': 'cache\n' });
      await approve(deps, seeded, stream, coder);
      const result = await mergeStream(deps, { repo, stream, actor: coder });
      expect(result).toMatchObject({ merged: true, merge_commit: result.buffer_head });
      expect(await git.rev('buffer')).toBe(result.merge_commit);
      expect(
        (await git.run(['rev-list', '--parents', '-n1', result.merge_commit])).split(' ').slice(1),
      ).toEqual([bufferBefore, commit]);
      expect(await git.show('buffer', 'cache.js')).toBe('cache');
      expect(await git.rev('main')).toBe(bufferBefore);
      const merged = await getStream(fx.store.db, repo.id, stream.id);
      expect(merged).toMatchObject({ status: 'merged', review_status: 'approved' });
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges).toMatchObject([
        { merge_commit: result.merge_commit, target_branch: 'buffer', agent_id: coder.id, reverted_at: null },
      ]);
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select(['kind', 'status'])
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'merge')
        .execute();
      expect(ops).toEqual([{ kind: 'merge', status: 'done' }]);
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.merged'] });
      expect(events[0]?.metadata).toMatchObject({ merge_commit: result.merge_commit, trigger: 'agent' });
    });

    it('refuses an empty stream, a merge without consensus, a double merge', async () => {
      const { deps, seeded, repo, coder } = await setUp();
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: coder });
      await approve(deps, seeded, stream, coder);
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'empty_stream',
      });
      // Council execution still refuses an empty stream.
      await expect(mergeStream(deps, { repo, stream, actor: null })).rejects.toMatchObject({
        code: 'empty_stream',
      });
      writeFiles(worktree, { 'a.txt': 'a\n' });
      await commitWorkspace(deps, { repo, agent: coder, message: 'A' });
      const peer = await seedAgent(deps, 'peer');
      await submitReview(deps, { repo, stream, reviewer: seeded.maintainer, verdict: 'request_changes' });
      await submitReview(deps, { repo, stream, reviewer: peer, verdict: 'approve' });
      const bufferBefore = await seeded.git.rev('buffer');
      const refused = mergeStream(deps, { repo, stream, actor: coder });
      await expect(refused).rejects.toMatchObject({ code: 'no_consensus' });
      await expect(refused).rejects.toHaveProperty('details.consensus', {
        reached: false,
        reason: 'no_maintainer_approval',
        model: 'guild',
        approvals: 0,
        rejections: 1,
        threshold: 0.66,
        ratio: 0,
        min_reviews: 1,
        required_approvals: 0,
        rule_id: null,
        stale_approvals: 0,
        stale_rejections: 0,
        stale_reviews: 'dismiss',
        head_commit: await seeded.git.rev(stream.branch),
      });
      expect(await seeded.git.rev('buffer')).toBe(bufferBefore);
      // A council decision needs no consensus.
      const byCouncil = await mergeStream(deps, { repo, stream, actor: null });
      expect(byCouncil.merged).toBe(true);
      const merges = await fx.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges[0]?.agent_id).toBeNull();
      await expect(mergeStream(deps, { repo, stream, actor: null })).rejects.toMatchObject({
        code: 'invalid_state',
      });
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'invalid_state',
      });
      expect(await seeded.git.rev('buffer')).toBe(byCouncil.merge_commit);
    });

    it('gated mode: only maintain+ merges, and only with consensus', async () => {
      const { deps, seeded, repo, coder } = await setUp({ ...review, merge_mode: 'gated' });
      const { stream } = await workOn(deps, seeded, coder, { 'g.txt': 'g\n' });
      await approve(deps, seeded, stream, coder);
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'forbidden',
      });
      const result = await mergeStream(deps, { repo, stream, actor: seeded.maintainer });
      expect(result.merged).toBe(true);
    });

    it('review mode: the merging agent needs write access', async () => {
      const { deps, seeded, repo, coder } = await setUp();
      const { stream } = await workOn(deps, seeded, coder, { 'w.txt': 'w\n' });
      await approve(deps, seeded, stream, coder);
      await fx.store.db
        .updateTable('gitswarm_repos')
        .set({ agent_access: 'allowlist' })
        .where('id', '=', repo.id)
        .execute();
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'forbidden',
      });
      expect(await seeded.git.rev('buffer')).toBe(await seeded.git.rev('main'));
    });

    it('a second merge that conflicts marks the stream conflicted and moves nothing; a resolving commit recovers it', async () => {
      const { deps, seeded, repo, git, coder } = await setUp();
      const other = await seedAgent(deps, 'other');
      const a = await workOn(deps, seeded, coder, { 'lines.txt': 'ONE (coder)\ntwo\nthree\nfour\nfive\n' });
      const b = await workOn(deps, seeded, other, { 'lines.txt': 'one (other)\ntwo\nthree\nfour\nfive\n' });
      await approve(deps, seeded, a.stream, coder);
      await approve(deps, seeded, b.stream, other);
      const first = await mergeStream(deps, { repo, stream: a.stream, actor: coder });
      const headOfB = await git.rev(b.stream.branch);
      let error: unknown;
      try {
        await mergeStream(deps, { repo, stream: b.stream, actor: other });
      } catch (caught) {
        error = caught;
      }
      expect(isGitSwarmError(error, 'conflict')).toBe(true);
      expect((error as Error).message).toContain('lines.txt');
      expect(error).toHaveProperty('details.paths', ['lines.txt']);
      expect(await git.rev('buffer')).toBe(first.merge_commit);
      expect(await git.rev(b.stream.branch)).toBe(headOfB);
      expect(await worktreeStatus(git, b.worktree)).toBe('');
      const conflicted = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(conflicted).toMatchObject({ status: 'conflicted' });
      expect(conflicted.conflict).toMatchObject({
        operation: 'merge',
        onto: first.merge_commit,
        paths: ['lines.txt'],
      });
      const ops = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('status')
        .where('repo_id', '=', repo.id)
        .where('kind', '=', 'merge')
        .execute();
      expect(ops.map((o) => o.status)).toEqual(['done']);

      // The agent merges the buffer into its worktree, resolves, commits: the stream recovers.
      await git.exitCode(['merge', '--no-commit', 'buffer'], b.worktree);
      writeFiles(b.worktree, { 'lines.txt': 'ONE (both)\ntwo\nthree\nfour\nfive\n' });
      await commitWorkspace(deps, { repo, agent: other, message: 'Resolve lines.txt' });
      const recovered = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(recovered).toMatchObject({ status: 'in_review', conflict: null });
      // The resolution changed the stream's diff: the approval is stale until given again.
      await expect(mergeStream(deps, { repo, stream: b.stream, actor: other })).rejects.toMatchObject({
        code: 'no_consensus',
        details: { consensus: { stale_approvals: 1 } },
      });
      await submitReview(deps, { repo, stream: b.stream, reviewer: seeded.maintainer, verdict: 'approve' });
      const second = await mergeStream(deps, { repo, stream: b.stream, actor: other });
      expect(await git.show(second.merge_commit, 'lines.txt')).toBe('ONE (both)\ntwo\nthree\nfour\nfive');
    });
  });
}
