/**
 * The specification's Mode A flows, in review mode with guild ownership:
 * 3.1 (workspace, commit, review, merge, promote), 3.3 (two agents in parallel, a conflict that
 * is resolved in the worktree and merged on retry) and 3.6 (a stream forked from another one,
 * cascaded when its parent moves, merged after it). Every `--json` document is checked against
 * the minimum fields of spec/cli.md. walkthrough.test.ts runs them through the real binary on
 * SQLite, walkthrough-postgres.test.ts in-process on the PostgreSQL dialect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, type CreateRepoOptions, createTestRepo, type TestRepo } from './helpers.js';
import { missingSpecFields, type SpecCommand } from './json-shapes.js';

interface StreamJson {
  id: string;
  name: string;
  branch: string;
  base_branch: string | null;
  parent_stream_id: string | null;
}

/** Runs a command with --json, expects exit `code` and the spec's minimum fields, returns the document. */
async function json<T>(
  repo: TestRepo,
  command: SpecCommand,
  args: string[],
  code = 0,
  cwd?: string,
): Promise<T> {
  const run: CliRun = await repo.run([...args, '--json'], { cwd });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code, stderr: expect.any(String) });
  const doc = run.json<T>();
  expect(missingSpecFields(command, doc)).toEqual([]);
  return doc;
}

async function ok(repo: TestRepo, args: string[], cwd?: string): Promise<CliRun> {
  const run = await repo.run(args, { cwd });
  expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
  return run;
}

/** Declares the walkthrough suite on repositories made with `options()`. */
export function describeWalkthrough(label: string, options: () => Promise<CreateRepoOptions>): void {
  describe(`${label}: Mode A walkthrough (spec 3.1, 3.3, 3.6)`, () => {
    let repo: TestRepo;

    beforeAll(async () => {
      repo = createTestRepo(await options());
    });
    afterAll(() => repo.close());

    it('sets up: init, agents, a maintainer', async () => {
      const init = await json<{
        repo: { merge_mode: string; ownership_model: string; buffer_branch: string };
      }>(repo, 'init', ['init', '--mode', 'review', '--model', 'guild', '--name', 'walkthrough']);
      expect(init.repo).toMatchObject({
        merge_mode: 'review',
        ownership_model: 'guild',
        buffer_branch: 'buffer',
      });
      expect(repo.git(['rev-parse', 'buffer'])).toBe(repo.git(['rev-parse', 'main']));
      const again = await repo.run(['init']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already initialized');

      const owner = await json<{ agent: { name: string; role: string } }>(repo, 'agent register', [
        'agent',
        'register',
        'owner',
      ]);
      expect(owner.agent).toMatchObject({ name: 'owner', role: 'owner' });
      for (const name of ['reviewer', 'coder', 'alpha', 'beta']) await ok(repo, ['agent', 'register', name]);
      await ok(repo, ['maintainer', 'add', 'reviewer', '--as', 'owner']);
    });

    it('3.1: task, workspace, commit, review, merge, promote', async () => {
      await ok(repo, ['task', 'create', 'Implement caching layer', '--priority', 'high', '--as', 'owner']);
      // 1. task list: the coder sees the task.
      const tasks = await repo.run(['task', 'list', '--json']);
      const task = tasks.json<{ tasks: { id: string; number: number; title: string; priority: string }[] }>()
        .tasks[0];
      expect(task).toMatchObject({ title: 'Implement caching layer', priority: 'high' });
      // 2. task claim.
      const claim = await repo.run(['task', 'claim', String(task?.number), '--as', 'coder', '--json']);
      expect(claim.code).toBe(0);
      expect(claim.json<{ claim: { status: string } }>().claim.status).toBe('active');

      // 3. workspace create --as coder --task: a stream from the buffer head, a worktree at
      // .worktrees/coder/, and the claim linked to the stream.
      const created = await json<{ stream: StreamJson; worktree: string }>(repo, 'workspace create', [
        'workspace',
        'create',
        '--as',
        'coder',
        '--name',
        'caching',
        '--task',
        String(task?.number),
      ]);
      const { stream, worktree } = created;
      expect(stream).toMatchObject({ name: 'caching', branch: `stream/${stream.id}`, base_branch: 'buffer' });
      expect(stream.parent_stream_id).toBeNull();
      expect(worktree).toBe(join(repo.dir, '.worktrees', 'coder'));
      expect(repo.git(['rev-parse', stream.branch])).toBe(repo.git(['rev-parse', 'buffer']));
      const shown = await repo.run(['task', 'show', String(task?.number), '--json']);
      expect(JSON.stringify(shown.json())).toContain(stream.id);

      // 4. The agent writes code in its worktree.
      repo.write('cache.js', 'export const cache = new Map();\n', worktree);
      repo.write('cache.test.js', "import { cache } from './cache.js';\n", worktree);

      // 5. commit: everything staged, committed with a Change-Id trailer.
      const commit = await json<{ commit: string; change_id: string; stream_id: string; merged: boolean }>(
        repo,
        'commit',
        ['commit', '-m', 'Add caching layer', '--as', 'coder'],
      );
      expect(commit).toMatchObject({ stream_id: stream.id, merged: false });
      expect(repo.git(['rev-parse', stream.branch])).toBe(commit.commit);
      expect(repo.git(['log', '-1', '--format=%B', commit.commit])).toContain(
        `Change-Id: ${commit.change_id}`,
      );
      expect(repo.git(['show', '--name-only', '--format=', commit.commit]).split('\n').sort()).toEqual([
        'cache.js',
        'cache.test.js',
      ]);

      // 6. review submit by the author.
      const submitted = await ok(repo, ['review', 'submit', stream.id, '--as', 'coder']);
      expect(submitted.stdout).toContain('is up for review');

      // 7. A maintainer approves; guild consensus is reached.
      const review = await json<{
        review: { verdict: string };
        consensus: { reached: boolean; approvals: number };
      }>(repo, 'review submit', ['review', 'submit', stream.id, 'approve', '--as', 'reviewer', '-m', 'LGTM']);
      expect(review.review.verdict).toBe('approve');
      expect(review.consensus).toMatchObject({ reached: true, approvals: 1 });
      const consensus = await json<{ reached: boolean; threshold: number }>(repo, 'consensus', [
        'consensus',
        'caching',
      ]);
      expect(consensus).toMatchObject({ reached: true, rule_id: null, required_approvals: 0 });
      const reviews = await repo.run(['review', 'list', stream.id]);
      expect(reviews.stdout).toMatch(/reviewer\s+approve\s+-\s+LGTM/);

      // 8. merge: no-ff into the buffer, the stream becomes merged.
      const bufferBefore = repo.git(['rev-parse', 'buffer']);
      const merged = await json<{ merged: boolean; merge_commit: string; buffer_head: string }>(
        repo,
        'merge',
        ['merge', stream.id, '--as', 'coder'],
      );
      expect(merged.merged).toBe(true);
      expect(repo.git(['rev-parse', 'buffer'])).toBe(merged.buffer_head);
      expect(repo.git(['rev-list', '--parents', '-n1', merged.merge_commit]).split(' ')).toEqual([
        merged.merge_commit,
        bufferBefore,
        commit.commit,
      ]);
      const status = await json<{ streams: { id: string }[]; buffer_head: string; main_head: string }>(
        repo,
        'status',
        ['status'],
      );
      expect(status.streams.map((s) => s.id)).not.toContain(stream.id);
      expect(status.buffer_head).toBe(merged.buffer_head);

      // The merged stream's worktree stays until destroyed: a new workspace says so and how to go on.
      const second = await repo.run(['workspace', 'create', '--as', 'coder', '--name', 'next']);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('hint: Destroy it first: gitswarm workspace destroy --as coder');

      // 9. The merge handed in the linked claim; the task's creator approves it and the task is done.
      const approved = await repo.run(['task', 'review', String(task?.number), 'approve', '--as', 'owner']);
      expect({ code: approved.code, stderr: approved.stderr }).toEqual({ code: 0, stderr: '' });
      const done = await repo.run(['task', 'show', String(task?.number), '--json']);
      expect(done.json<{ task: { status: string } }>().task.status).toBe('completed');

      // 10. promote: main fast-forwards to the buffer.
      const mainBefore = repo.git(['rev-parse', 'main']);
      const promoted = await json<{ promoted: boolean; from_commit: string; to_commit: string }>(
        repo,
        'promote',
        ['promote', '--as', 'owner'],
      );
      expect(promoted).toEqual({
        promoted: true,
        from_commit: mainBefore,
        to_commit: merged.buffer_head,
        target: 'main',
      });
      expect(repo.git(['rev-parse', 'main'])).toBe(merged.buffer_head);
      const activity = await repo.run(['activity', '--limit', '50']);
      for (const event of ['stream.created', 'stream.committed', 'stream.submitted', 'stream.reviewed']) {
        expect(activity.stdout).toContain(event);
      }
      expect(activity.stdout).toContain('stream.merged');
      expect(activity.stdout).toContain('buffer.promoted');
      await ok(repo, ['workspace', 'destroy', '--as', 'coder']);
      expect(existsSync(worktree)).toBe(false);
      // Nothing left dangling: no workspace, no extra worktree, and the agent can start again.
      expect(
        (await repo.run(['workspace', 'list', '--json'])).json<{ workspaces: unknown[] }>().workspaces,
      ).toEqual([]);
      expect(repo.git(['worktree', 'list', '--porcelain']).match(/^worktree /gm)).toHaveLength(1);
    });

    it('3.3: two agents in parallel; the second merge conflicts, is resolved and lands', async () => {
      const alpha = await json<{ stream: StreamJson; worktree: string }>(repo, 'workspace create', [
        'workspace',
        'create',
        '--as',
        'alpha',
        '--name',
        'auth',
      ]);
      const beta = await json<{ stream: StreamJson; worktree: string }>(repo, 'workspace create', [
        'workspace',
        'create',
        '--as',
        'beta',
        '--name',
        'logging',
      ]);
      repo.write('auth.js', 'export const auth = true;\n', alpha.worktree);
      repo.write('config.txt', 'auth=on\n', alpha.worktree);
      repo.write('logging.js', 'export const log = console.log;\n', beta.worktree);
      repo.write('config.txt', 'logging=on\n', beta.worktree);
      await ok(repo, ['commit', '-m', 'Add auth', '--as', 'alpha']);
      // Inside its worktree the agent needs no --as.
      await ok(repo, ['commit', '-m', 'Add logging'], beta.worktree);
      await ok(repo, ['review', 'submit', 'auth'], alpha.worktree);
      await ok(repo, ['review', 'submit', 'logging'], beta.worktree);
      await ok(repo, ['review', 'submit', 'auth', 'approve', '--as', 'reviewer']);
      await ok(repo, ['review', 'submit', 'logging', 'approve', '--as', 'reviewer']);

      await ok(repo, ['merge', 'auth', '--as', 'alpha']);
      const bufferAfterAlpha = repo.git(['rev-parse', 'buffer']);
      const refused = await json<{ error: { code: string; paths: string[] } }>(
        repo,
        'merge refused',
        ['merge', 'logging', '--as', 'beta'],
        1,
      );
      expect(refused.error.code).toBe('conflict');
      expect(refused.error.paths).toEqual(['config.txt']);
      expect(repo.git(['rev-parse', 'buffer'])).toBe(bufferAfterAlpha);
      expect(repo.git(['status', '--porcelain'], beta.worktree)).toBe('');
      const text = await repo.run(['merge', 'logging', '--as', 'beta']);
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/^error: .*config\.txt/);
      expect(text.stderr).toContain('hint: ');
      const status = await json<{ streams: { name: string; status: string }[] }>(repo, 'status', ['status']);
      expect(status.streams.find((s) => s.name === 'logging')?.status).toBe('conflicted');

      // The agent resolves in its worktree and commits; the retried merge lands.
      try {
        repo.git(['merge', '--no-edit', 'buffer'], beta.worktree);
      } catch {
        // The conflict is expected; the agent resolves it below.
      }
      repo.write('config.txt', 'auth=on\nlogging=on\n', beta.worktree);
      await ok(repo, ['commit', '-m', 'Resolve conflict with auth'], beta.worktree);
      // The resolution changed the stream's diff: the approval is stale until the reviewer looks again.
      const stale = await json<{ reached: boolean; stale_approvals: number }>(repo, 'consensus', [
        'consensus',
        'logging',
      ]);
      expect(stale).toMatchObject({ reached: false, stale_approvals: 1 });
      await ok(repo, ['review', 'submit', 'logging', 'approve', '--as', 'reviewer']);
      const retried = await json<{ merged: boolean; buffer_head: string }>(repo, 'merge', [
        'merge',
        'logging',
        '--as',
        'beta',
      ]);
      expect(retried.merged).toBe(true);
      expect(repo.git(['show', 'buffer:config.txt'])).toBe('auth=on\nlogging=on');
      await ok(repo, ['promote', '--as', 'owner']);
      expect(repo.git(['ls-tree', '--name-only', 'main']).split('\n')).toEqual(
        expect.arrayContaining(['auth.js', 'logging.js', 'cache.js']),
      );
      await ok(repo, ['workspace', 'destroy', '--as', 'alpha']);
      await ok(repo, ['workspace', 'destroy', '--as', 'beta']);
    });

    it('3.6: a forked stream follows its parent and merges after it', async () => {
      const base = await json<{ stream: StreamJson; worktree: string }>(repo, 'workspace create', [
        'workspace',
        'create',
        '--as',
        'alpha',
        '--name',
        'base-api',
      ]);
      repo.write('api.js', 'export const routes = [];\n', base.worktree);
      await ok(repo, ['commit', '-m', 'Add REST endpoints', '--as', 'alpha']);

      const ext = await json<{ stream: StreamJson; worktree: string }>(repo, 'workspace create', [
        'workspace',
        'create',
        '--as',
        'beta',
        '--name',
        'api-ext',
        '--depends-on',
        base.stream.branch,
      ]);
      expect(ext.stream).toMatchObject({ parent_stream_id: base.stream.id, base_branch: base.stream.branch });
      expect(readFileSync(join(ext.worktree, 'api.js'), 'utf8')).toBe('export const routes = [];\n');

      // Both agents commit; the parent's new commit cascades: the child is rebased onto it,
      // worktree included, and so builds on the endpoints and the auth middleware.
      repo.write('rate-limit.js', 'export const limit = 100;\n', ext.worktree);
      await ok(repo, ['commit', '-m', 'Add rate limiting', '--as', 'beta']);
      repo.write('auth-middleware.js', 'export const middleware = [];\n', base.worktree);
      const parentCommit = await json<{ commit: string; cascade: { stream_id: string; outcome: string }[] }>(
        repo,
        'commit',
        ['commit', '-m', 'Add auth middleware', '--as', 'alpha'],
      );
      expect(parentCommit.cascade).toEqual([
        expect.objectContaining({ stream_id: ext.stream.id, outcome: 'rebased' }),
      ]);
      expect(repo.git(['merge-base', '--is-ancestor', parentCommit.commit, ext.stream.branch])).toBe('');
      expect(existsSync(join(ext.worktree, 'auth-middleware.js'))).toBe(true);
      expect(repo.git(['status', '--porcelain'], ext.worktree)).toBe('');
      expect(repo.git(['log', '-1', '--format=%s', ext.stream.branch])).toBe('Add rate limiting');

      await ok(repo, ['review', 'submit', 'api-ext', '--as', 'beta']);
      await ok(repo, ['review', 'submit', 'api-ext', 'approve', '--as', 'reviewer']);
      const early = await json<{ error: { code: string } }>(
        repo,
        'merge refused',
        ['merge', 'api-ext', '--as', 'beta'],
        1,
      );
      expect(early.error.code).toBe('dependency_unmerged');

      await ok(repo, ['review', 'submit', 'base-api', '--as', 'alpha']);
      await ok(repo, ['review', 'submit', 'base-api', 'approve', '--as', 'reviewer']);
      await ok(repo, ['merge', 'base-api', '--as', 'alpha']);
      const merged = await json<{ merged: boolean }>(repo, 'merge', ['merge', 'api-ext', '--as', 'beta']);
      expect(merged.merged).toBe(true);
      expect(repo.git(['ls-tree', '--name-only', 'buffer']).split('\n')).toEqual(
        expect.arrayContaining(['api.js', 'auth-middleware.js', 'rate-limit.js']),
      );
      const promoted = await json<{ promoted: boolean }>(repo, 'promote', ['promote', '--as', 'owner']);
      expect(promoted.promoted).toBe(true);
      expect(repo.git(['rev-parse', 'main'])).toBe(repo.git(['rev-parse', 'buffer']));
    });
  });
}
