/**
 * Streams of a server-held repository over HTTP (Mode C): spec 3.1 without stabilization, the
 * permission refusals, the paths that could merge without consensus in review mode, swarm mode
 * with many agents committing at once, the worktree cap and lifecycle, and the 400s for a body of
 * the other mode.
 *
 * Files are written with the files API (PUT /streams/:id/files/<path>), as an HTTP agent does.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostedWorktreeDir } from '../../src/hosting/config.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import type { TestAgent } from '../server/helpers.js';
import { git, type JsonBody, type ModeC, startModeC } from './mode-c-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode C streams over HTTP`, () => {
    let t: ModeC;
    let owner: TestAgent;
    let author: TestAgent;
    let reviewer: TestAgent;
    let outsider: TestAgent;

    beforeAll(async () => {
      t = await startModeC(dialect, { hosting: { maxWorktreesPerRepo: 3 } });
      owner = await t.agent();
      author = await t.agent();
      reviewer = await t.agent();
      outsider = await t.agent();
    });
    afterAll(async () => t?.close());

    const worktree = (repo: JsonBody, stream: JsonBody) =>
      hostedWorktreeDir(t.app.hosting, repo.id, stream.id);
    const repoDir = (repo: JsonBody) => join(t.dataDir, 'repos', repo.id);
    const write = async (agent: TestAgent, stream: JsonBody, file: string, content: string) => {
      const written = await t.call(agent, 'PUT', `/streams/${stream.id}/files/${file}`, { content });
      expect(written.status, JSON.stringify(written.body)).toBeLessThan(300);
    };

    /** A review-mode repository: owner is its maintainer, author and reviewer may write, outsider may not. */
    const reviewRepo = async (extra: Record<string, unknown> = {}) => {
      const created = await t.call(owner, 'POST', '/repos', {
        name: `review-${Math.random().toString(16).slice(2, 8)}`,
        server_git: true,
        merge_mode: 'review',
        ownership_model: 'open',
        min_reviews: 1,
        consensus_threshold: 0.5,
        agent_access: 'allowlist',
        ...extra,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const repo = created.body.repo;
      for (const agent of [author, reviewer]) {
        const granted = await t.call(owner, 'POST', `/repos/${repo.id}/access`, {
          agent_id: agent.id,
          access_level: 'write',
        });
        expect(granted.status, JSON.stringify(granted.body)).toBeLessThan(300);
      }
      return repo;
    };

    it('spec 3.1 over HTTP: create, write, commit, submit, review, merge; the buffer has the file', async () => {
      const repo = await reviewRepo();
      const created = await t.call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'feature-x' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const stream = created.body.stream;
      expect(stream).toMatchObject({
        name: 'feature-x',
        source: 'api',
        status: 'active',
        agent_id: author.id,
      });
      expect(git(repoDir(repo), 'rev-parse', `refs/heads/${stream.branch}`)).toBe(
        git(repoDir(repo), 'rev-parse', 'refs/heads/buffer'),
      );
      expect(git(worktree(repo, stream), 'symbolic-ref', 'HEAD')).toBe(`refs/heads/${stream.branch}`);

      const empty = await t.call(author, 'POST', `/streams/${stream.id}/commits`, { message: 'nothing' });
      expect(empty.status).toBe(409);
      expect(empty.body.error.code).toBe('nothing_to_commit');
      expect(empty.body.error.message).not.toContain(t.dataDir);

      await write(author, stream, 'hello.txt', 'hello from mode C\n');
      const committed = await t.call(author, 'POST', `/streams/${stream.id}/commits`, {
        message: 'Add hello',
      });
      expect(committed.status, JSON.stringify(committed.body)).toBe(201);
      expect(committed.body).toMatchObject({ stream_id: stream.id, merged: false, cascade: [] });
      expect(committed.body.change_id).toMatch(/^I[0-9a-f]{40}$/);
      expect(git(repoDir(repo), 'rev-parse', `refs/heads/${stream.branch}`)).toBe(committed.body.commit);
      expect(git(repoDir(repo), 'log', '-1', '--format=%B', committed.body.commit)).toContain(
        `Change-Id: ${committed.body.change_id}`,
      );
      expect(git(repoDir(repo), 'log', '-1', '--format=%an', committed.body.commit)).toBe(author.name);
      const commits = await t.call(author, 'GET', `/streams/${stream.id}/commits`);
      expect(commits.body.commits.map((c: JsonBody) => c.commit_hash)).toEqual([committed.body.commit]);

      // No consensus yet: refused, nothing moved.
      const bufferBefore = git(repoDir(repo), 'rev-parse', 'refs/heads/buffer');
      const early = await t.call(author, 'POST', `/streams/${stream.id}/merge`, {});
      expect(early.status).toBe(409);
      expect(early.body.error.code).toBe('no_consensus');
      expect(git(repoDir(repo), 'rev-parse', 'refs/heads/buffer')).toBe(bufferBefore);

      expect((await t.call(author, 'POST', `/streams/${stream.id}/submit`)).status).toBe(200);
      const selfReview = await t.call(author, 'POST', `/streams/${stream.id}/reviews`, {
        verdict: 'approve',
      });
      expect(selfReview.status).toBe(403);
      expect(selfReview.body.error.code).toBe('self_review');
      const review = await t.call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'approve' });
      expect(review.status).toBe(201);
      expect(review.body.consensus.reached).toBe(true);

      const foreign = await t.call(outsider, 'POST', `/streams/${stream.id}/merge`, {});
      expect(foreign.status).toBe(403);
      expect(foreign.body.error.code).toBe('forbidden');

      const merged = await t.call(author, 'POST', `/streams/${stream.id}/merge`, {});
      expect(merged.status, JSON.stringify(merged.body)).toBe(200);
      expect(merged.body).toEqual({
        merged: true,
        merge_commit: merged.body.merge_commit,
        buffer_head: merged.body.merge_commit,
        stream_id: stream.id,
      });
      const dir = repoDir(repo);
      expect(git(dir, 'rev-parse', 'refs/heads/buffer')).toBe(merged.body.merge_commit);
      expect(git(dir, 'show', 'refs/heads/buffer:hello.txt')).toBe('hello from mode C');
      expect(git(dir, 'rev-parse', `${merged.body.merge_commit}^1`)).toBe(bufferBefore);
      expect(git(dir, 'rev-parse', `${merged.body.merge_commit}^2`)).toBe(committed.body.commit);
      expect((await t.call(author, 'GET', `/streams/${stream.id}`)).body.stream.status).toBe('merged');
      // Review mode: the worktree goes with the merge.
      expect(existsSync(worktree(repo, stream))).toBe(false);
      const after = await t.call(author, 'POST', `/streams/${stream.id}/commits`, { message: 'more' });
      expect(after.status).toBe(409);
      expect(after.body.error.code).toBe('invalid_state');
      const merges = await t.store.db
        .selectFrom('gitswarm_merges')
        .select('merge_commit')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges.map((m) => m.merge_commit)).toEqual([merged.body.merge_commit]);
      const diff = await t.call(author, 'GET', `/streams/${stream.id}/diff/full`);
      expect(diff.status).toBe(200);
    });

    it('permissions: only the author or a maintainer commits; an agent without access cannot create or merge', async () => {
      const repo = await reviewRepo();
      const stream = (await t.call(author, 'POST', `/repos/${repo.id}/streams`, {})).body.stream;
      await write(author, stream, 'a.txt', 'a\n');
      const byReviewer = await t.call(reviewer, 'POST', `/streams/${stream.id}/commits`, {
        message: 'not mine',
      });
      expect(byReviewer.status).toBe(403);
      expect(byReviewer.body.error.code).toBe('forbidden');
      const byOutsider = await t.call(outsider, 'POST', `/streams/${stream.id}/commits`, {
        message: 'not mine',
      });
      expect(byOutsider.status).toBe(403);
      expect((await t.call(outsider, 'POST', `/repos/${repo.id}/streams`, {})).status).toBe(403);
      const anonymous = await t.call(null, 'POST', `/streams/${stream.id}/commits`, { message: 'x' });
      expect(anonymous.status).toBe(401);
      // The owner (a maintainer) may commit in the author's stream.
      const byOwner = await t.call(owner, 'POST', `/streams/${stream.id}/commits`, {
        message: 'maintainer fix',
      });
      expect(byOwner.status, JSON.stringify(byOwner.body)).toBe(201);
      expect(git(repoDir(repo), 'log', '-1', '--format=%an', byOwner.body.commit)).toBe(owner.name);
      expect((await t.call(author, 'GET', `/streams/${stream.id}`)).body.stream.status).toBe('active');
    });

    it('review mode: no path merges without consensus', async () => {
      const repo = await reviewRepo();
      const stream = (await t.call(author, 'POST', `/repos/${repo.id}/streams`, {})).body.stream;
      await write(author, stream, 'b.txt', 'b\n');
      const buffer = git(repoDir(repo), 'rev-parse', 'refs/heads/buffer');
      // A commit in review mode never merges.
      const committed = await t.call(author, 'POST', `/streams/${stream.id}/commits`, { message: 'b' });
      expect(committed.body.merged).toBe(false);
      // The HTTP merge, by the author and by a maintainer, refuses without consensus.
      for (const agent of [author, owner]) {
        const refused = await t.call(agent, 'POST', `/streams/${stream.id}/merge`, {});
        expect(refused.status).toBe(409);
        expect(refused.body.error.code).toBe('no_consensus');
      }
      // A change request keeps it refused.
      expect((await t.call(author, 'POST', `/streams/${stream.id}/submit`)).status).toBe(200);
      await t.call(reviewer, 'POST', `/streams/${stream.id}/reviews`, { verdict: 'request_changes' });
      expect((await t.call(author, 'POST', `/streams/${stream.id}/merge`, {})).body.error.code).toBe(
        'no_consensus',
      );
      // Mode B's ways of reporting a merge are refused on a server_git repository.
      const fakeCommit = 'a'.repeat(40);
      const reported = await t.call(author, 'PATCH', `/streams/${stream.id}`, {
        status: 'merged',
        merge_commit: fakeCommit,
        commit_object: `tree ${'b'.repeat(40)}\n`,
      });
      expect(reported.status).toBe(400);
      const recorded = await t.call(author, 'POST', `/streams/${stream.id}/commits`, { commit: fakeCommit });
      expect(recorded.status).toBe(400);
      // Switching the repository to swarm mode is the admin's decision; until then the buffer stays.
      expect(git(repoDir(repo), 'rev-parse', 'refs/heads/buffer')).toBe(buffer);
      const merges = await t.store.db
        .selectFrom('gitswarm_merges')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(merges).toEqual([]);
      expect((await t.call(author, 'GET', `/streams/${stream.id}`)).body.stream.status).toBe('in_review');
    });

    it('a body of the other mode is a clear 400', async () => {
      const repo = await reviewRepo();
      const withId = await t.call(author, 'POST', `/repos/${repo.id}/streams`, { id: 'client-chosen' });
      expect(withId.status).toBe(400);
      expect(withId.body.error.message).toMatch(/server_git/);
      const modeB = (
        await t.call(owner, 'POST', '/repos', { name: `b-${Math.random().toString(16).slice(2, 8)}` })
      ).body.repo;
      const recorded = await t.call(owner, 'POST', `/repos/${modeB.id}/streams`, { id: 'client-chosen-1' });
      expect(recorded.status).toBe(201);
      const message = await t.call(owner, 'POST', `/streams/client-chosen-1/commits`, { message: 'x' });
      expect(message.status).toBe(400);
    });

    it('the worktree cap: 409 worktree_limit with a hint; abandoning frees a place and removes the worktree', async () => {
      const repo = await reviewRepo();
      const streams: JsonBody[] = [];
      for (let i = 0; i < 3; i++) {
        const created = await t.call(author, 'POST', `/repos/${repo.id}/streams`, {});
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        streams.push(created.body.stream);
      }
      const full = await t.call(author, 'POST', `/repos/${repo.id}/streams`, {});
      expect(full.status).toBe(409);
      expect(full.body.error.code).toBe('worktree_limit');
      expect(full.body.error.hint).toMatch(/--max-worktrees/);
      const live = await t.call(author, 'GET', `/repos/${repo.id}/streams`);
      expect(live.body.streams).toHaveLength(3);

      await write(author, streams[0], 'dirty.txt', 'uncommitted\n');
      const abandoned = await t.call(author, 'DELETE', `/streams/${streams[0].id}`, {});
      expect(abandoned.status).toBe(200);
      expect(abandoned.body.stream.status).toBe('abandoned');
      expect(existsSync(worktree(repo, streams[0]))).toBe(false);
      expect(git(repoDir(repo), 'worktree', 'list', '--porcelain')).not.toContain(streams[0].id);
      const again = await t.call(author, 'DELETE', `/streams/${streams[0].id}`, {});
      expect(again.status).toBe(200);
      const next = await t.call(author, 'POST', `/repos/${repo.id}/streams`, {});
      expect(next.status).toBe(201);
      expect(readdirSync(join(t.dataDir, 'worktrees', repo.id)).sort()).toEqual(
        [streams[1].id, streams[2].id, next.body.stream.id].sort(),
      );
      // A worktree removed behind the server's back is made again on the next use.
      git(repoDir(repo), 'worktree', 'remove', '--force', worktree(repo, streams[1]));
      expect(existsSync(worktree(repo, streams[1]))).toBe(false);
      const recommit = await t.call(author, 'POST', `/streams/${streams[1].id}/commits`, { message: 'x' });
      expect(recommit.body.error.code).toBe('nothing_to_commit');
      expect(existsSync(join(worktree(repo, streams[1]), '.git'))).toBe(true);
    });

    it('depends_on: a child stream builds on its parent and is replayed when the parent is abandoned', async () => {
      const repo = await reviewRepo();
      const parent = (await t.call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'parent' })).body
        .stream;
      await write(author, parent, 'p.txt', 'p\n');
      await t.call(author, 'POST', `/streams/${parent.id}/commits`, { message: 'parent work' });
      const child = (
        await t.call(author, 'POST', `/repos/${repo.id}/streams`, { name: 'child', depends_on: 'parent' })
      ).body.stream;
      expect(child.parent_stream_id).toBe(parent.id);
      expect(existsSync(join(worktree(repo, child), 'p.txt'))).toBe(true);
      await write(author, child, 'c.txt', 'c\n');
      const childCommit = await t.call(author, 'POST', `/streams/${child.id}/commits`, {
        message: 'child work',
      });
      expect(childCommit.status).toBe(201);
      expect((await t.call(author, 'DELETE', `/streams/${parent.id}`, {})).status).toBe(200);
      const dir = repoDir(repo);
      // The child keeps its own commit only, on the buffer; its worktree followed the branch.
      expect(git(dir, 'ls-tree', '--name-only', `refs/heads/${child.branch}`)).toBe('c.txt');
      expect(existsSync(join(worktree(repo, child), 'p.txt'))).toBe(false);
      expect(existsSync(join(worktree(repo, child), 'c.txt'))).toBe(true);
      expect(git(worktree(repo, child), 'status', '--porcelain')).toBe('');
    });
  });

  describe(`${dialectLabel(dialect)}: Mode C worktrees of swarm streams at the cap`, () => {
    let t: ModeC;

    beforeAll(async () => {
      t = await startModeC(dialect, { hosting: { maxWorktreesPerRepo: 2 } });
    });
    afterAll(async () => t?.close());

    it('a merged swarm stream keeps its worktree; at the cap a clean one is reclaimed, a dirty one never', async () => {
      const agent = await t.agent();
      const repo = (
        await t.call(agent, 'POST', '/repos', { name: 'swarm-cap', server_git: true, merge_mode: 'swarm' })
      ).body.repo;
      const create = async () => {
        const created = await t.call(agent, 'POST', `/repos/${repo.id}/streams`, {});
        return created;
      };
      const put = async (stream: JsonBody, file: string) =>
        expect(
          (await t.call(agent, 'PUT', `/streams/${stream.id}/files/${file}`, { content: file })).status,
        ).toBe(201);
      const first = (await create()).body.stream;
      await put(first, 'one.txt');
      expect(
        (await t.call(agent, 'POST', `/streams/${first.id}/commits`, { message: 'one' })).body.merged,
      ).toBe(true);
      const dir = (stream: JsonBody) => hostedWorktreeDir(t.app.hosting, repo.id, stream.id);
      expect(existsSync(dir(first))).toBe(true);
      const second = (await create()).body.stream;
      await put(second, 'dirty.txt');
      // At the cap: the first (merged, clean) goes; the second (live) stays.
      const third = await create();
      expect(third.status, JSON.stringify(third.body)).toBe(201);
      expect(existsSync(dir(first))).toBe(false);
      expect(existsSync(join(dir(second), 'dirty.txt'))).toBe(true);
      // The first stream goes on: its worktree would be made again, but there is no room.
      const full = await t.call(agent, 'PUT', `/streams/${first.id}/files/two.txt`, { content: 'two' });
      expect(full.status).toBe(409);
      expect(full.body.error.code).toBe('worktree_limit');
      // A merged swarm stream with uncommitted work is never reclaimed.
      await put(third.body.stream, 'three.txt');
      expect(
        (await t.call(agent, 'POST', `/streams/${third.body.stream.id}/commits`, { message: 'three' })).body
          .merged,
      ).toBe(true);
      await put(third.body.stream, 'more.txt');
      const refused = await create();
      expect(refused.status).toBe(409);
      expect(existsSync(join(dir(third.body.stream), 'more.txt'))).toBe(true);
      // Abandoning the second frees a place: the first comes back from its branch, with its file.
      expect((await t.call(agent, 'DELETE', `/streams/${second.id}`, {})).status).toBe(200);
      const again = await t.call(agent, 'PUT', `/streams/${first.id}/files/two.txt`, { content: 'two' });
      expect(again.status, JSON.stringify(again.body)).toBe(201);
      expect(existsSync(join(dir(first), 'one.txt'))).toBe(true);
      const committed = await t.call(agent, 'POST', `/streams/${first.id}/commits`, { message: 'two' });
      expect(committed.body.merged).toBe(true);
      expect(git(join(t.dataDir, 'repos', repo.id), 'show', 'refs/heads/buffer:two.txt')).toBe('two');
    });
  });

  describe(`${dialectLabel(dialect)}: Mode C swarm mode, many agents at once`, () => {
    let t: ModeC;

    beforeAll(async () => {
      t = await startModeC(dialect);
    });
    afterAll(async () => t?.close());

    it('8 agents × 10 commits: every commit merged once, nothing lost, the database agrees with git', async () => {
      const owner = await t.agent();
      const repo = (
        await t.call(owner, 'POST', '/repos', { name: 'swarm', server_git: true, merge_mode: 'swarm' })
      ).body.repo;
      const agents = await Promise.all(Array.from({ length: 8 }, () => t.agent()));
      const COMMITS = 10;
      const results = await Promise.all(
        agents.map(async (agent, a) => {
          const created = await t.call(agent, 'POST', `/repos/${repo.id}/streams`, {});
          expect(created.status, JSON.stringify(created.body)).toBe(201);
          const stream = created.body.stream;
          const heads: string[] = [];
          for (let c = 0; c < COMMITS; c++) {
            const written = await t.call(agent, 'PUT', `/streams/${stream.id}/files/a${a}-c${c}.txt`, {
              content: `${a}/${c}
`,
            });
            expect(written.status, JSON.stringify(written.body)).toBe(201);
            const committed = await t.call(agent, 'POST', `/streams/${stream.id}/commits`, {
              message: `a${a} c${c}`,
            });
            expect(committed.status, JSON.stringify(committed.body)).toBe(201);
            expect(committed.body.merged).toBe(true);
            heads.push(committed.body.commit);
          }
          return { stream, heads };
        }),
      );
      const dir = join(t.dataDir, 'repos', repo.id);
      const files = git(dir, 'ls-tree', '--name-only', 'refs/heads/buffer').split('\n');
      expect(files).toHaveLength(agents.length * COMMITS);
      const merges = git(dir, 'rev-list', '--first-parent', '--merges', 'refs/heads/buffer').split('\n');
      expect(merges).toHaveLength(agents.length * COMMITS);
      const rows = await t.store.db
        .selectFrom('gitswarm_merges')
        .select(['merge_commit', 'stream_id'])
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows).toHaveLength(agents.length * COMMITS);
      expect(new Set(rows.map((r) => r.merge_commit))).toEqual(new Set(merges));
      const commits = await t.store.db
        .selectFrom('gitswarm_stream_commits as c')
        .innerJoin('gitswarm_streams as s', 's.id', 'c.stream_id')
        .select('c.commit_hash')
        .where('s.repo_id', '=', repo.id)
        .execute();
      expect(new Set(commits.map((c) => c.commit_hash))).toEqual(new Set(results.flatMap((r) => r.heads)));
      for (const { stream, heads } of results) {
        expect(git(dir, 'merge-base', '--is-ancestor', heads.at(-1) as string, 'refs/heads/buffer')).toBe('');
        // Swarm mode: the merged stream keeps its worktree for the next commit.
        expect(existsSync(hostedWorktreeDir(t.app.hosting, repo.id, stream.id))).toBe(true);
      }
    }, 600_000);
  });
}
