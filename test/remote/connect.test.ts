/**
 * Connecting clones to a real server (Mode B): `init --server`, the first `agent register`
 * creating the server repository with its owner, joining with `--repo`, `agent login`, keys in
 * the credentials file (0600, never in the repository), and the failures: a server that is down
 * (exit 4), a wrong URL, a wrong key (exit 1 unauthorized with a hint), a missing git remote.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestServer } from './helpers.js';

interface ErrorBody {
  error: { code: string; message: string; hint?: string };
}

/** Every file under `dir` (following no symlinks), for "the key is written nowhere in it". */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: connecting clones`, () => {
    let server: TestServer;
    let world: ModeBWorld;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
    });
    afterAll(async () => {
      world?.close();
      await server?.close();
    });

    it('init --server, the first register creates the server repository with its owner, a second clone joins', async () => {
      const a = world.clone('laptop');
      const init = await a.run(['init', '--server', server.url, '--mode', 'review', '--json']);
      expect(init.code, init.stderr + init.stdout).toBe(0);
      expect(init.json<{ server: unknown }>().server).toEqual({
        url: server.url,
        repo_id: null,
        remote: 'origin',
      });
      const config = JSON.parse(readFileSync(join(a.dir, '.gitswarm', 'config.json'), 'utf8'));
      expect(config.server).toEqual({ url: server.url, remote: 'origin' });

      // Before any agent: the clone says what to do next.
      const early = await a.run(['agent', 'list', '--json']);
      expect(early.code).toBe(3);
      expect(early.json<ErrorBody>().error.code).toBe('not_initialized');
      expect(early.json<ErrorBody>().error.hint).toContain('agent register');

      const reg = await a.run(['agent', 'register', 'alice', '--json']);
      expect(reg.code, reg.stderr + reg.stdout).toBe(0);
      const registered = reg.json<{
        agent: { id: string; name: string; role: string | null };
        api_key: string;
        credentials: string;
        server: { url: string; repo_id: string; created_repo: boolean };
      }>();
      expect(registered.agent.name).toBe('alice');
      expect(registered.agent.role).toBe('owner');
      expect(registered.api_key).toMatch(/^gs_/);
      expect(registered.server.created_repo).toBe(true);
      expect(registered.credentials).toBe(a.credentialsFile);

      // The server has the repository, with the clone's settings and alice as owner.
      const repoId = registered.server.repo_id;
      const repo = (await (await fetch(`${server.url}/api/v1/repos/${repoId}`)).json()) as {
        repo: { merge_mode: string; buffer_branch: string };
      };
      expect(repo.repo.merge_mode).toBe('review');
      expect(repo.repo.buffer_branch).toBe('buffer');
      const maintainers = (await (
        await fetch(`${server.url}/api/v1/repos/${repoId}/maintainers`)
      ).json()) as {
        maintainers: { agent_name: string; role: string }[];
      };
      expect(maintainers.maintainers).toEqual([
        expect.objectContaining({ agent_name: 'alice', role: 'owner' }),
      ]);
      expect(JSON.parse(readFileSync(join(a.dir, '.gitswarm', 'config.json'), 'utf8')).server.repo_id).toBe(
        repoId,
      );

      // The key: in the credentials file (0600, folder 0700), in no file of the clone.
      expect(statSync(a.credentialsFile).mode & 0o777).toBe(0o600);
      expect(statSync(join(a.configHome, 'gitswarm')).mode & 0o777).toBe(0o700);
      const saved = JSON.parse(readFileSync(a.credentialsFile, 'utf8'));
      expect(saved.servers[server.url].agents).toEqual([
        expect.objectContaining({
          agent_id: registered.agent.id,
          agent_name: 'alice',
          api_key: registered.api_key,
        }),
      ]);
      expect(readdirSync(join(a.configHome, 'gitswarm'))).toEqual(['credentials.json']);
      const leaking = filesUnder(a.dir).filter((file) => readFileSync(file).includes(registered.api_key));
      expect(leaking).toEqual([]);

      // Acting as alice uses her saved key.
      const me = await a.run(['agent', 'show', 'alice', '--as', 'alice', '--json']);
      expect(me.code, me.stderr + me.stdout).toBe(0);
      expect(me.json<{ agent: { role: string; access: string } }>().agent).toMatchObject({
        role: 'owner',
        access: 'admin',
      });

      // The shared buffer moved on the remote (a merge another clone pushed).
      a.git(['checkout', '-q', '-b', 'pushed-merge']);
      a.git(['commit', '-q', '--allow-empty', '-m', 'merged work']);
      const sharedBuffer = a.git(['rev-parse', 'HEAD']);
      a.git(['push', '-q', 'origin', 'pushed-merge:buffer']);
      a.git(['checkout', '-q', 'main']);

      // A second machine joins by name and registers bob: no new repository, no role.
      const b = world.clone('ci-runner');
      // The server repository took the clone's directory name.
      const join2 = await b.run(['init', '--server', server.url, '--repo', 'LAPTOP', '--json']);
      expect(join2.code, join2.stderr + join2.stdout).toBe(0);
      expect(join2.json<{ server: { repo_id: string } }>().server.repo_id).toBe(repoId);
      // Its buffer starts where the shared one is, not at main.
      expect(b.git(['rev-parse', 'buffer'])).toBe(sharedBuffer);
      expect(b.git(['rev-parse', 'main'])).not.toBe(sharedBuffer);
      const bob = await b.run(['agent', 'register', 'bob', '--json']);
      expect(bob.code, bob.stderr).toBe(0);
      expect(bob.json<{ agent: { role: null }; server: { created_repo: boolean } }>()).toMatchObject({
        agent: { role: null },
        server: { repo_id: repoId, created_repo: false },
      });
      const list = await b.run(['agent', 'list', '--json']);
      expect(list.code, list.stderr).toBe(0);
      const agents = list.json<{ agents: { name: string; role: string | null }[] }>().agents;
      expect(agents.map((agent) => [agent.name, agent.role])).toEqual(
        expect.arrayContaining([
          ['alice', 'owner'],
          ['bob', null],
        ]),
      );

      // A third machine logs in as alice with her key; a wrong name for the key is refused.
      const c = world.clone('desktop');
      expect((await c.run(['init', '--server', server.url, '--repo', repoId])).code).toBe(0);
      const wrongName = await c.run(['agent', 'login', 'bob', '--api-key', registered.api_key, '--json']);
      expect(wrongName.code).toBe(2);
      expect(wrongName.json<ErrorBody>().error.message).toContain('belongs to alice');
      const login = await c.run(['agent', 'login', 'alice', '--api-key', registered.api_key]);
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toContain('Saved the API key of alice');
      expect(login.stdout).not.toContain(registered.api_key);
      expect(statSync(c.credentialsFile).mode & 0o777).toBe(0o600);
      const shown = await c.run(['agent', 'show', 'bob', '--as', 'alice', '--json']);
      expect(shown.code, shown.stderr).toBe(0);

      // init again: nothing changes, and the connection is shown.
      const again = await c.run(['init', '--json']);
      expect(again.code).toBe(0);
      expect(again.json<{ created: boolean; server: { repo_id: string } }>()).toMatchObject({
        created: false,
        server: { repo_id: repoId },
      });
    });

    it('a wrong key is refused: exit 1 unauthorized, with a hint naming agent login', async () => {
      const clone = world.clone();
      expect((await clone.run(['init', '--server', server.url])).code).toBe(0);
      expect((await clone.run(['agent', 'register', `owner-${dialect}`])).code).toBe(0);
      const wrong = `gs_${'A'.repeat(43)}`;
      const json = await clone.run(['agent', 'list', '--api-key', wrong, '--json']);
      expect(json.code).toBe(1);
      expect(json.json<ErrorBody>().error.code).toBe('unauthorized');
      expect(json.json<ErrorBody>().error.hint).toContain('gitswarm agent login');
      const text = await clone.run(['agent', 'list'], { env: { GITSWARM_API_KEY: wrong } });
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/^error: .*refused the API key/m);
      expect(text.stderr).toMatch(/^hint: .*agent login/m);
      // A login with a wrong key saves nothing.
      const login = await clone.run(['agent', 'login', 'nobody', '--api-key', wrong]);
      expect(login.code).toBe(1);
    });

    it('a missing git remote is refused before anything is written', async () => {
      const clone = world.clone();
      const run = await clone.run(['init', '--server', server.url, '--remote', 'upstream', '--json']);
      expect(run.code).toBe(2);
      expect(run.json<ErrorBody>().error.message).toContain('upstream');
      expect(existsSync(join(clone.dir, '.gitswarm'))).toBe(false);
    });

    it('a Mode A repository is not silently connected: init --server points to sync --server', async () => {
      const clone = world.clone();
      expect((await clone.run(['init'])).code).toBe(0);
      const run = await clone.run(['init', '--server', server.url, '--json']);
      expect(run.code).toBe(1);
      expect(run.json<ErrorBody>().error.hint).toContain('sync --server');
    });
  });
}

describe('servers that cannot be used', () => {
  let world: ModeBWorld;
  beforeAll(() => {
    world = new ModeBWorld();
  });
  afterAll(() => world?.close());

  it('a server that is down: exit 4 server_unreachable, nothing written', async () => {
    const clone = world.clone();
    const url = `http://127.0.0.1:${await freePort()}`;
    const json = await clone.run(['init', '--server', url, '--json']);
    expect(json.code).toBe(4);
    expect(json.json<ErrorBody>().error.code).toBe('server_unreachable');
    expect(json.json<ErrorBody>().error.message).toContain(url);
    expect(existsSync(join(clone.dir, '.gitswarm'))).toBe(false);
    const text = await clone.run(['init'], { env: { GITSWARM_SERVER: url } });
    expect(text.code).toBe(4);
    expect(text.stderr).toMatch(/^hint: /m);
  });

  it('a connected clone whose server went away: exit 4', async () => {
    const server = await startTestServer('sqlite');
    const clone = world.clone();
    try {
      expect((await clone.run(['init', '--server', server.url])).code).toBe(0);
      expect((await clone.run(['agent', 'register', 'alice'])).code).toBe(0);
      await server.stop();
      const run = await clone.run(['agent', 'list', '--json']);
      expect(run.code).toBe(4);
      expect(run.json<ErrorBody>().error.code).toBe('server_unreachable');
      await server.start();
      expect((await clone.run(['agent', 'list'])).code).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a malformed URL is bad input (exit 2)', async () => {
    const clone = world.clone();
    for (const url of ['not a url', 'ftp://example.com', 'http://user:pw@127.0.0.1:1']) {
      const run = await clone.run(['init', '--server', url, '--json']);
      expect(run.code, url).toBe(2);
      expect(run.json<ErrorBody>().error.code).toBe('invalid_input');
    }
  });
});

describe('the built binary, connected', () => {
  it('connects, registers, lists, and shows an unreachable server in status', async () => {
    const server = await startTestServer('sqlite');
    const world = new ModeBWorld({ bin: true });
    try {
      const clone = world.clone();
      expect((await clone.run(['init', '--server', server.url])).code).toBe(0);
      const reg = await clone.run(['agent', 'register', 'alice', '--json']);
      expect(reg.code, reg.stderr).toBe(0);
      expect(reg.json<{ agent: { role: string } }>().agent.role).toBe('owner');
      const list = await clone.run(['agent', 'list']);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^alice\s+owner/m);
      const down = await clone.run(['status', '--json'], { env: { GITSWARM_SERVER: 'http://127.0.0.1:1' } });
      expect(down.code).toBe(0);
      expect(down.json<{ server: { reachable: boolean } }>().server.reachable).toBe(false);
    } finally {
      world.close();
      await server.close();
    }
  });
});
