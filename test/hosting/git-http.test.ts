/**
 * Read-only git over smart HTTP (src/hosting/git-http.ts) with a real `git` client against a
 * listening app: clone and fetch of public and private server-held repositories, with and
 * without keys (Bearer and Basic), pushes refused, and hostile requests (other repositories,
 * path traversal, receive-pack, oversized and gzip bodies). Also GET /repos/:id/clone-url.
 */
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_REQUEST_LIMIT } from '../../src/hosting/git-http.js';
import { normalizePublicUrl } from '../../src/server/routes/clone.js';
import { serverConfigFromEnv } from '../../src/server/serve.js';
import { makeRepo, TEST_ENV, type TestRepo } from '../helpers/git-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from '../server/helpers.js';

const execFileAsync = promisify(execFile);

/** git as a client would run it: no prompts, no credential helpers, no user config. */
async function gitClient(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('git', args, {
      cwd,
      env: { ...process.env, ...TEST_ENV, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === 'number' ? failed.code : 1,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? '',
    };
  }
}

/** The `error` of a JSON error body. */
async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  return ((await response.json()) as { error: { code: string; message: string } }).error;
}

/** Sends raw bytes as one HTTP request and returns the status line (for URLs clients would normalise). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: git over smart HTTP (read-only)`, () => {
    let t: TestApp;
    let base: string;
    let port: number;
    let owner: TestAgent;
    let reader: TestAgent;
    let stranger: TestAgent;
    let source: TestRepo;
    let work: TestRepo;
    let publicId: string;
    let privateId: string;
    let modeBId: string;

    /** A repository row whose git is `dir`, held by the server. */
    async function serverHeld(dir: string, settings: Record<string, unknown>): Promise<string> {
      const repo = await createTestRepo(t.app, owner, settings);
      await t.store.db
        .updateTable('gitswarm_repos')
        .set({ server_git: true, path: dir })
        .where('id', '=', repo.id)
        .execute();
      return repo.id;
    }

    beforeAll(async () => {
      t = await startTestApp(dialect);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      port = (t.app.server.address() as { port: number }).port;
      base = `http://127.0.0.1:${port}`;
      owner = await registerTestAgent(t.app);
      reader = await registerTestAgent(t.app);
      stranger = await registerTestAgent(t.app);
      source = await makeRepo();
      await source.branch('buffer');
      await source.commitOn('buffer', { 'feature.txt': 'on the buffer\n' }, 'a merged stream\n');
      work = await makeRepo();
      publicId = await serverHeld(source.dir, {});
      privateId = await serverHeld(source.dir, { is_private: true });
      const grant = await t.app.inject({
        method: 'POST',
        url: `/api/v1/repos/${privateId}/access`,
        headers: owner.headers,
        payload: { agent_id: reader.id, access_level: 'read' },
      });
      expect(grant.statusCode).toBe(201);
      modeBId = (await createTestRepo(t.app, owner)).id;
    });
    afterAll(async () => {
      await t.close();
      source.cleanup();
      work.cleanup();
    });

    const cloneUrl = async (id: string, agent: TestAgent | null = owner) => {
      const response = await t.app.inject({
        url: `/api/v1/repos/${id}/clone-url`,
        headers: { host: `127.0.0.1:${port}`, ...(agent?.headers ?? {}) },
      });
      expect(response.statusCode).toBe(200);
      return (response.json() as { url: string }).url;
    };

    it('clones a public repository anonymously; the clone holds main and the buffer', async () => {
      const url = await cloneUrl(publicId, null);
      expect(url).toBe(`${base}/git/${publicId}.git`);
      const dest = work.tempPath('public-clone');
      const clone = await gitClient(['clone', '-q', url, dest], work.dir);
      expect(clone.stderr).toBe('');
      expect(clone.code).toBe(0);
      const head = await gitClient(['rev-parse', 'HEAD', 'origin/buffer'], dest);
      expect(head.stdout.trim().split('\n')).toEqual([await source.rev('main'), await source.rev('buffer')]);
      const tree = await gitClient(['ls-tree', '-r', '--name-only', 'origin/buffer'], dest);
      expect(tree.stdout.trim().split('\n').sort()).toEqual(['README.md', 'feature.txt', 'lines.txt']);
    });

    it('fetches new commits into an existing clone (protocol v0 and v2)', async () => {
      const url = await cloneUrl(publicId, null);
      for (const version of ['0', '2']) {
        const dest = work.tempPath(`fetch-clone-v${version}`);
        expect(
          (await gitClient(['-c', `protocol.version=${version}`, 'clone', '-q', url, dest], work.dir)).code,
        ).toBe(0);
        const added = await source.commitOn('buffer', { [`v${version}.txt`]: `fetched over v${version}\n` });
        const fetch = await gitClient(['-c', `protocol.version=${version}`, 'fetch', '-q', 'origin'], dest);
        expect(fetch.code).toBe(0);
        expect((await gitClient(['rev-parse', 'origin/buffer'], dest)).stdout.trim()).toBe(added);
        expect((await gitClient(['show', `origin/buffer:v${version}.txt`], dest)).stdout).toBe(
          `fetched over v${version}\n`,
        );
      }
    });

    it('a private repository: anonymous and wrong keys fail, a reader clones with Bearer or Basic', async () => {
      const url = await cloneUrl(privateId, reader);
      const anonymous = await gitClient(['clone', '-q', url, work.tempPath('priv-anon')], work.dir);
      expect(anonymous.code).not.toBe(0);
      expect(anonymous.stderr).toMatch(/could not read Username|Authentication failed|401/);

      const wrongKey = `gs_${'A'.repeat(43)}`;
      const wrong = await gitClient(
        [
          '-c',
          `http.extraHeader=Authorization: Bearer ${wrongKey}`,
          'clone',
          '-q',
          url,
          work.tempPath('priv-wrong'),
        ],
        work.dir,
      );
      expect(wrong.code).not.toBe(0);

      const noAccess = await gitClient(
        [
          '-c',
          `http.extraHeader=Authorization: Bearer ${stranger.key}`,
          'clone',
          '-q',
          url,
          work.tempPath('priv-stranger'),
        ],
        work.dir,
      );
      expect(noAccess.code).not.toBe(0);
      expect(noAccess.stderr).toMatch(/403/);

      const bearerDest = work.tempPath('priv-bearer');
      const bearer = await gitClient(
        ['-c', `http.extraHeader=Authorization: Bearer ${reader.key}`, 'clone', '-q', url, bearerDest],
        work.dir,
      );
      expect(bearer.code).toBe(0);
      expect((await gitClient(['rev-parse', 'HEAD'], bearerDest)).stdout.trim()).toBe(
        await source.rev('main'),
      );

      // git's credential flow: anonymous first, 401 with WWW-Authenticate, then the key as password.
      const basicDest = work.tempPath('priv-basic');
      const withCredentials = url.replace('http://', `http://agent:${reader.key}@`);
      const basic = await gitClient(['clone', '-q', withCredentials, basicDest], work.dir);
      expect(basic.code).toBe(0);
      expect((await gitClient(['rev-parse', 'origin/buffer'], basicDest)).stdout.trim()).toBe(
        await source.rev('buffer'),
      );
      const basicWrong = await gitClient(
        [
          'clone',
          '-q',
          url.replace('http://', `http://agent:${wrongKey}@`),
          work.tempPath('priv-basic-wrong'),
        ],
        work.dir,
      );
      expect(basicWrong.code).not.toBe(0);

      // HTTP Basic counts only on the git routes: the API itself takes the key as Bearer.
      const basicHeader = { authorization: `Basic ${Buffer.from(`agent:${reader.key}`).toString('base64')}` };
      expect((await fetch(`${url}/info/refs?service=git-upload-pack`, { headers: basicHeader })).status).toBe(
        200,
      );
      expect((await fetch(`${base}/api/v1/repos/${privateId}`, { headers: basicHeader })).status).toBe(401);

      const raw = await fetch(`${url}/info/refs?service=git-upload-pack`);
      expect(raw.status).toBe(401);
      expect(raw.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect((await errorOf(raw)).code).toBe('unauthorized');
    });

    it('refuses pushes: git push fails and no ref moves; receive-pack answers 403 forbidden', async () => {
      const dest = work.tempPath('push-clone');
      const url = await cloneUrl(publicId, null);
      expect((await gitClient(['clone', '-q', url, dest], work.dir)).code).toBe(0);
      await gitClient(['commit', '-q', '--allow-empty', '-m', 'pushed'], dest);
      const before = await source.run(['for-each-ref', '--format=%(refname) %(objectname)']);
      for (const headers of [[], ['-c', `http.extraHeader=Authorization: Bearer ${owner.key}`]]) {
        const push = await gitClient(
          [...headers, 'push', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/pushed'],
          dest,
        );
        expect(push.code).not.toBe(0);
        expect(push.stderr).toMatch(/403/);
      }
      expect(await source.run(['for-each-ref', '--format=%(refname) %(objectname)'])).toBe(before);

      const advert = await fetch(`${url}/info/refs?service=git-receive-pack`, { headers: owner.headers });
      expect(advert.status).toBe(403);
      expect((await errorOf(advert)).code).toBe('forbidden');
      const post = await fetch(`${url}/git-receive-pack`, {
        method: 'POST',
        headers: { ...owner.headers, 'content-type': 'application/x-git-receive-pack-request' },
        body: '0000',
      });
      expect(post.status).toBe(403);
      expect((await errorOf(post)).code).toBe('forbidden');
    });

    it('serves only server-held repositories, by exact id; no path in the URL reaches the disk', async () => {
      const notFound = async (path: string, init: RequestInit = {}) => {
        const response = await fetch(`${base}${path}`, init);
        expect(response.status, path).toBe(404);
        expect((await errorOf(response)).code, path).toMatch(/not_found$/);
      };
      await notFound(`/git/${modeBId}.git/info/refs?service=git-upload-pack`);
      await notFound(`/git/00000000-0000-4000-8000-000000000000.git/info/refs?service=git-upload-pack`);
      await notFound(`/git/..%2F..%2F..%2Fetc.git/info/refs?service=git-upload-pack`);
      await notFound(`/git/${encodeURIComponent(source.dir)}/info/refs?service=git-upload-pack`);
      await notFound(`/git/${publicId}.git/HEAD`);
      await notFound(`/git/${publicId}.git/objects/info/packs`);
      await notFound(`/git/${publicId}.git/info/refs`); // the dumb protocol
      await notFound(`/git/${publicId}.git/info/refs?service=git-upload-archive`);
      // Paths a client would normalise, sent as-is.
      for (const path of [
        `/git/${publicId}.git/../../../etc/passwd`,
        `/git/${publicId}.git/info/../../${privateId}.git/info/refs?service=git-upload-pack`,
        `/git/%2e%2e/%2e%2e/info/refs?service=git-upload-pack`,
      ]) {
        const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(answer.split('\r\n')[0], path).toBe('HTTP/1.1 404 Not Found');
      }
      // Another repository's id: the private one stays closed to a key without access.
      const other = await fetch(`${base}/git/${privateId}.git/info/refs?service=git-upload-pack`, {
        headers: stranger.headers,
      });
      expect(other.status).toBe(403);
      expect((await errorOf(other)).code).toBe('forbidden');
    });

    it('takes a gzip upload-pack request (as git sends large fetches) and refuses oversized bodies', async () => {
      const main = await source.rev('main');
      const want = `want ${main} side-band-64k\n`;
      const pkt = `${(want.length + 4).toString(16).padStart(4, '0')}${want}00000009done\n`;
      const gz = await fetch(`${base}/git/${publicId}.git/git-upload-pack`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-git-upload-pack-request', 'content-encoding': 'gzip' },
        body: gzipSync(pkt),
      });
      expect(gz.status).toBe(200);
      expect(gz.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
      const packBytes = Buffer.from(await gz.arrayBuffer());
      expect(packBytes.includes(Buffer.from('PACK'))).toBe(true);

      const declared = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${base}/git/${publicId}.git/git-upload-pack`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-git-upload-pack-request',
            'content-length': String(GIT_REQUEST_LIMIT + 1),
          },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.write('0000');
      });
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.body).error.code).toBe('payload_too_large');

      // Chunked, no length: counted as it streams; the backend is killed past the limit.
      const chunked = await new Promise<{ status: number; body: string } | 'reset'>((resolve) => {
        const req = httpRequest(`${base}/git/${publicId}.git/git-upload-pack`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-git-upload-pack-request',
            'transfer-encoding': 'chunked',
          },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        req.on('error', () => resolve('reset'));
        const line = `0032have ${'0'.repeat(40)}\n`;
        const chunk = Buffer.from(line.repeat(Math.ceil((1024 * 1024) / line.length)));
        let sent = 0;
        const pump = () => {
          while (sent <= GIT_REQUEST_LIMIT + chunk.length) {
            sent += chunk.length;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      expect(chunked).not.toBe('reset');
      if (chunked !== 'reset') {
        expect(chunked.status).toBe(413);
        expect(JSON.parse(chunked.body).error.code).toBe('payload_too_large');
      }
      // The server still answers afterwards.
      const after = await fetch(`${base}/git/${publicId}.git/info/refs?service=git-upload-pack`);
      expect(after.status).toBe(200);

      const json = await fetch(`${base}/git/${publicId}.git/git-upload-pack`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(json.status).toBe(415);
      expect((await errorOf(json)).code).toBe('unsupported_media_type');
    });

    it('GET /repos/:id/clone-url: from the request host, the forwarded one only with trustProxy, 409 for Mode B', async () => {
      const proxied = await t.app.inject({
        url: `/api/v1/repos/${publicId}/clone-url`,
        headers: { host: 'internal:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
      });
      expect(proxied.json()).toEqual({ url: `http://internal:3000/git/${publicId}.git` });

      const modeB = await t.app.inject({ url: `/api/v1/repos/${modeBId}/clone-url`, headers: owner.headers });
      expect(modeB.statusCode).toBe(409);
      expect(modeB.json().error.code).toBe('invalid_state');

      const anonymousPrivate = await t.app.inject({ url: `/api/v1/repos/${privateId}/clone-url` });
      expect(anonymousPrivate.statusCode).toBe(401);
      const strangerPrivate = await t.app.inject({
        url: `/api/v1/repos/${privateId}/clone-url`,
        headers: stranger.headers,
      });
      expect(strangerPrivate.statusCode).toBe(403);
    });
  });
}

describe('clone URLs behind a proxy', () => {
  it('uses X-Forwarded-Proto and -Host with trustProxy, and a configured public URL over both', async () => {
    const behind = await startTestApp('sqlite', { trustProxy: true });
    const configured = await startTestApp('sqlite', { publicUrl: 'https://git.example.org/swarm/' });
    try {
      for (const t of [behind, configured]) {
        const owner = await registerTestAgent(t.app);
        const repo = await createTestRepo(t.app, owner);
        await t.store.db
          .updateTable('gitswarm_repos')
          .set({ server_git: true })
          .where('id', '=', repo.id)
          .execute();
        const response = await t.app.inject({
          url: `/api/v1/repos/${repo.id}/clone-url`,
          headers: {
            host: 'internal:3000',
            'x-forwarded-proto': 'https',
            'x-forwarded-host': 'git.proxy.test',
          },
        });
        expect(response.json().url).toBe(
          t === behind
            ? `https://git.proxy.test/git/${repo.id}.git`
            : `https://git.example.org/swarm/git/${repo.id}.git`,
        );
      }
      expect(serverConfigFromEnv({ GITSWARM_PUBLIC_URL: 'https://git.example.org' }).app?.publicUrl).toBe(
        'https://git.example.org',
      );
      expect(serverConfigFromEnv({}).app?.publicUrl).toBeUndefined();
      expect(() => normalizePublicUrl('ftp://x')).toThrow(/public URL/);
      expect(() => normalizePublicUrl('https://u:p@x')).toThrow(/public URL/);
      expect(() => normalizePublicUrl('not a url')).toThrow(/not a URL/);
    } finally {
      await behind.close();
      await configured.close();
    }
  });
});

describe('git transfers at once', () => {
  it('bounds running backends per client and in all: one more is 429 with Retry-After, freed when a transfer ends', async () => {
    const t = await startTestApp('sqlite', { hosting: { maxGitProcesses: 2, maxGitProcessesPerClient: 1 } });
    const source = await makeRepo();
    const held: Array<ReturnType<typeof httpRequest>> = [];
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
      const owner = await registerTestAgent(t.app);
      const other = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      await t.store.db
        .updateTable('gitswarm_repos')
        .set({ server_git: true, path: source.dir })
        .where('id', '=', repo.id)
        .execute();
      const refs = `${base}/git/${repo.id}.git/info/refs?service=git-upload-pack`;
      const headersOf = (agent: TestAgent | null) =>
        agent ? { authorization: agent.headers.authorization } : {};
      // A fetch whose body never ends: its backend waits for the rest, holding its slot. A poll of
      // the test's may hold the place for a moment; a hold refused then (429) is made again.
      const hold = (agent: TestAgent | null) => {
        const req = httpRequest(`${base}/git/${repo.id}.git/git-upload-pack`, {
          method: 'POST',
          headers: {
            ...headersOf(agent),
            'content-type': 'application/x-git-upload-pack-request',
            'content-length': '1000',
          },
        });
        req.on('error', () => {});
        req.on('response', (res) => {
          res.resume();
          held.splice(held.indexOf(req), 1);
          setTimeout(() => hold(agent), 25);
        });
        req.write('0032'); // the length of a line that never comes: upload-pack waits for it
        held.push(req);
      };
      /** Polls GET info/refs as `agent` until it answers `status` (a held request takes a moment to spawn). */
      const until = async (agent: TestAgent | null, status: number) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const response = await fetch(refs, { headers: headersOf(agent) });
          if (response.status === status || Date.now() > deadline) return response;
          await response.arrayBuffer();
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };

      hold(null);
      const perClient = await until(null, 429);
      expect(perClient.status).toBe(429);
      expect(perClient.headers.get('retry-after')).toBe('2');
      expect((await errorOf(perClient)).message).toMatch(/per client/);
      // Another client still gets one of the two places (a transfer holds it until its body is read).
      const another = await fetch(refs, { headers: headersOf(owner) });
      expect(another.status).toBe(200);
      await another.arrayBuffer();

      hold(owner);
      expect((await until(owner, 429)).status).toBe(429);
      const full = await fetch(refs, { headers: headersOf(other) });
      expect(full.status).toBe(429);
      expect((await errorOf(full)).code).toBe('rate_limited');
      expect((await errorOf(await fetch(refs, { headers: headersOf(other) }))).message).toMatch(
        /as many git/,
      );

      // The held transfers end (the clients go away): their places are free again.
      for (const req of held.splice(0)) req.destroy();
      expect((await until(other, 200)).status).toBe(200);
      expect((await until(null, 200)).status).toBe(200);
    } finally {
      for (const req of held) req.destroy();
      await t.close();
      source.cleanup();
    }
  });
});
