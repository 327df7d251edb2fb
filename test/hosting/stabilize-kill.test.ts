/**
 * A stabilization run survives the death of its server: a real `gitswarm serve` process is killed
 * with SIGKILL in the middle of a run (its sandboxed command dies with it). Restarted under the
 * same instance name it takes the run back at once; another instance takes it over once the
 * lease lapses. Either way the run finishes and is never left `running`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { ROOT, requireFreshBuild } from '../helpers/built.js';
import { HELD_CHECK_COMMAND, releaseHeldRuns } from '../helpers/stabilize-fixture.js';
import {
  DIALECTS,
  dialectLabel,
  openTestStore,
  postgresServerSkipReason,
  type TestDialect,
  type TestStore,
  withSkipReason,
} from '../helpers/store.js';
import type { TestAgent } from '../server/helpers.js';
import { type HostedRepo, mergeWork, seedHostedRepo, TEST_RUN_TIMING } from './hosted-stabilize-fixture.js';

interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
}

/** The `--db` value under which a child server opens the test's store. */
function dbArgument(store: TestStore): string {
  if (!store.schema) return store.location;
  const url = new URL(store.location);
  url.searchParams.set('options', `-c search_path=${store.schema}`);
  return url.toString();
}

/** Starts `gitswarm serve` (the built binary) on the store; resolves once it listens. */
async function serve(store: TestStore, dataDir: string, env: Record<string, string>): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'gitswarm.js'),
      'serve',
      '--port',
      '0',
      '--db',
      dbArgument(store),
      '--data-dir',
      dataDir,
    ],
    {
      env: { ...process.env, LOG_LEVEL: 'silent', PORT: '', DATABASE_URL: '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (found) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`gitswarm serve exited ${code}: ${stderr}`)));
  });
  return { child, url };
}

async function kill(server: ServeProcess): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

async function api(url: string, agent: TestAgent, method: string, path: string, body?: unknown) {
  const response = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { ...agent.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked by the assertions.
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function runRow(store: TestStore, id: string) {
  return store.db
    .selectFrom('gitswarm_stabilize_runs')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

async function until<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(() => {
  requireFreshBuild();
});

for (const dialect of DIALECTS) {
  const skip = postgresServerSkipReason(dialect as TestDialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialectLabel(dialect)}: a run killed with its server`, skip),
    () => {
      const cleanups: (() => Promise<void> | void)[] = [];
      afterEach(async () => {
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      });

      /** A store and a hosted repository whose test waits to be released, set up without a runner left. */
      async function setUp(): Promise<{ store: TestStore; hosted: HostedRepo; dataDir: string }> {
        const store = await openTestStore(dialect);
        cleanups.push(() => store.close());
        const dataDir = mkdtempSync(join(tmpdir(), 'gitswarm-kill-'));
        cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
        const seeding = await buildApp({ store, rateLimit: false, notifications: false });
        await seeding.ready();
        const hosted = await seedHostedRepo(seeding, { stabilize_command: HELD_CHECK_COMMAND });
        cleanups.push(() => hosted.git.cleanup());
        await mergeWork(seeding, hosted, hosted.owner, { 'a.txt': 'fine\n' });
        await seeding.close();
        return { store, hosted, dataDir };
      }

      /** Starts a run on a child server and kills the server with SIGKILL while the command runs. */
      async function startAndKill(
        store: TestStore,
        hosted: HostedRepo,
        first: ServeProcess,
      ): Promise<string> {
        const started = await api(first.url, hosted.owner, 'POST', `/repos/${hosted.repo.id}/stabilize`, {});
        expect(started.status).toBe(202);
        const runId = started.body.run.id as string;
        await until(
          () => runRow(store, runId),
          (row) => row.status === 'running' && row.log_tail.includes('run at'),
        );
        await kill(first);
        // The next start of the run goes through.
        releaseHeldRuns(hosted.git.dir);
        const orphan = await runRow(store, runId);
        expect(orphan).toMatchObject({ status: 'running', attempts: 1 });
        expect(orphan.finished_at).toBeNull();
        return runId;
      }

      it('restarted under the same instance name, the server takes its run back at once and finishes it', async () => {
        const { store, hosted, dataDir } = await setUp();
        // A lease far longer than the test: only the instance's own name lets it resume at once.
        const env = {
          GITSWARM_INSTANCE_ID: 'node-1',
          GITSWARM_STABILIZE_LEASE_MS: '120000',
          GITSWARM_STABILIZE_POLL_MS: '150',
        };
        const first = await serve(store, dataDir, env);
        cleanups.push(() => kill(first));
        const runId = await startAndKill(store, hosted, first);

        const restarted = await serve(store, dataDir, env);
        cleanups.push(() => kill(restarted));
        const done = await until(
          () => runRow(store, runId),
          (row) => row.status !== 'running' && row.status !== 'queued',
          30_000,
        );
        expect(done).toMatchObject({ status: 'green', attempts: 2, lease_owner: null, lease_until: null });
        expect(done.log_tail).toContain('taken over by node-1 (start 2 of at most 3)');
        const shown = await api(
          restarted.url,
          hosted.owner,
          'GET',
          `/repos/${hosted.repo.id}/stabilize/runs/${runId}`,
        );
        expect(shown.body.run).toMatchObject({ id: runId, status: 'green', attempts: 2 });
        expect(shown.body.run.tag).toMatch(/^green\//);
      }, 150_000);

      it('another instance takes the run over once the dead server’s lease lapses', async () => {
        const { store, hosted, dataDir } = await setUp();
        const first = await serve(store, dataDir, {
          GITSWARM_INSTANCE_ID: 'node-1',
          GITSWARM_STABILIZE_LEASE_MS: String(TEST_RUN_TIMING.leaseMs),
          GITSWARM_STABILIZE_POLL_MS: '150',
        });
        cleanups.push(() => kill(first));
        const runId = await startAndKill(store, hosted, first);

        const survivor = await buildApp({
          store,
          rateLimit: false,
          notifications: false,
          hosting: { instanceId: 'node-2', stabilizeRuns: TEST_RUN_TIMING },
        });
        await survivor.ready();
        cleanups.push(() => survivor.close());
        const done = await until(
          () => runRow(store, runId),
          (row) => row.status !== 'running' && row.status !== 'queued',
          30_000,
        );
        expect(done).toMatchObject({ status: 'green', attempts: 2, lease_owner: null });
        expect(done.log_tail).toContain('taken over by node-2 (start 2 of at most 3)');
      }, 150_000);
    },
  );
}
