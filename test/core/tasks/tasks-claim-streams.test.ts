/**
 * A claim links only to the claimant's own stream in the task's repository (issue 10, item 2).
 * The attack: claim a bounty task with another agent's stream (in the same repository or another
 * one); when the victim's stream merged, the attacker's claim was handed in and paid. Every path
 * that links a claim and a stream is refused, and a claim that links one anyway (a row from
 * before the check) is neither handed in by the merge nor approvable.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentKarma } from '../../../src/core/governance/karma.js';
import { onStreamMerged } from '../../../src/core/streams/stream-hooks.js';
import { insertStreamRecord } from '../../../src/core/streams/stream-records.js';
import { deposit, getBudget } from '../../../src/core/tasks/budget.js';
import {
  claimTask,
  createTask,
  getTask,
  linkClaimToStream,
  listClaims,
  reviewClaim,
  submitClaim,
} from '../../../src/core/tasks/tasks.js';
import { newId, newStreamId } from '../../../src/util/ids.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import {
  expectRefused,
  insertStream,
  markMerged,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from './tasks-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: claims link only the claimant's own stream`, () => {
    let store: TestStore;
    let deps: TestDeps;
    beforeAll(async () => {
      store = await openTestStore(dialect);
    });
    afterAll(async () => {
      await store.close();
    });
    beforeEach(() => {
      deps = testDeps(store);
    });

    /** Repository R with a 500-credit bounty task, a victim with a stream there, an attacker. */
    async function setup() {
      const r = await seedRepo(deps);
      const other = await seedRepo(deps);
      const victim = await seedAgent(deps, r, { prefix: 'victim' });
      const attacker = await seedAgent(deps, r, { prefix: 'attacker' });
      await deposit(deps, store.db, { repo: r.repo, actor: r.owner, amount: 1000 });
      const task = await createTask(deps, store.db, {
        repo: r.repo,
        actor: r.owner,
        title: 'Bounty',
        amount: 500,
      });
      const victimStream = await insertStream(deps, { repo: r.repo, agent: victim });
      const attackerStreamElsewhere = await insertStream(deps, { repo: other.repo, agent: attacker });
      return { ...r, other, victim, attacker, task, victimStream, attackerStreamElsewhere };
    }

    it("refuses a claim with another agent's stream (forbidden) or a stream of another repository (invalid_input), changing nothing", async () => {
      const s = await setup();
      const claim = (streamId: string) =>
        claimTask(deps, store.db, { repo: s.repo, taskRef: s.task.id, agent: s.attacker, streamId });
      await expectRefused(store, 'forbidden', () => claim(s.victimStream.id));
      await expectRefused(store, 'invalid_input', () => claim(s.attackerStreamElsewhere.id));
      await expectRefused(store, 'invalid_input', () => claim(newStreamId()));
      const victimElsewhere = await insertStream(deps, { repo: s.other.repo, agent: s.victim });
      await expectRefused(store, 'invalid_input', () => claim(victimElsewhere.id));
      await expect(claim(s.victimStream.id)).rejects.toThrow(
        /another agent's; a claim links only to the claimant's own stream/,
      );
      expect((await getTask(store.db, s.repo.id, s.task.id)).status).toBe('open');

      // workspace create --task and Mode B stream reports link through linkClaimToStream: the same rule.
      await expectRefused(store, 'forbidden', () =>
        linkClaimToStream(deps, store.db, {
          repo: s.repo,
          taskRef: s.task.id,
          agent: s.attacker,
          streamId: s.victimStream.id,
        }),
      );
      const own = await insertStream(deps, { repo: s.repo, agent: s.attacker });
      const held = await claimTask(deps, store.db, { repo: s.repo, taskRef: s.task.id, agent: s.attacker });
      await expectRefused(store, 'forbidden', () =>
        linkClaimToStream(deps, store.db, {
          repo: s.repo,
          taskRef: s.task.id,
          agent: s.attacker,
          streamId: s.victimStream.id,
        }),
      );
      await expectRefused(store, 'invalid_input', () =>
        linkClaimToStream(deps, store.db, {
          repo: s.repo,
          taskRef: s.task.id,
          agent: s.attacker,
          streamId: s.attackerStreamElsewhere.id,
        }),
      );
      // Its own stream in the repository links.
      const linked = await linkClaimToStream(deps, store.db, {
        repo: s.repo,
        taskRef: s.task.id,
        agent: s.attacker,
        streamId: own.id,
      });
      expect(linked).toMatchObject({ id: held.id, stream_id: own.id });
    });

    it('a stream recorded with its task links the claim to that new stream of its author', async () => {
      const s = await setup();
      const id = newStreamId();
      const stream = await store.db.transaction().execute((trx) =>
        insertStreamRecord(deps, trx, {
          repo: s.repo,
          agent: s.victim,
          id,
          name: `work-${id}`,
          branch: `stream/${id}`,
          parent: null,
          baseBranch: 'buffer',
          baseCommit: null,
          taskRef: s.task.id,
        }),
      );
      expect(stream.task_id).toBe(s.task.id);
      expect(await listClaims(store.db, { taskId: s.task.id })).toEqual([
        expect.objectContaining({ agent_id: s.victim.id, stream_id: id, status: 'active' }),
      ]);
    });

    it("a claim that names the victim's stream anyway is not handed in by its merge and cannot be paid", async () => {
      const s = await setup();
      // A claim row as the unchecked route used to write it.
      const planted = await store.db
        .insertInto('gitswarm_task_claims')
        .values({
          id: newId(),
          task_id: s.task.id,
          agent_id: s.attacker.id,
          stream_id: s.victimStream.id,
          status: 'active',
          claimed_at: deps.clock.now().toISOString(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await store.db
        .updateTable('gitswarm_tasks')
        .set({ status: 'claimed' })
        .where('id', '=', s.task.id)
        .execute();

      // The victim's stream merges: the attacker's claim is not handed in.
      const merged = await markMerged(deps, s.victimStream);
      await onStreamMerged(deps, store.db, {
        repo: s.repo,
        stream: merged,
        mergeCommit: 'f'.repeat(40),
        actorId: null,
      });
      expect((await getTask(store.db, s.repo.id, s.task.id)).status).toBe('claimed');
      expect(await listClaims(store.db, { taskId: s.task.id })).toEqual([
        expect.objectContaining({ id: planted.id, status: 'active' }),
      ]);
      // Handing it in by hand re-checks the stream's author.
      await expectRefused(store, 'forbidden', () =>
        submitClaim(deps, store.db, { repo: s.repo, agent: s.attacker, taskRef: s.task.id }),
      );
      // Even submitted, approval (and so payment) is refused; a rejection still closes it.
      await store.db
        .updateTable('gitswarm_task_claims')
        .set({ status: 'submitted' })
        .where('id', '=', planted.id)
        .execute();
      await store.db
        .updateTable('gitswarm_tasks')
        .set({ status: 'submitted' })
        .where('id', '=', s.task.id)
        .execute();
      await expectRefused(store, 'forbidden', () =>
        reviewClaim(deps, store.db, {
          repo: s.repo,
          claimRef: planted.id,
          reviewer: s.owner,
          verdict: 'approve',
        }),
      );
      const rejected = await reviewClaim(deps, store.db, {
        repo: s.repo,
        claimRef: planted.id,
        reviewer: s.owner,
        verdict: 'reject',
      });
      expect(rejected).toMatchObject({ payout: 0, claim: { status: 'rejected' }, task: { status: 'open' } });

      // The attacker got nothing: no credits, no karma; the victim has its merge karma.
      expect(await getBudget(store.db, s.repo.id)).toMatchObject({
        paid_out_credits: 0,
        reserved_credits: 500,
      });
      expect((await agentKarma(store.db, s.attacker.id)).total).toBe(0);
      expect((await agentKarma(store.db, s.victim.id)).total).toBe(5);
    });
  });
}
