/**
 * Mode C at scale: two server instances (two apps, each with its own PostgreSQL connection pool)
 * on one database and one data dir. Agents spread over both commit and merge at once in swarm
 * mode; the repository lock in PostgreSQL serializes the git work across instances: every merge
 * lands once and the database agrees with git.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/server/app.js';
import { openStore, type Store } from '../../src/store/index.js';
import { openTestStore, postgresServerSkipReason, type TestStore, withSkipReason } from '../helpers/store.js';
import { callApi, registerTestAgent, type TestAgent } from '../server/helpers.js';
import { git } from './mode-c-fixture.js';

const skip = postgresServerSkipReason('postgres');
if (skip) console.log(`[gitswarm tests] Mode C scale test skipped: ${skip}`);

const AGENTS = 6;
const COMMITS = 6;

describe.skipIf(skip !== null)(
  withSkipReason('postgres: two server instances, one database, one data dir', skip),
  () => {
    let root: string;
    let first: TestStore;
    let second: Store;
    const apps: App[] = [];

    beforeAll(async () => {
      root = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-scale-')));
      first = await openTestStore('postgres');
      second = await openStore(first.location, { schema: first.schema, maxConnections: 4 });
      for (const store of [first, second]) {
        const app = await buildApp({
          rateLimit: false,
          notifications: false,
          store,
          hosting: { dataDir: join(root, 'data') },
        });
        await app.ready();
        apps.push(app);
      }
    });
    afterAll(async () => {
      for (const app of apps) await app.close();
      await second?.close();
      await first?.close();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it(`${AGENTS} agents × ${COMMITS} commits over both instances in swarm mode: each merge once, git and database agree`, async () => {
      const [a, b] = apps as [App, App];
      const owner = await registerTestAgent(a);
      const repo = (
        await callApi(b, owner, {
          method: 'POST',
          url: '/repos',
          payload: { name: 'scaled', server_git: true, merge_mode: 'swarm' },
        })
      ).body.repo;
      expect(repo.server_git).toBe(true);
      const agents: TestAgent[] = [];
      for (let i = 0; i < AGENTS; i++) agents.push(await registerTestAgent(i % 2 ? a : b));
      const heads = await Promise.all(
        agents.map(async (agent, i) => {
          // Each request goes to the other instance than the one before.
          const via = (n: number) => ((n + i) % 2 === 0 ? a : b);
          const created = await callApi(via(0), agent, {
            method: 'POST',
            url: `/repos/${repo.id}/streams`,
            payload: {},
          });
          expect(created.status, JSON.stringify(created.body)).toBe(201);
          const stream = created.body.stream;
          const mine: string[] = [];
          for (let c = 0; c < COMMITS; c++) {
            const written = await callApi(via(c), agent, {
              method: 'PUT',
              url: `/streams/${stream.id}/files/s${i}-c${c}.txt`,
              payload: { content: `${i}/${c}\n` },
            });
            expect(written.status, JSON.stringify(written.body)).toBe(201);
            const committed = await callApi(via(c + 1), agent, {
              method: 'POST',
              url: `/streams/${stream.id}/commits`,
              payload: { message: `s${i} c${c}` },
            });
            expect(committed.status, JSON.stringify(committed.body)).toBe(201);
            expect(committed.body.merged).toBe(true);
            mine.push(committed.body.commit);
          }
          return mine;
        }),
      );
      const dir = join(root, 'data', 'repos', repo.id);
      const merges = git(dir, 'rev-list', '--first-parent', '--merges', 'refs/heads/buffer').split('\n');
      expect(merges).toHaveLength(AGENTS * COMMITS);
      expect(git(dir, 'ls-tree', '--name-only', 'refs/heads/buffer').split('\n')).toHaveLength(
        AGENTS * COMMITS,
      );
      const rows = await first.db
        .selectFrom('gitswarm_merges')
        .select('merge_commit')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(rows).toHaveLength(AGENTS * COMMITS);
      expect(new Set(rows.map((r) => r.merge_commit))).toEqual(new Set(merges));
      const commits = await first.db
        .selectFrom('gitswarm_stream_commits as c')
        .innerJoin('gitswarm_streams as s', 's.id', 'c.stream_id')
        .select('c.commit_hash')
        .where('s.repo_id', '=', repo.id)
        .execute();
      expect(new Set(commits.map((c) => c.commit_hash))).toEqual(new Set(heads.flat()));
      // No operation left pending: every ref move was recorded as done.
      const pending = await first.db
        .selectFrom('gitswarm_operations')
        .select('id')
        .where('repo_id', '=', repo.id)
        .where('status', '=', 'pending')
        .execute();
      expect(pending).toEqual([]);
    }, 300_000);
  },
);
