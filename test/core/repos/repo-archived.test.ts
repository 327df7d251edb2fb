/**
 * An archived repository refuses every action above read (invalid_state, naming it); without read
 * access the answer stays forbidden.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../../src/core/deps.js';
import { requireAction } from '../../../src/core/governance/access.js';
import { getCouncil } from '../../../src/core/governance/council.js';
import { isMaintainer } from '../../../src/core/governance/maintainers.js';
import { executePendingProposals } from '../../../src/core/governance/proposal-execution.js';
import { createProposal, listProposalVotes, voteOnProposal } from '../../../src/core/governance/proposals.js';
import { archiveRepo } from '../../../src/core/repos/repo-archive.js';
import { getRepo } from '../../../src/core/repos/repos.js';
import { recordCommit, recordStream } from '../../../src/core/sync/remote-sync.js';
import { GitSwarmError } from '../../../src/errors.js';
import type { Agent, Stream } from '../../../src/store/index.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { type SeededRepo, seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';
import { makeAgent, makeCouncil, openWorld, type World } from '../governance/council-setup.js';

const sha = () => randomBytes(20).toString('hex');

async function caught(promise: Promise<unknown>): Promise<GitSwarmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GitSwarmError) return error;
    throw error;
  }
  throw new Error('expected a GitSwarmError');
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: archived repositories`, () => {
    let store: TestStore;
    let deps: CoreDeps;

    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    async function setUp(settings: Record<string, unknown> = {}) {
      const seeded = await seedRepo(deps, settings);
      const writer = await seedAgent(deps, 'writer');
      return { seeded, writer };
    }

    async function streamWithCommit(seeded: SeededRepo, author: Agent): Promise<Stream> {
      const { stream } = await recordStream(deps, { repo: seeded.repo, agent: author });
      await recordCommit(deps, { repo: seeded.repo, stream, agent: author, commit: sha() });
      return stream;
    }

    it('an archived repository refuses every action above read, naming the repository', async () => {
      const { seeded, writer } = await setUp();
      const stream = await streamWithCommit(seeded, writer);
      await archiveRepo(deps, store.db, { repo: seeded.repo, actor: seeded.owner });
      const repo = { ...seeded.repo, status: 'archived' };
      expect((await requireAction(deps, store.db, repo, writer, 'read')).level).toBe('write');
      for (const [agent, action] of [
        [writer, 'write'],
        [seeded.owner, 'merge'],
        [seeded.owner, 'settings'],
      ] as const) {
        const error = await caught(requireAction(deps, store.db, repo, agent, action));
        expect(error.code).toBe('invalid_state');
        expect(error.message).toContain(`Repository ${seeded.repo.name} is archived`);
        expect(error.hint).toBeUndefined();
      }
      const before = await store.db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      const refused = await caught(
        recordCommit(deps, { repo: seeded.repo, stream, agent: writer, commit: sha() }),
      );
      expect(refused.code).toBe('invalid_state');
      expect((await caught(recordStream(deps, { repo: seeded.repo, agent: writer }))).code).toBe(
        'invalid_state',
      );
      const after = await store.db
        .selectFrom('gitswarm_stream_commits')
        .select('id')
        .where('stream_id', '=', stream.id)
        .execute();
      expect(after).toHaveLength(before.length);
      // Without read access the answer stays forbidden: archiving tells an outsider nothing.
      const secret = await setUp({ is_private: true });
      await archiveRepo(deps, store.db, { repo: secret.seeded.repo, actor: secret.seeded.owner });
      const hidden = await caught(
        requireAction(deps, store.db, { ...secret.seeded.repo, status: 'archived' }, secret.writer, 'write'),
      );
      expect(hidden.code).toBe('forbidden');
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: an archived repository refuses the council's actions too`, () => {
    let world: World;
    let members: Agent[];
    beforeAll(async () => {
      world = await openWorld(dialect);
      ({ members } = await makeCouncil(world, {
        members: 3,
        settings: { min_members: 3, standard_quorum: 3, critical_quorum: 3 },
      }));
    });
    afterAll(async () => {
      await world.store.close();
    });

    it('no proposal, no vote, and a proposal passed before the archiving does not execute', async () => {
      const { repo } = world;
      const candidate = await makeAgent(world);
      const pending = await createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type: 'add_maintainer',
        title: 'add before the archiving',
        actionData: { agent_id: candidate.id },
      });
      const open = await createProposal(world.deps, {
        repo,
        proposer: members[0]!,
        type: 'change_settings',
        title: 'open at the archiving',
        actionData: { min_reviews: 4 },
      });
      // The first passed, and its execution had not run yet (the voting process ended) when the
      // repository was archived.
      await world.store.db
        .updateTable('gitswarm_council_proposals')
        .set({ status: 'passed', resolution_reason: 'majority_for', votes_for: 3 })
        .where('id', '=', pending.id)
        .execute();
      await archiveRepo(world.deps, world.store.db, { repo, actor: world.owner });

      const proposing = await caught(
        createProposal(world.deps, {
          repo,
          proposer: members[0]!,
          type: 'promote',
          title: 'after the archiving',
          actionData: {},
        }),
      );
      expect(proposing.code).toBe('invalid_state');
      expect(proposing.message).toContain(`Repository ${repo.name} is archived`);
      const voting = await caught(
        voteOnProposal(world.deps, { repo, proposal: open.id, voter: members[0]!, vote: 'for' }),
      );
      expect(voting.code).toBe('invalid_state');
      expect(await listProposalVotes(world.store.db, open.id)).toEqual([]);

      const council = await getCouncil(world.store.db, repo.id);
      await executePendingProposals(world.deps, repo, council.id);
      const executed = await world.store.db
        .selectFrom('gitswarm_council_proposals')
        .selectAll()
        .where('id', '=', pending.id)
        .executeTakeFirstOrThrow();
      expect(executed).toMatchObject({
        executed: false,
        execution_result: { ok: false, error: { code: 'invalid_state' } },
      });
      expect(await isMaintainer(world.store.db, repo.id, candidate.id)).toBe(false);
      expect((await getRepo(world.store.db, repo.id)).min_reviews).not.toBe(4);
      const proposals = await world.store.db
        .selectFrom('gitswarm_council_proposals')
        .select('id')
        .where('council_id', '=', council.id)
        .execute();
      expect(proposals).toHaveLength(2);
    });
  });
}
