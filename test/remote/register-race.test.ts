/**
 * The first `agent register` of a connected clone creates the server repository. Two clones of one
 * remote, both connected without --repo, registering at once create exactly one: the remote's
 * claim ref is the lock (src/remote/repo-claim.ts); the other clone joins the repository the
 * winner created, as a later clone does. A claim naming a repository the server does not have is
 * taken over.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIM_STALE_MS, claimRef, claimServerRepo } from '../../src/remote/repo-claim.js';
import { withCommandEnv } from '../../src/util/command-env.js';
import { recordGitCalls } from '../helpers/git-calls.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';

interface RegisterJson {
  agent: { id: string; name: string };
  server: { repo_id: string | null; created_repo: boolean };
}

const configRepoId = (clone: TestClone) =>
  (
    JSON.parse(readFileSync(join(clone.dir, '.gitswarm', 'config.json'), 'utf8')) as {
      server: { repo_id?: string };
    }
  ).server.repo_id;

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: concurrent first registers on two clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld({ bin: true });
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    const repoCount = async () => {
      const { repos } = (await (await fetch(`${server.url}/api/v1/repos`)).json()) as {
        repos: { id: string }[];
      };
      return repos.length;
    };

    it('two clones register at once (separate processes): one repository, both in it', async () => {
      const a = world.clone('one');
      const b = world.clone('two');
      expect((await a.run(['init', '--server', server.url])).code).toBe(0);
      expect((await b.run(['init', '--server', server.url])).code).toBe(0);
      const [ra, rb] = await Promise.all([
        a.run(['agent', 'register', 'alice', '--json']),
        b.run(['agent', 'register', 'bob', '--json']),
      ]);
      expect(ra.code, ra.stderr + ra.stdout).toBe(0);
      expect(rb.code, rb.stderr + rb.stdout).toBe(0);
      const [ja, jb] = [ra.json<RegisterJson>(), rb.json<RegisterJson>()];
      expect(ja.server.repo_id).not.toBeNull();
      expect(jb.server.repo_id).toBe(ja.server.repo_id);
      expect([ja.server.created_repo, jb.server.created_repo].sort()).toEqual([false, true]);
      expect(await repoCount()).toBe(1);
      expect(configRepoId(a)).toBe(ja.server.repo_id);
      expect(configRepoId(b)).toBe(ja.server.repo_id);
      // The winner owns it; the other agent is in it with the default access.
      const owner = ja.server.created_repo ? ja.agent : jb.agent;
      const { maintainers } = (await (
        await fetch(`${server.url}/api/v1/repos/${ja.server.repo_id}/maintainers`)
      ).json()) as { maintainers: { agent_id: string; role: string }[] };
      expect(maintainers).toEqual([expect.objectContaining({ agent_id: owner.id, role: 'owner' })]);
      // The claim on the remote names it.
      expect(a.git(['ls-remote', 'origin', claimRef(server.url)])).not.toBe('');

      // A third clone without --repo joins it too.
      const c = world.clone('three');
      expect((await c.run(['init', '--server', server.url])).code).toBe(0);
      const rc = await c.run(['agent', 'register', 'carol', '--json']);
      expect(rc.code, rc.stderr).toBe(0);
      expect(rc.json<RegisterJson>().server).toMatchObject({
        repo_id: ja.server.repo_id,
        created_repo: false,
      });
      expect(await repoCount()).toBe(1);
    });
  });
}

describe('the remote’s claim on the server repository', () => {
  const url = 'http://gitswarm.example:3000';
  let world: ModeBWorld;
  beforeAll(() => {
    world = new ModeBWorld();
  });
  afterAll(() => world?.close());

  it('a claim naming a repository the server lacks, or a stale pending one, is taken over; a live one is joined', async () => {
    const a = world.clone('claim-a');
    const b = world.clone('claim-b');
    const known = new Set<string>();
    let made = 0;
    const input = (root: string, now = Date.now) => ({
      root,
      remote: 'origin',
      serverUrl: url,
      now,
      create: async () => {
        made += 1;
        const id = `repo-${made}`;
        known.add(id);
        return id;
      },
      exists: async (id: string) => known.has(id),
    });
    const first = await claimServerRepo(input(a.dir));
    expect(first).toEqual({ id: 'repo-1', created: true });
    expect(await claimServerRepo(input(b.dir))).toEqual({ id: 'repo-1', created: false });

    // The server lost it (another server at that URL): the next clone creates one and says so.
    known.clear();
    expect(await claimServerRepo(input(b.dir))).toEqual({ id: 'repo-2', created: true });
    expect(await claimServerRepo(input(a.dir))).toEqual({ id: 'repo-2', created: false });

    // A creation that fails releases the claim: the next clone creates it.
    known.clear();
    const failing = { ...input(a.dir), create: async () => Promise.reject(new Error('server said no')) };
    await expect(claimServerRepo(failing)).rejects.toThrow('server said no');
    expect(await claimServerRepo(input(b.dir))).toEqual({ id: 'repo-3', created: true });
    expect(made).toBe(3);

    // A pending claim of a clone that died is taken over once stale.
    const c = world.clone('claim-c');
    const ref = claimRef(url);
    c.git(['push', '-q', 'origin', '--delete', ref]);
    const hung = { ...input(c.dir), create: () => new Promise<string>(() => {}) };
    void claimServerRepo(hung);
    // Its pending claim reaches the remote; it never names a repository.
    for (let i = 0; i < 200 && c.git(['ls-remote', 'origin', ref]) === ''; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(c.git(['ls-remote', 'origin', ref])).not.toBe('');
    const later = () => Date.now() + CLAIM_STALE_MS + 60_000;
    expect(await claimServerRepo(input(a.dir, later))).toEqual({ id: 'repo-4', created: true });
  }, 180_000);

  it('writes its claim commits and their empty tree as git would, without a git process: the repository named', async () => {
    const d = world.clone('claim-d');
    const server = 'http://other.example:4000';
    const calls = recordGitCalls();
    const claimed = await withCommandEnv(calls.env, () =>
      claimServerRepo({
        root: d.dir,
        remote: 'origin',
        serverUrl: server,
        create: async () => 'repo-d',
        exists: async () => false,
      }),
    );
    expect(claimed).toEqual({ id: 'repo-d', created: true });
    // The empty tree, the pending and the named claim commits: all written in-process.
    expect(calls.calls().filter((call) => /^(hash-object|cat-file|commit-tree|mktree)/.test(call))).toEqual(
      [],
    );
    const ref = claimRef(server);
    const named = execFileSync('git', ['rev-parse', ref], { cwd: world.bare, encoding: 'utf8' }).trim();
    const text = execFileSync('git', ['cat-file', 'commit', named], { cwd: world.bare, encoding: 'utf8' });
    expect(text).toMatch(/^tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent [0-9a-f]{40}\n/);
    expect(text).toContain('Repo: repo-d\n');
    expect(
      execFileSync('git', ['cat-file', 'commit', `${named}^`], { cwd: world.bare, encoding: 'utf8' }),
    ).toContain('Repo: pending\n');
    execFileSync('git', ['fsck', '--strict', '--no-dangling'], { cwd: world.bare, stdio: 'pipe' });
    // Another clone joins it, reading the claim.
    const e = world.clone('claim-e');
    expect(
      await claimServerRepo({
        root: e.dir,
        remote: 'origin',
        serverUrl: server,
        create: async () => 'never',
        exists: async (id) => id === 'repo-d',
      }),
    ).toEqual({ id: 'repo-d', created: false });
  });
});
