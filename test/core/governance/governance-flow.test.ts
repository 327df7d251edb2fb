/**
 * Spec 3.5, task-driven work under council governance, with real git and both dialects: a lead
 * files a task, a developer claims it and works on a stream linked to it, a maintainer approves,
 * the council's merge_stream proposal passes and merges the stream into the buffer, an agent's
 * promote is refused in the mature stage, and the council's promote proposal updates main.
 * Then a revert_stream proposal undoes the merge, and a merge that cannot happen is recorded as a
 * failed execution.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../../src/core/deps.js';
import {
  commitWorkspace,
  createWorkspace,
  mergeStream,
  promoteBuffer,
} from '../../../src/core/federation.js';
import { createCouncil, joinCouncil } from '../../../src/core/governance/council.js';
import { createProposal, voteOnProposal } from '../../../src/core/governance/proposals.js';
import { advanceStage } from '../../../src/core/governance/stages.js';
import { getStreamById } from '../../../src/core/streams/streams.js';
import { claimTask } from '../../../src/core/tasks/task-claims.js';
import { createTask, getTask } from '../../../src/core/tasks/tasks.js';
import type { Agent, CouncilProposal } from '../../../src/store/index.js';
import {
  approve,
  type SeededGitRepo,
  seedGitRepo,
  workOn,
  writeFiles,
} from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { seedAgent, testDeps } from '../../helpers/streams-fixture.js';

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: task-driven work under council governance (spec 3.5)`, () => {
    let store: TestStore;
    let deps: CoreDeps;
    let seeded: SeededGitRepo;
    let members: Agent[];

    /** Proposes as the first member and has members vote for it until it resolves. */
    async function decide(type: string, title: string, actionData: unknown): Promise<CouncilProposal> {
      const proposal = await createProposal(deps, {
        repo: seeded.repo,
        proposer: members[0]!,
        type,
        title,
        actionData,
      });
      for (const voter of members) {
        const outcome = await voteOnProposal(deps, {
          repo: seeded.repo,
          proposal: proposal.id,
          voter,
          vote: 'for',
        });
        if (outcome.resolved) return outcome.proposal;
      }
      throw new Error(`Proposal ${proposal.id} did not resolve`);
    }

    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
      seeded = await seedGitRepo(deps, { merge_mode: 'review', ownership_model: 'guild', min_reviews: 1 });
      await createCouncil(deps, {
        repo: seeded.repo,
        actor: seeded.owner,
        settings: {
          min_karma: 0,
          min_contributions: 0,
          min_members: 3,
          standard_quorum: 2,
          critical_quorum: 3,
        },
      });
      members = [];
      for (let i = 0; i < 3; i++) {
        const agent = await seedAgent(deps, 'councillor');
        await joinCouncil(deps, { repo: seeded.repo, agent });
        members.push(agent);
      }
      // A council governs a mature repository.
      await advanceStage(deps, { repo: seeded.repo, actor: seeded.owner, force: 'mature' });
    });
    afterAll(async () => {
      seeded?.git.cleanup();
      await store.close();
    });

    it('task → claim → stream → review → council merge_stream → council promote → main updated', async () => {
      const { repo } = seeded;
      const task = await createTask(deps, store.db, {
        repo,
        actor: seeded.owner,
        title: 'Redesign auth',
        priority: 'high',
      });
      const dev = await seedAgent(deps, 'dev');
      await claimTask(deps, store.db, { repo, taskRef: String(task.number), agent: dev });
      const { stream, worktree } = await createWorkspace(deps, {
        repo,
        agent: dev,
        taskRef: String(task.number),
      });
      writeFiles(worktree, { 'auth.js': 'export const auth = () => true;\n' });
      const committed = await commitWorkspace(deps, { repo, agent: dev, message: 'Redesign auth' });
      await approve(deps, seeded, stream, dev);
      const claim = await store.db
        .selectFrom('gitswarm_task_claims')
        .selectAll()
        .where('task_id', '=', task.id)
        .executeTakeFirstOrThrow();
      expect(claim.stream_id).toBe(stream.id);

      const bufferBefore = await seeded.git.rev('buffer');
      const merged = await decide('merge_stream', 'Merge the auth redesign', { stream_id: stream.id });
      expect(merged).toMatchObject({
        status: 'passed',
        executed: true,
        execution_result: { ok: true, merged: true },
      });
      const bufferAfter = await seeded.git.rev('buffer');
      expect(bufferAfter).not.toBe(bufferBefore);
      expect((merged.execution_result as { merge_commit: string }).merge_commit).toBe(bufferAfter);
      expect(await seeded.git.run(['rev-parse', `${bufferAfter}^1`, `${bufferAfter}^2`])).toBe(
        `${bufferBefore}\n${committed.commit}`,
      );
      expect((await getStreamById(store.db, stream.id)).status).toBe('merged');
      const mergeRow = await store.db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('stream_id', '=', stream.id)
        .executeTakeFirstOrThrow();
      expect(mergeRow).toMatchObject({ merge_commit: bufferAfter, agent_id: null });
      expect(await seeded.git.show('buffer', 'auth.js')).toContain('export const auth');

      // In the mature stage an agent's promote is refused; the council's goes through.
      const mainBefore = await seeded.git.rev('main');
      await expect(
        promoteBuffer(deps, { repo, actor: seeded.owner, trigger: 'manual' }),
      ).rejects.toMatchObject({
        code: 'forbidden',
        hint: expect.stringContaining('gitswarm council propose promote'),
      });
      expect(await seeded.git.rev('main')).toBe(mainBefore);
      const promoted = await decide('promote', 'Release the auth redesign', {});
      expect(promoted.quorum_required).toBe(3);
      expect(promoted).toMatchObject({
        status: 'passed',
        executed: true,
        execution_result: { ok: true, promoted: true, from_commit: mainBefore, to_commit: bufferAfter },
      });
      expect(await seeded.git.rev('main')).toBe(bufferAfter);
      const promotion = await store.db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .executeTakeFirstOrThrow();
      expect(promotion).toMatchObject({ triggered_by: 'council', agent_id: null, to_commit: bufferAfter });
      expect((await getTask(store.db, repo.id, String(task.number))).id).toBe(task.id);
    });

    it('a council revert_stream proposal reverts the merge on the buffer', async () => {
      const { repo } = seeded;
      const merged = await store.db
        .selectFrom('gitswarm_streams')
        .selectAll()
        .where('repo_id', '=', repo.id)
        .where('status', '=', 'merged')
        .executeTakeFirstOrThrow();
      const before = await seeded.git.rev('buffer');
      const reverted = await decide('revert_stream', 'Auth broke logins', {
        stream_id: merged.id,
        reason: 'logins fail',
      });
      expect(reverted).toMatchObject({ executed: true, execution_result: { ok: true, reverted: true } });
      const after = await seeded.git.rev('buffer');
      expect(await seeded.git.run(['rev-parse', `${after}^1`])).toBe(before);
      expect(await seeded.git.exitCode(['cat-file', '-e', `${after}:auth.js`])).not.toBe(0);
      expect((await getStreamById(store.db, merged.id)).status).toBe('reverted');
    });

    it('a merge that cannot happen is recorded as a failed execution, nothing moves', async () => {
      const { repo } = seeded;
      const idle = await seedAgent(deps, 'idle');
      const { stream } = await createWorkspace(deps, { repo, agent: idle });
      const before = await seeded.git.rev('buffer');
      const failed = await decide('merge_stream', 'Merge nothing', { stream_id: stream.id });
      expect(failed).toMatchObject({
        status: 'passed',
        executed: false,
        executed_at: null,
        execution_result: { ok: false, error: { code: 'empty_stream' } },
      });
      expect(await seeded.git.rev('buffer')).toBe(before);
      expect((await getStreamById(store.db, stream.id)).status).toBe('active');
    });

    it('work from another stream still merges through the usual path', async () => {
      // The council does not take merging away from agents: approved streams still merge directly.
      const dev = await seedAgent(deps, 'dev2');
      const { stream } = await workOn(deps, seeded, dev, { 'other.js': 'export {};\n' });
      await approve(deps, seeded, stream, dev);
      const result = await mergeStream(deps, { repo: seeded.repo, stream, actor: seeded.maintainer });
      expect(result.merged).toBe(true);
    });
  });
}
