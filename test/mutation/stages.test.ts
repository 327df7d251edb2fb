/**
 * Stage rules the stage tests left loose (found by mutation testing): the maintainers requirement,
 * a refresh that repairs a stale contributor count, and the refusal's hint and details.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  advanceStage,
  missingRequirements,
  refreshStageMetrics,
  STAGE_REQUIREMENTS,
} from '../../src/core/governance/stages.js';
import { createRepo, getRepo } from '../../src/core/repos/repos.js';
import {
  expectCode,
  insertMergedStream,
  makeAgent,
  openWorld,
  uniqueName,
  type World,
} from '../core/governance/council-setup.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';

describe('stage requirements, one by one', () => {
  it('names each unmet requirement, the maintainers too, and nothing when all are met', () => {
    const metrics = { contributors: 5, merged_streams: 10, maintainers: 1, council_active: false };
    expect(missingRequirements(metrics, STAGE_REQUIREMENTS.established)).toEqual(['2 maintainers (has 1)']);
    expect(missingRequirements({ ...metrics, maintainers: 2 }, STAGE_REQUIREMENTS.established)).toEqual([]);
    expect(
      missingRequirements(
        { contributors: 9, merged_streams: 24, maintainers: 2, council_active: false },
        STAGE_REQUIREMENTS.mature,
      ),
    ).toEqual([
      '10 contributors (has 9)',
      '25 merged streams (has 24)',
      '3 maintainers (has 2)',
      'an active council',
    ]);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: stages at their edges`, () => {
    let world: World;
    beforeAll(async () => {
      world = await openWorld(dialect);
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('a refresh repairs a stale contributor count even when the merged count is right', async () => {
      const repo = await createRepo(world.deps, { name: uniqueName('stale'), owner: world.owner });
      const a = await makeAgent(world, { merged: 0 });
      const b = await makeAgent(world, { merged: 0 });
      await insertMergedStream(world, a, { repo });
      await insertMergedStream(world, b, { repo });
      // Stored counts as an older version might have left them: merged count right, contributors wrong.
      await world.store.db
        .updateTable('gitswarm_repos')
        .set({ contributor_count: 7, patch_count: 2 })
        .where('id', '=', repo.id)
        .execute();
      const refreshed = await refreshStageMetrics(world.deps, world.store.db, repo);
      expect(refreshed.metrics).toMatchObject({ contributors: 2, merged_streams: 2 });
      expect(await getRepo(world.store.db, repo.id)).toMatchObject({ contributor_count: 2, patch_count: 2 });
    });

    it('a refused step gives the command to see the numbers and to force, and the numbers themselves', async () => {
      const repo = await createRepo(world.deps, { name: uniqueName('young'), owner: world.owner });
      const error = (await expectCode(
        advanceStage(world.deps, { repo, actor: world.owner }),
        'not_eligible',
      )) as Error & { code: string; hint?: string; details?: unknown };
      expect(error.hint).toBe(
        'See the numbers with: gitswarm stage; an admin may force it: gitswarm stage advance --force growth --as <admin>',
      );
      expect(error.details).toEqual({
        metrics: { contributors: 0, merged_streams: 0, maintainers: 1, council_active: false },
        requirements: STAGE_REQUIREMENTS.growth,
        missing: ['2 contributors (has 0)', '3 merged streams (has 0)'],
      });
    });
  });
}
