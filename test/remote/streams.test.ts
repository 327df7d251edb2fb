/**
 * The Mode B stream commands' client side (src/remote/) against a real server app and real git:
 * a bare remote and two clones ("two machines"). Agent A creates a workspace and commits on clone
 * A; the reviewer on clone B finds the stream, diffs it (fetched on demand) and approves; consensus
 * reads the same from both. Bad input: a missing remote, a refused record taken back everywhere.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ErrorCode, GitSwarmError } from '../../src/errors.js';
import { remoteDiffRefs } from '../../src/remote/diff.js';
import {
  listRemoteReviews,
  remoteConsensus,
  submitRemoteForReview,
  submitRemoteReview,
} from '../../src/remote/reviews.js';
import { type RemoteStreamsDeps, resolveServerStream, type StreamsServer } from '../../src/remote/streams.js';
import {
  commitRemoteWorkspace,
  createRemoteWorkspace,
  destroyRemoteWorkspace,
  listRemoteWorkspaces,
} from '../../src/remote/workspaces.js';
import type { App } from '../../src/server/app.js';
import {
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Seed',
  GIT_AUTHOR_EMAIL: 'seed@example.invalid',
  GIT_COMMITTER_NAME: 'Seed',
  GIT_COMMITTER_EMAIL: 'seed@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The server over app.inject, throwing its refusals as GitSwarmError (what the HTTP client does). */
function serverAs(app: App, agent: TestAgent): StreamsServer {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await app.inject({
      method: method as 'GET',
      url: `/api/v1${path}`,
      headers: agent.headers,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    const json = response.json() as { error?: { code: ErrorCode; message: string } } & T;
    if (response.statusCode >= 400) {
      throw new GitSwarmError(json.error?.code ?? 'internal_error', json.error?.message ?? response.body);
    }
    return json;
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body ?? {}),
    delete: (path, body) => call('DELETE', path, body ?? {}),
  };
}

let t: TestApp;
let base: string;
let bare: string;
let cloneA: string;
let cloneB: string;
let author: TestAgent;
let reviewer: TestAgent;
let repoId: string;
let onA: RemoteStreamsDeps;
let onB: RemoteStreamsDeps;

beforeAll(async () => {
  t = await startTestApp('sqlite');
  base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-remote-streams-')));
  bare = join(base, 'shared.git');
  git(base, 'init', '-q', '--bare', '-b', 'main', bare);
  const seed = join(base, 'seed');
  git(base, 'clone', '-q', bare, seed);
  writeFileSync(join(seed, 'README.md'), 'hello\n');
  git(seed, 'add', '-A');
  git(seed, 'commit', '-q', '-m', 'Initial commit');
  git(seed, 'push', '-q', 'origin', 'main', 'main:buffer');
  cloneA = join(base, 'a');
  cloneB = join(base, 'b');
  git(base, 'clone', '-q', bare, cloneA);
  git(base, 'clone', '-q', bare, cloneB);
  author = await registerTestAgent(t.app, 'ada');
  reviewer = await registerTestAgent(t.app, 'rex');
  const repo = await createTestRepo(t.app, author, { ownership_model: 'guild', merge_mode: 'review' });
  repoId = repo.id;
  for (const [who, level] of [[reviewer, 'maintain']] as const) {
    const r = await t.app.inject({
      method: 'POST',
      url: `/api/v1/repos/${repoId}/maintainers`,
      headers: author.headers,
      payload: { agent_id: who.id },
    });
    expect(r.statusCode, `${level}: ${r.body}`).toBeLessThan(300);
  }
  const deps = (root: string, agent: TestAgent): RemoteStreamsDeps => ({
    server: serverAs(t.app, agent),
    repoId,
    root,
    remote: 'origin',
    actor: async () => ({ id: agent.id, name: agent.name }),
  });
  onA = deps(cloneA, author);
  onB = deps(cloneB, reviewer);
});
afterAll(async () => {
  await t?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('Mode B streams across two clones', () => {
  let streamId: string;

  it('creates a workspace on clone A: local worktree, pushed branch, server record with the same id', async () => {
    const { stream, worktree } = await createRemoteWorkspace(onA, { name: 'caching' });
    streamId = stream.id;
    expect(worktree).toBe(join(cloneA, '.worktrees', 'ada'));
    expect(git(worktree, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(`stream/${stream.id}`);
    expect(git(bare, 'rev-parse', `stream/${stream.id}`)).toBe(git(bare, 'rev-parse', 'buffer'));
    expect(stream).toMatchObject({ name: 'caching', branch: `stream/${stream.id}`, base_branch: 'buffer' });
    expect(await listRemoteWorkspaces(onA)).toMatchObject([
      { agent_name: 'ada', stream_id: stream.id, stream_name: 'caching', stream_status: 'active', worktree },
    ]);
    expect(await listRemoteWorkspaces(onB)).toEqual([]);
    await expect(createRemoteWorkspace(onA, {})).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('commits on clone A: pushed and reported', async () => {
    const worktree = join(cloneA, '.worktrees', 'ada');
    writeFileSync(join(worktree, 'cache.txt'), 'cached\n');
    const result = await commitRemoteWorkspace(onA, { message: 'Add a cache' });
    expect(result).toMatchObject({ stream_id: streamId, merged: false });
    expect(git(bare, 'rev-parse', `stream/${streamId}`)).toBe(result.commit);
    expect(git(worktree, 'log', '-1', '--format=%an %B')).toContain(`ada Add a cache`);
    const commits = await onB.server.get<{ commits: { commit_hash: string }[] }>(
      `/streams/${streamId}/commits`,
    );
    expect(commits.commits.map((c) => c.commit_hash)).toEqual([result.commit]);
    await expect(commitRemoteWorkspace(onA, { message: 'again' })).rejects.toMatchObject({
      code: 'nothing_to_commit',
    });
  });

  it('clone B finds the stream by name, diffs it after fetching it, and approves', async () => {
    expect((await resolveServerStream(onB, 'caching')).id).toBe(streamId);
    expect((await resolveServerStream(onB, `stream/${streamId}`)).id).toBe(streamId);
    await expect(resolveServerStream(onB, 'nope')).rejects.toMatchObject({ code: 'stream_not_found' });
    expect(git(cloneB, 'branch', '--list', `stream/${streamId}`)).toBe('');
    const refs = await remoteDiffRefs(onB, 'caching');
    expect(refs).toMatchObject({
      baseRef: 'refs/remotes/origin/buffer',
      headRef: `refs/heads/stream/${streamId}`,
    });
    expect(git(cloneB, 'diff', '--name-only', `${refs.baseRef}...${refs.headRef}`)).toBe('cache.txt');

    await submitRemoteForReview(onA, streamId);
    const { consensus } = await submitRemoteReview(onB, {
      stream: 'caching',
      verdict: 'approve',
      feedback: 'looks good',
      tested: true,
    });
    expect(consensus.reached).toBe(true);
    const [fromA, fromB] = await Promise.all([
      remoteConsensus(onA, streamId),
      remoteConsensus(onB, 'caching'),
    ]);
    expect(fromA.consensus).toEqual(fromB.consensus);
    const listed = await listRemoteReviews(onA, 'caching');
    expect(listed.reviews).toMatchObject([{ reviewer_id: reviewer.id, verdict: 'approve', stale: false }]);

    // A verdict brings along the code it is given on, as diff does: here after B dropped its copy.
    git(cloneB, 'branch', '-D', `stream/${streamId}`);
    await submitRemoteReview(onB, { stream: 'caching', verdict: 'approve', feedback: null, tested: true });
    expect(git(cloneB, 'rev-parse', `stream/${streamId}`)).toBe(git(bare, 'rev-parse', `stream/${streamId}`));
  });

  it('an author may not review their own stream (the server decides)', async () => {
    await expect(
      submitRemoteReview(onA, { stream: streamId, verdict: 'approve', feedback: null, tested: false }),
    ).rejects.toMatchObject({ code: 'self_review' });
  });

  it('depends-on a stream made on clone A, from clone B, fetching it on demand', async () => {
    const { stream, worktree } = await createRemoteWorkspace(onB, { dependsOn: 'caching', name: 'ext' });
    expect(stream).toMatchObject({ parent_stream_id: streamId, base_branch: `stream/${streamId}` });
    expect(git(worktree, 'rev-parse', 'HEAD')).toBe(git(bare, 'rev-parse', `stream/${streamId}`));
    await destroyRemoteWorkspace(onB, { abandon: true });
    expect(existsSync(worktree)).toBe(false);
    expect((await resolveServerStream(onA, stream.id)).status).toBe('abandoned');
  });

  it('destroy refuses uncommitted changes unless abandoning, and keeps the stream otherwise', async () => {
    const worktree = join(cloneA, '.worktrees', 'ada');
    writeFileSync(join(worktree, 'dirty.txt'), 'x\n');
    await expect(destroyRemoteWorkspace(onA, {})).rejects.toMatchObject({ code: 'worktree_dirty' });
    rmSync(join(worktree, 'dirty.txt'));
    expect(await destroyRemoteWorkspace(onA, {})).toEqual({
      stream_id: streamId,
      worktree,
      abandoned: false,
    });
    expect((await resolveServerStream(onB, streamId)).status).toBe('in_review');
    await expect(destroyRemoteWorkspace(onA, {})).rejects.toMatchObject({ code: 'invalid_state' });
  });
});

describe('Mode B streams: bad input leaves nothing half-written', () => {
  it('a remote that does not exist: git_failed, no branch, no worktree, no record', async () => {
    const before = (await onA.server.get<{ streams: unknown[] }>(`/repos/${repoId}/streams`)).streams.length;
    const localBranches = git(cloneA, 'branch', '--list', 'stream/*');
    const error = await createRemoteWorkspace({ ...onA, remote: 'upstream' }, {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'git_failed' });
    expect(existsSync(join(cloneA, '.worktrees', 'ada'))).toBe(false);
    expect(git(cloneA, 'branch', '--list', 'stream/*')).toBe(localBranches);
    expect((await onA.server.get<{ streams: unknown[] }>(`/repos/${repoId}/streams`)).streams).toHaveLength(
      before,
    );
  });

  it('a record the server refuses (a taken name): the pushed branch is taken back', async () => {
    const remoteBranches = git(bare, 'branch', '--list', 'stream/*');
    const localBranches = git(cloneA, 'branch', '--list', 'stream/*');
    await expect(createRemoteWorkspace(onA, { name: 'caching' })).rejects.toMatchObject({
      code: 'already_exists',
    });
    expect(git(bare, 'branch', '--list', 'stream/*')).toBe(remoteBranches);
    expect(existsSync(join(cloneA, '.worktrees', 'ada'))).toBe(false);
    expect(git(cloneA, 'branch', '--list', 'stream/*')).toBe(localBranches);
  });

  it('a push the remote refuses: the commit stays local and the error says what to do', async () => {
    const { worktree, stream } = await createRemoteWorkspace(onA, { name: 'refused' });
    const hook = join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "frozen" >&2\nexit 1\n', { mode: 0o755 });
    try {
      writeFileSync(join(worktree, 'x.txt'), 'x\n');
      const error = (await commitRemoteWorkspace(onA, { message: 'x' }).catch(
        (e: unknown) => e,
      )) as GitSwarmError;
      expect(error.code).toBe('git_failed');
      expect(error.message).toMatch(/could not push/);
      expect(error.details).toMatchObject({ stream_id: stream.id, pushed: false, reported: false });
      const commits = await onA.server.get<{ commits: unknown[] }>(`/streams/${stream.id}/commits`);
      expect(commits.commits).toEqual([]);
    } finally {
      rmSync(hook);
    }
  });
});
