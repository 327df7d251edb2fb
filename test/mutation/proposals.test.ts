/**
 * Proposal rules the other proposal tests leave loose, each pinned where a deliberate bug (a
 * mutant) would change the answer: action data at its limits and the refusals' messages, hints
 * and details; titles, descriptions and expiry at their limits; expiry at the very instant; the
 * votes' records and activity; and execution: an access level that was not granted, a stream that
 * left the queue, a failure that is not a GitSwarm error, a proposal executed once only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeStream } from '../../src/core/federation.js';
import { createCouncil, joinCouncil } from '../../src/core/governance/council.js';
import {
  executePendingProposals,
  executeProposal,
  setAccessLevel,
  setMergePriority,
} from '../../src/core/governance/proposal-execution.js';
import {
  createProposal,
  expireDueProposals,
  hasDueProposals,
  listProposals,
  showProposal,
  validateActionData,
  voteOnProposal,
  withdrawProposal,
} from '../../src/core/governance/proposals.js';
import { archiveRepo } from '../../src/core/repos/repo-archive.js';
import type { Agent, Council, Repo } from '../../src/store/index.js';
import { toJson } from '../../src/store/index.js';
import {
  activityOf,
  DAY,
  expectCode,
  insertStream,
  makeAgent,
  openWorld,
  type World,
} from '../core/governance/council-setup.js';
import { approve, useGitStore, workOn } from '../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { seedAgent } from '../helpers/streams-fixture.js';

const HINT = 'See the fields of each proposal type in: gitswarm council propose --help';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: proposal rules at their edges`, () => {
    let world: World;
    let repo: Repo;
    let members: Agent[];
    let council: Council;

    const propose = (type: string, actionData: unknown, extra: Record<string, unknown> = {}) =>
      createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type,
        title: `${type} proposal`,
        actionData,
        ...extra,
      });
    const vote = (proposal: string, voter: Agent, choice = 'for', comment?: string) =>
      voteOnProposal(world.deps, { repo, proposal, voter, vote: choice, comment });

    /** Votes for with every member until the proposal resolves. */
    async function pass(type: string, actionData: unknown) {
      const proposal = await propose(type, actionData);
      for (const member of members) {
        const outcome = await vote(proposal.id, member);
        if (outcome.resolved) return outcome.proposal;
      }
      throw new Error('did not resolve');
    }

    beforeAll(async () => {
      world = await openWorld(dialect);
      repo = world.repo;
      council = await createCouncil(world.deps, {
        repo,
        actor: world.owner,
        settings: { min_members: 3, standard_quorum: 2, critical_quorum: 3 },
      });
      members = [];
      for (let i = 0; i < 3; i++) {
        const agent = await makeAgent(world);
        ({ council } = await joinCouncil(world.deps, { repo, agent }));
        members.push(agent);
      }
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('action data refusals name the type and the field, with the hint', async () => {
      const db = world.store.db;
      const agent = await makeAgent(world);
      const cases: [string, unknown, string][] = [
        ['promote', 'x', 'Invalid promote data: expected a JSON object.'],
        ['promote', { force: true }, 'Invalid promote data: unknown field "force" (expected no fields).'],
        [
          'add_maintainer',
          { agent_id: agent.id, extra: 1 },
          'Invalid add_maintainer data: unknown field "extra" (expected agent_id).',
        ],
        [
          'modify_access',
          { agent_id: agent.id, level: 'read', extra: 1 },
          'Invalid modify_access data: unknown field "extra" (expected agent_id, level).',
        ],
        ['add_maintainer', { agent_id: '' }, 'Invalid add_maintainer data: agent_id is required.'],
        ['add_maintainer', { agent_id: 7 }, 'Invalid add_maintainer data: agent_id is required.'],
        [
          'modify_access',
          { agent_id: agent.id, level: 'root' },
          'Invalid modify_access data: level must be none, read, write, maintain or admin.',
        ],
        ['change_settings', { settings: {} }, 'Invalid change_settings data: name at least one setting.'],
        ['change_settings', { settings: [] }, 'Invalid change_settings data: name at least one setting.'],
        [
          'change_settings',
          { buffer_branch: 'x' },
          'Invalid change_settings data: "buffer_branch" cannot be changed by the council (allowed: consensus_threshold, min_reviews, human_review_weight, merge_mode, ownership_model, auto_promote_on_green, auto_revert_on_red, stabilize_command, agent_access, min_karma, stale_reviews).',
        ],
      ];
      for (const [type, data, message] of cases) {
        const error = await expectCode(
          validateActionData(db, repo, type as 'promote', data),
          'invalid_input',
        );
        expect([type, error.message]).toEqual([type, message]);
        expect((error as Error & { hint?: string }).hint).toBe(HINT);
      }
      // A list of setting names is no settings object, even with a known name in it.
      const list = await expectCode(
        validateActionData(db, repo, 'change_settings', { settings: ['min_reviews'] }),
        'invalid_input',
      );
      expect(list.message).toBe('Invalid change_settings data: name at least one setting.');
      expect(await validateActionData(db, repo, 'promote', null)).toEqual({});
      const missing = await expectCode(
        validateActionData(db, repo, 'add_maintainer', { agent_id: 'ghost' }),
        'agent_not_found',
      );
      expect(missing.message).toBe('No agent named "ghost".');
    });

    it('maintainer changes: who is already in, who is not, and the owner say so', async () => {
      const db = world.store.db;
      const outsider = await makeAgent(world);
      const owner = await expectCode(
        validateActionData(db, repo, 'add_maintainer', { agent_id: world.owner.id }),
        'already_exists',
      );
      expect(owner.message).toBe(`Agent ${world.owner.name} is already owner of this repository.`);
      const notOne = await expectCode(
        validateActionData(db, repo, 'remove_maintainer', { agent_id: outsider.id }),
        'not_found',
      );
      expect(notOne.message).toBe(`Agent ${outsider.name} is not a maintainer.`);
      const removeOwner = await expectCode(
        validateActionData(db, repo, 'remove_maintainer', { agent_id: world.owner.name }),
        'forbidden',
      );
      expect(removeOwner.message).toBe(
        `Agent ${world.owner.name} is the owner; the owner cannot be removed.`,
      );
      expect(
        await validateActionData(db, repo, 'modify_access', { agent_id: outsider.name, level: 'none' }),
      ).toEqual({ agent_id: outsider.id, agent_name: outsider.name, level: 'none' });
    });

    it('change_settings: nested or flat, and a single key named settings that is not an object is a setting', async () => {
      const db = world.store.db;
      expect(await validateActionData(db, repo, 'change_settings', { settings: { min_reviews: 2 } })).toEqual(
        {
          settings: { min_reviews: 2 },
        },
      );
      // Two keys: the object itself is the settings, so "settings" is an unknown setting.
      const two = await expectCode(
        validateActionData(db, repo, 'change_settings', { settings: { min_reviews: 2 }, min_karma: 1 }),
        'invalid_input',
      );
      expect(two.message).toMatch(
        /^Invalid change_settings data: "settings" cannot be changed by the council/,
      );
      const notObject = await expectCode(
        validateActionData(db, repo, 'change_settings', { settings: null }),
        'invalid_input',
      );
      expect(notObject.message).toMatch(/"settings" cannot be changed/);
      const text = await expectCode(
        validateActionData(db, repo, 'change_settings', { settings: 'min_reviews=2' }),
        'invalid_input',
      );
      expect(text.message).toMatch(/"settings" cannot be changed/);
    });

    it('streams: the state refusals carry the stream and its status; reorder takes a conflicted stream', async () => {
      const db = world.store.db;
      const author = await makeAgent(world);
      const merged = await insertStream(world, author, 'merged');
      const active = await insertStream(world, author, 'active');
      const conflicted = await insertStream(world, author, 'conflicted');
      const abandoned = await insertStream(world, author, 'abandoned');
      const notMergeable = await expectCode(
        validateActionData(db, repo, 'merge_stream', { stream_id: conflicted.id }),
        'invalid_state',
      );
      expect(notMergeable).toMatchObject({
        message: `Stream ${conflicted.id} is conflicted; only an active or in-review stream can be merged.`,
        details: { stream_id: conflicted.id, status: 'conflicted' },
      });
      expect(await validateActionData(db, repo, 'merge_stream', { stream_id: active.id })).toEqual({
        stream_id: active.id,
        stream_name: active.name,
      });
      const notMerged = await expectCode(
        validateActionData(db, repo, 'revert_stream', { stream_id: abandoned.id }),
        'invalid_state',
      );
      expect(notMerged).toMatchObject({
        message: `Stream ${abandoned.id} is abandoned; only a merged stream can be reverted.`,
        details: { stream_id: abandoned.id, status: 'abandoned' },
      });
      expect(await validateActionData(db, repo, 'revert_stream', { stream_id: merged.id })).toEqual({
        stream_id: merged.id,
        stream_name: merged.name,
        reason: null,
      });
      const longest = 'r'.repeat(2000);
      expect(
        await validateActionData(db, repo, 'revert_stream', { stream_id: merged.id, reason: longest }),
      ).toMatchObject({ reason: longest });
      for (const reason of [`${longest}r`, 42]) {
        const error = await expectCode(
          validateActionData(db, repo, 'revert_stream', { stream_id: merged.id, reason }),
          'invalid_input',
        );
        expect(error.message).toBe(
          'Invalid revert_stream data: reason must be text of at most 2000 characters.',
        );
      }
      const outOfQueue = await expectCode(
        validateActionData(db, repo, 'reorder_queue', { stream_id: merged.id, priority: 1 }),
        'invalid_state',
      );
      expect(outOfQueue).toMatchObject({
        message: `Stream ${merged.id} is merged; only a live stream is in the queue.`,
        details: { stream_id: merged.id, status: 'merged' },
      });
      expect(
        await validateActionData(db, repo, 'reorder_queue', {
          stream_id: conflicted.id,
          priority: '-1000000',
        }),
      ).toEqual({ stream_id: conflicted.id, stream_name: conflicted.name, priority: -1_000_000 });
      expect(
        await validateActionData(db, repo, 'reorder_queue', { stream_id: active.id, priority: 1_000_000 }),
      ).toMatchObject({ priority: 1_000_000 });
      for (const priority of [1_000_001, -1_000_001, 'high', null]) {
        const error = await expectCode(
          validateActionData(db, repo, 'reorder_queue', { stream_id: active.id, priority }),
          'invalid_input',
        );
        expect(error.message).toBe(
          'Invalid reorder_queue data: priority must be an integer from -1000000 to 1000000.',
        );
      }
    });

    it('title, description and expiry at their limits; the refusals say the limits', async () => {
      const unknown = await expectCode(propose('dissolve', {}), 'invalid_input');
      expect(unknown).toMatchObject({
        message: 'Unknown proposal type "dissolve".',
        hint: 'Proposal types: add_maintainer, remove_maintainer, modify_access, change_settings, merge_stream, revert_stream, reorder_queue, promote',
      });
      for (const title of ['   ', 't'.repeat(501)]) {
        const error = await expectCode(propose('promote', {}, { title }), 'invalid_input');
        expect(error.message).toBe('A proposal title must have 1 to 500 characters.');
      }
      const description = await expectCode(
        propose('promote', {}, { description: 'd'.repeat(10_001) }),
        'invalid_input',
      );
      expect(description.message).toBe('A proposal description may be at most 10000 characters.');
      for (const expiresInDays of [0, 365.01, Number.NaN]) {
        const error = await expectCode(propose('promote', {}, { expiresInDays }), 'invalid_input');
        expect(error.message).toBe('A proposal must expire within 365 days.');
      }
      const before = await world.store.db
        .selectFrom('gitswarm_council_members')
        .select('proposals_made')
        .where('agent_id', '=', members[0]!.id)
        .executeTakeFirstOrThrow();
      const longest = await propose(
        'promote',
        {},
        {
          title: `  ${'t'.repeat(500)}  `,
          description: 'd'.repeat(10_000),
          expiresInDays: 365,
        },
      );
      expect(longest).toMatchObject({
        title: 't'.repeat(500),
        description: 'd'.repeat(10_000),
        proposed_by: members[0]!.id,
        proposal_type: 'promote',
        expires_at: new Date(world.clock.now().getTime() + 365 * DAY).toISOString(),
        proposed_at: world.clock.now().toISOString(),
        votes_for: 0,
        votes_against: 0,
        votes_abstain: 0,
        resolution_reason: null,
      });
      const after = await world.store.db
        .selectFrom('gitswarm_council_members')
        .select('proposals_made')
        .where('agent_id', '=', members[0]!.id)
        .executeTakeFirstOrThrow();
      expect(after.proposals_made).toBe(before.proposals_made + 1);
      const [created] = (await activityOf(world, 'proposal.created', longest.id)).slice(-1);
      expect(created).toMatchObject({
        agent_id: members[0]!.id,
        target_type: 'proposal',
        target_id: longest.id,
      });
      expect(created?.metadata).toEqual({
        type: 'promote',
        title: 't'.repeat(500),
        quorum_required: 3,
        critical: true,
        action_data: {},
      });
      await withdrawProposal(world.deps, { repo, proposal: longest.id, actor: members[0]! });
    });

    it('a vote: its comment at its limit, its record and activity, a re-vote replacing it', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'active');
      const proposal = await propose('reorder_queue', { stream_id: stream.id, priority: 3 });
      const bad = await expectCode(vote(proposal.id, members[0]!, 'yes'), 'invalid_input');
      expect(bad.message).toBe('A vote is for, against or abstain, not "yes".');
      const long = await expectCode(vote(proposal.id, members[0]!, 'for', 'c'.repeat(2001)), 'invalid_input');
      expect(long.message).toBe('A vote comment may be at most 2000 characters.');
      const first = await vote(proposal.id, members[0]!, 'abstain', 'c'.repeat(2000));
      expect(first).toMatchObject({ vote: 'abstain', replaced: null, resolved: false });
      const [voted] = (await activityOf(world, 'proposal.voted', proposal.id)).slice(-1);
      expect(voted).toMatchObject({ agent_id: members[0]!.id, target_id: proposal.id, repo_id: repo.id });
      expect(voted?.metadata).toEqual({ vote: 'abstain', votes_for: 0, votes_against: 0, votes_abstain: 1 });
      world.clock.advance(1000);
      const second = await vote(proposal.id, members[0]!, 'against', 'changed my mind');
      expect(second).toMatchObject({ vote: 'against', replaced: 'abstain', resolved: false });
      const [revoted] = (await activityOf(world, 'proposal.voted', proposal.id)).slice(-1);
      expect(revoted?.metadata).toEqual({
        vote: 'against',
        replaced: 'abstain',
        votes_for: 0,
        votes_against: 1,
        votes_abstain: 0,
      });
      const shown = await showProposal(world.deps, repo, proposal.id);
      expect(shown.votes).toEqual([
        {
          agent_id: members[0]!.id,
          agent_name: members[0]!.name,
          vote: 'against',
          comment: 'changed my mind',
          voted_at: world.clock.now().toISOString(),
        },
      ]);
      const last = await vote(proposal.id, members[1]!, 'against');
      expect(last).toMatchObject({ resolved: true });
      expect(last.proposal).toMatchObject({
        status: 'rejected',
        resolution_reason: 'majority_against',
        resolved_at: world.clock.now().toISOString(),
        executed: false,
      });
      const [rejected] = (await activityOf(world, 'proposal.rejected', proposal.id)).slice(-1);
      expect(rejected).toMatchObject({ agent_id: members[1]!.id, target_id: proposal.id });
      expect(rejected?.metadata).toEqual({
        type: 'reorder_queue',
        reason: 'majority_against',
        quorum_required: 2,
        votes_for: 0,
        votes_against: 2,
        votes_abstain: 0,
      });
      const closed = await expectCode(vote(proposal.id, members[2]!, 'for'), 'invalid_state');
      expect(closed).toMatchObject({
        message: `Proposal ${proposal.id} is rejected; votes are closed.`,
        details: { status: 'rejected' },
      });
      const missing = await expectCode(vote('ffffffff', members[2]!, 'for'), 'proposal_not_found');
      expect(missing.message).toBe('No proposal ffffffff');
      const unknown = await expectCode(showProposal(world.deps, repo, 'eeeeeeee'), 'proposal_not_found');
      expect(unknown.message).toBe('No proposal eeeeeeee');
    });

    it('a proposal expires at the very instant of expires_at, not a millisecond later', async () => {
      const proposal = await propose('promote', {}, { expiresInDays: 1 });
      world.clock.advance(DAY - 1);
      expect(await hasDueProposals(world.store.db, council.id, world.clock.now().toISOString())).toBe(false);
      expect(await expireDueProposals(world.deps, world.store.db, council)).toEqual([]);
      expect((await vote(proposal.id, members[1]!, 'for')).resolved).toBe(false);
      world.clock.advance(1);
      expect(await hasDueProposals(world.store.db, council.id, world.clock.now().toISOString())).toBe(true);
      const error = await expectCode(vote(proposal.id, members[2]!, 'for'), 'expired');
      expect(error).toMatchObject({
        message: `Proposal ${proposal.id} expired at ${proposal.expires_at}`,
        hint: 'Propose it again with: gitswarm council propose',
      });
      const stored = await showProposal(world.deps, repo, proposal.id);
      expect(stored.proposal).toMatchObject({
        status: 'expired',
        resolution_reason: 'expired',
        resolved_at: world.clock.now().toISOString(),
        votes_for: 1,
      });
      const [expired] = (await activityOf(world, 'proposal.expired', proposal.id)).slice(-1);
      expect(expired).toMatchObject({ agent_id: null, target_id: proposal.id, repo_id: repo.id });
      expect(expired?.metadata).toEqual({
        type: 'promote',
        votes_for: 1,
        votes_against: 0,
        quorum_required: 3,
      });
      expect(await hasDueProposals(world.store.db, council.id, world.clock.now().toISOString())).toBe(false);
    });

    it('listing: newest first, filtered by status, the limit clamped to 1..1000', async () => {
      const a = await propose('promote', {});
      world.clock.advance(1000);
      const b = await propose('promote', {});
      const open = await listProposals(world.deps, repo, { status: ['open'] });
      expect(open.map((p) => p.id).slice(0, 2)).toEqual([b.id, a.id]);
      expect(open.every((p) => p.status === 'open')).toBe(true);
      expect(await listProposals(world.deps, repo, { limit: 1 })).toHaveLength(1);
      expect(await listProposals(world.deps, repo, { limit: 0 })).toHaveLength(1);
      const all = await listProposals(world.deps, repo, { status: [] });
      expect(all.length).toBeGreaterThan(2);
      expect(new Set(all.map((p) => p.status)).size).toBeGreaterThan(1);
      await withdrawProposal(world.deps, { repo, proposal: a.id, actor: members[0]! });
      await withdrawProposal(world.deps, { repo, proposal: b.id, actor: members[0]! });
    });

    it('withdrawing: the refusals say why, the record and activity say who', async () => {
      const proposal = await propose('promote', {});
      const other = await expectCode(
        withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[1]! }),
        'forbidden',
      );
      expect(other.message).toBe('Only the proposer may withdraw a proposal.');
      const missing = await expectCode(
        withdrawProposal(world.deps, { repo, proposal: 'ffffffff', actor: members[0]! }),
        'proposal_not_found',
      );
      expect(missing.message).toBe('No proposal ffffffff');
      const withdrawn = await withdrawProposal(world.deps, {
        repo,
        proposal: proposal.id,
        actor: members[0]!,
      });
      expect(withdrawn).toMatchObject({ status: 'withdrawn', resolved_at: world.clock.now().toISOString() });
      const [activity] = (await activityOf(world, 'proposal.withdrawn', proposal.id)).slice(-1);
      expect(activity).toMatchObject({ agent_id: members[0]!.id, target_id: proposal.id });
      expect(activity?.metadata).toEqual({ type: 'promote', title: 'promote proposal' });
      const again = await expectCode(
        withdrawProposal(world.deps, { repo, proposal: proposal.id, actor: members[0]! }),
        'invalid_state',
      );
      expect(again.message).toBe(
        `Proposal ${proposal.id} is withdrawn; only an open proposal can be withdrawn.`,
      );
      // An expired proposal is expired first, then refused as not open.
      const due = await propose('promote', {}, { expiresInDays: 1 });
      world.clock.advance(DAY);
      const late = await expectCode(
        withdrawProposal(world.deps, { repo, proposal: due.id, actor: members[0]! }),
        'invalid_state',
      );
      expect(late.message).toBe(`Proposal ${due.id} is expired; only an open proposal can be withdrawn.`);
    });

    it('execution: passing records the decision, executes once, and names the council as actor', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'in_review');
      const passed = await pass('reorder_queue', { stream_id: stream.id, priority: 4 });
      expect(passed).toMatchObject({
        status: 'passed',
        resolution_reason: 'majority_for',
        executed: true,
        executed_at: world.clock.now().toISOString(),
        execution_result: { ok: true, stream_id: stream.id, merge_priority: 4, previous_priority: 0 },
      });
      const [passedEvent] = (await activityOf(world, 'proposal.passed', passed.id)).slice(-1);
      expect(passedEvent?.metadata).toEqual({
        type: 'reorder_queue',
        reason: 'majority_for',
        quorum_required: 2,
        votes_for: 2,
        votes_against: 0,
        votes_abstain: 0,
      });
      const [executed] = (await activityOf(world, 'proposal.executed', passed.id)).slice(-1);
      expect(executed).toMatchObject({ agent_id: null, target_id: passed.id, repo_id: repo.id });
      expect(executed?.metadata).toEqual({ type: 'reorder_queue', result: passed.execution_result });
      const [updated] = (await activityOf(world, 'stream.updated', stream.id)).slice(-1);
      expect(updated).toMatchObject({ agent_id: null, target_id: stream.id });
      expect(updated?.metadata).toEqual({ merge_priority: 4, previous_priority: 0 });
      // Executing again changes nothing: it already ran.
      await world.store.db
        .updateTable('gitswarm_streams')
        .set({ merge_priority: 0 })
        .where('id', '=', stream.id)
        .execute();
      const again = await executeProposal(world.deps, repo, passed.id);
      expect(again.execution_result).toEqual(passed.execution_result);
      const row = await world.store.db
        .selectFrom('gitswarm_streams')
        .select('merge_priority')
        .where('id', '=', stream.id)
        .executeTakeFirstOrThrow();
      expect(row.merge_priority).toBe(0);
      expect(await executePendingProposals(world.deps, repo, council.id)).toBe(0);
    });

    it('execution failures: a stream out of the queue, a failure that is no GitSwarm error', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'active');
      const proposal = await propose('reorder_queue', { stream_id: stream.id, priority: 2 });
      await world.store.db
        .updateTable('gitswarm_streams')
        .set({ status: 'merged' })
        .where('id', '=', stream.id)
        .execute();
      await vote(proposal.id, members[0]!);
      const outcome = await vote(proposal.id, members[1]!);
      expect(outcome.proposal).toMatchObject({
        status: 'passed',
        executed: false,
        executed_at: null,
        execution_result: {
          ok: false,
          error: {
            code: 'invalid_state',
            message: `Stream ${stream.id} is merged; it is no longer in the queue.`,
          },
          attempted_at: world.clock.now().toISOString(),
        },
      });
      const [failed] = (await activityOf(world, 'proposal.execution_failed')).slice(-1);
      expect(failed).toMatchObject({ agent_id: null, target_id: proposal.id, repo_id: repo.id });
      expect(failed?.metadata).toEqual({ type: 'reorder_queue', result: outcome.proposal.execution_result });

      // A passed proposal whose stored data lacks a field fails with internal_error, once.
      const broken = await propose('reorder_queue', {
        stream_id: (await insertStream(world, author)).id,
        priority: 1,
      });
      await world.store.db
        .updateTable('gitswarm_council_proposals')
        .set({ status: 'passed', action_data: toJson({ priority: 1 }) })
        .where('id', '=', broken.id)
        .execute();
      expect(await executePendingProposals(world.deps, repo, council.id)).toBe(1);
      const recorded = await world.store.db
        .selectFrom('gitswarm_council_proposals')
        .selectAll()
        .where('id', '=', broken.id)
        .executeTakeFirstOrThrow();
      expect(recorded).toMatchObject({
        executed: false,
        execution_result: {
          ok: false,
          error: { code: 'internal_error', message: 'Proposal action_data lacks stream_id' },
        },
      });
      expect(await executePendingProposals(world.deps, repo, council.id)).toBe(0);
    });

    it('setAccessLevel: none without a grant changes nothing and records nothing; a grant is recorded', async () => {
      const agent = await makeAgent(world);
      const before = (await activityOf(world, 'access.revoked')).length;
      expect(
        await setAccessLevel(world.deps, world.store.db, {
          repo,
          agentId: agent.id,
          level: 'none',
          actorId: null,
        }),
      ).toEqual({
        changed: false,
      });
      expect(await activityOf(world, 'access.revoked')).toHaveLength(before);
      expect(
        await setAccessLevel(world.deps, world.store.db, {
          repo,
          agentId: agent.id,
          level: 'read',
          actorId: members[0]!.id,
        }),
      ).toEqual({ changed: true });
      const [granted] = (await activityOf(world, 'access.granted', agent.id)).slice(-1);
      expect(granted).toMatchObject({ agent_id: members[0]!.id, target_type: 'agent', target_id: agent.id });
      expect(granted?.metadata).toEqual({ agent: agent.name, level: 'read' });
      await setAccessLevel(world.deps, world.store.db, {
        repo,
        agentId: agent.id,
        level: 'write',
        actorId: null,
      });
      const grant = await world.store.db
        .selectFrom('gitswarm_repo_access')
        .selectAll()
        .where('agent_id', '=', agent.id)
        .execute();
      expect(grant).toMatchObject([{ access_level: 'write', granted_by: null, expires_at: null }]);
      expect(
        await setAccessLevel(world.deps, world.store.db, {
          repo,
          agentId: agent.id,
          level: 'none',
          actorId: null,
        }),
      ).toEqual({ changed: true });
      const [revoked] = (await activityOf(world, 'access.revoked', agent.id)).slice(-1);
      expect(revoked).toMatchObject({ agent_id: null, target_id: agent.id });
      expect(revoked?.metadata).toEqual({ agent: agent.name });
    });

    it('only a passed proposal never attempted executes: not an open one, not a failed one again', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'active');
      const open = await propose('reorder_queue', { stream_id: stream.id, priority: 5 });
      expect(await executeProposal(world.deps, repo, open.id)).toMatchObject({
        status: 'open',
        executed: false,
        execution_result: null,
      });
      // A passed proposal whose execution failed is not retried, even once it could succeed.
      await world.store.db
        .updateTable('gitswarm_council_proposals')
        .set({
          status: 'passed',
          execution_result: toJson({
            ok: false,
            error: { code: 'conflict', message: 'earlier' },
            attempted_at: 'x',
          }),
        })
        .where('id', '=', open.id)
        .execute();
      const again = await executeProposal(world.deps, repo, open.id);
      expect(again).toMatchObject({
        executed: false,
        execution_result: { ok: false, error: { message: 'earlier' } },
      });
      const row = await world.store.db
        .selectFrom('gitswarm_streams')
        .select('merge_priority')
        .where('id', '=', stream.id)
        .executeTakeFirstOrThrow();
      expect(row.merge_priority).toBe(0);
      await expect(executeProposal(world.deps, repo, '00000000-0000-4000-8000-000000000000')).rejects.toThrow(
        'Proposal 00000000-0000-4000-8000-000000000000 vanished',
      );
    });

    it('setMergePriority refuses a stream that left the queue, naming it', async () => {
      const author = await makeAgent(world);
      const stream = await insertStream(world, author, 'abandoned');
      const error = await expectCode(
        setMergePriority(world.deps, world.store.db, {
          repo,
          streamId: stream.id,
          priority: 1,
          actorId: null,
        }),
        'invalid_state',
      );
      expect(error.message).toBe(`Stream ${stream.id} is abandoned; it is no longer in the queue.`);
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: a council revert, on real git`, () => {
    const fixture = useGitStore(dialect);

    it('without a reason the revert names the proposal; a revert that conflicts is a failed execution', async () => {
      const { deps, seeded, repo, git, coder } = await fixture.seedWithCoder({
        merge_mode: 'review',
        ownership_model: 'guild',
        min_reviews: 1,
      });
      await createCouncil(deps, {
        repo,
        actor: seeded.owner,
        settings: {
          min_karma: 0,
          min_contributions: 0,
          min_members: 3,
          standard_quorum: 2,
          critical_quorum: 3,
        },
      });
      const councillors: Agent[] = [];
      for (let i = 0; i < 3; i++) {
        const agent = await seedAgent(deps, 'councillor');
        await joinCouncil(deps, { repo, agent });
        councillors.push(agent);
      }
      const decide = async (actionData: unknown) => {
        const proposal = await createProposal(deps, {
          repo,
          proposer: councillors[0]!,
          type: 'revert_stream',
          title: 'Revert',
          actionData,
        });
        let outcome = await voteOnProposal(deps, {
          repo,
          proposal: proposal.id,
          voter: councillors[0]!,
          vote: 'for',
        });
        for (const voter of councillors.slice(1)) {
          outcome = await voteOnProposal(deps, { repo, proposal: proposal.id, voter, vote: 'for' });
        }
        return outcome.proposal;
      };
      const first = await workOn(deps, seeded, coder, { 'a.txt': 'one\n' });
      await approve(deps, seeded, first.stream, coder);
      await mergeStream(deps, { repo, stream: first.stream, actor: seeded.maintainer });
      const other = await seedAgent(deps, 'other');
      const second = await workOn(deps, seeded, other, { 'a.txt': 'two\n' });
      await approve(deps, seeded, second.stream, other);
      await mergeStream(deps, { repo, stream: second.stream, actor: seeded.maintainer });
      const buffer = await git.rev('buffer');

      // The first stream's change was changed again since: its revert conflicts, nothing moves.
      const conflicted = await decide({ stream_id: first.stream.id });
      expect(conflicted).toMatchObject({
        status: 'passed',
        executed: false,
        execution_result: {
          ok: false,
          error: {
            code: 'conflict',
            message: `Reverting stream ${first.stream.id} conflicts with later changes.`,
          },
        },
      });
      expect(await git.rev('buffer')).toBe(buffer);

      const reverted = await decide({ stream_id: second.stream.id });
      expect(reverted).toMatchObject({ executed: true, execution_result: { ok: true, reverted: true } });
      const message = await git.run(['log', '-1', '--format=%B', 'buffer']);
      expect(message).toContain(`Reason: Council proposal ${reverted.id}`);
      expect(await git.show('buffer', 'a.txt')).toBe('one');
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: an archived repository, a council git action`, () => {
    let world: World;
    let members: Agent[];
    beforeAll(async () => {
      world = await openWorld(dialect);
      await createCouncil(world.deps, {
        repo: world.repo,
        actor: world.owner,
        settings: { min_members: 2, standard_quorum: 2, critical_quorum: 2 },
      });
      members = [];
      for (let i = 0; i < 2; i++) {
        const agent = await makeAgent(world);
        await joinCouncil(world.deps, { repo: world.repo, agent });
        members.push(agent);
      }
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('a promote passed before the archiving is refused when it executes, and recorded as failed', async () => {
      const { repo } = world;
      const proposal = await createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type: 'promote',
        title: 'promote',
        actionData: {},
      });
      await world.store.db
        .updateTable('gitswarm_council_proposals')
        .set({ status: 'passed', resolution_reason: 'majority_for', votes_for: 2 })
        .where('id', '=', proposal.id)
        .execute();
      await archiveRepo(world.deps, world.store.db, { repo, actor: world.owner });
      const executed = await executeProposal(world.deps, repo, proposal.id);
      expect(executed).toMatchObject({
        status: 'passed',
        executed: false,
        executed_at: null,
        execution_result: { ok: false, error: { code: 'invalid_state' } },
      });
      const error = (executed.execution_result as { error: { message: string } }).error;
      expect(error.message).toContain(`Repository ${repo.name} is archived`);
      const promotions = await world.store.db
        .selectFrom('gitswarm_promotions')
        .select('id')
        .where('repo_id', '=', repo.id)
        .execute();
      expect(promotions).toEqual([]);
    });
  });
}
