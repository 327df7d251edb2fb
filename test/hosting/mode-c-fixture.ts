/**
 * Mode C test fixture: an app with a data dir in a temp folder (the server holds the git), agents
 * with keys, and helpers that read the server's repositories with real git.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildAppOptions } from '../../src/server/app.js';
import type { TestDialect } from '../helpers/store.js';
import { callApi, registerTestAgent, startTestApp, type TestAgent, type TestApp } from '../server/helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON response bodies, checked by the assertions.
export type JsonBody = any;

export interface ModeC extends TestApp {
  dataDir: string;
  /** A temp folder for other repositories (clone sources, upstreams). */
  scratch: string;
  call(
    agent: TestAgent | null,
    method: string,
    url: string,
    payload?: unknown,
  ): Promise<{ status: number; body: JsonBody }>;
  agent(name?: string): Promise<TestAgent>;
}

export async function startModeC(
  dialect: TestDialect,
  options: Partial<BuildAppOptions> = {},
): Promise<ModeC> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-mode-c-')));
  const dataDir = join(root, 'data');
  const scratch = join(root, 'scratch');
  execFileSync('mkdir', ['-p', scratch]);
  const t = await startTestApp(dialect, {
    ...options,
    hosting: { dataDir, ...options.hosting },
  });
  return {
    ...t,
    dataDir,
    scratch,
    call: (agent, method, url, payload) =>
      callApi(t.app, agent, { method, url, ...(payload === undefined ? {} : { payload }) }),
    agent: (name) => registerTestAgent(t.app, name),
    async close() {
      await t.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

/** Runs git in `cwd`; returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...GIT_ENV },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** A repository with `README.md` on main and `extra` commits after it. */
export function makeSourceRepo(dir: string, extra = 1): string {
  execFileSync('mkdir', ['-p', dir]);
  git(dir, 'init', '-q', '-b', 'main');
  execFileSync('sh', ['-c', 'echo hello > README.md'], { cwd: dir });
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  for (let i = 0; i < extra; i++) {
    execFileSync('sh', ['-c', `echo ${i} > file-${i}.txt`], { cwd: dir });
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `extra ${i}`);
  }
  return dir;
}
