/**
 * Eight council members vote on one proposal from eight OS processes at the same moment: the
 * counts are exact, the proposal resolves once, and its action is executed exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMaintainer } from '../../../src/core/governance/maintainers.js';
import { createProposal, getProposal, listProposalVotes } from '../../../src/core/governance/proposals.js';
import type { Agent } from '../../../src/store/index.js';
import { DIALECTS, postgresServerSkipReason, withSkipReason } from '../../helpers/store.js';
import { requireBuilt, runWorkers } from '../../helpers/workers.js';
import { activityOf, makeAgent, makeCouncil, openWorld, type World } from './council-setup.js';

const PROCESSES = 8;
const QUORUM = 5;

// PGlite lives inside one process: the PostgreSQL dialect needs a real server, else it is skipped with the reason.
for (const dialect of DIALECTS) {
  const skip = postgresServerSkipReason(dialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialect}: concurrent council votes from separate processes`, skip),
    () => {
      let world: World;
      beforeAll(async () => {
        requireBuilt('src/core/governance/proposals.js');
        world = await openWorld(dialect);
      });
      afterAll(async () => {
        await world.store.close();
      });

      it(`${PROCESSES} members vote at once: counts exact, resolved and executed once`, async () => {
        const { members } = await makeCouncil(world, {
          members: PROCESSES,
          settings: { min_members: 3, standard_quorum: QUORUM, critical_quorum: QUORUM },
        });
        const candidate: Agent = await makeAgent(world);
        const proposal = await createProposal(world.deps, {
          repo: world.repo,
          proposer: members[0]!,
          type: 'add_maintainer',
          title: 'Make the candidate a maintainer',
          actionData: { agent_id: candidate.id },
        });
        const now = world.clock.now().toISOString();
        const outcomes = await runWorkers<{ ok: boolean; resolved?: boolean; code?: string }>(
          'council-vote-worker.mjs',
          members.map((member) => [
            world.store.location,
            world.repo.id,
            proposal.id,
            member.id,
            now,
            ...(world.store.schema ? [world.store.schema] : []),
          ]),
        );
        const accepted = outcomes.filter((o) => o.ok);
        const refused = outcomes.filter((o) => !o.ok);
        expect(accepted).toHaveLength(QUORUM);
        expect(refused.map((o) => o.code)).toEqual(Array(PROCESSES - QUORUM).fill('invalid_state'));
        expect(accepted.filter((o) => o.resolved)).toHaveLength(1);

        const stored = await getProposal(world.store.db, world.repo, proposal.id);
        expect(stored).toMatchObject({
          status: 'passed',
          votes_for: QUORUM,
          votes_against: 0,
          votes_abstain: 0,
          executed: true,
          execution_result: { ok: true },
        });
        expect(await listProposalVotes(world.store.db, proposal.id)).toHaveLength(QUORUM);
        const cast = await world.store.db
          .selectFrom('gitswarm_council_members')
          .select('votes_cast')
          .where('council_id', '=', proposal.council_id)
          .execute();
        expect(cast.reduce((sum, m) => sum + m.votes_cast, 0)).toBe(QUORUM);
        expect(await isMaintainer(world.store.db, world.repo.id, candidate.id)).toBe(true);
        expect(await activityOf(world, 'maintainer.added')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.passed')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.executed')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.voted')).toHaveLength(QUORUM);
      });
    },
  );
}
