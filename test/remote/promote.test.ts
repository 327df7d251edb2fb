/**
 * Mode B promote: the server allows it, the clone fast-forwards main on the shared remote by
 * compare-and-swap and reports it; a clone that loses the race finds the promotion done.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeConnected } from '../../src/remote/merge.js';
import { type PromoteRepo, promoteConnected } from '../../src/remote/promote.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  type Agent,
  approve,
  type Clone,
  type ModeBWorld,
  makeStream,
  rejection,
  startModeBWorld,
} from './mode-b-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: Mode B promote`, () => {
    let world: ModeBWorld;
    let dev: Agent;
    let cloneA: Clone;
    let cloneB: Clone;
    let repo: PromoteRepo;

    beforeAll(async () => {
      world = await startModeBWorld(dialect);
      dev = await world.register(`dev-${dialect}`);
      cloneA = world.clone('machine-a');
      cloneB = world.clone('machine-b');
      repo = (await world.owner.api.get<{ repo: PromoteRepo }>(`/repos/${world.repoId}`)).repo;
      const s = await makeStream(world, cloneA, dev, 'feature', { 'feature.txt': 'feature\n' });
      await approve(dev, world.owner, s);
      await mergeConnected({ api: dev.api, git: cloneA.git, actor: dev, stream: s });
    });
    afterAll(() => world?.close());

    it('a non-maintainer is refused by the server and main does not move', async () => {
      const main = world.remoteHead('main');
      const error = await rejection(promoteConnected({ api: dev.api, git: cloneA.git, repo }));
      expect(error.code).toBe('forbidden');
      expect(error.exitCode).toBe(1);
      expect(world.remoteHead('main')).toBe(main);
    });

    it('with a stabilize command and no recorded green the server refuses: not_green', async () => {
      const tested = (
        await world.owner.api.post<{ repo: PromoteRepo }>('/repos', {
          name: `tested-${dialect}`,
          stabilize_command: 'true',
        })
      ).repo;
      const main = world.remoteHead('main');
      const error = await rejection(
        promoteConnected({ api: world.owner.api, git: cloneA.git, repo: { ...tested } }),
      );
      expect(error.code).toBe('not_green');
      expect(world.remoteHead('main')).toBe(main);
    });
    it('two clones promote at once: one compare-and-swap push wins, the other finds it done', async () => {
      const main = world.remoteHead('main');
      const buffer = world.remoteHead('buffer');
      let first: Awaited<ReturnType<typeof promoteConnected>> | undefined;
      const second = await promoteConnected({
        api: world.owner.api,
        git: cloneB.git,
        repo,
        beforePush: async (attempt) => {
          if (attempt === 0) first = await promoteConnected({ api: world.owner.api, git: cloneA.git, repo });
        },
      });
      expect(first).toEqual({ promoted: true, from_commit: main, to_commit: buffer, target: 'main' });
      expect(second).toEqual({ promoted: false, from_commit: buffer, to_commit: buffer, target: 'main' });
      expect(world.remoteHead('main')).toBe(buffer);
      const { promotions } = await world.owner.api.get<{ promotions: { to_commit: string }[] }>(
        `/repos/${world.repoId}/promote/history`,
      );
      expect(promotions.map((p) => p.to_commit)).toEqual([buffer]);
    });
  });
}
