/**
 * The buffer's branch rule (gitswarm_branch_rules) on merges: it raises the approvals a merge needs, overrides the consensus threshold and can restrict merging
 * to maintainers, on the server's merge decision and on a local merge with real git alike.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../../src/core/deps.js';
import { mergeStream } from '../../../src/core/federation.js';
import { createBranchRule, matchBranchRule } from '../../../src/core/governance/branch-rules.js';
import { evaluateConsensus } from '../../../src/core/streams/consensus.js';
import { submitReview } from '../../../src/core/streams/reviews.js';
import { approveMerge, recordCommit, recordStream } from '../../../src/core/sync/remote-sync.js';
import { GitSwarmError } from '../../../src/errors.js';
import type { Agent, Stream } from '../../../src/store/index.js';
import { approve, useGitStore, workOn } from '../../helpers/federation-fixture.js';
import { DIALECTS, dialectLabel, openTestStore, type TestStore } from '../../helpers/store.js';
import { type SeededRepo, seedAgent, seedRepo, testDeps } from '../../helpers/streams-fixture.js';

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

describe('matchBranchRule', () => {
  const rule = (branch_pattern: string, priority = 0) => ({ branch_pattern, priority });
  it('matches * within a segment, prefers priority, then the longer pattern', () => {
    expect(matchBranchRule([rule('buf*')], 'buffer')?.branch_pattern).toBe('buf*');
    expect(matchBranchRule([rule('release/*')], 'release/a/b')).toBeUndefined();
    expect(matchBranchRule([rule('release/**')], 'release/a/b')?.branch_pattern).toBe('release/**');
    expect(matchBranchRule([rule('main')], 'buffer')).toBeUndefined();
    expect(matchBranchRule([rule('*'), rule('buffer')], 'buffer')?.branch_pattern).toBe('buffer');
    expect(matchBranchRule([rule('*', 5), rule('buffer')], 'buffer')?.branch_pattern).toBe('*');
    expect(matchBranchRule([rule('b.ffer')], 'buffer')).toBeUndefined();
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: branch rules on the merge decision`, () => {
    let store: TestStore;
    let deps: CoreDeps;

    beforeAll(async () => {
      store = await openTestStore(dialect);
      deps = testDeps(store);
    });
    afterAll(async () => {
      await store.close();
    });

    /** A guild repository (threshold 0.66, one review) with a maintainer and a writer. */
    async function setUp(settings: Record<string, unknown> = {}) {
      const seeded = await seedRepo(deps, settings);
      const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      const writer = await seedAgent(deps, 'writer');
      return { seeded, maintainer, writer };
    }

    /** A Mode B stream by `author` with one recorded commit. */
    async function streamWithCommit(seeded: SeededRepo, author: Agent): Promise<Stream> {
      const { stream } = await recordStream(deps, { repo: seeded.repo, agent: author });
      await recordCommit(deps, { repo: seeded.repo, stream, agent: author, commit: sha() });
      return stream;
    }

    it('a rule on the buffer raising required approvals blocks a merge the repository default allows', async () => {
      const { seeded, maintainer, writer } = await setUp();
      const stream = await streamWithCommit(seeded, writer);
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: maintainer, verdict: 'approve' });
      const allowed = await approveMerge(deps, { repo: seeded.repo, stream, actor: writer });
      expect(allowed.consensus).toMatchObject({ reached: true, approvals: 1, rule_id: null });

      // A rule for another branch changes nothing; a lower-priority one loses to the higher.
      await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'main', required_approvals: 5 },
      });
      await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: '*', required_approvals: 1, priority: -1 },
      });
      const rule = await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'buf*', required_approvals: 2, priority: 10 },
      });
      const refused = await caught(approveMerge(deps, { repo: seeded.repo, stream, actor: writer }));
      expect(refused.code).toBe('no_consensus');
      expect(refused.details).toMatchObject({
        consensus: { reached: false, reason: 'insufficient_approvals', approvals: 1, rule_id: rule.id },
      });

      const second = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: second, verdict: 'approve' });
      const approved = await approveMerge(deps, { repo: seeded.repo, stream, actor: writer });
      expect(approved.consensus).toMatchObject({ reached: true, approvals: 2, rule_id: rule.id });
    });

    it("a rule's consensus_threshold overrides the repository's", async () => {
      const { seeded, maintainer, writer } = await setUp({ consensus_threshold: 0.5 });
      const stream = await streamWithCommit(seeded, writer);
      const other = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: maintainer, verdict: 'approve' });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer: other, verdict: 'request_changes' });
      expect((await evaluateConsensus(deps, store.db, seeded.repo, stream)).reached).toBe(true);
      const rule = await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'buffer', consensus_threshold: 0.75 },
      });
      const consensus = await evaluateConsensus(deps, store.db, seeded.repo, stream);
      expect(consensus).toMatchObject({
        reached: false,
        reason: 'below_threshold',
        threshold: 0.75,
        rule_id: rule.id,
      });
    });

    it('merge_restriction maintainers_only refuses a writer and lets a maintainer merge', async () => {
      const { seeded, maintainer, writer } = await setUp();
      const stream = await streamWithCommit(seeded, writer);
      const reviewer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
      await submitReview(deps, { repo: seeded.repo, stream, reviewer, verdict: 'approve' });
      await createBranchRule(deps, store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'buffer', merge_restriction: 'maintainers_only' },
      });
      const refused = await caught(approveMerge(deps, { repo: seeded.repo, stream, actor: writer }));
      expect(refused.code).toBe('forbidden');
      expect(refused.details).toMatchObject({ required: 'maintain', actual: 'write' });
      const approved = await approveMerge(deps, { repo: seeded.repo, stream, actor: maintainer });
      expect(approved.approved).toBe(true);
    });
  });

  describe(`${dialectLabel(dialect)}: branch rules on a local merge (real git)`, () => {
    const fixture = useGitStore(dialect);

    it('a rule needing two approvals keeps the buffer where it is; maintainers_only refuses a writer', async () => {
      const { deps, seeded, git, coder } = await fixture.seedWithCoder();
      const { stream } = await workOn(deps, seeded, coder, { 'a.txt': 'a\n' });
      await approve(deps, seeded, stream, coder);
      await createBranchRule(deps, fixture.store.db, {
        repo: seeded.repo,
        actor: seeded.owner,
        fields: { branch_pattern: 'buffer', required_approvals: 2 },
      });
      const before = await git.rev('buffer');
      const refused = await caught(mergeStream(deps, { repo: seeded.repo, actor: coder, stream }));
      expect(refused.code).toBe('no_consensus');
      expect(await git.rev('buffer')).toBe(before);

      const restricted = await fixture.seedWithCoder();
      const work = await workOn(restricted.deps, restricted.seeded, restricted.coder, { 'b.txt': 'b\n' });
      await approve(restricted.deps, restricted.seeded, work.stream, restricted.coder);
      await createBranchRule(restricted.deps, fixture.store.db, {
        repo: restricted.repo,
        actor: restricted.seeded.owner,
        fields: { branch_pattern: '*', merge_restriction: 'maintainers_only' },
      });
      const forbidden = await caught(
        mergeStream(restricted.deps, { repo: restricted.repo, actor: restricted.coder, stream: work.stream }),
      );
      expect(forbidden.code).toBe('forbidden');
      const merged = await mergeStream(restricted.deps, {
        repo: restricted.repo,
        actor: restricted.seeded.maintainer,
        stream: work.stream,
      });
      expect(merged.merged).toBe(true);
    });
  });
}
