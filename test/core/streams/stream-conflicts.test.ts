import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import { commitWorkspace, createWorkspace, mergeStream } from '../../../src/core/federation.js';
import { requireStreamWrite } from '../../../src/core/governance/access.js';
import { submitReview } from '../../../src/core/streams/reviews.js';
import {
  fileConflictTask,
  readStreamConflicts,
  updateStreamFromBase,
} from '../../../src/core/streams/stream-conflicts.js';
import { getStreamById } from '../../../src/core/streams/streams.js';
import { abandonClaim, claimTask } from '../../../src/core/tasks/tasks.js';
import {
  approve,
  type SeededGitRepo,
  useGitStore,
  workOn,
  writeFiles,
} from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent, type testDeps } from '../../helpers/streams-fixture.js';

const review = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };
const LINES = 'one\ntwo\nthree\nfour\nfive\n';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stream conflicts`, () => {
    const fx = useGitStore(dialect);

    /** Two agents edit line one of lines.txt; the first one's stream is merged, the second's conflicts. */
    async function conflicted() {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const other = await seedAgent(deps, 'other');
      const first = await workOn(deps, seeded, coder, { 'lines.txt': LINES.replace('one', 'ONE-first') });
      const second = await workOn(deps, seeded, other, { 'lines.txt': LINES.replace('one', 'ONE-second') });
      await approve(deps, seeded, first.stream, coder);
      await mergeStream(deps, { repo, stream: first.stream, actor: coder });
      await approve(deps, seeded, second.stream, other);
      await expect(mergeStream(deps, { repo, stream: second.stream, actor: other })).rejects.toMatchObject({
        code: 'conflict',
        details: { paths: ['lines.txt'] },
      });
      return { deps, seeded, repo, git, coder, other, first, second };
    }

    it('resolves a refused merge: conflicts as data, update leaves markers, the commit clears it, the merge succeeds', async () => {
      const { deps, seeded, repo, git, other, second } = await conflicted();
      let stream = await getStreamById(fx.store.db, second.stream.id);
      expect(stream).toMatchObject({
        status: 'conflicted',
        conflict: { operation: 'merge', paths: ['lines.txt'] },
      });
      const buffer = await git.rev('buffer');
      const data = await readStreamConflicts(deps, { repo, stream });
      expect(data).toMatchObject({
        head: second.commit,
        onto: buffer,
        onto_branch: 'buffer',
        status: 'conflicted',
      });
      expect(data.paths).toEqual([
        expect.objectContaining({
          path: 'lines.txt',
          encoding: 'utf8',
          base: LINES,
          ours: LINES.replace('one', 'ONE-second'),
          theirs: LINES.replace('one', 'ONE-first'),
        }),
      ]);

      const updated = await updateStreamFromBase(deps, {
        repo,
        stream,
        actor: other,
        worktree: second.worktree,
      });
      expect(updated).toEqual({
        stream_id: stream.id,
        outcome: 'conflicted',
        status: 'conflicted',
        head: second.commit,
        onto: buffer,
        onto_branch: 'buffer',
        paths: ['lines.txt'],
      });
      const marked = readFileSync(join(second.worktree, 'lines.txt'), 'utf8');
      expect(marked).toContain('<<<<<<< HEAD\nONE-second\n=======\nONE-first\n>>>>>>> ');
      // Asking again while the resolution is pending answers the same.
      expect(
        await updateStreamFromBase(deps, { repo, stream, actor: other, worktree: second.worktree }),
      ).toEqual(updated);
      stream = await getStreamById(fx.store.db, stream.id);
      expect(stream.conflict).toMatchObject({ operation: 'merge', onto: buffer, paths: ['lines.txt'] });
      // Markers left in place cannot be committed as a resolution.
      await expect(commitWorkspace(deps, { repo, agent: other, message: 'Too early' })).rejects.toMatchObject(
        {
          code: 'conflict',
          details: { paths: ['lines.txt'] },
        },
      );
      expect(await git.rev(stream.branch)).toBe(second.commit);

      writeFiles(second.worktree, { 'lines.txt': LINES.replace('one', 'ONE-first-and-second') });
      const committed = await commitWorkspace(deps, { repo, agent: other, message: 'Resolve lines.txt' });
      // The resolution is a merge commit of the stream's head and the buffer head.
      expect((await git.run(['rev-list', '--parents', '-n1', committed.commit])).split(' ').slice(1)).toEqual(
        [second.commit, buffer],
      );
      stream = await getStreamById(fx.store.db, stream.id);
      expect(stream).toMatchObject({ status: 'in_review', conflict: null });
      // The resolution is new code: the maintainer approves it again.
      await submitReview(deps, { repo, stream, reviewer: seeded.maintainer, verdict: 'approve' });
      const merged = await mergeStream(deps, { repo, stream, actor: other });
      expect(merged.merged).toBe(true);
      expect(await git.show('buffer', 'lines.txt')).toBe(
        LINES.replace('one', 'ONE-first-and-second').trimEnd(),
      );
      const events = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.conflicted'] });
      expect(events.map((e) => e.metadata.trigger ?? null)).toEqual(['update', null]);
    });

    it('commits a clean update at once with a Change-Id; then it is up to date; a dirty worktree is refused', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const other = await seedAgent(deps, 'other');
      const first = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      const second = await workOn(deps, seeded, other, { 'b.txt': 'b\n' });
      await approve(deps, seeded, first.stream, coder);
      await mergeStream(deps, { repo, stream: first.stream, actor: coder });
      const buffer = await git.rev('buffer');
      expect((await readStreamConflicts(deps, { repo, stream: second.stream })).paths).toEqual([]);
      const input = { repo, stream: second.stream, actor: other, worktree: second.worktree };
      const updated = await updateStreamFromBase(deps, input);
      expect(updated).toMatchObject({
        outcome: 'merged',
        status: 'active',
        onto: buffer,
        head: updated.commit,
      });
      expect(updated.change_id).toMatch(/^I[0-9a-f]{40}$/);
      expect(await git.run(['log', '-1', '--format=%P%n%B', second.stream.branch])).toBe(
        `${second.commit} ${buffer}\nMerge buffer into ${second.stream.name}\n\nChange-Id: ${updated.change_id}`,
      );
      expect(readFileSync(join(second.worktree, 'a.txt'), 'utf8')).toBe('a\n');
      expect(await getStreamById(fx.store.db, second.stream.id)).toMatchObject({ base_commit: buffer });
      const commits = await fx.store.db
        .selectFrom('gitswarm_stream_commits')
        .select('commit_hash')
        .where('stream_id', '=', second.stream.id)
        .execute();
      expect(commits.map((c) => c.commit_hash)).toContain(updated.commit);
      expect(await updateStreamFromBase(deps, input)).toMatchObject({
        outcome: 'up_to_date',
        head: updated.commit,
      });
      writeFiles(second.worktree, { 'b.txt': 'dirty\n' });
      await expect(updateStreamFromBase(deps, input)).rejects.toMatchObject({ code: 'worktree_dirty' });
    });

    it('fast-forwards a stream with no commits of its own', async () => {
      const { deps, seeded, repo, git, coder } = await fx.seedWithCoder(review);
      const other = await seedAgent(deps, 'other');
      const { stream, worktree } = await createWorkspace(deps, { repo, agent: other });
      const first = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      await approve(deps, seeded, first.stream, coder);
      await mergeStream(deps, { repo, stream: first.stream, actor: coder });
      const buffer = await git.rev('buffer');
      const updated = await updateStreamFromBase(deps, { repo, stream, actor: other, worktree });
      expect(updated).toMatchObject({ outcome: 'fast_forward', head: buffer });
      expect(await git.rev(stream.branch)).toBe(buffer);
    });

    it('lets only the author, a maintainer or the conflict task claimant update a stream', async () => {
      const { deps, seeded, repo, second } = await conflicted();
      const stranger = await seedAgent(deps, 'stranger');
      await expect(
        updateStreamFromBase(deps, {
          repo,
          stream: second.stream,
          actor: stranger,
          worktree: second.worktree,
        }),
      ).rejects.toMatchObject({ code: 'forbidden' });
      const byMaintainer = await updateStreamFromBase(deps, {
        repo,
        stream: second.stream,
        actor: seeded.maintainer,
        worktree: second.worktree,
      });
      expect(byMaintainer.outcome).toBe('conflicted');
    });

    async function fileTask(deps: ReturnType<typeof testDeps>, seeded: SeededGitRepo, streamId: string) {
      return fileConflictTask(deps, {
        repo: seeded.repo,
        stream: { id: streamId },
        actor: seeded.maintainer,
      });
    }

    it('turns an unresolved conflict into a task whose claimant may write the stream while the claim is active', async () => {
      const { deps, seeded, repo, other, coder, second } = await conflicted();
      const resolver = await seedAgent(deps, 'resolver');
      // Only a maintainer files it.
      await expect(
        fileConflictTask(deps, { repo, stream: second.stream, actor: other }),
      ).rejects.toMatchObject({ code: 'forbidden' });
      const { task, stream } = await fileConflictTask(deps, {
        repo,
        stream: second.stream,
        actor: seeded.maintainer,
        assignee: resolver.name,
        priority: 'high',
      });
      expect(task).toMatchObject({
        title: `Resolve the conflict of stream ${second.stream.name}`,
        status: 'open',
        priority: 'high',
        assigned_to: resolver.id,
        labels: ['conflict'],
        created_by: seeded.maintainer.id,
      });
      expect(task.description).toContain('- lines.txt');
      expect(stream.metadata.conflict_task_id).toBe(task.id);
      // One live task per conflict.
      await expect(fileTask(deps, seeded, second.stream.id)).rejects.toMatchObject({
        code: 'invalid_state',
        details: { task_id: task.id },
      });
      // Before the claim the resolver may not write; with it, it may; after abandoning it, no more.
      await expect(requireStreamWrite(deps, deps.store.db, repo, stream, resolver)).rejects.toMatchObject({
        code: 'forbidden',
        details: { conflict_task_id: task.id },
      });
      const claim = await claimTask(deps, fx.store.db, { repo, taskRef: task.id, agent: resolver });
      expect(await requireStreamWrite(deps, deps.store.db, repo, stream, resolver)).toMatchObject({
        level: 'write',
      });
      await expect(requireStreamWrite(deps, deps.store.db, repo, stream, coder)).rejects.toMatchObject({
        code: 'forbidden',
      });
      const updated = await updateStreamFromBase(deps, {
        repo,
        stream,
        actor: resolver,
        worktree: second.worktree,
      });
      expect(updated.outcome).toBe('conflicted');
      await abandonClaim(deps, fx.store.db, { repo, claimId: claim.id, agent: resolver });
      await expect(requireStreamWrite(deps, deps.store.db, repo, stream, resolver)).rejects.toMatchObject({
        code: 'forbidden',
      });
    });

    it('refuses a conflict task for a stream that is not conflicted', async () => {
      const { deps, seeded, coder } = await fx.seedWithCoder(review);
      const { stream } = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      await expect(fileTask(deps, seeded, stream.id)).rejects.toMatchObject({ code: 'invalid_state' });
    });
  });
}
