/**
 * Mode C repositories: `POST /repos {server_git: true}` creates (or clones) a bare repository in
 * the data dir with the buffer branch; hostile clone URLs are refused before anything exists; a
 * failure half-way leaves no row and no directory; `remote_url` receives the buffer and main after
 * every merge, and a push missed while the upstream is down is made when it is back.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostingOptionsFromEnv } from '../../src/server/serve.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import type { TestAgent } from '../server/helpers.js';
import { git, type ModeC, makeSourceRepo, startModeC } from './mode-c-fixture.js';

async function repoCount(t: ModeC): Promise<number> {
  const rows = await t.store.db.selectFrom('gitswarm_repos').select('id').execute();
  return rows.length;
}

function hostedRepos(t: ModeC): string[] {
  const dir = join(t.dataDir, 'repos');
  return existsSync(dir) ? readdirSync(dir) : [];
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: server-held repositories (Mode C)`, () => {
    let t: ModeC;
    let owner: TestAgent;

    beforeAll(async () => {
      t = await startModeC(dialect);
      owner = await t.agent();
    });
    afterAll(async () => t?.close());

    it('creates a repository with one empty commit on main and the buffer at it', async () => {
      const created = await t.call(owner, 'POST', '/repos', { name: 'fresh', server_git: true });
      expect(created.status).toBe(201);
      const repo = created.body.repo;
      expect(repo.server_git).toBe(true);
      expect(repo.upstream).toBeUndefined();
      const dir = join(t.dataDir, 'repos', repo.id);
      expect(git(dir, 'rev-parse', '--is-bare-repository')).toBe('true');
      const main = git(dir, 'rev-parse', 'refs/heads/main');
      expect(git(dir, 'rev-parse', 'refs/heads/buffer')).toBe(main);
      expect(git(dir, 'rev-list', '--count', main)).toBe('1');
      expect(git(dir, 'ls-tree', main)).toBe('');
      const read = await t.call(owner, 'GET', `/repos/${repo.id}`);
      expect(read.body.repo.server_git).toBe(true);
      const row = await t.store.db
        .selectFrom('gitswarm_repos')
        .select(['path', 'buffer_baseline'])
        .where('id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(row.path).toBe(dir);
      expect(row.buffer_baseline).toBe(main);
    });

    it('a repository without server_git stays Mode B (no git, server_git false)', async () => {
      const created = await t.call(owner, 'POST', '/repos', { name: 'mode-b' });
      expect(created.status).toBe(201);
      expect(created.body.repo.server_git).toBe(false);
      expect(hostedRepos(t)).not.toContain(created.body.repo.id);
      const refused = await t.call(owner, 'POST', '/repos', {
        name: 'mode-b2',
        clone_url: 'https://example.com/x.git',
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/server_git/);
    });

    it('honours default_branch and buffer_branch for a new repository', async () => {
      const created = await t.call(owner, 'POST', '/repos', {
        name: 'trunk',
        server_git: true,
        default_branch: 'trunk',
        buffer_branch: 'staging',
      });
      expect(created.status).toBe(201);
      expect(created.body.repo.promote_target).toBe('trunk');
      expect(created.body.repo.buffer_branch).toBe('staging');
      const dir = join(t.dataDir, 'repos', created.body.repo.id);
      expect(git(dir, 'rev-parse', 'refs/heads/staging')).toBe(git(dir, 'rev-parse', 'refs/heads/trunk'));
    });

    it('refuses hostile clone URLs with 400 and creates nothing', async () => {
      const before = await repoCount(t);
      const dirsBefore = hostedRepos(t).length;
      const marker = join(t.scratch, 'pwned');
      const source = makeSourceRepo(join(t.scratch, 'local-source'));
      const hostile = [
        source, // a local path: not allowed on this server
        `file://${source}`,
        'ssh://git@example.com/repo.git',
        'git@example.com:repo.git',
        'git://example.com/repo.git',
        `--upload-pack=touch ${marker}`,
        `-u touch ${marker}`,
        `ext::sh -c touch% ${marker}`,
        'fd::17',
        `https://example.com/x.git --upload-pack=touch ${marker}`,
        'https://exa\nmple.com/x.git',
        '',
      ];
      for (const url of hostile) {
        const response = await t.call(owner, 'POST', '/repos', {
          name: `hostile-${Math.random().toString(16).slice(2, 8)}`,
          server_git: true,
          clone_url: url,
        });
        expect(response.status, url).toBe(400);
      }
      for (const url of [`ext::sh -c touch% ${marker}`, 'ssh://git@example.com/up.git', source]) {
        const response = await t.call(owner, 'POST', '/repos', {
          name: `hostile-remote-${Math.random().toString(16).slice(2, 8)}`,
          server_git: true,
          remote_url: url,
        });
        expect(response.status, url).toBe(400);
      }
      expect(existsSync(marker)).toBe(false);
      expect(await repoCount(t)).toBe(before);
      expect(hostedRepos(t).length).toBe(dirsBefore);
    });

    it('a clone that fails half-way leaves no row and no directory', async () => {
      const before = await repoCount(t);
      const dirsBefore = hostedRepos(t).length;
      const response = await t.call(owner, 'POST', '/repos', {
        name: 'unreachable',
        server_git: true,
        clone_url: 'http://127.0.0.1:1/nothing.git',
      });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(/clone/i);
      expect(await repoCount(t)).toBe(before);
      expect(hostedRepos(t).length).toBe(dirsBefore);
    });

    it('a taken name refused after the git step leaves no directory either', async () => {
      const dirsBefore = hostedRepos(t).length;
      const bad = await t.call(owner, 'POST', '/repos', {
        name: 'bad',
        server_git: true,
        buffer_branch: 'main',
      });
      expect(bad.status).toBe(400);
      expect(hostedRepos(t).length).toBe(dirsBefore);
    });
  });

  describe(`${dialectLabel(dialect)}: clones and upstream pushes (--allow-local-clone)`, () => {
    let t: ModeC;
    let owner: TestAgent;

    beforeAll(async () => {
      t = await startModeC(dialect, { hosting: { allowLocalClone: true } });
      owner = await t.agent();
    });
    afterAll(async () => t?.close());

    it('clones a local repository: its history, main as the promote target, the buffer at main', async () => {
      const source = makeSourceRepo(join(t.scratch, 'clone-source'), 3);
      const created = await t.call(owner, 'POST', '/repos', {
        name: 'cloned',
        server_git: true,
        clone_url: `file://${source}`,
      });
      expect(created.status).toBe(201);
      const dir = join(t.dataDir, 'repos', created.body.repo.id);
      expect(git(dir, 'rev-parse', 'refs/heads/main')).toBe(git(source, 'rev-parse', 'main'));
      expect(git(dir, 'rev-parse', 'refs/heads/buffer')).toBe(git(source, 'rev-parse', 'main'));
      expect(git(dir, 'remote')).toBe('');
      const missing = await t.call(owner, 'POST', '/repos', {
        name: 'cloned-missing-branch',
        server_git: true,
        clone_url: source,
        default_branch: 'nope',
      });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toMatch(/no branch nope/);
    });

    it('pushes buffer and main to remote_url after merges; a down upstream is recorded and caught up later', async () => {
      const upstream = join(t.scratch, 'upstream.git');
      git(t.scratch, 'init', '-q', '--bare', upstream);
      const created = await t.call(owner, 'POST', '/repos', {
        name: 'pushed',
        server_git: true,
        remote_url: upstream,
        merge_mode: 'swarm',
      });
      expect(created.status).toBe(201);
      const repo = created.body.repo;
      expect(repo.upstream.status).toBe('pending');
      const dir = join(t.dataDir, 'repos', repo.id);
      // The server's pushes run no hook of the repository's (git's own push does).
      const hookRan = join(t.scratch, 'pre-push-ran');
      mkdirSync(join(dir, 'hooks'), { recursive: true });
      writeFileSync(join(dir, 'hooks', 'pre-push'), `#!/bin/sh\necho ran >> '${hookRan}'\n`, { mode: 0o755 });
      git(dir, 'push', '-q', upstream, 'refs/heads/main:refs/heads/by-hand');
      expect(existsSync(hookRan)).toBe(true);
      rmSync(hookRan);

      // Swarm mode: every commit merges at once.
      const stream = (await t.call(owner, 'POST', `/repos/${repo.id}/streams`, {})).body.stream;
      const landChange = async (file: string) => {
        const written = await t.call(owner, 'PUT', `/streams/${stream.id}/files/${file}`, {
          content: `${file}\n`,
        });
        expect(written.status).toBe(201);
        const committed = await t.call(owner, 'POST', `/streams/${stream.id}/commits`, { message: file });
        expect(committed.status, JSON.stringify(committed.body)).toBe(201);
        expect(committed.body.merged).toBe(true);
        return committed.body.buffer_head as string;
      };
      const upstreamState = async (status: string) => {
        for (let i = 0; i < 200; i++) {
          const view = (await t.call(owner, 'GET', `/repos/${repo.id}`)).body.repo.upstream;
          if (view.status === status) return view;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        throw new Error(`upstream never became ${status}`);
      };

      const first = await landChange('one.txt');
      await upstreamState('ok');
      expect(git(upstream, 'rev-parse', 'refs/heads/buffer')).toBe(first);
      expect(existsSync(hookRan)).toBe(false);
      expect(git(upstream, 'rev-parse', 'refs/heads/main')).toBe(git(dir, 'rev-parse', 'refs/heads/main'));

      // The upstream goes away: the merge stands, the failure is recorded with a retry time.
      renameSync(upstream, `${upstream}.away`);
      const second = await landChange('two.txt');
      const failing = await upstreamState('failing');
      expect(failing.last_error).toBeTruthy();
      expect(failing.attempts).toBeGreaterThanOrEqual(1);
      expect(failing.next_at).toBeTruthy();
      expect(git(dir, 'rev-parse', 'refs/heads/buffer')).toBe(second);

      // Back: the next change pushes everything, the missed merge too.
      renameSync(`${upstream}.away`, upstream);
      const third = await landChange('three.txt');
      const ok = await upstreamState('ok');
      expect(ok).toEqual({ status: 'ok', last_error: null, attempts: 0, next_at: null });
      expect(git(upstream, 'rev-parse', 'refs/heads/buffer')).toBe(third);
      expect(git(upstream, 'merge-base', '--is-ancestor', second, 'refs/heads/buffer')).toBe('');

      // Down again, then a periodic retry (no new change) catches up once it is due.
      renameSync(upstream, `${upstream}.away`);
      const fourth = await landChange('four.txt');
      await upstreamState('failing');
      renameSync(`${upstream}.away`, upstream);
      await t.store.db
        .updateTable('gitswarm_repos')
        .set({ upstream_next_at: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', repo.id)
        .execute();
      await t.app.upstream.retryDue();
      await upstreamState('ok');
      expect(git(upstream, 'rev-parse', 'refs/heads/buffer')).toBe(fourth);
    });
  });
}

describe('what a clone may cost', () => {
  it('a clone_url larger than GITSWARM_MAX_CLONE_BYTES is refused with 413: no row, no directory left', async () => {
    const t = await startModeC('sqlite', { hosting: { allowLocalClone: true, maxCloneBytes: 256 * 1024 } });
    try {
      const owner = await t.agent();
      const source = makeSourceRepo(join(t.scratch, 'big-source'));
      // Random bytes do not compress: about 1 MiB arrives in the pack.
      writeFileSync(join(source, 'noise.bin'), randomBytes(1024 * 1024));
      git(source, 'add', '-A');
      git(source, 'commit', '-q', '-m', 'noise');
      const before = await repoCount(t);
      const refused = await t.call(owner, 'POST', '/repos', {
        name: 'too-big',
        server_git: true,
        clone_url: `file://${source}`,
      });
      expect(refused.status).toBe(413);
      expect(refused.body.error.code).toBe('payload_too_large');
      expect(refused.body.error.message).toMatch(/larger than this server takes/);
      expect(await repoCount(t)).toBe(before);
      expect(hostedRepos(t)).toEqual([]);

      const small = makeSourceRepo(join(t.scratch, 'small-source'));
      const taken = await t.call(owner, 'POST', '/repos', {
        name: 'small',
        server_git: true,
        clone_url: `file://${small}`,
      });
      expect(taken.status).toBe(201);
    } finally {
      await t.close();
    }
  });

  it('reads the limit from the environment in bytes, K, M or G', () => {
    expect(hostingOptionsFromEnv({ GITSWARM_MAX_CLONE_BYTES: '2G' }).hosting?.maxCloneBytes).toBe(
      2 * 1024 ** 3,
    );
    expect(hostingOptionsFromEnv({ GITSWARM_MAX_CLONE_BYTES: '512k' }).hosting?.maxCloneBytes).toBe(
      512 * 1024,
    );
    expect(hostingOptionsFromEnv({ GITSWARM_MAX_CLONE_BYTES: '1000' }).hosting?.maxCloneBytes).toBe(1000);
    for (const bad of ['0', '-1', '1.5G', 'lots', '9999999999999999G']) {
      expect(() => hostingOptionsFromEnv({ GITSWARM_MAX_CLONE_BYTES: bad }), bad).toThrow(
        /GITSWARM_MAX_CLONE_BYTES/,
      );
    }
    expect(hostingOptionsFromEnv({ GITSWARM_MAX_GIT_PROCESSES: '3' }).hosting?.maxGitProcesses).toBe(3);
    expect(() => hostingOptionsFromEnv({ GITSWARM_MAX_GIT_PROCESSES: '0' })).toThrow(
      /GITSWARM_MAX_GIT_PROCESSES/,
    );
  });
});
