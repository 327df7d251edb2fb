import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { getRepo } from '../../src/core/repos/repos.js';
import { startServer, storeLocation } from '../../src/server/serve.js';
import { withRepoLock } from '../../src/store/index.js';
import { accepts, freePort, portCloses } from '../helpers/ports.js';
import { postgresLocation, postgresServerSkipReason, withSkipReason } from '../helpers/store.js';

const realPostgres = postgresLocation().startsWith('postgres');
if (!realPostgres) {
  console.log(
    '[gitswarm tests] TEST_DATABASE_URL names no reachable PostgreSQL: startServer on PostgreSQL is skipped.',
  );
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-serve-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function json(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked by the assertions.
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe('startServer', () => {
  it('defaults to an embedded SQLite file in the data directory', () => {
    const dir = tempDir();
    expect(storeLocation({ dataDir: join(dir, 'data') })).toBe(join(dir, 'data', 'gitswarm.db'));
    expect(existsSync(join(dir, 'data'))).toBe(true);
    expect(storeLocation({ databaseUrl: 'postgres://x@y/z', dataDir: dir })).toBe('postgres://x@y/z');
  });

  it('serves on SQLite, then shuts down gracefully: the request in flight finishes, new ones are refused', async () => {
    const dataDir = tempDir();
    const server = await startServer({ port: 0, dataDir, handleSignals: false, logger: false });
    expect(existsSync(join(dataDir, 'gitswarm.db'))).toBe(true);
    expect((await json(`${server.url}/readyz`)).body).toEqual({ status: 'ready', database: 'sqlite' });
    const registered = await json(`${server.url}/api/v1/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'owner' }),
    });
    const auth = { authorization: `Bearer ${registered.body.api_key}`, 'content-type': 'application/json' };
    const repo = (
      await json(`${server.url}/api/v1/repos`, { method: 'POST', headers: auth, body: '{"name":"r"}' })
    ).body.repo;

    // Hold the repository's lock so the PATCH below waits inside the server while it shuts down.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holder = withRepoLock(server.store, repo.id, async () => {
      locked();
      await held;
    });
    await lockTaken;
    // The PATCH is in flight once the server has received it (it then waits at the lock).
    const received = once(server.app.server, 'request');
    const inFlight = json(`${server.url}/api/v1/repos/${repo.id}`, {
      method: 'PATCH',
      headers: auth,
      body: JSON.stringify({ description: 'during shutdown' }),
    });
    const [request] = (await received) as [IncomingMessage];
    expect(request.method).toBe('PATCH');
    const closing = server.close();
    // Closing stops taking connections: poll (bounded) until a new request is refused.
    const refusedBy = Date.now() + 5000;
    let refused = false;
    while (!refused && Date.now() < refusedBy) {
      refused = await fetch(`${server.url}/healthz`).then(
        () => false,
        () => true,
      );
    }
    expect(refused).toBe(true);
    release();
    await holder;
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(finished.body.repo.description).toBe('during shutdown');
    await closing;
    await server.close();
  });

  const noServer = postgresServerSkipReason('postgres');
  it.skipIf(noServer !== null)(
    withSkipReason('runs migrations at start on PostgreSQL', noServer),
    async () => {
      const server = await startServer({
        port: 0,
        databaseUrl: postgresLocation(),
        handleSignals: false,
        logger: false,
      });
      try {
        expect((await json(`${server.url}/readyz`)).body).toEqual({ status: 'ready', database: 'postgres' });
        const repo = await getRepo(server.store.db, '00000000-0000-4000-8000-000000000000').catch(
          (e) => e.code,
        );
        expect(repo).toBe('repo_not_found');
      } finally {
        await server.close();
      }
    },
  );
});

describe('gitswarm serve', () => {
  it('starts from the CLI, prints where it listens, and stops on the abort signal', async () => {
    const controller = new AbortController();
    const out: string[] = [];
    const err: string[] = [];
    let listening!: (line: string) => void;
    const started = new Promise<string>((resolve) => {
      listening = resolve;
    });
    const exit = runCli(['serve', '--port', '0', '--json'], {
      stdout: { write: (text) => void out.push(text) },
      stderr: {
        write: (text) => {
          err.push(text);
          if (text.includes('listening on')) listening(text);
        },
      },
      isTTY: false,
      color: false,
      cwd: tempDir(),
      env: { GITSWARM_DATA_DIR: tempDir(), LOG_LEVEL: 'silent' },
      signal: controller.signal,
    });
    const line = await Promise.race([started, exit.then((code) => `exited ${code}: ${err.join('')}`)]);
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
    expect(url, line).toBeDefined();
    expect((await json(`${url}/healthz`)).body).toEqual({ status: 'ok' });
    controller.abort();
    expect(await exit).toBe(0);
    expect(JSON.parse(out.join(''))).toMatchObject({ url, database: 'sqlite', stopped: true });
    const usage = await runCli(['serve', '--port', 'abc'], {
      stdout: { write: () => {} },
      stderr: { write: () => {} },
      isTTY: false,
      color: false,
      cwd: tempDir(),
      env: {},
      signal: new AbortController().signal,
    });
    expect(usage).toBe(2);
  });
});

describe('npm start', () => {
  it('stops the server when npm gets SIGTERM (the signal reaches the server, the port closes)', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const port = await freePort();
    const npm = spawn('npm', ['start', '--', '--port', String(port)], {
      cwd: root,
      env: { ...process.env, GITSWARM_DATA_DIR: tempDir(), LOG_LEVEL: 'silent', PORT: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the clean-up below can end whatever it left behind.
      detached: true,
    });
    let output = '';
    npm.stdout.on('data', (chunk) => {
      output += chunk;
    });
    const listening = new Promise<void>((resolve, reject) => {
      npm.stderr.on('data', (chunk) => {
        output += chunk;
        if (output.includes('listening on')) resolve();
      });
      npm.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${output}`)));
    });
    const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    try {
      await listening;
      expect(await accepts(port)).toBe(true);
      npm.kill('SIGTERM');
      await exited;
      // The server shuts down gracefully after npm forwards the signal: wait for the port to close.
      expect(await portCloses(port), output).toBe(true);
    } finally {
      try {
        process.kill(-(npm.pid as number), 'SIGKILL');
      } catch {
        // The group is gone: nothing was left running.
      }
    }
  }, 180_000);
});
