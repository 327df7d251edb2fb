/**
 * Karma rules the karma tests left loose (found by mutation testing): the refusals' messages, a
 * revert that meets an earning reason whose ledger sums to zero or less (nothing to take back), and
 * the history's limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adjustKarma,
  agentKarma,
  awardMergeKarma,
  listKarmaTransactions,
  penalizeRevertedStream,
  repoKarma,
} from '../../src/core/governance/karma.js';
import type { GitSwarmError } from '../../src/errors.js';
import {
  insertReview,
  insertStream,
  seedAgent,
  seedRepo,
  type TestDeps,
  testDeps,
} from '../core/tasks/tasks-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../helpers/store.js';

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    return error as GitSwarmError;
  }
  throw new Error('expected a refusal');
}

const NO_SUCH_AGENT = '00000000-0000-4000-8000-0000000000aa';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: karma at its edges`, () => {
    let store: TestStore;
    let deps: TestDeps;
    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    it('refuses a bad amount, a bad reason and an unknown agent, saying which', async () => {
      const s = await seedRepo(deps);
      const agent = await seedAgent(deps, s);
      const input = { agentId: agent.id, repoId: s.repo.id, amount: 1, reason: 'test' };
      const zero = await caught(adjustKarma(deps, store.db, { ...input, amount: 0 }));
      expect([zero.code, zero.message]).toEqual([
        'invalid_input',
        'A karma change must be a non-zero whole number, got 0.',
      ]);
      const blank = await caught(adjustKarma(deps, store.db, { ...input, reason: '  ' }));
      expect([blank.code, blank.message]).toEqual([
        'invalid_input',
        'A karma reason must have 1 to 255 characters.',
      ]);
      const unknown = await caught(adjustKarma(deps, store.db, { ...input, agentId: NO_SUCH_AGENT }));
      expect([unknown.code, unknown.message]).toEqual([
        'agent_not_found',
        `No agent with id ${NO_SUCH_AGENT}`,
      ]);
      const profile = await caught(agentKarma(store.db, NO_SUCH_AGENT));
      expect([profile.code, profile.message]).toEqual([
        'agent_not_found',
        `No agent with id ${NO_SUCH_AGENT}`,
      ]);
      expect(await repoKarma(store.db, s.repo.id, agent.id)).toBe(0);
    });

    it('a revert takes back only earnings that sum above zero: a cancelled or negative one stays as it is', async () => {
      const s = await seedRepo(deps);
      const author = await seedAgent(deps, s, { prefix: 'author' });
      const cancelled = await seedAgent(deps, s, { prefix: 'cancelled' });
      const negative = await seedAgent(deps, s, { prefix: 'negative' });
      const stream = await insertStream(deps, { repo: s.repo, agent: author, status: 'merged' });
      await insertReview(deps, { stream, reviewer: cancelled, verdict: 'approve' });
      await awardMergeKarma(deps, store.db, { repo: s.repo, stream });
      const reason = `review_approved:${stream.id}`;
      // Ledger rows under the approver's earning reason that cancel it out, or more than that.
      await adjustKarma(deps, store.db, { agentId: cancelled.id, repoId: s.repo.id, amount: -1, reason });
      await adjustKarma(deps, store.db, { agentId: negative.id, repoId: s.repo.id, amount: -3, reason });
      expect([
        await repoKarma(store.db, s.repo.id, author.id),
        await repoKarma(store.db, s.repo.id, cancelled.id),
        await repoKarma(store.db, s.repo.id, negative.id),
      ]).toEqual([5, 0, -3]);

      const changes = await penalizeRevertedStream(deps, store.db, { repo: s.repo, stream });
      expect(changes.map((c) => [c.agentId, c.amount, c.reason])).toEqual([
        [author.id, -5, `reverted:stream_merged:${stream.id}`],
        [author.id, -10, `stream_reverted:${stream.id}`],
      ]);
      expect([
        await repoKarma(store.db, s.repo.id, author.id),
        await repoKarma(store.db, s.repo.id, cancelled.id),
        await repoKarma(store.db, s.repo.id, negative.id),
      ]).toEqual([-10, 0, -3]);
    });

    it('the history returns at most `limit` rows, newest first, and at least one', async () => {
      const s = await seedRepo(deps);
      const agent = await seedAgent(deps, s);
      for (const n of [1, 2, 3]) {
        await adjustKarma(deps, store.db, {
          agentId: agent.id,
          repoId: s.repo.id,
          amount: n,
          reason: `r${n}`,
        });
      }
      expect((await listKarmaTransactions(store.db, agent.id, { limit: 2 })).map((t) => t.reason)).toEqual([
        'r3',
        'r2',
      ]);
      expect((await listKarmaTransactions(store.db, agent.id, { limit: 0 })).map((t) => t.reason)).toEqual([
        'r3',
      ]);
      expect(await listKarmaTransactions(store.db, agent.id, { repoId: s.repo.id })).toHaveLength(3);
    });
  });
}
