/**
 * Eight OS processes merge eight approved streams into the same buffer at the same moment: every
 * merge lands, none is lost, and the database agrees with git.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStream } from '../../../src/core/streams/streams.js';
import { approve, type SeededGitRepo, seedGitRepo, workOn } from '../../helpers/federation-fixture.js';
import {
  DIALECTS,
  openTestStore,
  postgresServerSkipReason,
  type TestStore,
  withSkipReason,
} from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';
import { requireBuilt, runWorkers } from '../../helpers/workers.js';

const PROCESSES = 8;

// PGlite lives inside one process: the PostgreSQL dialect needs a real server, else it is skipped with the reason.
for (const dialect of DIALECTS) {
  const skip = postgresServerSkipReason(dialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialect}: concurrent merges from separate processes`, skip),
    () => {
      let store: TestStore;
      let seeded: SeededGitRepo | undefined;
      beforeAll(async () => {
        requireBuilt('src/core/federation.js');
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
        const outcomes = await runWorkers<{ ok: boolean; merge_commit?: string }>(
          'merge-stream.mjs',
          work.map(({ agent, stream }) => [
            store.location,
            repo.id,
            stream.id,
            agent.id,
            ...(store.schema ? [store.schema] : []),
          ]),
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
    },
  );
}
