/**
 * `gitswarm status` and `workspace list` with many streams stay a bounded summary: counts by
 * state from one aggregate query, lists capped by `--limit` (the rest named in an "and N more"
 * line), the merge queue capped and in merge order. Streams are seeded straight into the store
 * (status reads the store; their branches need not exist). SQLite runs the real binary,
 * PostgreSQL runs in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile, resolveStoreLocation } from '../../src/cli/config-file.js';
import { openCliStore } from '../../src/cli/context.js';
import { countStreamsByStatus, listStreamsWithAgents } from '../../src/core/streams/stream-summary.js';
import type { StreamStatus } from '../../src/store/index.js';
import { newId } from '../../src/util/ids.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { createTestRepo, type TestRepo } from './helpers.js';
import { storeEnv } from './in-process.js';

interface StatusJson {
  streams: { id: string; name: string; status: string; agent: string }[];
  queue: { stream_id: string; name: string }[];
  workspaces: { agent: string }[];
  counts: {
    streams: Record<StreamStatus | 'live' | 'total', number>;
    workspaces: number;
    queue: number;
  };
  limit: number;
}

/** 40 active, 12 in review (the last 2 with a higher merge priority), 5 merged, 3 abandoned. */
const SEEDED: [StreamStatus, number][] = [
  ['active', 40],
  ['in_review', 12],
  ['merged', 5],
  ['abandoned', 3],
];

function openStoreOf(repo: TestRepo) {
  const config = readConfigFile(repo.dir);
  if (!config) throw new Error('not initialized');
  return { config, store: openCliStore(resolveStoreLocation(repo.dir, config, repo.env)) };
}

async function seed(repo: TestRepo): Promise<void> {
  const { config, store: opening } = openStoreOf(repo);
  const store = await opening;
  try {
    const agent = await store.db
      .selectFrom('gitswarm_agents')
      .select('id')
      .where('name', '=', 'owner')
      .executeTakeFirstOrThrow();
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    let i = 0;
    const rows = SEEDED.flatMap(([status, count]) =>
      Array.from({ length: count }, (_, k) => {
        const id = newId();
        const n = i++;
        return {
          id,
          repo_id: config.repo_id,
          agent_id: agent.id,
          name: `seeded-${String(n).padStart(3, '0')}`,
          branch: `stream/${id}`,
          status,
          review_status: status === 'in_review' ? ('in_review' as const) : null,
          merge_priority: status === 'in_review' && k >= count - 2 ? 5 : 0,
          base_branch: 'buffer',
          created_at: new Date(base + n * 1000).toISOString(),
          updated_at: new Date(base).toISOString(),
        };
      }),
    );
    await store.db.insertInto('gitswarm_streams').values(rows).execute();
  } finally {
    await store.close();
  }
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: status with many streams is a bounded summary`, () => {
    let repo: TestRepo;

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect), inProcess: dialect !== 'sqlite' });
      for (const args of [
        ['init', '--model', 'solo'],
        ['agent', 'register', 'owner'],
        ['agent', 'register', 'alice'],
        ['agent', 'register', 'bob'],
      ]) {
        const run = await repo.run(args);
        expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      }
      await seed(repo);
      for (const agent of ['alice', 'bob']) {
        const run = await repo.run(['workspace', 'create', '--as', agent]);
        expect(run.code).toBe(0);
      }
    });
    afterAll(() => repo.close());

    it('--json counts every stream by state and caps the lists at the default limit', async () => {
      const run = await repo.run(['status', '--json']);
      expect(run.stderr).toBe('');
      const status = run.json<StatusJson>();
      // The two workspaces' streams are active too: 42 active.
      expect(status.counts.streams).toEqual({
        active: 42,
        in_review: 12,
        conflicted: 0,
        merged: 5,
        abandoned: 3,
        reverted: 0,
        live: 54,
        total: 62,
      });
      expect(status.counts.workspaces).toBe(2);
      expect(status.counts.queue).toBe(12);
      expect(status.limit).toBe(20);
      expect(status.streams).toHaveLength(20);
      // Oldest first: the seeded streams come before the workspaces' new ones.
      expect(status.streams.map((s) => s.name)).toEqual(
        Array.from({ length: 20 }, (_, n) => `seeded-${String(n).padStart(3, '0')}`),
      );
      expect(status.streams.every((s) => s.agent === 'owner')).toBe(true);
      expect(status.workspaces.map((w) => w.agent)).toEqual(['alice', 'bob']);
      // The whole queue fits: the two with a higher priority first, then by age.
      expect(status.queue.map((q) => q.name)).toEqual([
        'seeded-050',
        'seeded-051',
        ...Array.from({ length: 10 }, (_, n) => `seeded-0${40 + n}`),
      ]);
    });

    it('--limit caps every list and the text names how many more there are', async () => {
      const json = (await repo.run(['status', '--limit', '3', '--json'])).json<StatusJson>();
      expect(json.streams.map((s) => s.name)).toEqual(['seeded-000', 'seeded-001', 'seeded-002']);
      expect(json.queue.map((q) => q.name)).toEqual(['seeded-050', 'seeded-051', 'seeded-040']);
      expect(json.counts.streams.live).toBe(54);

      const text = await repo.run(['status', '--limit', '1']);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('54 live (42 active, 12 in review), 5 merged, 3 abandoned');
      expect(text.stdout).toContain('… and 53 more; see `gitswarm workspace list`');
      expect(text.stdout).toContain('… and 1 more; see `gitswarm workspace list`');
      expect(text.stdout).toContain('… and 11 more; see `gitswarm status --limit 1000`');
      const all = await repo.run(['status', '--limit', '1000']);
      expect(all.stdout).not.toContain('more; see');
    });

    it('a bad --limit is a usage error', async () => {
      for (const limit of ['0', '-1', 'ten', '1001', '2.5']) {
        const run = await repo.run(['status', '--limit', limit]);
        expect({ limit, code: run.code }).toEqual({ limit, code: 2 });
        expect(run.stderr).toContain('--limit must be a whole number from 1 to 1000');
      }
      const list = await repo.run(['workspace', 'list', '--limit', '0']);
      expect(list.code).toBe(2);
    });

    it('workspace list takes --limit, oldest first', async () => {
      const one = (await repo.run(['workspace', 'list', '--limit', '1', '--json'])).json<{
        workspaces: { agent_name: string }[];
      }>();
      expect(one.workspaces.map((w) => w.agent_name)).toEqual(['alice']);
      const all = (await repo.run(['workspace', 'list', '--json'])).json<{
        workspaces: { agent_name: string }[];
      }>();
      expect(all.workspaces.map((w) => w.agent_name)).toEqual(['alice', 'bob']);
    });

    it('the core summary: counts by one aggregate, the capped list merged across statuses in order', async () => {
      const { config, store: opening } = openStoreOf(repo);
      const store = await opening;
      try {
        const counts = await countStreamsByStatus(store.db, config.repo_id);
        expect(counts.total).toBe(62);
        const live = await listStreamsWithAgents(store.db, config.repo_id, {
          status: ['in_review', 'active'],
          limit: 45,
        });
        // Across both statuses, by age: the 40 seeded active, then 5 of the in-review ones.
        expect(live.map((s) => s.name)).toEqual(
          Array.from({ length: 45 }, (_, n) => `seeded-${String(n).padStart(3, '0')}`),
        );
        const none = await listStreamsWithAgents(store.db, config.repo_id, {
          status: ['reverted'],
          limit: 5,
        });
        expect(none).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });
}
