import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCouncil, joinCouncil } from '../../../src/core/governance/council.js';
import { addMaintainer } from '../../../src/core/governance/maintainers.js';
import {
  advanceStage,
  assertStageAllowsPromote,
  listStageHistory,
  measureStageMetrics,
  refreshStageMetrics,
  STAGE_REQUIREMENTS,
  stageInfo,
} from '../../../src/core/governance/stages.js';
import { createRepo, getRepo } from '../../../src/core/repos/repos.js';
import { onStreamMerged, onStreamReverted } from '../../../src/core/streams/stream-hooks.js';
import type { Agent, Repo } from '../../../src/store/index.js';
import { countWritesTo } from '../../helpers/socket-writes.js';
import { DIALECTS, dialectLabel, itOnPostgresServer } from '../../helpers/store.js';
import {
  activityOf,
  expectCode,
  insertMergedStream,
  makeAgent,
  openWorld,
  uniqueName,
  type World,
} from './council-setup.js';

describe('stage requirements', () => {
  it('are the documented thresholds', () => {
    expect(STAGE_REQUIREMENTS).toEqual({
      growth: { contributors: 2, merged_streams: 3, maintainers: 1, council_active: false },
      established: { contributors: 5, merged_streams: 10, maintainers: 2, council_active: false },
      mature: { contributors: 10, merged_streams: 25, maintainers: 3, council_active: true },
    });
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stages`, () => {
    let world: World;
    let repo: Repo;
    const authors: Agent[] = [];

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('start at seed and say what growth needs', async () => {
      const info = await stageInfo(world.store.db, repo);
      expect(info).toEqual({
        stage: 'seed',
        metrics: { contributors: 0, merged_streams: 0, maintainers: 1, council_active: false },
        next: {
          stage: 'growth',
          requirements: STAGE_REQUIREMENTS.growth,
          eligible: false,
          missing: ['2 contributors (has 0)', '3 merged streams (has 0)'],
        },
      });
    });

    // Every merge measures them, inside its transaction, under the repository's lock.
    itOnPostgresServer(dialect, 'on PostgreSQL the metrics take one round trip', async () => {
      await stageInfo(world.store.db, repo); // the pool's connection is open
      const counter = countWritesTo(inject('postgresUrl') as string);
      try {
        expect(await measureStageMetrics(world.store.db, repo.id)).toMatchObject({ maintainers: 1 });
      } finally {
        counter.stop();
      }
      expect(counter.writes()).toBe(1);
    });

    it('refresh the counts on every merge and advance by themselves, recorded with the metrics', async () => {
      const a = await makeAgent(world, { merged: 0 });
      const b = await makeAgent(world, { merged: 0 });
      authors.push(a, b);
      const first = await insertMergedStream(world, a);
      await onStreamMerged(world.deps, world.store.db, {
        repo,
        stream: first,
        mergeCommit: 'x',
        actorId: a.id,
      });
      let current = await getRepo(world.store.db, repo.id);
      expect(current).toMatchObject({ stage: 'seed', contributor_count: 1, patch_count: 1 });
      await insertMergedStream(world, a);
      await insertMergedStream(world, b, { reverted: true });
      let refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.advanced).toEqual([]);
      expect(refresh.metrics).toMatchObject({ contributors: 1, merged_streams: 2 });
      const third = await insertMergedStream(world, b);
      await world.store.db.transaction().execute(async (trx) => {
        await onStreamMerged(world.deps, trx, { repo, stream: third, mergeCommit: 'y', actorId: null });
      });
      current = await getRepo(world.store.db, repo.id);
      expect(current).toMatchObject({ stage: 'growth', contributor_count: 2, patch_count: 3 });
      const history = await listStageHistory(world.store.db, repo.id);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        from_stage: 'seed',
        to_stage: 'growth',
        contributor_count: 2,
        patch_count: 3,
        maintainer_count: 1,
        metrics_at_transition: {
          contributors: 2,
          merged_streams: 3,
          maintainers: 1,
          council_active: false,
          how: 'automatic',
        },
      });
      const advanced = await activityOf(world, 'stage.advanced');
      expect(advanced).toHaveLength(1);
      expect(advanced[0]).toMatchObject({
        agent_id: null,
        metadata: { from: 'seed', to: 'growth', how: 'automatic' },
      });
      refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.advanced).toEqual([]);
    });

    it('lower the counts on a revert but never move back by themselves', async () => {
      const merged = await world.store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('reverted_at', 'is', null)
        .orderBy('merged_at')
        .executeTakeFirstOrThrow();
      await world.store.db
        .updateTable('gitswarm_merges')
        .set({ reverted_at: world.clock.now().toISOString() })
        .where('id', '=', merged.id)
        .execute();
      const stream = await world.store.db
        .selectFrom('gitswarm_streams')
        .selectAll()
        .where('id', '=', merged.stream_id)
        .executeTakeFirstOrThrow();
      await onStreamReverted(world.deps, world.store.db, { repo, stream, revertCommit: 'z' });
      const current = await getRepo(world.store.db, repo.id);
      expect(current).toMatchObject({ stage: 'growth', patch_count: 2 });
    });

    it('advance several steps at once when eligible, mature only with an active council', async () => {
      for (let i = 0; i < 8; i++) authors.push(await makeAgent(world, { merged: 0 }));
      for (let i = 0; i < 24; i++) await insertMergedStream(world, authors[i % authors.length]!);
      for (const agent of authors.slice(0, 2))
        await addMaintainer(world.deps, world.store.db, { repo, actor: world.owner, agent });
      const refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.metrics).toEqual({
        contributors: 10,
        merged_streams: 26,
        maintainers: 3,
        council_active: false,
      });
      expect(refresh.advanced).toEqual(['established']);
      const info = await stageInfo(world.store.db, repo);
      expect(info.next).toMatchObject({ stage: 'mature', eligible: false, missing: ['an active council'] });
      await createCouncil(world.deps, {
        repo,
        actor: world.owner,
        settings: { min_members: 1, standard_quorum: 1, critical_quorum: 1, min_karma: 0 },
      });
      await joinCouncil(world.deps, { repo, agent: authors[0]! });
      const again = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(again.advanced).toEqual(['mature']);
      expect((await stageInfo(world.store.db, repo)).next).toBeNull();
      const history = await listStageHistory(world.store.db, repo.id);
      expect(history.map((h) => [h.from_stage, h.to_stage])).toEqual([
        ['seed', 'growth'],
        ['growth', 'established'],
        ['established', 'mature'],
      ]);
    });

    it("refuse an agent's promote in mature, with a hint to propose it", async () => {
      const current = await getRepo(world.store.db, repo.id);
      const error = await expectCode(
        assertStageAllowsPromote(world.store.db, current, 'manual'),
        'forbidden',
      );
      expect((error as unknown as { hint: string }).hint).toMatch(/gitswarm council propose promote/);
      await assertStageAllowsPromote(world.store.db, current, 'council');
      await assertStageAllowsPromote(world.store.db, current, 'auto');
    });

    it('are set by an admin: one eligible step, or any stage by force', async () => {
      await expectCode(advanceStage(world.deps, { repo, actor: authors[5]! }), 'forbidden');
      await expectCode(advanceStage(world.deps, { repo, actor: world.owner }), 'invalid_state');
      await expectCode(
        advanceStage(world.deps, { repo, actor: world.owner, force: 'ancient' }),
        'invalid_input',
      );
      await expectCode(
        advanceStage(world.deps, { repo, actor: world.owner, force: 'mature' }),
        'invalid_state',
      );
      const back = await advanceStage(world.deps, { repo, actor: world.owner, force: 'seed' });
      expect(back).toMatchObject({ from: 'mature', to: 'seed', forced: true });
      await assertStageAllowsPromote(world.store.db, back.repo, 'manual');
      const step = await advanceStage(world.deps, { repo, actor: world.owner });
      expect(step).toMatchObject({ from: 'seed', to: 'growth', forced: false });
      const history = await listStageHistory(world.store.db, repo.id);
      expect(history.slice(-2).map((h) => [h.to_stage, h.metrics_at_transition.how])).toEqual([
        ['seed', 'forced'],
        ['growth', 'advanced'],
      ]);
      const advanced = await activityOf(world, 'stage.advanced');
      expect(advanced.at(-1)).toMatchObject({ agent_id: world.owner.id, metadata: { how: 'advanced' } });
    });

    it('refuse a step the metrics do not support, naming what is missing', async () => {
      const { createRepo } = await import('../../../src/core/repos/repos.js');
      const fresh = await createRepo(world.deps, { name: 'fresh-repo', owner: world.owner });
      const error = await expectCode(
        advanceStage(world.deps, { repo: fresh, actor: world.owner }),
        'not_eligible',
      );
      expect(error.message).toBe(
        'The repository is not eligible for growth: it needs 2 contributors (has 0), 3 merged streams (has 0).',
      );
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: a refresh reaches the highest stage the repository is eligible for`, () => {
    let world: World;
    beforeAll(async () => {
      world = await openWorld(dialect);
    });
    afterAll(async () => {
      await world.store.close();
    });

    /** A repository of `world` with `authors` contributors sharing `streams` merged streams and `maintainers` maintainers. */
    async function grownRepo(counts: { authors: number; streams: number; maintainers: number }) {
      const repo = await createRepo(world.deps, { name: uniqueName('grown'), owner: world.owner });
      const authors: Agent[] = [];
      for (let i = 0; i < counts.authors; i++) authors.push(await makeAgent(world, { merged: 0 }));
      for (let i = 0; i < counts.streams; i++)
        await insertMergedStream(world, authors[i % authors.length]!, { repo });
      // The owner is the first maintainer.
      for (const agent of authors.slice(0, counts.maintainers - 1))
        await addMaintainer(world.deps, world.store.db, { repo, actor: world.owner, agent });
      return { repo, authors };
    }

    it('from seed, eligible for growth and established at once: one refresh enters both, in order', async () => {
      const { repo } = await grownRepo({ authors: 5, streams: 10, maintainers: 2 });
      expect((await getRepo(world.store.db, repo.id)).stage).toBe('seed');
      const refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.metrics).toEqual({
        contributors: 5,
        merged_streams: 10,
        maintainers: 2,
        council_active: false,
      });
      expect(refresh.advanced).toEqual(['growth', 'established']);
      expect(refresh.repo.stage).toBe('established');
      expect((await getRepo(world.store.db, repo.id)).stage).toBe('established');
      const history = await listStageHistory(world.store.db, repo.id);
      expect(history.map((h) => [h.from_stage, h.to_stage, h.metrics_at_transition.how])).toEqual([
        ['seed', 'growth', 'automatic'],
        ['growth', 'established', 'automatic'],
      ]);
      // Both steps at one instant keep their order.
      expect(history[1]!.transitioned_at > history[0]!.transitioned_at).toBe(true);
      expect((await refreshStageMetrics(world.deps, world.store.db, repo)).advanced).toEqual([]);
    });

    it('from seed, eligible for every stage (an active council): one refresh enters all three', async () => {
      const { repo, authors } = await grownRepo({ authors: 10, streams: 25, maintainers: 3 });
      await createCouncil(world.deps, {
        repo,
        actor: world.owner,
        settings: { min_members: 1, standard_quorum: 1, critical_quorum: 1, min_karma: 0 },
      });
      await joinCouncil(world.deps, { repo, agent: authors[0]! });
      const refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.advanced).toEqual(['growth', 'established', 'mature']);
      expect((await getRepo(world.store.db, repo.id)).stage).toBe('mature');
    });

    it('stops at the last stage it is eligible for: one merged stream short of established stays in growth', async () => {
      const { repo } = await grownRepo({ authors: 5, streams: 9, maintainers: 2 });
      const refresh = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refresh.advanced).toEqual(['growth']);
      expect((await stageInfo(world.store.db, repo)).next).toMatchObject({
        stage: 'established',
        eligible: false,
        missing: ['10 merged streams (has 9)'],
      });
    });
  });
}
