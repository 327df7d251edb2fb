/**
 * Review rules the other review tests leave loose, each pinned where a deliberate bug (a mutant)
 * would change the answer: the refusals' messages, hints and details; feedback at exactly its
 * limit; the review status a verdict that neither approves nor requests changes leaves; a review
 * without a head recorded at the very instant of the last commit; diffs that cannot be compared;
 * and the fingerprint of a stream whose base branch, or whose buffer, is gone.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listActivity } from '../../src/core/activity/activity.js';
import { isStaleReview, readStreamCode, readStreamCodes } from '../../src/core/streams/review-freshness.js';
import {
  listReviews,
  submitForReview,
  submitReview,
  withdrawReview,
} from '../../src/core/streams/reviews.js';
import { getStreamById } from '../../src/core/streams/streams.js';
import { diffFingerprint } from '../../src/engine/patch-id.js';
import type { GitSwarmError } from '../../src/errors.js';
import { toJson } from '../../src/store/index.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { useGitStore, workOn } from '../helpers/federation-fixture.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';
import { insertStream, seedAgent, seedRepo, testDeps } from '../helpers/streams-fixture.js';

const guild = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

describe('isStaleReview at its edges', () => {
  const at = '2026-03-01T12:00:00.000Z';
  const head = 'a'.repeat(40);
  const moved = 'b'.repeat(40);

  it('a review without a head is stale only when a commit was recorded strictly after it', () => {
    const legacy = { head_commit: null, diff_fingerprint: null, reviewed_at: at };
    expect(isStaleReview(legacy, { head: moved, fingerprint: null, last_commit_at: at })).toBe(false);
    expect(
      isStaleReview(legacy, { head: moved, fingerprint: null, last_commit_at: '2026-03-01T12:00:00.001Z' }),
    ).toBe(true);
    expect(isStaleReview(legacy, { head: moved, fingerprint: null, last_commit_at: null })).toBe(false);
  });

  it('a moved head with no fingerprint on either side is stale (the diffs cannot be compared)', () => {
    const review = { head_commit: head, diff_fingerprint: null, reviewed_at: at };
    expect(isStaleReview(review, { head: moved, fingerprint: null, last_commit_at: at })).toBe(true);
    expect(isStaleReview(review, { head, fingerprint: null, last_commit_at: at })).toBe(false);
    expect(isStaleReview(review, { head: null, fingerprint: null, last_commit_at: at })).toBe(false);
  });

  it('a moved head with the same fingerprint on both sides is fresh, a different one stale', () => {
    const review = { head_commit: head, diff_fingerprint: 'f1', reviewed_at: at };
    expect(isStaleReview(review, { head: moved, fingerprint: 'f1', last_commit_at: at })).toBe(false);
    expect(isStaleReview(review, { head: moved, fingerprint: 'f2', last_commit_at: at })).toBe(true);
    expect(isStaleReview(review, { head: moved, fingerprint: null, last_commit_at: at })).toBe(true);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: review rules at their edges`, () => {
    let store: TestStore;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });

    async function setUp(settings: Record<string, unknown> = guild) {
      const deps = testDeps(store);
      const seeded = await seedRepo(deps, settings);
      const author = await seedAgent(deps, 'author');
      const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      const reviewer = await seedAgent(deps, 'peer');
      const stream = await insertStream(deps, seeded.repo, author);
      return { deps, ...seeded, author, maintainer, reviewer, stream };
    }

    it("only the stream's author submits it for review: the refusal names the stream", async () => {
      const { deps, repo, stream, maintainer } = await setUp();
      const error = await caught(submitForReview(deps, { repo, stream, actor: maintainer }));
      expect(error).toMatchObject({
        code: 'forbidden',
        message: `Only the stream's author can submit stream ${stream.id} for review.`,
      });
      expect((await getStreamById(store.db, stream.id)).status).toBe('active');
    });

    it('a conflicted stream is not submitted: the message, the hint to commit as the author, the conflict', async () => {
      const { deps, repo, author } = await setUp();
      const conflicted = await insertStream(deps, repo, author, { status: 'conflicted' });
      const conflict = {
        operation: 'rebase' as const,
        onto: 'buffer',
        paths: ['a.txt'],
        detected_at: '2026-03-01T12:00:00.000Z',
      };
      await store.db
        .updateTable('gitswarm_streams')
        .set({ conflict: toJson(conflict) })
        .where('id', '=', conflicted.id)
        .execute();
      const error = await caught(submitForReview(deps, { repo, stream: conflicted, actor: author }));
      expect(error).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${conflicted.id} is conflicted; resolve the conflict first.`,
        hint: `Fix the files in your worktree, then: gitswarm commit -m MSG --as ${author.name}`,
        details: { stream_id: conflicted.id, conflict },
      });
    });

    it('an unknown verdict is refused with the verdicts listed', async () => {
      const { deps, repo, stream, maintainer } = await setUp();
      const error = await caught(
        submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'lgtm' as 'approve' }),
      );
      expect(error).toMatchObject({
        code: 'invalid_input',
        message: 'Unknown verdict "lgtm".',
        hint: 'Use one of: approve, request_changes, comment',
      });
    });

    it('feedback of exactly 10000 characters is taken, one more is refused', async () => {
      const { deps, repo, stream, maintainer } = await setUp();
      const longest = 'x'.repeat(10_000);
      const taken = await submitReview(deps, {
        repo,
        stream,
        reviewer: maintainer,
        verdict: 'comment',
        feedback: longest,
      });
      expect(taken.review.feedback).toBe(longest);
      const error = await caught(
        submitReview(deps, {
          repo,
          stream,
          reviewer: maintainer,
          verdict: 'comment',
          feedback: `${longest}x`,
        }),
      );
      expect(error).toMatchObject({
        code: 'invalid_input',
        message: 'Review feedback may be at most 10000 characters.',
      });
      expect((await listReviews(store.db, stream.id))[0]?.feedback).toBe(longest);
    });

    it('the refusals of a self-review and of a review on a finished stream say why', async () => {
      const { deps, repo, stream, author, maintainer } = await setUp();
      const self = await caught(submitReview(deps, { repo, stream, reviewer: author, verdict: 'approve' }));
      expect(self).toMatchObject({
        code: 'self_review',
        message: `Agent ${author.name} wrote stream ${stream.id}; it cannot review it.`,
      });
      const merged = await insertStream(deps, repo, author, { status: 'merged' });
      const late = await caught(
        submitReview(deps, { repo, stream: merged, reviewer: maintainer, verdict: 'approve' }),
      );
      expect(late).toMatchObject({
        code: 'invalid_state',
        message: `Stream ${merged.id} is merged; it can no longer be reviewed.`,
      });
      expect(await listReviews(store.db, merged.id)).toEqual([]);
    });

    it('a comment on a stream nobody asked to review leaves it without a review status', async () => {
      const { deps, repo, stream, reviewer } = await setUp();
      const result = await submitReview(deps, { repo, stream, reviewer, verdict: 'comment' });
      expect(result.consensus).toMatchObject({ reached: false, rejections: 0 });
      expect(result.stream.review_status).toBeNull();
      expect((await getStreamById(store.db, stream.id)).review_status).toBeNull();
      const [reviewed] = await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.reviewed'] });
      expect(reviewed?.metadata).toMatchObject({ verdict: 'comment', review_status: null });
    });

    it('a review not said to be tested is recorded untested; its activity is published once written', async () => {
      const { deps, repo, stream, reviewer } = await setUp();
      const published: string[] = [];
      deps.events.subscribe((entry) => published.push(entry.event_type));
      const result = await submitReview(deps, { repo, stream, reviewer, verdict: 'approve' });
      expect(result.review.tested).toBe(false);
      expect((await listReviews(store.db, stream.id))[0]?.tested).toBe(false);
      const [reviewed] = await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.reviewed'] });
      expect(reviewed?.metadata).toMatchObject({ verdict: 'approve', tested: false });
      expect(published).toEqual(['stream.reviewed']);
    });

    it('a verdict that leaves the review status where it was does not write the stream', async () => {
      const { deps, repo, stream, maintainer: reviewer } = await setUp();
      const first = await submitReview(deps, { repo, stream, reviewer, verdict: 'request_changes' });
      const again = await submitReview(deps, {
        repo,
        stream,
        reviewer,
        verdict: 'request_changes',
        tested: true,
      });
      expect(again.stream.review_status).toBe('changes_requested');
      expect(again.review.tested).toBe(true);
      expect((await getStreamById(store.db, stream.id)).updated_at).toBe(first.stream.updated_at);
    });

    it('a comment on a stream in review keeps it in review, even before any review status was recorded', async () => {
      const { deps, repo, author, reviewer } = await setUp();
      // In review with no review status yet (as a stream that went in_review before review statuses).
      const stream = await insertStream(deps, repo, author, { status: 'in_review' });
      expect(stream.review_status).toBeNull();
      const result = await submitReview(deps, { repo, stream, reviewer, verdict: 'comment' });
      expect(result.stream.review_status).toBe('in_review');
      expect((await getStreamById(store.db, stream.id)).review_status).toBe('in_review');
    });

    it('a withdrawn change request on an active stream brings it back to in review, not to nothing', async () => {
      const { deps, repo, stream, maintainer: reviewer } = await setUp();
      const requested = await submitReview(deps, { repo, stream, reviewer, verdict: 'request_changes' });
      expect(requested.stream).toMatchObject({ status: 'active', review_status: 'changes_requested' });
      const commented = await submitReview(deps, { repo, stream, reviewer, verdict: 'comment' });
      expect(commented.consensus).toMatchObject({ reached: false, rejections: 0 });
      expect(commented.stream).toMatchObject({ status: 'active', review_status: 'in_review' });
      expect((await getStreamById(store.db, stream.id)).review_status).toBe('in_review');
    });

    it('a verdict withdrawn (dismissed on GitHub) leaves consensus and the review status as if never given', async () => {
      const { deps, repo, stream, maintainer, reviewer } = await setUp();
      const dismissed = async (agentId: string) =>
        (await listActivity(store.db, { repoId: repo.id, eventTypes: ['stream.review_dismissed'] })).filter(
          (entry) => entry.agent_id === agentId,
        );
      // Nothing to withdraw: null, and nothing recorded.
      expect(await withdrawReview(deps, { repo, stream, reviewer: maintainer })).toBeNull();
      expect(await dismissed(maintainer.id)).toEqual([]);

      const approved = await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'approve' });
      expect(approved.stream.review_status).toBe('approved');
      const withdrawn = await withdrawReview(deps, {
        repo,
        stream,
        reviewer: maintainer,
        reason: 'dismissed on GitHub by octocat',
      });
      expect(withdrawn?.consensus).toMatchObject({ reached: false, approvals: 0 });
      expect(withdrawn?.stream.review_status).toBe('in_review');
      expect((await getStreamById(store.db, stream.id)).review_status).toBe('in_review');
      expect(await listReviews(store.db, stream.id)).toEqual([]);
      const [event] = await dismissed(maintainer.id);
      expect(event).toMatchObject({
        event_type: 'stream.review_dismissed',
        target_type: 'stream',
        target_id: stream.id,
      });
      expect(event?.metadata).toEqual({
        verdict: 'approve',
        reason: 'dismissed on GitHub by octocat',
        consensus_reached: false,
        review_status: 'in_review',
      });

      // A withdrawal that changes no status leaves the stream row as it was; no reason is null.
      await submitReview(deps, { repo, stream, reviewer: maintainer, verdict: 'approve' });
      await submitReview(deps, { repo, stream, reviewer, verdict: 'comment' });
      const before = await getStreamById(store.db, stream.id);
      const quiet = await withdrawReview(deps, { repo, stream, reviewer });
      expect(quiet?.stream).toEqual(before);
      expect(await getStreamById(store.db, stream.id)).toEqual(before);
      expect((await dismissed(reviewer.id))[0]?.metadata).toEqual({
        verdict: 'comment',
        reason: null,
        consensus_reached: true,
        review_status: 'approved',
      });
    });
  });

  describe(`${dialectLabel(dialect)}: the stream's code when a branch is gone`, () => {
    const fixture = useGitStore(dialect);

    it('a stream whose base branch is gone is diffed against the buffer', async () => {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder(guild);
      const { stream, commit } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      const orphan = { ...stream, base_branch: 'stream/deleted-parent' };
      const code = await readStreamCode(deps, fixture.store.db, repo, orphan);
      const expected = await diffFingerprint(git.dir, 'refs/heads/buffer', commit);
      expect(expected).toMatch(/^[0-9a-f]{40}$/);
      expect(code).toMatchObject({ head: commit, fingerprint: expected });
      // Cached under the base branch the stream names.
      const cached = await fixture.store.db
        .selectFrom('gitswarm_diff_fingerprints')
        .select(['fingerprint'])
        .where('repo_id', '=', repo.id)
        .where('base_branch', '=', 'stream/deleted-parent')
        .execute();
      expect(cached).toEqual([{ fingerprint: expected }]);
    });

    it('a merge queue read at once: each stream as read alone; a missing branch, or only one below its name, is no head', async () => {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder(guild);
      const { stream, commit } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      await git.run(['update-ref', 'refs/heads/deep/leaf', commit]);
      const missing = { ...stream, id: 'missing-branch', branch: 'no-such-branch' };
      const shadowed = { ...stream, id: 'shadowed-branch', branch: 'deep' };
      const codes = await readStreamCodes(deps, fixture.store.db, repo, [stream, missing, shadowed]);
      expect(codes.get(stream.id)).toEqual(await readStreamCode(deps, fixture.store.db, repo, stream));
      expect(codes.get(stream.id)).toMatchObject({ head: commit });
      expect(codes.get(missing.id)).toMatchObject({ head: null });
      expect(codes.get(shadowed.id)).toMatchObject({ head: null });
      expect([...codes.keys()]).toEqual([stream.id, missing.id, shadowed.id]);
      // Without a clone to read in, each stream's code is what the store alone knows.
      const unread = await readStreamCodes(deps, fixture.store.db, { ...repo, path: null }, [stream]);
      expect(unread.get(stream.id)).toEqual(
        await readStreamCode(deps, fixture.store.db, { ...repo, path: null }, stream),
      );
      expect(unread.get(stream.id)).toMatchObject({ head: commit });
      // A clone that is gone is read as no clone.
      const moved = { ...repo, path: join(repo.path ?? '', 'gone') };
      expect((await readStreamCodes(deps, fixture.store.db, moved, [stream])).get(stream.id)).toEqual(
        await readStreamCode(deps, fixture.store.db, moved, stream),
      );
      // A name git would misread is refused before git sees it.
      await expect(
        readStreamCodes(deps, fixture.store.db, repo, [{ ...stream, branch: 'a..b' }]),
      ).rejects.toMatchObject({ code: 'invalid_name' });
      // No streams: no git process (a git on the search path notes each call).
      const gitCalls = recordGitCalls();
      expect(
        await withCommandEnv(gitCalls.env, () => readStreamCodes(deps, fixture.store.db, repo, [])),
      ).toEqual(new Map());
      expect(gitCalls.calls()).toEqual([]);
    });

    it('with no buffer either there is nothing to diff against: no fingerprint, nothing cached', async () => {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder(guild);
      const { stream, commit } = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      await git.run(['update-ref', '-d', 'refs/heads/buffer']);
      const orphan = { ...stream, base_branch: 'stream/another-deleted-parent' };
      const code = await readStreamCode(deps, fixture.store.db, repo, orphan);
      expect(code).toMatchObject({ head: commit, fingerprint: null });
      const cached = await fixture.store.db
        .selectFrom('gitswarm_diff_fingerprints')
        .select(['fingerprint'])
        .where('repo_id', '=', repo.id)
        .where('base_branch', '=', 'stream/another-deleted-parent')
        .execute();
      expect(cached).toEqual([]);
    });
  });
}
