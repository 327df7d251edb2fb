/**
 * Eight OS processes merge eight approved streams into the same buffer at the same moment: every
 * merge lands, none is lost, and the database agrees with git.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getStream } from '../../src/core/streams.js';
import { approve, type SeededGitRepo, seedGitRepo, workOn } from '../helpers/federation-fixture.js';
import { openTestStore, type TestStore } from '../helpers/store.js';
import { seedAgent, testDeps } from '../helpers/streams-fixture.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'test', 'fixtures', 'merge-stream.mjs');
const PROCESSES = 8;

// PGlite lives inside one process; the PostgreSQL dialect joins in when a real server is there.
const dialects = inject('postgresUrl') ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

interface Worker {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  next(): Promise<string>;
  stderr: () => string;
}

function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffered = '';
  let errors = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString('utf8');
  });
  return {
    child,
    lines,
    stderr: () => errors,
    next: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) return resolve(line);
        waiters.push(resolve);
        child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${errors}`)));
      }),
  };
}

for (const dialect of dialects) {
  describe(`${dialect}: concurrent merges from separate processes`, () => {
    let store: TestStore;
    let seeded: SeededGitRepo | undefined;
    beforeAll(async () => {
      if (!existsSync(join(ROOT, 'dist', 'src', 'core', 'federation.js'))) {
        throw new Error(
          'The concurrency test runs the built code: run `npm run build` (npm test does) first.',
        );
      }
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      seeded?.git.cleanup();
      await store.close();
    });

    it(`${PROCESSES} processes merge ${PROCESSES} approved streams at once: all land, the database agrees with git`, async () => {
      const deps = testDeps(store);
      seeded = await seedGitRepo(deps, { merge_mode: 'review', ownership_model: 'guild', min_reviews: 1 });
      const { repo, git } = seeded;
      const work = [];
      for (let i = 0; i < PROCESSES; i++) {
        const agent = await seedAgent(deps, `agent${i}`);
        const { stream } = await workOn(deps, seeded, agent, { [`feature-${i}.txt`]: `feature ${i}\n` });
        await approve(deps, seeded, stream, agent);
        work.push({ agent, stream });
      }
      const bufferBefore = await git.rev('buffer');
      const workers = work.map(({ agent, stream }) =>
        startWorker([store.location, repo.id, stream.id, agent.id, ...(store.schema ? [store.schema] : [])]),
      );
      for (const worker of workers) expect(await worker.next()).toBe('ready');
      for (const worker of workers) worker.child.stdin.end('go\n');
      const outcomes = await Promise.all(
        workers.map(
          async (worker) => JSON.parse(await worker.next()) as { ok: boolean; merge_commit?: string },
        ),
      );
      await Promise.all(
        workers.map((worker) =>
          worker.child.exitCode === null
            ? new Promise((resolve) => worker.child.once('exit', resolve))
            : null,
        ),
      );
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);

      const firstParentMerges = (
        await git.run(['rev-list', '--first-parent', '--merges', '--reverse', `${bufferBefore}..buffer`])
      )
        .split('\n')
        .filter(Boolean);
      expect(firstParentMerges).toHaveLength(PROCESSES);
      expect([...firstParentMerges].sort()).toEqual(outcomes.map((o) => o.merge_commit).sort());
      const rows = await store.db
        .selectFrom('gitswarm_merges')
        .select('merge_commit')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows.map((r) => r.merge_commit).sort()).toEqual([...firstParentMerges].sort());
      const files = (await git.run(['ls-tree', '--name-only', 'buffer'])).split('\n');
      for (let i = 0; i < PROCESSES; i++) expect(files).toContain(`feature-${i}.txt`);
      for (const { stream } of work) {
        expect((await getStream(store.db, repo.id, stream.id)).status).toBe('merged');
        expect(await git.exitCode(['merge-base', '--is-ancestor', stream.branch, 'buffer'])).toBe(0);
      }
      const pending = await store.db
        .selectFrom('gitswarm_operations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('status', '=', 'pending')
        .execute();
      expect(pending).toEqual([]);
    });
  });
}
