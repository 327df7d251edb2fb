/**
 * Tasks, bounties, council, proposals, elections and stage over the API: the routes call the core's
 * rules, and the acting agent is always the key's owner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: governance routes`, () => {
    let t: TestApp;
    let owner: TestAgent;
    let alice: TestAgent;
    let bob: TestAgent;
    const call = (agent: TestAgent | null, method: string, url: string, payload?: unknown) =>
      callApi(t.app, agent, { method, url, payload });

    beforeAll(async () => {
      t = await startTestApp(dialect);
      owner = await registerTestAgent(t.app);
      alice = await registerTestAgent(t.app);
      bob = await registerTestAgent(t.app);
    });
    afterAll(async () => {
      await t.close();
    });

    it('tasks and bounties: deposit, create, claim, submit, review with payout', async () => {
      const repo = await createTestRepo(t.app, owner);
      expect((await call(alice, 'POST', `/repos/${repo.id}/budget/deposit`, { amount: 50 })).status).toBe(
        403,
      );
      const deposit = await call(owner, 'POST', `/repos/${repo.id}/budget/deposit`, {
        amount: 50,
        description: 'seed',
      });
      expect(deposit.status).toBe(201);
      expect(deposit.body.budget).toMatchObject({ total_credits: 50, available_credits: 50 });
      const tooBig = await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: 'Huge', amount: 500 });
      expect(tooBig.status).toBe(409);
      expect(tooBig.body.error.code).toBe('insufficient_budget');
      const created = await call(owner, 'POST', `/repos/${repo.id}/tasks`, {
        title: 'Fix the flaky test',
        amount: 20,
        priority: 'high',
        labels: ['tests'],
      });
      expect(created.status).toBe(201);
      const task = created.body.task;
      expect(task).toMatchObject({
        number: 1,
        status: 'open',
        amount: 20,
        labels: ['tests'],
        created_by: owner.id,
      });
      expect((await call(owner, 'GET', `/repos/${repo.id}/budget`)).body.budget).toMatchObject({
        available_credits: 30,
        reserved_credits: 20,
      });

      const ownClaim = await call(owner, 'POST', `/tasks/${task.id}/claim`);
      expect(ownClaim.status).toBe(403);
      const claim = await call(alice, 'POST', `/tasks/${task.id}/claim`);
      expect(claim.status).toBe(201);
      const second = await call(bob, 'POST', `/tasks/${task.id}/claim`);
      expect(second.status).toBe(409);
      const shown = await call(null, 'GET', `/tasks/${task.id}`);
      expect(shown.body.task.status).toBe('claimed');
      expect(shown.body.claims).toHaveLength(1);

      const claimId = claim.body.claim.id;
      expect((await call(bob, 'POST', `/claims/${claimId}/submit`)).status).toBe(404);
      const submitted = await call(alice, 'POST', `/claims/${claimId}/submit`, {
        notes: 'Fixed in stream x.',
      });
      expect(submitted.status).toBe(200);
      expect(submitted.body.claim).toMatchObject({
        status: 'submitted',
        submission_notes: 'Fixed in stream x.',
      });
      expect((await call(alice, 'POST', `/claims/${claimId}/review`, { verdict: 'approve' })).status).toBe(
        403,
      );
      const reviewed = await call(owner, 'POST', `/claims/${claimId}/review`, {
        verdict: 'approve',
        notes: 'Thanks.',
      });
      expect(reviewed.status).toBe(200);
      expect(reviewed.body).toMatchObject({
        payout: 20,
        task: { status: 'completed' },
        claim: { status: 'approved' },
      });
      const mine = await call(alice, 'GET', '/me/claims?status=approved');
      expect(mine.body.claims).toEqual([
        expect.objectContaining({ id: claimId, task_number: 1, payout_amount: 20 }),
      ]);
      const ledger = await call(owner, 'GET', `/repos/${repo.id}/budget/transactions`);
      expect(ledger.body.transactions.map((x: { type: string }) => x.type)).toEqual([
        'payout',
        'bounty_reserve',
        'deposit',
      ]);
    });

    it('claims can be abandoned and tasks cancelled; unknown ids are 404', async () => {
      const repo = await createTestRepo(t.app, owner);
      const task = (await call(owner, 'POST', `/repos/${repo.id}/tasks`, { title: 'Small thing' })).body.task;
      const claim = (await call(bob, 'POST', `/tasks/${task.id}/claim`)).body.claim;
      const abandoned = await call(bob, 'DELETE', `/claims/${claim.id}`);
      expect(abandoned.status).toBe(200);
      expect(abandoned.body.claim.status).toBe('abandoned');
      expect((await call(alice, 'POST', `/tasks/${task.id}/cancel`)).status).toBe(403);
      const cancelled = await call(owner, 'POST', `/tasks/${task.id}/cancel`);
      expect(cancelled.body.task.status).toBe('cancelled');
      for (const url of ['/tasks/00000000-0000-4000-8000-000000000000', '/tasks/12']) {
        const missing = await call(owner, 'GET', url);
        expect(missing.status).toBe(404);
        expect(missing.body.error.code).toBe('task_not_found');
      }
      expect((await call(owner, 'POST', '/claims/nope/submit')).body.error.code).toBe('claim_not_found');
      expect((await call(owner, 'GET', `/repos/${repo.id}/tasks?status=bogus`)).status).toBe(400);
    });

    it('council: create, join, propose, vote (executes), elections, stage', async () => {
      const repo = await createTestRepo(t.app, owner);
      expect((await call(owner, 'GET', `/repos/${repo.id}/council`)).body.error.code).toBe(
        'council_not_found',
      );
      expect((await call(alice, 'POST', `/repos/${repo.id}/council`, {})).status).toBe(403);
      const council = await call(owner, 'POST', `/repos/${repo.id}/council`, {
        min_karma: 0,
        min_contributions: 0,
        min_members: 2,
        max_members: 3,
        standard_quorum: 2,
        critical_quorum: 2,
      });
      expect(council.status).toBe(201);
      expect(council.body.council).toMatchObject({ status: 'forming', min_members: 2 });
      expect((await call(alice, 'POST', `/repos/${repo.id}/council/members`)).status).toBe(201);
      const joined = await call(bob, 'POST', `/repos/${repo.id}/council/members`);
      expect(joined.body.council.status).toBe('active');
      expect(joined.body.members.map((m: { agent_id: string }) => m.agent_id).sort()).toEqual(
        [alice.id, bob.id].sort(),
      );

      expect(
        (
          await call(owner, 'POST', `/repos/${repo.id}/council/proposals`, {
            type: 'change_settings',
            title: 'x',
          })
        ).status,
      ).toBe(403);
      const proposal = await call(alice, 'POST', `/repos/${repo.id}/council/proposals`, {
        type: 'change_settings',
        title: 'Require two reviews',
        action_data: { min_reviews: 2 },
      });
      expect(proposal.status).toBe(201);
      const id = proposal.body.proposal.id;
      const first = await call(alice, 'POST', `/proposals/${id}/vote`, { vote: 'for' });
      expect(first.body).toMatchObject({ vote: 'for', resolved: false });
      const spoof = await call(alice, 'POST', `/proposals/${id}/vote`, { vote: 'for', voter_id: bob.id });
      expect(spoof.status).toBe(400);
      const second = await call(bob, 'POST', `/proposals/${id}/vote`, { vote: 'for', comment: 'Yes.' });
      expect(second.body).toMatchObject({ resolved: true, proposal: { status: 'passed', executed: true } });
      expect((await call(null, 'GET', `/repos/${repo.id}`)).body.repo.min_reviews).toBe(2);
      const shown = await call(null, 'GET', `/proposals/${id}`);
      expect(shown.body.votes).toHaveLength(2);
      const listed = await call(null, 'GET', `/repos/${repo.id}/council/proposals?status=passed`);
      expect(listed.body.proposals).toHaveLength(1);
      const other = await call(bob, 'POST', `/repos/${repo.id}/council/proposals`, {
        type: 'change_settings',
        title: 'Later',
        action_data: { min_reviews: 3 },
      });
      expect((await call(alice, 'DELETE', `/proposals/${other.body.proposal.id}`)).status).toBe(403);
      expect((await call(bob, 'DELETE', `/proposals/${other.body.proposal.id}`)).body.proposal.status).toBe(
        'withdrawn',
      );

      // An election for the free seat: the owner stands, the members vote.
      const election = await call(owner, 'POST', `/repos/${repo.id}/council/elections`, { seats: 1 });
      expect(election.status).toBe(201);
      const electionId = election.body.election.id;
      const nominated = await call(owner, 'POST', `/elections/${electionId}/nominate`, { statement: 'Me.' });
      expect(nominated.body.candidate).toMatchObject({ agent_id: owner.id, status: 'accepted' });
      const voting = await call(owner, 'POST', `/elections/${electionId}/start-voting`);
      expect(voting.body.election.status).toBe('voting');
      expect(
        (await call(owner, 'POST', `/elections/${electionId}/vote`, { candidate_id: owner.id })).status,
      ).toBe(403);
      expect(
        (await call(alice, 'POST', `/elections/${electionId}/vote`, { candidate_id: owner.id })).status,
      ).toBe(200);
      const completed = await call(owner, 'POST', `/elections/${electionId}/complete`);
      expect(completed.body.elected.map((c: { agent_id: string }) => c.agent_id)).toEqual([owner.id]);
      const elections = await call(null, 'GET', `/repos/${repo.id}/council/elections`);
      expect(elections.body.elections[0].election.status).toBe('completed');
      expect((await call(null, 'GET', `/repos/${repo.id}/council/members`)).body.members).toHaveLength(3);

      const stage = await call(null, 'GET', `/repos/${repo.id}/stage`);
      expect(stage.body.stage).toMatchObject({ stage: 'seed', next: { stage: 'growth', eligible: false } });
      const refused = await call(owner, 'POST', `/repos/${repo.id}/stage/advance`);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('not_eligible');
      const forced = await call(owner, 'POST', `/repos/${repo.id}/stage/advance`, { force: 'growth' });
      expect(forced.body).toMatchObject({ from: 'seed', to: 'growth', forced: true });
      expect((await call(null, 'GET', `/repos/${repo.id}/stage`)).body.history).toHaveLength(1);
    });
  });
}
