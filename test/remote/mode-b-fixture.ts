/**
 * Mode B test world: a real server listening on a free port, a bare repository as the shared
 * remote (main and buffer published), clones of it ("machines"), agents with keys, and streams
 * made as a connected clone makes them (recorded on the server, committed, pushed).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitSwarmError, isGitSwarmError } from '../../src/errors.js';
import { type ConnectedGit, connectedGit } from '../../src/remote/git-ops.js';
import type { RemoteStream, ServerApi } from '../../src/remote/server-api.js';
import type { TestDialect } from '../helpers/store.js';
import { startTestApp, type TestApp } from '../server/helpers.js';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Tester',
  GIT_AUTHOR_EMAIL: 'tester@example.invalid',
  GIT_COMMITTER_NAME: 'Tester',
  GIT_COMMITTER_EMAIL: 'tester@example.invalid',
};

/** The environment of the tests' own git commands (a fixed identity, no system config). */
export function gitEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...IDENTITY, GIT_CONFIG_NOSYSTEM: '1' };
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: gitEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface Agent {
  id: string;
  name: string;
  key: string;
  api: ServerApi;
}

export interface Clone {
  dir: string;
  git: ConnectedGit;
}

export interface ModeBWorld {
  t: TestApp;
  base: string;
  dir: string;
  origin: string;
  repoId: string;
  owner: Agent;
  register(name: string): Promise<Agent>;
  clone(name: string): Clone;
  /** The remote's head of a branch. */
  remoteHead(branch: string): string;
  close(): Promise<void>;
}

/** A ServerApi over fetch for one key: the server's error bodies become GitSwarmErrors. */
export function fetchApi(base: string, key: string): ServerApi {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new GitSwarmError('server_unreachable', `No answer from ${base}.`, { cause: error });
    }
    const json = (await response.json()) as { error?: { code: string; message: string } } & T;
    if (!response.ok) {
      const code = json.error?.code ?? 'internal_error';
      throw new GitSwarmError(code as 'internal_error', json.error?.message ?? `HTTP ${response.status}`, {
        details: (json.error ?? {}) as Record<string, unknown>,
      });
    }
    return json;
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    patch: (path, body) => call('PATCH', path, body),
  };
}

/** Starts the world: server, remote with main and buffer at one commit, an owner and a repository. */
export async function startModeBWorld(
  dialect: TestDialect,
  settings: Record<string, unknown> = {},
  seedFiles: Record<string, string> = {},
): Promise<ModeBWorld> {
  const t = await startTestApp(dialect);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-modeb-merge-'));
  const origin = join(dir, 'origin.git');
  git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  const seed = join(dir, 'seed');
  git(dir, 'clone', '-q', origin, seed);
  writeFileSync(join(seed, 'README.md'), '# project\n');
  writeFileSync(join(seed, 'shared.txt'), 'one\ntwo\nthree\n');
  for (const [path, content] of Object.entries(seedFiles)) writeFileSync(join(seed, path), content);
  git(seed, 'add', '-A');
  git(seed, 'commit', '-q', '-m', 'initial');
  git(seed, 'push', '-q', 'origin', 'main', 'main:buffer');

  const register = async (name: string): Promise<Agent> => {
    const response = await fetch(`${base}/api/v1/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (response.status !== 201) throw new Error(`register ${name}: ${response.status}`);
    const body = (await response.json()) as { agent: { id: string; name: string }; api_key: string };
    return { id: body.agent.id, name: body.agent.name, key: body.api_key, api: fetchApi(base, body.api_key) };
  };
  const owner = await register(`owner-${randomBytes(3).toString('hex')}`);
  const repo = await owner.api.post<{ repo: { id: string } }>('/repos', {
    name: `proj-${randomBytes(3).toString('hex')}`,
    merge_mode: 'review',
    ...settings,
  });
  return {
    t,
    base,
    dir,
    origin,
    repoId: repo.repo.id,
    owner,
    register,
    clone(name) {
      const path = join(dir, name);
      git(dir, 'clone', '-q', origin, path);
      return { dir: path, git: connectedGit(path, 'origin') };
    },
    remoteHead(branch) {
      return git(origin, 'rev-parse', `refs/heads/${branch}`);
    },
    async close() {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A stream as a connected clone makes it: recorded on the server with the client's id, branched
 * from the remote buffer, `files` committed, the commit recorded and the branch pushed.
 */
export async function makeStream(
  world: ModeBWorld,
  clone: Clone,
  author: Agent,
  name: string,
  files: Record<string, string>,
): Promise<RemoteStream & { head: string }> {
  const id = randomBytes(6).toString('hex');
  const { stream } = await author.api.post<{ stream: RemoteStream }>(`/repos/${world.repoId}/streams`, {
    id,
    name,
    base_branch: 'buffer',
  });
  git(clone.dir, 'fetch', '-q', 'origin');
  git(clone.dir, 'checkout', '-q', '-B', stream.branch, 'origin/buffer');
  const head = commitFiles(clone, files, `${name}: work`);
  await author.api.post(`/streams/${id}/commits`, { commit: head, message: `${name}: work` });
  git(clone.dir, 'push', '-q', 'origin', stream.branch);
  return { ...stream, head };
}

export function commitFiles(clone: Clone, files: Record<string, string>, message: string): string {
  for (const [path, content] of Object.entries(files)) writeFileSync(join(clone.dir, path), content);
  git(clone.dir, 'add', '-A');
  git(clone.dir, 'commit', '-q', '-m', message);
  return git(clone.dir, 'rev-parse', 'HEAD');
}

/** Submits the stream and has `reviewer` approve it. */
export async function approve(author: Agent, reviewer: Agent, stream: { id: string }): Promise<void> {
  await author.api.post(`/streams/${stream.id}/submit`, {});
  await reviewer.api.post(`/streams/${stream.id}/reviews`, { verdict: 'approve' });
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    if (isGitSwarmError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
