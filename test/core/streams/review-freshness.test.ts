/**
 * Reviews follow the code, on real git and both dialects: a commit that changes the stream's diff
 * makes earlier verdicts stale (they stop counting, in every model and for a branch rule's
 * required approvals); a rebase onto a moved buffer or a merge of the buffer into the stream
 * keeps them; `stale_reviews keep` counts them; reviews without a head are judged by time; the
 * fingerprint is computed once per head; without a clone, a new recorded head makes them stale.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../../src/core/deps.js';
import { commitWorkspace, mergeStream } from '../../../src/core/federation.js';
import { createBranchRule } from '../../../src/core/governance/branch-rules.js';
import { evaluateConsensus } from '../../../src/core/streams/consensus.js';
import {
  listReviewsWithStaleness,
  submitForReview,
  submitReview,
} from '../../../src/core/streams/reviews.js';
import { rebaseStreamOntoBase } from '../../../src/core/streams/stream-cascade.js';
import { getStreamById } from '../../../src/core/streams/streams.js';
import { recordCommit, recordStream } from '../../../src/core/sync/remote-sync.js';
import type { Agent, Repo, Stream } from '../../../src/store/index.js';
import { useGitStore, workOn, writeFiles } from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel, openTestStore } from '../../helpers/store.js';
import { seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

const guild = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: reviews follow the code`, () => {
    const fixture = useGitStore(dialect);

    /** A stream by `coder` with a.txt, submitted for review and approved by the maintainer. */
    async function approvedStream(settings: Record<string, unknown> = guild) {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder(settings);
      const { stream, worktree, commit } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      await submitForReview(deps, { repo, stream, actor: coder });
      const approved = await submitReview(deps, {
        repo,
        stream,
        reviewer: seeded.maintainer,
        verdict: 'approve',
      });
      expect(approved.consensus).toMatchObject({ reached: true, stale_approvals: 0, head_commit: commit });
      expect(approved.review).toMatchObject({ head_commit: commit, stale: false });
      expect(approved.review.diff_fingerprint).toMatch(/^[0-9a-f]{40}$/);
      return { deps, seeded, repo, git, coder, stream, worktree, commit };
    }

    async function commitIn(
      deps: CoreDeps,
      repo: Repo,
      agent: Agent,
      worktree: string,
      files: Record<string, string>,
    ) {
      writeFiles(worktree, files);
      return (await commitWorkspace(deps, { repo, agent, message: 'More work' })).commit;
    }

    const consensusOf = (deps: CoreDeps, repo: Repo, stream: Stream) =>
      evaluateConsensus(deps, fixture.store.db, repo, stream);

    it('a commit that changes the diff makes the approval stale: no consensus, no merge, until re-approved', async () => {
      const { deps, seeded, repo, coder, stream, worktree } = await approvedStream();
      const head = await commitIn(deps, repo, coder, worktree, { 'a.txt': 'one\ntwo\n' });

      const after = await consensusOf(deps, repo, stream);
      expect(after).toMatchObject({
        reached: false,
        approvals: 0,
        stale_approvals: 1,
        stale_rejections: 0,
        stale_reviews: 'dismiss',
        head_commit: head,
      });
      const listed = await listReviewsWithStaleness(deps, fixture.store.db, repo, stream);
      expect(listed).toMatchObject({ head_commit: head, stale: 1, stale_reviews: 'dismiss' });
      expect(listed.reviews).toEqual([expect.objectContaining({ verdict: 'approve', stale: true })]);
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'no_consensus',
      });

      const again = await submitReview(deps, {
        repo,
        stream,
        reviewer: seeded.maintainer,
        verdict: 'approve',
      });
      expect(again.consensus).toMatchObject({
        reached: true,
        approvals: 1,
        stale_approvals: 0,
        head_commit: head,
      });
      expect((await listReviewsWithStaleness(deps, fixture.store.db, repo, stream)).stale).toBe(0);
      const merged = await mergeStream(deps, { repo, stream, actor: coder });
      expect(merged.merged).toBe(true);
    });

    it('a stale change request no longer blocks: the new code needs a new verdict', async () => {
      const { deps, seeded, repo, coder } = await fixture.seedWithCoder(guild);
      const second = await seedAgent(deps, 'maint2', { maintainerOf: seeded });
      const { stream, worktree } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      await submitReview(deps, { repo, stream, reviewer: second, verdict: 'request_changes' });
      await commitIn(deps, repo, coder, worktree, { 'a.txt': 'fixed\n' });
      await submitReview(deps, { repo, stream, reviewer: seeded.maintainer, verdict: 'approve' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({
        reached: true,
        approvals: 1,
        rejections: 0,
        stale_rejections: 1,
      });
    });

    it('a rebase onto a moved buffer (an unrelated file) keeps the approval fresh', async () => {
      const { deps, repo, git, coder, stream, worktree, commit } = await approvedStream();
      await git.commitOn('buffer', { 'other.txt': 'unrelated\n' }, 'Someone else', 'buffer');
      await rebaseStreamOntoBase(deps, { repo, stream, worktree, trigger: 'cascade', agentId: coder.id });
      const rebased = await git.rev(stream.branch);
      expect(rebased).not.toBe(commit);
      expect(await git.exitCode(['merge-base', '--is-ancestor', 'buffer', stream.branch])).toBe(0);

      const consensus = await consensusOf(deps, repo, stream);
      expect(consensus).toMatchObject({
        reached: true,
        approvals: 1,
        stale_approvals: 0,
        head_commit: rebased,
      });
      const listed = await listReviewsWithStaleness(deps, fixture.store.db, repo, stream);
      expect(listed.reviews).toEqual([expect.objectContaining({ head_commit: commit, stale: false })]);
      expect((await mergeStream(deps, { repo, stream, actor: coder })).merged).toBe(true);
    });

    it('a merge of the buffer into the stream keeps the approval fresh', async () => {
      const { deps, repo, git, coder, stream, worktree, commit } = await approvedStream();
      await git.commitOn('buffer', { 'other.txt': 'unrelated\n' }, 'Someone else', 'buffer');
      await git.run(['merge', '--no-edit', '-q', 'buffer'], worktree);
      const merged = await git.rev(stream.branch);
      expect(merged).not.toBe(commit);
      expect(await git.run(['rev-list', '--count', `${merged}^@`, '--no-walk'])).toBe('2');

      expect(await consensusOf(deps, repo, stream)).toMatchObject({
        reached: true,
        stale_approvals: 0,
        head_commit: merged,
      });
      expect((await mergeStream(deps, { repo, stream, actor: coder })).merged).toBe(true);
    });

    it('a rebase that brings a change of its own makes the approval stale', async () => {
      const { deps, repo, git, stream, worktree } = await approvedStream();
      await git.commitOn('buffer', { 'other.txt': 'unrelated\n' }, 'Someone else', 'buffer');
      // Rewritten by hand: onto the new buffer, with a.txt changed on the way.
      await git.run(['reset', '-q', '--hard', 'buffer'], worktree);
      writeFiles(worktree, { 'a.txt': 'one, changed while rebasing\n' });
      await git.run(['add', '-A'], worktree);
      await git.run(['commit', '-q', '-m', 'Rebased'], worktree);
      expect(await consensusOf(deps, repo, stream)).toMatchObject({ reached: false, stale_approvals: 1 });
    });

    it('stale_reviews keep: a stale approval still counts, and is still shown as stale', async () => {
      const { deps, repo, coder, stream, worktree } = await approvedStream({
        ...guild,
        stale_reviews: 'keep',
      });
      await commitIn(deps, repo, coder, worktree, { 'a.txt': 'one\ntwo\n' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({
        reached: true,
        approvals: 1,
        stale_approvals: 1,
        stale_reviews: 'keep',
      });
      expect(await listReviewsWithStaleness(deps, fixture.store.db, repo, stream)).toMatchObject({
        stale: 1,
        stale_reviews: 'keep',
      });
      expect((await mergeStream(deps, { repo, stream, actor: coder })).merged).toBe(true);
    });

    it("stale approvals do not count towards a branch rule's required approvals", async () => {
      const { deps, seeded, repo, coder } = await fixture.seedWithCoder({
        ...guild,
        ownership_model: 'open',
      });
      await createBranchRule(deps, fixture.store.db, {
        repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'buffer', required_approvals: 2 },
      });
      const [r1, r2] = [await seedAgent(deps, 'r1'), await seedAgent(deps, 'r2')];
      const { stream, worktree } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      for (const reviewer of [r1, r2])
        await submitReview(deps, { repo, stream, reviewer, verdict: 'approve' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({ reached: true, approvals: 2 });

      await commitIn(deps, repo, coder, worktree, { 'b.txt': 'more\n' });
      await submitReview(deps, { repo, stream, reviewer: r1, verdict: 'approve' });
      const one = await consensusOf(deps, repo, stream);
      expect(one).toMatchObject({
        reached: false,
        reason: 'insufficient_approvals',
        approvals: 1,
        stale_approvals: 1,
        required_approvals: 2,
      });
      await expect(mergeStream(deps, { repo, stream, actor: coder })).rejects.toMatchObject({
        code: 'no_consensus',
      });
      await submitReview(deps, { repo, stream, reviewer: r2, verdict: 'approve' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({
        reached: true,
        approvals: 2,
        stale_approvals: 0,
      });
    });

    it('solo: a stale maintainer approval is not the approval the owner model needs', async () => {
      const { deps, repo, coder, stream, worktree } = await approvedStream({
        ...guild,
        ownership_model: 'solo',
      });
      await commitIn(deps, repo, coder, worktree, { 'a.txt': 'two\n' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({
        reached: false,
        reason: 'no_maintainer_approval',
        stale_approvals: 1,
      });
    });

    it('a review from before heads were recorded is judged by time: stale once a commit is recorded after it', async () => {
      const { deps, repo, coder, stream, worktree } = await approvedStream();
      // What the migration leaves on an older review: no head, no fingerprint.
      const legacy = { head_commit: null, diff_fingerprint: null };
      await fixture.store.db
        .updateTable('gitswarm_stream_reviews')
        .set(legacy)
        .where('stream_id', '=', stream.id)
        .execute();
      expect(await consensusOf(deps, repo, stream)).toMatchObject({ reached: true, stale_approvals: 0 });
      await commitIn(deps, repo, coder, worktree, { 'a.txt': 'two\n' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({ reached: false, stale_approvals: 1 });
      const listed = await listReviewsWithStaleness(deps, fixture.store.db, repo, stream);
      expect(listed.reviews).toEqual([expect.objectContaining({ head_commit: null, stale: true })]);
    });

    it('computes the fingerprint once per head and reads it from the cache after', async () => {
      const { deps, repo, coder, stream, worktree, commit } = await approvedStream();
      const cached = () =>
        fixture.store.db
          .selectFrom('gitswarm_diff_fingerprints')
          .select(['head_commit', 'fingerprint', 'base_branch'])
          .where('repo_id', '=', repo.id)
          .execute();
      expect(await cached()).toEqual([
        expect.objectContaining({ head_commit: commit, base_branch: 'buffer' }),
      ]);
      for (let i = 0; i < 3; i++) await consensusOf(deps, repo, stream);
      expect(await cached()).toHaveLength(1);
      // The cache is what is read: a doctored entry is believed (and git is not asked again).
      await fixture.store.db
        .updateTable('gitswarm_diff_fingerprints')
        .set({ fingerprint: 'doctored' })
        .where('repo_id', '=', repo.id)
        .execute();
      const head = await commitIn(deps, repo, coder, worktree, { 'a.txt': 'two\n' });
      expect(await consensusOf(deps, repo, stream)).toMatchObject({ stale_approvals: 1, head_commit: head });
      expect(await cached()).toHaveLength(2);
    });

    it('a stream built on another is judged by its own diff: its parent merging keeps its approval', async () => {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder(guild);
      const other = await seedAgent(deps, 'other');
      const parent = await workOn(deps, seeded, coder, { 'p.txt': 'parent\n' });
      const child = await workOn(
        deps,
        seeded,
        other,
        { 'c.txt': 'child\n' },
        { dependsOn: parent.stream.id },
      );
      await submitReview(deps, {
        repo,
        stream: child.stream,
        reviewer: seeded.maintainer,
        verdict: 'approve',
      });
      await submitReview(deps, {
        repo,
        stream: parent.stream,
        reviewer: seeded.maintainer,
        verdict: 'approve',
      });
      await mergeStream(deps, { repo, stream: parent.stream, actor: coder });
      const moved = await getStreamById(fixture.store.db, child.stream.id);
      expect(moved.base_branch).toBe('buffer');
      expect(await git.rev(moved.branch)).not.toBe(child.commit);
      expect(await consensusOf(deps, repo, moved)).toMatchObject({ reached: true, stale_approvals: 0 });
    });
  });

  describe(`${dialectLabel(dialect)}: reviews follow the code without a clone (Mode B server)`, () => {
    it('judges by the recorded head: a newly recorded commit makes earlier verdicts stale', async () => {
      const store = await openTestStore(dialect);
      try {
        const deps = testDeps(store);
        const seeded = await seedRepo(deps, guild);
        const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
        const author = await seedAgent(deps, 'author');
        const { stream } = await recordStream(deps, { repo: seeded.repo, agent: author });
        const sha = () => randomBytes(20).toString('hex');
        const first = sha();
        await recordCommit(deps, { repo: seeded.repo, stream, agent: author, commit: first });
        const given = await submitReview(deps, {
          repo: seeded.repo,
          stream,
          reviewer: maintainer,
          verdict: 'approve',
        });
        expect(given.review).toMatchObject({ head_commit: first, diff_fingerprint: null });
        expect(given.consensus).toMatchObject({ reached: true, head_commit: first });

        const second = sha();
        await recordCommit(deps, { repo: seeded.repo, stream, agent: author, commit: second });
        expect(await evaluateConsensus(deps, store.db, seeded.repo, stream)).toMatchObject({
          reached: false,
          stale_approvals: 1,
          head_commit: second,
        });
      } finally {
        await store.close();
      }
    });
  });
}
