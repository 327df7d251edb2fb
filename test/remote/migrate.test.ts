/**
 * Migration of a Mode A repository to a real server (spec section 6; issue 11 item 6): a history
 * made with the CLI (merged streams, reviews, tasks, a bounty paid) is uploaded, cut short and
 * resumed, and the server then holds each row once and agrees with the local store on the stage,
 * karma and the budget ledger. The server runs on SQLite and on PostgreSQL; the clone's store is
 * the CLI's default (SQLite).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/cli/config-file.js';
import { repoKarma } from '../../src/core/governance/karma.js';
import { IMPORT_KINDS, type ImportKind } from '../../src/core/repos/import-rows.js';
import { getBudget } from '../../src/core/tasks/budget.js';
import { isGitSwarmError } from '../../src/errors.js';
import { findStoredKey } from '../../src/remote/credentials.js';
import { type MigrateOptions, migrateToServer, readMigrationState } from '../../src/remote/migrate.js';
import { readLocalRows } from '../../src/remote/migration-batches.js';
import type { Executor } from '../../src/store/index.js';
import { DIALECTS, dialectLabel, postgresServerSkipReason, withSkipReason } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestServer } from './helpers.js';
import { buildModeAHistory, type ModeAHistory } from './migration-fixture.js';

/** Rows of each kind the repository holds on `db`, by id (as readLocalRows reads them). */
async function idsByKind(db: Executor, repoId: string): Promise<Record<ImportKind, string[]>> {
  const repo = await db
    .selectFrom('gitswarm_repos')
    .selectAll()
    .where('id', '=', repoId)
    .executeTakeFirstOrThrow();
  const rows = await readLocalRows(db, repo);
  return Object.fromEntries(
    IMPORT_KINDS.map((kind) => [kind, rows[kind].map((row) => row.id).sort()]),
  ) as Record<ImportKind, string[]>;
}

for (const dialect of DIALECTS) {
  describe.skipIf(postgresServerSkipReason(dialect) !== null)(
    withSkipReason(
      `${dialectLabel(dialect)}: migrating a Mode A repository`,
      postgresServerSkipReason(dialect),
    ),
    () => {
      const world = new ModeBWorld();
      let history: ModeAHistory;
      let server: TestServer;

      beforeAll(async () => {
        history = await buildModeAHistory(world);
        server = await startTestServer(dialect);
      });
      afterAll(async () => {
        await server?.close();
        await history?.close();
        world.close();
      });

      const options = (): MigrateOptions => ({
        cwd: history.clone.dir,
        db: history.store.db,
        repo: history.repo,
        server: server.url,
        env: history.clone.env,
        batchRows: 2,
      });
      const api = (url: string, headers: Record<string, string> = {}) =>
        server.app?.inject({ method: 'GET', url: `/api/v1${url}`, headers }) ??
        Promise.reject(new Error('stopped'));

      it('cut short after 3 batches, resumed, run again: each row once, and stage, karma and ledger agree', async () => {
        // The migration's pushes run no hook of the clone's.
        const hookRan = join(history.clone.dir, '..', 'pre-push-ran');
        const hook = `#!/bin/sh\necho ran >> '${hookRan}'\n`;
        writeFileSync(join(history.clone.dir, '.git', 'hooks', 'pre-push'), hook, { mode: 0o755 });
        const first = await migrateToServer({ ...options(), maxBatches: 3 });
        expect(first).toMatchObject({ complete: false, batches: { sent: 3, skipped: 0 } });
        const state = readMigrationState(history.clone.dir);
        expect(state).toMatchObject({
          server: server.url,
          repo_id: first.repo_id,
          source_repo_id: history.repo.id,
        });

        const db = server.store.db;
        expect(readConfigFile(history.clone.dir)?.server).toBeUndefined();
        const open = await db
          .selectFrom('gitswarm_imports')
          .selectAll()
          .where('repo_id', '=', first.repo_id)
          .executeTakeFirstOrThrow();
        expect(open.status).toBe('open');
        expect(
          await db.selectFrom('gitswarm_streams').select('id').where('repo_id', '=', first.repo_id).execute(),
        ).toEqual([]);

        const resumed = await migrateToServer(options());
        expect(resumed.complete).toBe(true);
        expect(resumed.repo_id).toBe(first.repo_id);
        // The repo row and the first agents batch were taken before the cut: not sent again.
        expect(resumed.batches.skipped).toBeGreaterThanOrEqual(2);
        const again = await migrateToServer(options());
        expect(again).toMatchObject({ complete: true, batches: { sent: 0, skipped: 0 } });

        const local = await idsByKind(history.store.db, history.repo.id);
        const remote = await idsByKind(db, first.repo_id);
        const repoId = first.repo_id;
        const me = first.agent.id;
        const alice = (
          await history.store.db
            .selectFrom('gitswarm_agents')
            .selectAll()
            .where('name', '=', 'alice')
            .executeTakeFirstOrThrow()
        ).id;
        // Alice is the importer: her Mode A id became her server agent's.
        const mapped = (ids: string[]) => ids.map((id) => (id === alice ? me : id)).sort();
        for (const kind of [
          'council',
          'council_members',
          'proposals',
          'votes',
          'elections',
          'candidates',
          'streams',
          'commits',
          'reviews',
          'merges',
          'tasks',
          'claims',
          'budget_transactions',
          'karma',
        ] as const) {
          expect({ kind, ids: remote[kind] }).toEqual({ kind, ids: local[kind] });
        }
        expect(local.streams).toHaveLength(3);
        expect(local.reviews.length).toBeGreaterThanOrEqual(2);
        expect(local.budget_transactions).toHaveLength(3);
        // The server adds its own repo.initialized, repo.imported and buffer.head_set; every local
        // event is there once.
        expect(remote.activity.filter((id) => local.activity.includes(id))).toEqual(local.activity);
        expect(remote.activity).toHaveLength(local.activity.length + 3);
        expect(mapped(remote.agents)).toEqual(mapped(local.agents));
        expect(first.migrated).toMatchObject({
          agents: 3,
          streams: 3,
          tasks: 2,
          merges: 2,
          claims: 1,
          council: 1,
          council_members: 1,
          proposals: 1,
          votes: 1,
          elections: 1,
          candidates: 1,
        });

        // Stage and counts.
        const serverRepo = await api(`/repos/${repoId}`);
        const localRepo = await history.store.db
          .selectFrom('gitswarm_repos')
          .selectAll()
          .where('id', '=', history.repo.id)
          .executeTakeFirstOrThrow();
        expect(serverRepo.json().repo).toMatchObject({
          stage: localRepo.stage,
          contributor_count: localRepo.contributor_count,
          patch_count: localRepo.patch_count,
          merge_mode: 'review',
          ownership_model: 'guild',
          stale_reviews: localRepo.stale_reviews,
        });
        // The council's proposal passed and changed a setting; the server has both.
        expect(localRepo.stale_reviews).toBe('keep');
        const proposals = await db
          .selectFrom('gitswarm_council_proposals')
          .select(['status', 'executed'])
          .execute();
        expect(proposals).toEqual([{ status: 'passed', executed: true }]);
        expect(localRepo.patch_count).toBe(2);

        // The ledger: balances recomputed on the server equal the local ones.
        const budget = (await api(`/repos/${repoId}/budget`)).json().budget;
        const localBudget = await getBudget(history.store.db, history.repo.id);
        expect(budget).toMatchObject({
          total_credits: localBudget.total_credits,
          available_credits: localBudget.available_credits,
          reserved_credits: localBudget.reserved_credits,
          paid_out_credits: localBudget.paid_out_credits,
        });
        expect(localBudget).toMatchObject({
          total_credits: 500,
          available_credits: 400,
          paid_out_credits: 100,
        });

        // Karma in the repository, per agent, and the totals of the agents the import created.
        const agents = await history.store.db
          .selectFrom('gitswarm_agents')
          .select(['id', 'name', 'karma'])
          .execute();
        for (const agent of agents) {
          const serverId = agent.id === alice ? me : agent.id;
          expect({ agent: agent.name, karma: await repoKarma(db, repoId, serverId) }).toEqual({
            agent: agent.name,
            karma: await repoKarma(history.store.db, history.repo.id, agent.id),
          });
          const shown = (await api(`/agents/${serverId}/karma`)).json();
          expect(shown.total).toBe(agent.karma);
        }
        expect(await repoKarma(db, repoId, agents.find((a) => a.name === 'bob')?.id ?? '')).toBe(5);

        // Reviewer statistics, computed on the server from the imported reviews and merges.
        const stats = async (on: Executor, repo: string) =>
          (
            await on
              .selectFrom('gitswarm_reviewer_stats')
              .select(['agent_id', 'total_reviews', 'approvals', 'accuracy_score'])
              .where('repo_id', '=', repo)
              .execute()
          )
            .map((row) => ({ ...row, agent_id: row.agent_id === me ? alice : row.agent_id }))
            .sort((a, b) => a.agent_id.localeCompare(b.agent_id));
        const localStats = await stats(history.store.db, history.repo.id);
        expect(localStats.length).toBeGreaterThan(0);
        expect(await stats(db, repoId)).toEqual(localStats);

        // Every agent but the importer got a key, kept by the client; it works on the server.
        const bob = agents.find((agent) => agent.name === 'bob');
        const bobKey = findStoredKey(history.clone.env, server.url, 'bob')?.api_key;
        expect(bobKey).toMatch(/^gs_/);
        const whoami = await api('/me', { authorization: `Bearer ${bobKey}` });
        expect(whoami.json().agent).toMatchObject({ id: bob?.id, name: 'bob' });
        const status = await db
          .selectFrom('gitswarm_imports')
          .selectAll()
          .where('repo_id', '=', repoId)
          .executeTakeFirstOrThrow();
        expect(status).toMatchObject({
          status: 'done',
          local_agent_id: alice,
          source_repo_id: history.repo.id,
        });

        // The branches went to the shared remote, and the server knows where the buffer is.
        const localBuffer = history.clone.git(['rev-parse', 'refs/heads/buffer']);
        const published = history.clone.git(['ls-remote', 'origin']);
        expect(published).toContain(`${localBuffer}\trefs/heads/buffer`);
        expect(published).toContain(
          `${history.clone.git(['rev-parse', 'refs/heads/main'])}\trefs/heads/main`,
        );
        const wip = await history.store.db
          .selectFrom('gitswarm_streams')
          .select('branch')
          .where('id', '=', history.streams.wip ?? '')
          .executeTakeFirstOrThrow();
        expect(published).toContain(`refs/heads/${wip.branch}`);
        expect(existsSync(hookRan)).toBe(false);
        expect((await api(`/repos/${repoId}/buffer-head`)).json()).toEqual({
          buffer_branch: 'buffer',
          buffer_head: localBuffer,
        });
        expect(again.branches).toEqual({
          pushed: [],
          up_to_date: expect.arrayContaining(['buffer', 'main']),
        });

        // The clone is connected: its commands now read the server's state.
        expect(readConfigFile(history.clone.dir)?.server).toEqual({
          url: server.url,
          repo_id: repoId,
          remote: 'origin',
        });
        const shownBudget = await history.clone.run(['budget', '--json', '--as', 'alice']);
        expect({ code: shownBudget.code, out: shownBudget.stdout }).toEqual({
          code: 0,
          out: expect.any(String),
        });
        expect(shownBudget.json<{ budget: unknown }>().budget).toMatchObject({
          total_credits: 500,
          available_credits: 400,
          paid_out_credits: 100,
        });
      });
    },
  );
}

describe('sqlite: a migration the server stops answering half-way', () => {
  const world = new ModeBWorld();
  let history: ModeAHistory;
  let server: TestServer;

  beforeAll(async () => {
    history = await buildModeAHistory(world);
    server = await startTestServer('sqlite');
  });
  afterAll(async () => {
    await server?.close();
    await history?.close();
    world.close();
  });

  it('fails with server_unreachable, then resumes on the restarted server: nothing duplicated', async () => {
    let batches = 0;
    let stopped: Promise<void> | undefined;
    const options: MigrateOptions = {
      cwd: history.clone.dir,
      db: history.store.db,
      repo: history.repo,
      server: server.url,
      env: history.clone.env,
      batchRows: 3,
    };
    const error = await migrateToServer({
      ...options,
      // The server goes away after the fifth batch; its store stays.
      onBatch: () => {
        batches += 1;
        if (batches === 5) stopped = server.stop();
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isGitSwarmError(error, 'server_unreachable')).toBe(true);
    await stopped;
    expect(readConfigFile(history.clone.dir)?.server).toBeUndefined();

    await server.start();
    const resumed = await migrateToServer(options);
    expect(resumed.complete).toBe(true);
    const local = await idsByKind(history.store.db, history.repo.id);
    const remote = await idsByKind(server.store.db, resumed.repo_id);
    for (const kind of [
      'streams',
      'commits',
      'reviews',
      'merges',
      'tasks',
      'claims',
      'budget_transactions',
      'karma',
    ] as const) {
      expect({ kind, ids: remote[kind] }).toEqual({ kind, ids: local[kind] });
    }
    expect(remote.activity).toHaveLength(local.activity.length + 3);
    const budget = await getBudget(server.store.db, resumed.repo_id);
    expect(budget.available_credits).toBe(
      (await getBudget(history.store.db, history.repo.id)).available_credits,
    );
  });
});

describe('sqlite: a remote whose buffer went elsewhere', () => {
  const world = new ModeBWorld();
  let history: ModeAHistory;
  let server: TestServer;

  beforeAll(async () => {
    history = await buildModeAHistory(world);
    server = await startTestServer('sqlite');
  });
  afterAll(async () => {
    await server?.close();
    await history?.close();
    world.close();
  });

  it('stops the migration before anything reaches the server (409 invalid_state)', async () => {
    const other = world.clone();
    other.write('other.txt', 'elsewhere\n');
    other.git(['add', '-A']);
    other.git([
      '-c',
      'user.name=Other',
      '-c',
      'user.email=o@example.invalid',
      'commit',
      '-q',
      '-m',
      'Elsewhere',
    ]);
    other.git(['push', '-q', 'origin', 'HEAD:refs/heads/buffer']);
    const error = await migrateToServer({
      cwd: history.clone.dir,
      db: history.store.db,
      repo: history.repo,
      server: server.url,
      env: history.clone.env,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isGitSwarmError(error, 'invalid_state')).toBe(true);
    expect((error as Error).message).toContain('buffer');
    expect(await server.store.db.selectFrom('gitswarm_repos').select('id').execute()).toEqual([]);
    expect(await server.store.db.selectFrom('gitswarm_agents').select('id').execute()).toEqual([]);
    expect(readMigrationState(history.clone.dir)).toBeNull();
  });
});

describe('sqlite: the importing agent already has an identity on the server', () => {
  const world = new ModeBWorld();
  let history: ModeAHistory;
  let server: TestServer;

  beforeAll(async () => {
    history = await buildModeAHistory(world);
    server = await startTestServer('sqlite');
  });
  afterAll(async () => {
    await server?.close();
    await history?.close();
    world.close();
  });

  it('is refused with a hint while its key is unknown, and migrates as it with --api-key', async () => {
    const registered = await fetch(`${server.url}/api/v1/agents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'alice' }),
    });
    const { agent, api_key: key } = (await registered.json()) as { agent: { id: string }; api_key: string };
    const options: MigrateOptions = {
      cwd: history.clone.dir,
      db: history.store.db,
      repo: history.repo,
      server: server.url,
      env: history.clone.env,
    };
    const error = await migrateToServer(options).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isGitSwarmError(error, 'already_exists')).toBe(true);
    expect((error as { hint?: string }).hint).toContain('--api-key');
    expect(await server.store.db.selectFrom('gitswarm_repos').select('id').execute()).toEqual([]);

    const done = await migrateToServer({ ...options, apiKey: key });
    expect(done).toMatchObject({ complete: true, agent: { id: agent.id, name: 'alice' } });
    expect(findStoredKey(history.clone.env, server.url, 'alice')).toMatchObject({
      agent_id: agent.id,
      api_key: key,
    });
    const owner = await server.store.db
      .selectFrom('gitswarm_maintainers')
      .select(['agent_id', 'role'])
      .where('repo_id', '=', done.repo_id)
      .execute();
    expect(owner).toEqual(expect.arrayContaining([{ agent_id: agent.id, role: 'owner' }]));
    const tasks = await server.store.db
      .selectFrom('gitswarm_tasks')
      .select('created_by')
      .where('repo_id', '=', done.repo_id)
      .execute();
    expect(tasks.map((task) => task.created_by)).toEqual([agent.id, agent.id]);
  });
});
