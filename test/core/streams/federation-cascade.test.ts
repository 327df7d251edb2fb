import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listActivity } from '../../../src/core/activity/activity.js';
import type { CoreDeps } from '../../../src/core/deps.js';
import {
  commitWorkspace,
  createWorkspace,
  destroyWorkspace,
  mergeStream,
} from '../../../src/core/federation.js';
import { submitForReview } from '../../../src/core/streams/reviews.js';
import { getStream } from '../../../src/core/streams/streams.js';
import type { Agent } from '../../../src/store/index.js';
import {
  approve,
  useGitStore,
  workOn,
  worktreeStatus,
  writeFiles,
} from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import { seedAgent } from '../../helpers/streams-fixture.js';

/** One agent per name, in order. */
async function seedAgents<const Names extends readonly string[]>(
  deps: CoreDeps,
  names: Names,
): Promise<{ [K in keyof Names]: Agent }> {
  return (await Promise.all(names.map((name) => seedAgent(deps, name)))) as { [K in keyof Names]: Agent };
}

const review = { merge_mode: 'review', ownership_model: 'guild', consensus_threshold: 0.66, min_reviews: 1 };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: forks and cascade`, () => {
    const fx = useGitStore(dialect);

    it('forks with --depends-on, cascades parent commits to clean, dirty and conflicting children, merges in order', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const [alpha, beta, gamma, delta] = await seedAgents(deps, [
        'alpha',
        'beta',
        'gamma',
        'delta',
      ] as const);

      // A: the base API. B, C and D fork from it.
      const a = await workOn(deps, seeded, alpha, { 'api.js': 'endpoints\n' }, { name: 'base-api' });
      const b = await workOn(deps, seeded, beta, { 'ext.js': 'rate limiting\n' }, { dependsOn: 'base-api' });
      expect(b.stream).toMatchObject({
        parent_stream_id: a.stream.id,
        base_branch: a.stream.branch,
        base_commit: a.commit,
      });
      expect(readFileSync(join(b.worktree, 'api.js'), 'utf8')).toBe('endpoints\n');
      const c = await createWorkspace(deps, { repo, agent: gamma, dependsOn: a.stream.id });
      const d = await workOn(
        deps,
        seeded,
        delta,
        { 'lines.txt': 'one (delta)\ntwo\nthree\nfour\nfive\n' },
        {
          dependsOn: `stream/${a.stream.id}`,
        },
      );
      writeFiles(c.worktree, { 'wip.txt': 'not committed yet\n' });
      const headOfC = await git.rev(c.stream.branch);
      const headOfD = await git.rev(d.stream.branch);

      // A commits again: B is rebased (its worktree follows), C is deferred, D conflicts.
      writeFiles(a.worktree, {
        'auth.js': 'auth middleware\n',
        'lines.txt': 'one (alpha)\ntwo\nthree\nfour\nfive\n',
      });
      const committed = await commitWorkspace(deps, { repo, agent: alpha, message: 'Add auth middleware' });
      const outcomes = Object.fromEntries(committed.cascade.map((o) => [o.stream_id, o.outcome]));
      expect(outcomes).toEqual({
        [b.stream.id]: 'rebased',
        [c.stream.id]: 'deferred',
        [d.stream.id]: 'conflicted',
      });
      const headOfA = await git.rev(a.stream.branch);
      expect(await git.exitCode(['merge-base', '--is-ancestor', headOfA, b.stream.branch])).toBe(0);
      expect(await git.show(b.stream.branch, 'ext.js')).toBe('rate limiting');
      expect(readFileSync(join(b.worktree, 'auth.js'), 'utf8')).toBe('auth middleware\n');
      expect(await worktreeStatus(git, b.worktree)).toBe('');
      expect((await getStream(fx.store.db, repo.id, b.stream.id)).base_commit).toBe(headOfA);

      expect(await git.rev(c.stream.branch)).toBe(headOfC);
      expect((await getStream(fx.store.db, repo.id, c.stream.id)).metadata).toMatchObject({
        needs_rebase: true,
      });
      expect(existsSync(join(c.worktree, 'auth.js'))).toBe(false);

      expect(await git.rev(d.stream.branch)).toBe(headOfD);
      const conflicted = await getStream(fx.store.db, repo.id, d.stream.id);
      expect(conflicted.status).toBe('conflicted');
      expect(conflicted.conflict).toMatchObject({ operation: 'rebase', onto: headOfA, paths: ['lines.txt'] });
      expect(await worktreeStatus(git, d.worktree)).toBe('');

      // C's commit finishes its deferred rebase.
      const cCommit = await commitWorkspace(deps, { repo, agent: gamma, message: 'Add WIP' });
      expect(await git.exitCode(['merge-base', '--is-ancestor', headOfA, c.stream.branch])).toBe(0);
      expect(cCommit.commit).toBe(await git.rev(c.stream.branch));
      expect(readFileSync(join(c.worktree, 'auth.js'), 'utf8')).toBe('auth middleware\n');
      expect(await worktreeStatus(git, c.worktree)).toBe('');
      const cAfter = await getStream(fx.store.db, repo.id, c.stream.id);
      expect(cAfter.metadata.needs_rebase).toBeUndefined();
      expect(cAfter.base_commit).toBe(headOfA);

      // A child cannot merge before its parent.
      await approve(deps, seeded, b.stream, beta);
      await expect(mergeStream(deps, { repo, stream: b.stream, actor: beta })).rejects.toMatchObject({
        code: 'dependency_unmerged',
      });

      // A merges: its children now build on the buffer and are replayed onto it.
      await approve(deps, seeded, a.stream, alpha);
      const mergedA = await mergeStream(deps, { repo, stream: a.stream, actor: alpha });
      const cascaded = Object.fromEntries(mergedA.cascade.map((o) => [o.stream_id, o.outcome]));
      expect(cascaded[b.stream.id]).toBe('rebased');
      const bAfter = await getStream(fx.store.db, repo.id, b.stream.id);
      expect(bAfter).toMatchObject({
        base_branch: 'buffer',
        base_commit: mergedA.merge_commit,
        parent_stream_id: a.stream.id,
      });
      expect(await git.exitCode(['merge-base', '--is-ancestor', mergedA.merge_commit, b.stream.branch])).toBe(
        0,
      );
      const mergedB = await mergeStream(deps, { repo, stream: b.stream, actor: beta });
      expect(await git.show(mergedB.merge_commit, 'ext.js')).toBe('rate limiting');
      expect(await git.show(mergedB.merge_commit, 'api.js')).toBe('endpoints');

      const events = await listActivity(fx.store.db, {
        repoId: repo.id,
        eventTypes: ['stream.rebased', 'stream.conflicted'],
      });
      expect(events.length).toBeGreaterThanOrEqual(4);
    });

    it('a stream conflicted by a rebase returns to its state (in review, or active) once a later rebase is clean', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const [alpha, beta, gamma] = await seedAgents(deps, ['alpha4', 'beta4', 'gamma4'] as const);
      const original = 'alpha\nbeta\ngamma\ndelta\nepsilon\n';
      const a = await workOn(deps, seeded, alpha, { 'poem.txt': original }, { name: 'base-lines' });
      // Both children change line one; the one of beta is up for review, the one of gamma is not.
      const d = await workOn(
        deps,
        seeded,
        beta,
        { 'poem.txt': original.replace('alpha', 'alpha (beta)') },
        { dependsOn: 'base-lines' },
      );
      await submitForReview(deps, { repo, stream: d.stream, actor: beta });
      const f = await workOn(
        deps,
        seeded,
        gamma,
        { 'poem.txt': original.replace('alpha', 'alpha (gamma)') },
        { dependsOn: 'base-lines' },
      );
      const before = {
        d: await getStream(fx.store.db, repo.id, d.stream.id),
        f: await getStream(fx.store.db, repo.id, f.stream.id),
      };
      expect([before.d.status, before.f.status]).toEqual(['in_review', 'active']);

      // A changes line one too: both children conflict.
      writeFiles(a.worktree, { 'poem.txt': original.replace('alpha', 'alpha (alpha)') });
      const clash = await commitWorkspace(deps, { repo, agent: alpha, message: 'Change line one' });
      expect(clash.cascade.map((o) => o.outcome)).toEqual(['conflicted', 'conflicted']);
      for (const id of [d.stream.id, f.stream.id]) {
        const stream = await getStream(fx.store.db, repo.id, id);
        expect(stream.status).toBe('conflicted');
        expect(stream.conflict).toMatchObject({ operation: 'rebase', paths: ['poem.txt'] });
      }

      // A puts line one back: the next cascade replays both cleanly, and each returns to its state.
      writeFiles(a.worktree, { 'poem.txt': original });
      const clean = await commitWorkspace(deps, { repo, agent: alpha, message: 'Restore line one' });
      const headOfA = await git.rev(a.stream.branch);
      expect(clean.cascade.map((o) => [o.stream_id, o.outcome])).toEqual([
        [d.stream.id, 'rebased'],
        [f.stream.id, 'rebased'],
      ]);
      const after = {
        d: await getStream(fx.store.db, repo.id, d.stream.id),
        f: await getStream(fx.store.db, repo.id, f.stream.id),
      };
      expect(after.d).toMatchObject({
        status: 'in_review',
        review_status: before.d.review_status,
        conflict: null,
        base_commit: headOfA,
      });
      expect(after.f).toMatchObject({ status: 'active', conflict: null, base_commit: headOfA });
      expect(await git.show(d.stream.branch, 'poem.txt')).toBe(
        original.replace('alpha', 'alpha (beta)').trimEnd(),
      );
      expect(readFileSync(join(f.worktree, 'poem.txt'), 'utf8')).toBe(
        original.replace('alpha', 'alpha (gamma)'),
      );
      expect(await worktreeStatus(git, f.worktree)).toBe('');
    });

    it('a child with no commits of its own follows its parent (spec 3.6), a dirty one waits for its commit', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const [alpha, beta, gamma] = await seedAgents(deps, ['alpha2', 'beta2', 'gamma2'] as const);

      const a = await workOn(deps, seeded, alpha, { 'api.js': 'endpoints\n' }, { name: 'base-api-2' });
      const b = await createWorkspace(deps, { repo, agent: beta, dependsOn: 'base-api-2' });
      const c = await createWorkspace(deps, { repo, agent: gamma, dependsOn: 'base-api-2' });
      expect(await git.rev(b.stream.branch)).toBe(a.commit);
      writeFiles(c.worktree, { 'wip.txt': 'not committed yet\n' });

      writeFiles(a.worktree, { 'auth.js': 'auth middleware\n' });
      const committed = await commitWorkspace(deps, { repo, agent: alpha, message: 'Add auth middleware' });
      const headOfA = await git.rev(a.stream.branch);
      expect(committed.cascade).toEqual([
        { stream_id: b.stream.id, outcome: 'rebased', head: headOfA, onto: headOfA },
        { stream_id: c.stream.id, outcome: 'deferred', reason: 'worktree_dirty' },
      ]);
      // The clean child's branch and worktree are now at the parent's head.
      expect(await git.rev(b.stream.branch)).toBe(headOfA);
      expect(await git.run(['rev-parse', 'HEAD'], b.worktree)).toBe(headOfA);
      expect(readFileSync(join(b.worktree, 'auth.js'), 'utf8')).toBe('auth middleware\n');
      expect(await worktreeStatus(git, b.worktree)).toBe('');
      expect((await getStream(fx.store.db, repo.id, b.stream.id)).base_commit).toBe(headOfA);
      const pending = await fx.store.db
        .selectFrom('gitswarm_operations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('status', '=', 'pending')
        .execute();
      expect(pending).toEqual([]);

      // The dirty child stayed; its next commit lands on the parent's head.
      expect(await git.rev(c.stream.branch)).toBe(a.commit);
      const cCommit = await commitWorkspace(deps, { repo, agent: gamma, message: 'Add WIP' });
      expect(await git.run(['rev-parse', `${cCommit.commit}^`])).toBe(headOfA);
      expect(readFileSync(join(c.worktree, 'auth.js'), 'utf8')).toBe('auth middleware\n');
      expect(await worktreeStatus(git, c.worktree)).toBe('');

      // B's first commit builds on A's endpoints and auth.
      writeFiles(b.worktree, { 'ext.js': 'rate limiting\n' });
      const bCommit = await commitWorkspace(deps, { repo, agent: beta, message: 'Add rate limiting' });
      expect(await git.run(['rev-parse', `${bCommit.commit}^`])).toBe(headOfA);
    });
    it('abandoning a parent drops its commits from its children and grandchildren, which build on the buffer', async () => {
      const { deps, seeded } = await fx.seed(review);
      const { repo, git } = seeded;
      const [alpha, beta, gamma, delta] = await seedAgents(deps, [
        'alpha',
        'beta',
        'gamma',
        'delta',
      ] as const);
      await workOn(deps, seeded, alpha, { 'api.js': 'endpoints\n' }, { name: 'doomed' });
      const b = await workOn(deps, seeded, beta, { 'ext.js': 'rate limiting\n' }, { dependsOn: 'doomed' });
      const c = await workOn(deps, seeded, gamma, { 'more.js': 'more\n' }, { dependsOn: b.stream.id });
      // D edits the parent's own file: without the parent that change has nothing to apply to.
      const d = await workOn(deps, seeded, delta, { 'api.js': 'endpoints v2\n' }, { dependsOn: 'doomed' });
      const headOfD = await git.rev(d.stream.branch);

      const destroyed = await destroyWorkspace(deps, { repo, agent: alpha, abandon: true });
      expect(destroyed.abandoned).toBe(true);
      const buffer = await git.rev('buffer');
      for (const [child, own] of [
        [b, ['ext.js']],
        [c, ['ext.js', 'more.js']],
      ] as const) {
        const after = await getStream(fx.store.db, repo.id, child.stream.id);
        expect(after.status).toBe('active');
        expect(await git.exitCode(['merge-base', '--is-ancestor', buffer, child.stream.branch])).toBe(0);
        // Only its own commits (and its parent's own, for the grandchild): none of A's, no copies.
        const files = await git.run(['diff', '--name-only', buffer, child.stream.branch]);
        expect(files.split('\n').sort()).toEqual(own);
        expect(await git.run(['rev-list', '--count', `${buffer}..${child.stream.branch}`])).toBe(
          String(own.length),
        );
      }
      expect(await getStream(fx.store.db, repo.id, b.stream.id)).toMatchObject({
        base_branch: 'buffer',
        base_commit: buffer,
      });
      expect(readFileSync(join(b.worktree, 'ext.js'), 'utf8')).toBe('rate limiting\n');
      expect(existsSync(join(b.worktree, 'api.js'))).toBe(false);

      // D's change cannot stand without A's file: recorded as a conflict, its branch untouched.
      const conflicted = await getStream(fx.store.db, repo.id, d.stream.id);
      expect(conflicted).toMatchObject({ status: 'conflicted', base_branch: 'buffer' });
      expect(conflicted.conflict).toMatchObject({ operation: 'rebase', paths: ['api.js'] });
      expect(await git.rev(d.stream.branch)).toBe(headOfD);

      // B is no longer held back by its parent: it merges on its own, without A's work.
      await approve(deps, seeded, b.stream, beta);
      const merged = await mergeStream(deps, { repo, stream: b.stream, actor: beta });
      expect(await git.show(merged.merge_commit, 'ext.js')).toBe('rate limiting');
      expect(await git.exitCode(['cat-file', '-e', `${merged.merge_commit}:api.js`])).not.toBe(0);
      const moves = await listActivity(fx.store.db, { repoId: repo.id, eventTypes: ['stream.updated'] });
      expect(
        moves
          .filter((m) => m.metadata.reason === 'parent_abandoned')
          .map((m) => m.target_id)
          .sort(),
      ).toEqual([b.stream.id, d.stream.id].sort());
    });
  });
}
