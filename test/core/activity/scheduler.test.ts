import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDueWork, runScheduledDuties } from '../../../src/core/activity/scheduler.js';
import { getCouncil, listCouncilMembers } from '../../../src/core/governance/council.js';
import {
  getElection,
  nominateCandidate,
  startElection,
  voteInElection,
} from '../../../src/core/governance/elections.js';
import { isMaintainer } from '../../../src/core/governance/maintainers.js';
import { createProposal, getProposal } from '../../../src/core/governance/proposals.js';
import { createTask, getTask } from '../../../src/core/tasks/tasks.js';
import type { Agent, Repo } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel } from '../../helpers/store.js';
import {
  activityOf,
  DAY,
  makeAgent,
  makeCouncil,
  openWorld,
  type World,
} from '../governance/council-setup.js';

const NOTHING = { proposals_expired: 0, proposals_executed: 0, elections: [], members_expired: 0 };

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: scheduled duties`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      ({ members } = await makeCouncil(world, {
        members: 3,
        settings: { min_members: 3, standard_quorum: 2, critical_quorum: 3 },
      }));
    });
    afterAll(async () => {
      await world.store.close();
    });

    const due = () => findDueWork(world.store.db, repo.id, world.clock.now().toISOString());
    const NOTHING_DUE = { operations: false, council: false, tasks: false };

    it('do nothing when nothing is due', async () => {
      expect(await due()).toEqual(NOTHING_DUE);
      expect(await runScheduledDuties(world.deps, repo)).toMatchObject(NOTHING);
    });

    it('tell in one query whether an operation is pending or a task is past its expiry', async () => {
      await world.store.db
        .insertInto('gitswarm_operations')
        .values({
          id: '00000000-0000-4000-8000-00000000a001',
          repo_id: repo.id,
          agent_id: null,
          kind: 'tag',
          description: 'interrupted',
          ref: 'refs/tags/x',
          old_oid: null,
          new_oid: 'a'.repeat(40),
          stream_id: null,
          status: 'pending',
          metadata: '{}',
          created_at: world.clock.now().toISOString(),
        })
        .execute();
      expect(await due()).toEqual({ ...NOTHING_DUE, operations: true });
      await world.store.db
        .updateTable('gitswarm_operations')
        .set({ status: 'rolled_back' })
        .where('id', '=', '00000000-0000-4000-8000-00000000a001')
        .execute();
      expect(await due()).toEqual(NOTHING_DUE);

      const task = await createTask(world.deps, world.store.db, {
        repo,
        actor: world.owner,
        title: 'Expiring',
        expiresAt: new Date(world.clock.now().getTime() + DAY).toISOString(),
      });
      expect(await due()).toEqual(NOTHING_DUE);
      world.clock.advance(2 * DAY);
      expect(await due()).toEqual({ ...NOTHING_DUE, tasks: true });
      expect((await runScheduledDuties(world.deps, repo)).tasks_expired).toBe(1);
      expect((await getTask(world.store.db, repo.id, task.id)).status).toBe('expired');
      expect(await due()).toEqual(NOTHING_DUE);
    });

    it('expire open proposals past their expiry', async () => {
      const proposal = await createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type: 'promote',
        title: 'Promote',
        expiresInDays: 2,
      });
      world.clock.advance(DAY);
      expect((await due()).council).toBe(false);
      expect((await runScheduledDuties(world.deps, repo)).proposals_expired).toBe(0);
      world.clock.advance(DAY);
      expect((await due()).council).toBe(true);
      expect((await runScheduledDuties(world.deps, repo)).proposals_expired).toBe(1);
      expect((await due()).council).toBe(false);
      expect((await getProposal(world.store.db, repo, proposal.id)).status).toBe('expired');
      expect(await runScheduledDuties(world.deps, repo)).toMatchObject(NOTHING);
    });

    it('execute a passed proposal whose voter stopped before executing it', async () => {
      const candidate = await makeAgent(world);
      const proposal = await createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type: 'add_maintainer',
        title: 'Add a maintainer',
        actionData: { agent_id: candidate.id },
      });
      // The state a crash between the resolving vote's commit and the execution leaves behind.
      await world.store.db
        .updateTable('gitswarm_council_proposals')
        .set({
          status: 'passed',
          votes_for: 2,
          resolution_reason: 'majority_for',
          resolved_at: world.clock.now().toISOString(),
        })
        .where('id', '=', proposal.id)
        .execute();
      expect((await due()).council).toBe(true);
      const report = await runScheduledDuties(world.deps, repo);
      expect(report.proposals_executed).toBe(1);
      expect(await isMaintainer(world.store.db, repo.id, candidate.id)).toBe(true);
      expect(await getProposal(world.store.db, repo, proposal.id)).toMatchObject({ executed: true });
      expect(await runScheduledDuties(world.deps, repo)).toMatchObject(NOTHING);
    });

    it('open voting when nominations close with enough candidates, then complete at the voting deadline', async () => {
      const election = await startElection(world.deps, {
        repo,
        actor: members[0]!,
        seats: 1,
        nominationDays: 2,
        votingDays: 3,
      });
      const candidate = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate, nominator: candidate });
      world.clock.advance(2 * DAY);
      const first = await runScheduledDuties(world.deps, repo);
      expect(first.elections).toEqual([{ election_id: election.id, to: 'voting' }]);
      const voting = await getElection(world.store.db, repo, election.id);
      expect(voting.voting_end_at).toBe(new Date(world.clock.now().getTime() + 3 * DAY).toISOString());
      expect((await activityOf(world, 'election.voting_started')).at(-1)?.agent_id).toBeNull();
      await voteInElection(world.deps, { repo, voter: members[1]!, candidate });
      world.clock.advance(3 * DAY);
      const second = await runScheduledDuties(world.deps, repo);
      expect(second.elections).toEqual([{ election_id: election.id, to: 'completed' }]);
      const council = await getCouncil(world.store.db, repo.id);
      const seated = await listCouncilMembers(world.store.db, council.id);
      expect(seated.map((m) => m.agent_id)).toContain(candidate.id);
    });

    it('cancel an election whose nominations close with too few candidates', async () => {
      const election = await startElection(world.deps, {
        repo,
        actor: world.owner,
        seats: 2,
        nominationDays: 1,
      });
      const candidate = await makeAgent(world);
      await nominateCandidate(world.deps, { repo, candidate, nominator: candidate });
      world.clock.advance(DAY);
      const report = await runScheduledDuties(world.deps, repo);
      expect(report.elections).toEqual([{ election_id: election.id, to: 'cancelled' }]);
      expect((await getElection(world.store.db, repo, election.id)).status).toBe('cancelled');
      expect((await activityOf(world, 'election.cancelled')).at(-1)?.metadata).toMatchObject({
        reason: 'nominations closed with 1 accepted candidates for 2 seats',
      });
    });

    it('end expired terms: members leave, the chair passes on, the council falls back to forming', async () => {
      const council = await getCouncil(world.store.db, repo.id);
      const before = await listCouncilMembers(world.store.db, council.id);
      expect(before).toHaveLength(4);
      // The three founders joined in January; the elected member a few days later.
      world.clock.set('2030-07-01T00:00:02.500Z');
      const report = await runScheduledDuties(world.deps, repo);
      expect(report.members_expired).toBe(3);
      const after = await listCouncilMembers(world.store.db, council.id);
      expect(after).toHaveLength(1);
      expect(after[0]?.role).toBe('chair');
      expect((await getCouncil(world.store.db, repo.id)).status).toBe('forming');
      const removed = await activityOf(world, 'council.member_removed');
      expect(removed.slice(-3).map((e) => e.metadata.reason)).toEqual([
        'term_expired',
        'term_expired',
        'term_expired',
      ]);
      expect(removed.at(-1)?.metadata.new_chair_id).toBe(after[0]?.agent_id);
      expect(await runScheduledDuties(world.deps, repo)).toMatchObject(NOTHING);
    });
  });
}
