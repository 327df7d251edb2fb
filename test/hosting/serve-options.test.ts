/**
 * `gitswarm serve --max-worktrees N --allow-local-clone` (and GITSWARM_MAX_WORKTREES,
 * GITSWARM_ALLOW_LOCAL_CLONE=1): the server they start clones a local path and caps stream
 * worktrees; bad values are usage errors.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { serverConfigFromEnv } from '../../src/server/serve.js';
import { makeSourceRepo } from './mode-c-fixture.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-serve-opts-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function json(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked by the assertions.
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function quietCli(args: string[], env: Record<string, string>, signal = new AbortController().signal) {
  return runCli(args, {
    stdout: { write: () => {} },
    stderr: { write: () => {} },
    isTTY: false,
    color: false,
    cwd: root,
    env,
    signal,
  });
}

describe('gitswarm serve: Mode C options', () => {
  it('reads GITSWARM_MAX_WORKTREES and GITSWARM_ALLOW_LOCAL_CLONE; refuses a bad cap', () => {
    expect(
      serverConfigFromEnv({ GITSWARM_MAX_WORKTREES: '5', GITSWARM_ALLOW_LOCAL_CLONE: '1' }).app?.hosting,
    ).toEqual({
      maxWorktreesPerRepo: 5,
      allowLocalClone: true,
    });
    expect(serverConfigFromEnv({ GITSWARM_ALLOW_LOCAL_CLONE: 'yes' }).app?.hosting).toBeUndefined();
    for (const bad of ['0', '-1', '1.5', 'many', '1e3']) {
      expect(() => serverConfigFromEnv({ GITSWARM_MAX_WORKTREES: bad }), bad).toThrow(
        /GITSWARM_MAX_WORKTREES/,
      );
    }
  });

  it('--max-worktrees caps stream worktrees and --allow-local-clone lets the server clone a local path', async () => {
    const source = makeSourceRepo(join(root, 'source'), 2);
    const controller = new AbortController();
    let listening!: (line: string) => void;
    const started = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const exit = runCli(['serve', '--port', '0', '--max-worktrees', '1', '--allow-local-clone'], {
      stdout: { write: () => {} },
      stderr: {
        write: (text) => {
          if (text.includes('listening on')) listening(text);
        },
      },
      isTTY: false,
      color: false,
      cwd: root,
      env: { GITSWARM_DATA_DIR: join(root, 'data'), LOG_LEVEL: 'silent' },
      signal: controller.signal,
    });
    const line = await Promise.race([started, exit.then((code) => `exited ${code}`)]);
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
    expect(url, line).toBeDefined();
    try {
      const registered = await json(`${url}/api/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'owner' }),
      });
      const headers = {
        authorization: `Bearer ${registered.body.api_key}`,
        'content-type': 'application/json',
      };
      const repo = await json(`${url}/api/v1/repos`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'cloned', server_git: true, clone_url: source }),
      });
      expect(repo.status, JSON.stringify(repo.body)).toBe(201);
      const streams = `${url}/api/v1/repos/${repo.body.repo.id}/streams`;
      expect((await json(streams, { method: 'POST', headers, body: '{}' })).status).toBe(201);
      const second = await json(streams, { method: 'POST', headers, body: '{}' });
      expect(second.status).toBe(409);
      expect(second.body.error.code).toBe('worktree_limit');
    } finally {
      controller.abort();
    }
    expect(await exit).toBe(0);
    expect(
      await quietCli(['serve', '--port', '0', '--max-worktrees', '0'], {
        GITSWARM_DATA_DIR: join(root, 'd2'),
      }),
    ).toBe(2);
  });

  it('without --allow-local-clone a local path is refused', async () => {
    const controller = new AbortController();
    let listening!: (line: string) => void;
    const started = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const exit = runCli(['serve', '--port', '0'], {
      stdout: { write: () => {} },
      stderr: { write: (text) => void (text.includes('listening on') && listening(text)) },
      isTTY: false,
      color: false,
      cwd: root,
      env: { GITSWARM_DATA_DIR: join(root, 'data3'), LOG_LEVEL: 'silent' },
      signal: controller.signal,
    });
    const line = await Promise.race([started, exit.then((code) => `exited ${code}`)]);
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
    try {
      const registered = await json(`${url}/api/v1/agents`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'owner' }),
      });
      const headers = {
        authorization: `Bearer ${registered.body.api_key}`,
        'content-type': 'application/json',
      };
      const refused = await json(`${url}/api/v1/repos`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'cloned', server_git: true, clone_url: join(root, 'source') }),
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.hint).toMatch(/--allow-local-clone/);
    } finally {
      controller.abort();
    }
    expect(await exit).toBe(0);
  });
});
