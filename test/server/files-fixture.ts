/**
 * Mode C files API tests: a server with a data dir, a server-held repository and streams in it,
 * and raw HTTP requests whose paths no client library normalises (`..`, `%2e%2e`).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitOut } from '../../src/engine/git.js';
import { hostedRepoDir } from '../../src/hosting/config.js';
import { TEST_ENV } from '../helpers/git-fixture.js';
import type { TestDialect } from '../helpers/store.js';
import { callApi, startTestApp, type TestAgent, type TestApp } from './helpers.js';

export interface FilesServer extends TestApp {
  dataDir: string;
  /** A directory beside the repositories that no request may touch, with a file `secret`. */
  outside: string;
  port: number;
}

/** A listening app with a data dir (default file and request limits). */
export async function startFilesServer(dialect: TestDialect): Promise<FilesServer> {
  const dataDir = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-files-')));
  const outside = join(dataDir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'do not touch\n');
  const t = await startTestApp(dialect, { hosting: { dataDir, allowLocalClone: true } });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    ...t,
    dataDir,
    outside,
    port: (t.app.server.address() as AddressInfo).port,
    async close() {
      await t.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A server-held repository owned by `owner` (`POST /repos {server_git: true, clone_url}`), cloned
 * from a local source with `README.md` and `lines.txt` on main.
 */
export async function createHostedRepo(
  t: FilesServer,
  owner: TestAgent,
  settings: Record<string, unknown> = {},
): Promise<{ id: string; name: string; dir: string }> {
  const source = mkdtempSync(join(t.dataDir, 'source-'));
  const run = (args: string[]) => gitOut(args, { cwd: source, env: TEST_ENV });
  await run(['init', '-q', '-b', 'main']);
  writeFileSync(join(source, 'README.md'), 'hello\n');
  writeFileSync(join(source, 'lines.txt'), 'one\ntwo\nthree\nfour\nfive\n');
  await run(['add', '-A']);
  await run(['commit', '-q', '-m', 'Initial commit']);
  const created = await callApi(t.app, owner, {
    method: 'POST',
    url: '/repos',
    payload: {
      name: `repo-${randomBytes(3).toString('hex')}`,
      server_git: true,
      clone_url: source,
      ...settings,
    },
  });
  if (created.status !== 201) throw new Error(`create repo failed: ${JSON.stringify(created.body)}`);
  const repo = created.body.repo as { id: string; name: string };
  return { id: repo.id, name: repo.name, dir: hostedRepoDir(t.app.hosting, repo.id) };
}

/** A stream of `author` in a server-held repository (`POST /repos/:id/streams {name}`). */
export async function createHostedStream(
  t: FilesServer,
  repo: { id: string },
  author: TestAgent,
): Promise<{ id: string; branch: string }> {
  const created = await callApi(t.app, author, {
    method: 'POST',
    url: `/repos/${repo.id}/streams`,
    payload: { name: `s-${randomBytes(3).toString('hex')}` },
  });
  if (created.status !== 201) throw new Error(`create stream failed: ${JSON.stringify(created.body)}`);
  return created.body.stream as { id: string; branch: string };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): { error?: { code: string; message: string } } & Record<string, unknown>;
}

/** One HTTP request with the path exactly as given (no normalisation of `..` or escapes). */
export function rawRequest(
  t: FilesServer,
  request: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<RawResponse> {
  const body = request.body === undefined ? undefined : Buffer.from(request.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: t.port,
        method: request.method,
        path: `/api/v1${request.path}`,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...request.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: data,
            json: () => JSON.parse(data.toString('utf8')),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
