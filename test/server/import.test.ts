/**
 * The import routes' refusals (core/repos/import.ts): who may import (403), into what (409: a repository
 * with history of its own, another importer's, a finished import, ids and names that belong to
 * others), and what (400: malformed batches, rows naming agents or rows outside the import, karma
 * the imported events do not earn, a budget ledger that does not balance). A refused batch
 * writes nothing; a batch sent twice changes nothing.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { streamRecord } from '../helpers/streams-fixture.js';
import {
  callApi,
  createTestRepo,
  registerTestAgent,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './helpers.js';

const AT = '2026-11-01T10:00:00.000Z';

function agentRow(name: string, extra: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    name,
    description: null,
    is_human: false,
    status: 'active',
    avatar_url: null,
    created_at: AT,
    api_key_hash: createHash('sha256')
      .update(`gs_${randomBytes(32).toString('base64url')}`)
      .digest('hex'),
    self: false,
    ...extra,
  };
}

function mergeRow(streamId: string, agentId: string) {
  return {
    id: randomUUID(),
    stream_id: streamId,
    agent_id: agentId,
    merge_commit: 'a'.repeat(40),
    target_branch: 'buffer',
    reverted_at: null,
    revert_commit: null,
    merged_at: AT,
    base_commit: null,
    head_commit: null,
  };
}

function ledgerRow(type: string, amount: number, extra: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    amount,
    type,
    balance_after: 0,
    description: null,
    agent_id: null,
    task_id: null,
    created_at: AT,
    ...extra,
  };
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: import refusals`, () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp(dialect);
    });
    afterAll(async () => {
      await t.close();
    });

    const post = (agent: TestAgent | null, repoId: string, kind: string, rows: unknown[]) =>
      callApi(t.app, agent, { method: 'POST', url: `/repos/${repoId}/import/${kind}`, payload: { rows } });

    /** An owner, their empty repository, and one imported agent (`bob`). */
    async function started() {
      const owner = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      const bob = agentRow(`bob-${randomBytes(3).toString('hex')}`);
      const me = agentRow(owner.name, { self: true, api_key_hash: null });
      const created = await post(owner, repo.id, 'agents', [me, bob]);
      expect(created).toMatchObject({ status: 200, body: { kind: 'agents', created: 2, existing: 0 } });
      return { owner, repo, bob, me };
    }

    const countRows = async (
      table: 'gitswarm_streams' | 'gitswarm_budget_transactions' | 'gitswarm_review_karma_transactions',
      repoId: string,
    ) => {
      if (table === 'gitswarm_budget_transactions') {
        return (
          await t.store.db
            .selectFrom('gitswarm_budget_transactions as x')
            .innerJoin('gitswarm_repo_budgets as b', 'b.id', 'x.budget_id')
            .select('x.id')
            .where('b.repo_id', '=', repoId)
            .execute()
        ).length;
      }
      return (await t.store.db.selectFrom(table).select('id').where('repo_id', '=', repoId).execute()).length;
    };

    it('refuses an agent who is not an admin of the repository (403), and anonymous callers (401)', async () => {
      const owner = await registerTestAgent(t.app);
      const stranger = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      const refused = await post(stranger, repo.id, 'agents', [agentRow('mallory')]);
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(
        (await callApi(t.app, stranger, { method: 'GET', url: `/repos/${repo.id}/import` })).status,
      ).toBe(403);
      expect(
        (await callApi(t.app, stranger, { method: 'POST', url: `/repos/${repo.id}/import/finish` })).status,
      ).toBe(403);
      expect((await post(null, repo.id, 'agents', [agentRow('mallory')])).status).toBe(401);
      expect(
        await t.store.db.selectFrom('gitswarm_imports').selectAll().where('repo_id', '=', repo.id).execute(),
      ).toEqual([]);
      expect(
        await t.store.db.selectFrom('gitswarm_agents').select('id').where('name', '=', 'mallory').execute(),
      ).toEqual([]);
      expect((await callApi(t.app, owner, { method: 'GET', url: `/repos/${repo.id}/import` })).body).toEqual({
        import: null,
      });
    });

    it('refuses a repository with history of its own (409) and writes nothing', async () => {
      const owner = await registerTestAgent(t.app);
      const repo = await createTestRepo(t.app, owner);
      const task = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/tasks`,
        payload: { title: 'Mine' },
      });
      expect(task.status).toBe(201);
      const refused = await post(owner, repo.id, 'agents', [agentRow(`x-${randomBytes(3).toString('hex')}`)]);
      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
      expect(refused.body.error.message).toContain('tasks');
      expect(
        await t.store.db.selectFrom('gitswarm_imports').selectAll().where('repo_id', '=', repo.id).execute(),
      ).toEqual([]);
    });

    it('refuses a second importer while the import is open, and any batch once it is finished (409)', async () => {
      const { owner, repo, bob } = await started();
      const admin = await registerTestAgent(t.app);
      const grant = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/access`,
        payload: { agent_id: admin.id, access_level: 'admin' },
      });
      expect(grant.status).toBe(201);
      const other = await post(admin, repo.id, 'streams', [streamRecord(bob.id)]);
      expect(other).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });

      const finished = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/import/finish`,
      });
      expect(finished).toMatchObject({
        status: 200,
        body: { import: { status: 'done', agents_created: 1 } },
      });
      const again = await callApi(t.app, owner, { method: 'POST', url: `/repos/${repo.id}/import/finish` });
      expect(again.body).toEqual(finished.body);
      const late = await post(owner, repo.id, 'streams', [streamRecord(bob.id)]);
      expect(late).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
      expect(await countRows('gitswarm_streams', repo.id)).toBe(0);
      const events = await callApi(t.app, owner, { method: 'GET', url: `/repos/${repo.id}/activity` });
      expect(
        events.body.activity.filter((e: { event_type: string }) => e.event_type === 'repo.imported'),
      ).toHaveLength(1);
    });

    it('takes a batch sent twice once, and answers which ids it holds', async () => {
      const { owner, repo, bob } = await started();
      const rows = [streamRecord(bob.id), streamRecord(bob.id)];
      expect((await post(owner, repo.id, 'streams', rows)).body).toEqual({
        kind: 'streams',
        received: 2,
        created: 2,
        existing: 0,
      });
      expect((await post(owner, repo.id, 'streams', rows)).body).toEqual({
        kind: 'streams',
        received: 2,
        created: 0,
        existing: 2,
      });
      expect(await countRows('gitswarm_streams', repo.id)).toBe(2);
      const unknown = randomBytes(6).toString('hex');
      const known = await callApi(t.app, owner, {
        method: 'POST',
        url: `/repos/${repo.id}/import/known`,
        payload: { kind: 'streams', ids: [rows[0]?.id, unknown] },
      });
      expect(known.body).toEqual({ known: [rows[0]?.id] });
    });

    it('refuses malformed batches (400) and unknown kinds (404)', async () => {
      const { owner, repo, bob } = await started();
      const cases: [string, unknown][] = [
        ['an unknown field', [{ ...streamRecord(bob.id), owner: 'me' }]],
        ['a missing field', [(({ branch: _b, ...rest }) => rest)(streamRecord(bob.id))]],
        ['a wrong type', [streamRecord(bob.id, { merge_priority: '1' })]],
        ['a bad status', [streamRecord(bob.id, { status: 'done' })]],
        ['a bad id', [streamRecord(bob.id, { id: '../etc' })]],
        ['a date that is none', [streamRecord(bob.id, { created_at: '2026-13-45T99:99:99Z' })]],
        ['an unsafe branch', [streamRecord(bob.id, { branch: '--upload-pack=touch /tmp/x' })]],
        ['no rows', []],
        ['too many rows', Array.from({ length: 501 }, () => streamRecord(bob.id))],
      ];
      for (const [what, rows] of cases) {
        const response = await post(owner, repo.id, 'streams', rows as unknown[]);
        expect({ what, status: response.status, code: response.body.error?.code }).toEqual({
          what,
          status: 400,
          code: 'invalid_input',
        });
      }
      expect(
        (
          await callApi(t.app, owner, {
            method: 'POST',
            url: `/repos/${repo.id}/import/streams`,
            payload: {},
          })
        ).status,
      ).toBe(400);
      expect((await post(owner, repo.id, 'wallets', [{ id: 'x' }])).status).toBe(404);
      expect(await countRows('gitswarm_streams', repo.id)).toBe(0);
    });

    it('refuses rows naming agents or rows outside the import (400), and ids of other repositories (409)', async () => {
      const a = await started();
      const b = await started();
      const stranger = await registerTestAgent(t.app);
      const forged = await post(a.owner, a.repo.id, 'streams', [streamRecord(stranger.id)]);
      expect(forged).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
      expect(forged.body.error.message).toContain('agent_id');
      // B's agent is B's import's, not A's.
      expect((await post(a.owner, a.repo.id, 'streams', [streamRecord(b.bob.id)])).status).toBe(400);

      const theirs = streamRecord(b.bob.id);
      expect((await post(b.owner, b.repo.id, 'streams', [theirs])).status).toBe(200);
      const commit = {
        id: randomUUID(),
        stream_id: theirs.id,
        agent_id: a.bob.id,
        commit_hash: 'b'.repeat(40),
        change_id: null,
        message: 'sneaked in',
        created_at: AT,
      };
      const reached = await post(a.owner, a.repo.id, 'commits', [commit]);
      expect(reached).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
      const taken = await post(a.owner, a.repo.id, 'streams', [{ ...theirs, agent_id: a.bob.id }]);
      expect(taken).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
      // One bad row refuses the whole batch.
      const mixed = await post(a.owner, a.repo.id, 'streams', [
        streamRecord(a.bob.id),
        streamRecord(stranger.id),
      ]);
      expect(mixed.status).toBe(400);
      expect(await countRows('gitswarm_streams', a.repo.id)).toBe(0);
      expect(
        await t.store.db
          .selectFrom('gitswarm_stream_commits')
          .select('id')
          .where('stream_id', '=', theirs.id)
          .execute(),
      ).toEqual([]);
    });

    it('refuses agents whose id or name belongs to someone else on the server (409)', async () => {
      const { owner, repo } = await started();
      const existing = await registerTestAgent(t.app);
      const sameName = await post(owner, repo.id, 'agents', [agentRow(existing.name.toUpperCase())]);
      expect(sameName).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
      const sameId = await post(owner, repo.id, 'agents', [agentRow('someone-new', { id: existing.id })]);
      expect(sameId).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
      const otherSelf = await post(owner, repo.id, 'agents', [
        agentRow(owner.name, { self: true, api_key_hash: null }),
      ]);
      expect(otherSelf).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
    });

    it('refuses karma the imported events do not earn, and a budget ledger that does not balance (400)', async () => {
      const { owner, repo, bob } = await started();
      const merged = streamRecord(bob.id);
      const open = streamRecord(bob.id, { status: 'in_review' });
      expect((await post(owner, repo.id, 'streams', [merged, open])).status).toBe(200);
      expect((await post(owner, repo.id, 'merges', [mergeRow(merged.id, bob.id)])).status).toBe(200);
      const karma = (reason: string, amount: number, agentId: string = bob.id) => ({
        id: randomUUID(),
        agent_id: agentId,
        amount,
        reason,
        created_at: AT,
      });
      const unearned: [string, ReturnType<typeof karma>][] = [
        ['more than a merge earns', karma(`stream_merged:${merged.id}`, 500)],
        ['a stream that did not merge', karma(`stream_merged:${open.id}`, 5)],
        ['a reason nothing earns', karma('gift', 100)],
        ['an approval never given', karma(`review_approved:${merged.id}`, 1)],
        ['a take-back of a merge not reverted', karma(`reverted:stream_merged:${merged.id}`, -5)],
        ["someone else's merge", karma(`stream_merged:${merged.id}`, 5, owner.id)],
      ];
      for (const [what, row] of unearned) {
        const response = await post(owner, repo.id, 'karma', [row]);
        expect({ what, status: response.status }).toEqual({ what, status: 400 });
        expect(response.body.error.message).toContain(`Import karma row ${row.id}:`);
      }
      const unknownStream = await post(owner, repo.id, 'karma', [karma('stream_merged:feedfacecafe', 5)]);
      expect(unknownStream.body.error.message).toContain("is not one of this import's streams");
      const twice = karma(`stream_merged:${merged.id}`, 5);
      const repeated = await post(owner, repo.id, 'karma', [twice, { ...twice, id: randomUUID() }]);
      expect(repeated.status).toBe(400);
      expect(repeated.body.error.message).toContain(`stream_merged:${merged.id} was awarded already`);
      expect(await countRows('gitswarm_review_karma_transactions', repo.id)).toBe(0);
      const earned = await post(owner, repo.id, 'karma', [twice]);
      expect(earned).toMatchObject({ status: 200, body: { created: 1 } });
      const shown = await callApi(t.app, owner, { method: 'GET', url: `/agents/${bob.id}/karma` });
      expect(shown.body).toMatchObject({ total: 5, repositories: [{ repo_id: repo.id, karma: 5 }] });

      // A reverted merge: what it earned taken back, and the author's penalty.
      const undone = streamRecord(bob.id, { status: 'reverted' });
      expect((await post(owner, repo.id, 'streams', [undone])).status).toBe(200);
      const revertedMerge = {
        ...mergeRow(undone.id, bob.id),
        reverted_at: AT,
        revert_commit: 'c'.repeat(40),
      };
      expect((await post(owner, repo.id, 'merges', [revertedMerge])).status).toBe(200);
      const history = [
        karma(`stream_merged:${undone.id}`, 5),
        karma(`reverted:stream_merged:${undone.id}`, -5),
        karma(`stream_reverted:${undone.id}`, -10),
      ];
      expect((await post(owner, repo.id, 'karma', [karma(`stream_reverted:${undone.id}`, -5)])).status).toBe(
        400,
      );
      expect((await post(owner, repo.id, 'karma', [karma(`stream_reverted:${merged.id}`, -10)])).status).toBe(
        400,
      );
      expect((await post(owner, repo.id, 'karma', history)).body).toMatchObject({ created: 3 });
      expect((await post(owner, repo.id, 'karma', history)).body).toMatchObject({ created: 0, existing: 3 });
      const after = await callApi(t.app, owner, { method: 'GET', url: `/agents/${bob.id}/karma` });
      expect(after.body).toMatchObject({ total: -5, repositories: [{ repo_id: repo.id, karma: -5 }] });

      const budget = { id: randomUUID(), max_bounty_per_issue: 1000, created_at: AT };
      expect((await post(owner, repo.id, 'budget', [budget])).status).toBe(200);
      const overdrawn = await post(owner, repo.id, 'budget_transactions', [
        ledgerRow('deposit', 50),
        ledgerRow('bounty_reserve', 80),
      ]);
      expect(overdrawn).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
      const unreserved = await post(owner, repo.id, 'budget_transactions', [ledgerRow('payout', 10)]);
      expect(unreserved.status).toBe(400);
      expect(await countRows('gitswarm_budget_transactions', repo.id)).toBe(0);
      const fine = await post(owner, repo.id, 'budget_transactions', [
        ledgerRow('deposit', 500, { balance_after: 999_999 }),
        ledgerRow('bounty_reserve', 80),
        ledgerRow('payout', 80, { agent_id: bob.id }),
      ]);
      expect(fine.status).toBe(200);
      const shownBudget = await callApi(t.app, owner, { method: 'GET', url: `/repos/${repo.id}/budget` });
      expect(shownBudget.body.budget).toMatchObject({
        total_credits: 500,
        available_credits: 420,
        reserved_credits: 0,
        paid_out_credits: 80,
      });
    });

    it('takes approvals, a re-merged stream and ledgers that end at zero', async () => {
      const { owner, repo, bob, me } = await started();
      const carol = agentRow(`carol-${randomBytes(3).toString('hex')}`);
      expect((await post(owner, repo.id, 'agents', [carol])).body).toMatchObject({ created: 1 });
      const stream = streamRecord(bob.id);
      expect((await post(owner, repo.id, 'streams', [stream])).status).toBe(200);
      const review = (reviewer: string, verdict: string) => ({
        id: randomUUID(),
        stream_id: stream.id,
        reviewer_id: reviewer,
        review_block_id: null,
        verdict,
        feedback: null,
        is_human: false,
        tested: false,
        reviewed_at: AT,
        head_commit: null,
        diff_fingerprint: null,
      });
      // The importer's Mode A id (me.id) names the importer; carol only commented.
      const reviews = [review(me.id, 'approve'), review(carol.id, 'comment')];
      expect((await post(owner, repo.id, 'reviews', reviews)).body).toMatchObject({ created: 2 });
      // Merged, reverted, merged again: the first merge's karma taken back, the second's given.
      const first = { ...mergeRow(stream.id, bob.id), reverted_at: AT, revert_commit: 'd'.repeat(40) };
      const second = mergeRow(stream.id, bob.id);
      expect((await post(owner, repo.id, 'merges', [first, second])).body).toMatchObject({ created: 2 });
      const row = (agentId: string, reason: string, amount: number) => ({
        id: randomUUID(),
        agent_id: agentId,
        amount,
        reason,
        created_at: AT,
      });
      const notApproved = await post(owner, repo.id, 'karma', [
        row(carol.id, `review_approved:${stream.id}`, 1),
      ]);
      expect(notApproved.body.error.message).toContain('did not approve');
      const earned = [
        row(me.id, `review_approved:${stream.id}`, 1),
        row(me.id, `reverted:review_approved:${stream.id}`, -1),
        row(bob.id, `stream_merged:${stream.id}`, 5),
      ];
      expect((await post(owner, repo.id, 'karma', earned)).body).toMatchObject({ created: 3 });
      const mine = await callApi(t.app, owner, { method: 'GET', url: `/agents/${owner.id}/karma` });
      expect(mine.body).toMatchObject({ total: 0, repositories: [{ repo_id: repo.id, karma: 0 }] });
      const rows = await t.store.db
        .selectFrom('gitswarm_review_karma_transactions')
        .select('agent_id')
        .where('repo_id', '=', repo.id)
        .where('reason', 'like', 'review_approved:%')
        .execute();
      expect(rows).toEqual([{ agent_id: owner.id }]);

      expect(
        (
          await post(owner, repo.id, 'budget', [
            { id: randomUUID(), max_bounty_per_issue: 10, created_at: AT },
          ])
        ).status,
      ).toBe(200);
      const budget = async () =>
        (await callApi(t.app, owner, { method: 'GET', url: `/repos/${repo.id}/budget` })).body.budget;
      // Everything deposited withdrawn again: a total of zero balances.
      expect(
        (
          await post(owner, repo.id, 'budget_transactions', [
            ledgerRow('deposit', 50),
            ledgerRow('withdrawal', 50),
          ])
        ).status,
      ).toBe(200);
      expect(await budget()).toMatchObject({ total_credits: 0, available_credits: 0, reserved_credits: 0 });
      // All of it reserved: nothing available, which balances too; a release gives some back.
      expect(
        (
          await post(owner, repo.id, 'budget_transactions', [
            ledgerRow('deposit', 80),
            ledgerRow('bounty_reserve', 80),
          ])
        ).status,
      ).toBe(200);
      expect(await budget()).toMatchObject({ total_credits: 80, available_credits: 0, reserved_credits: 80 });
      expect(
        (await post(owner, repo.id, 'budget_transactions', [ledgerRow('bounty_release', 30)])).status,
      ).toBe(200);
      expect(await budget()).toMatchObject({
        total_credits: 80,
        available_credits: 30,
        reserved_credits: 50,
        max_bounty_per_issue: 10,
      });
      const unbalanced = await post(owner, repo.id, 'budget_transactions', [ledgerRow('bounty_release', 60)]);
      expect(unbalanced.body.error.message).toContain('does not balance (total 80, reserved -10, paid 0)');
    });
  });
}

describe('import on a server without open registration', () => {
  let t: TestApp;
  let admin: TestAgent;
  let owner: TestAgent;

  beforeAll(async () => {
    t = await startTestApp('sqlite', { roles: { admins: ['root-admin'] } });
    admin = await registerTestAgent(t.app, 'root-admin');
    owner = await registerTestAgent(t.app);
    // Registration closes after the first agents exist (the app reads the mode at build time).
    await t.app.close();
    const { buildApp } = await import('../../src/server/app.js');
    t = {
      ...t,
      app: await buildApp({
        store: t.store,
        rateLimit: false,
        notifications: false,
        registration: 'closed',
        roles: { admins: ['root-admin'] },
      }),
    };
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates agents only when a server admin imports (403 otherwise)', async () => {
    const mine = await createTestRepo(t.app, owner);
    const refused = await callApi(t.app, owner, {
      method: 'POST',
      url: `/repos/${mine.id}/import/agents`,
      payload: { rows: [agentRow('newcomer')] },
    });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    // Nothing of the refused batch stays; a server admin may import into it, though not its owner.
    const byAdmin = await callApi(t.app, admin, {
      method: 'POST',
      url: `/repos/${mine.id}/import/agents`,
      payload: { rows: [agentRow('newcomer')] },
    });
    expect(byAdmin).toMatchObject({ status: 200, body: { created: 1 } });
    const ownerLater = await callApi(t.app, owner, {
      method: 'POST',
      url: `/repos/${mine.id}/import/agents`,
      payload: { rows: [agentRow('another')] },
    });
    expect(ownerLater).toMatchObject({ status: 409, body: { error: { code: 'import_refused' } } });
  });
});
