/**
 * `gitswarm council`, `election` and `stage` in-process on both dialects: what the user sees
 * (exit codes, `--json` documents, the text) for the governance commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { type CliRun, createTestRepo, type TestRepo } from './helpers.js';
import { runInProcess, storeEnv } from './in-process.js';

interface ProposalJson {
  id: string;
  status: string;
  proposal_type: string;
  quorum_required: number;
  votes_for: number;
  votes_against: number;
  resolution_reason: string | null;
  executed: boolean;
  execution_result: { ok: boolean; error?: { code: string } } | null;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: gitswarm council, election, stage`, () => {
    let repo: TestRepo;

    async function run(args: string[]): Promise<CliRun> {
      return runInProcess(args, { cwd: repo.dir, env: repo.env });
    }

    async function ok<T = Record<string, unknown>>(args: string[]): Promise<T> {
      const result = await run([...args, '--json']);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: '' });
      return result.json<T>();
    }

    async function refused(args: string[], code: number, errorCode: string): Promise<CliRun> {
      const result = await run([...args, '--json']);
      expect({ args, code: result.code }).toEqual({ args, code });
      expect(result.json<{ error: { code: string } }>().error.code).toBe(errorCode);
      return result;
    }

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect) });
      await ok(['init', '--name', 'governed']);
      for (const name of ['alice', 'bob', 'carol', 'dave']) await ok(['agent', 'register', name]);
    });
    afterAll(() => repo.close());

    it('council create (admin), show, join until active', async () => {
      await refused(['council', 'show'], 3, 'council_not_found');
      await refused(['council', 'create', '--as', 'bob'], 1, 'forbidden');
      await refused(['council', 'create', '--min-members', 'x', '--as', 'alice'], 2, 'invalid_input');
      const created = await ok<{ council: { status: string; min_members: number; critical_quorum: number } }>(
        [
          'council',
          'create',
          '--min-karma',
          '0',
          '--min-contributions',
          '0',
          '--min-members',
          '2',
          '--standard-quorum',
          '2',
          '--critical-quorum',
          '2',
          '--as',
          'alice',
        ],
      );
      expect(created.council).toMatchObject({ status: 'forming', min_members: 2, critical_quorum: 2 });
      await refused(
        ['council', 'propose', 'promote', '--title', 'Ship it', '--as', 'bob'],
        1,
        'invalid_state',
      );
      const joined = await ok<{ member: { role: string }; council: { status: string } }>([
        'council',
        'join',
        '--as',
        'bob',
      ]);
      expect(joined).toMatchObject({ member: { role: 'chair' }, council: { status: 'forming' } });
      const text = await run(['council', 'join', '--as', 'carol']);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^Joined the council; term ends .+\. The council is active\.\n$/);
      const shown = await ok<{
        council: { status: string };
        members: { agent_name: string; role: string }[];
      }>(['council', 'show']);
      expect(shown.council.status).toBe('active');
      expect(shown.members.map((m) => [m.agent_name, m.role])).toEqual([
        ['bob', 'chair'],
        ['carol', 'member'],
      ]);
    });

    it('council propose, vote (a passed proposal executes itself), proposals', async () => {
      await refused(['council', 'propose', 'promote', '--title', 'x', '--as', 'dave'], 1, 'not_a_member');
      await refused(
        ['council', 'propose', 'change_settings', '--title', 'x', '--data', '{bad', '--as', 'bob'],
        2,
        'invalid_input',
      );
      await refused(
        [
          'council',
          'propose',
          'change_settings',
          '--title',
          'x',
          '--data',
          '{"buffer_branch":"b"}',
          '--as',
          'bob',
        ],
        2,
        'invalid_input',
      );
      const { proposal } = await ok<{ proposal: ProposalJson }>([
        'council',
        'propose',
        'change_settings',
        '--title',
        'Two reviews',
        '--data',
        '{"settings":{"min_reviews":2}}',
        '--as',
        'bob',
      ]);
      expect(proposal).toMatchObject({
        status: 'open',
        quorum_required: 2,
        proposal_type: 'change_settings',
      });
      const first = await ok<{ resolved: boolean; proposal: ProposalJson }>([
        'council',
        'vote',
        proposal.id.slice(0, 8),
        'for',
        '--as',
        'bob',
      ]);
      expect(first.resolved).toBe(false);
      const second = await run(['council', 'vote', proposal.id, 'for', '--as', 'carol']);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('The proposal passed.');
      expect(second.stdout).toContain('Executed.');
      const config = await run(['config', 'min_reviews', '--json']);
      expect(config.stdout).toContain('2');
      await refused(['council', 'vote', proposal.id, 'maybe', '--as', 'bob'], 2, 'invalid_input');
      await refused(['council', 'vote', proposal.id, 'for', '--as', 'bob'], 1, 'invalid_state');
      const listed = await ok<{ proposals: ProposalJson[] }>(['council', 'proposals', '--status', 'passed']);
      expect(listed.proposals).toHaveLength(1);
      expect(listed.proposals[0]).toMatchObject({
        id: proposal.id,
        executed: true,
        execution_result: { ok: true },
      });
    });

    it('a tie is rejected, a failed execution shows as failed, withdraw', async () => {
      const tie = (
        await ok<{ proposal: ProposalJson }>([
          'council',
          'propose',
          'add_maintainer',
          '--title',
          'Dave',
          '--data',
          '{"agent_id":"dave"}',
          '--as',
          'bob',
        ])
      ).proposal;
      await ok(['council', 'vote', tie.id, 'for', '--as', 'bob']);
      const rejected = await run(['council', 'vote', tie.id, 'against', '--as', 'carol']);
      expect(rejected.stdout).toContain('The proposal was rejected (a tie).');

      const failing = (
        await ok<{ proposal: ProposalJson }>([
          'council',
          'propose',
          'add_maintainer',
          '--title',
          'Dave again',
          '--data',
          '{"agent_id":"dave"}',
          '--as',
          'carol',
        ])
      ).proposal;
      await ok(['maintainer', 'add', 'dave', '--as', 'alice']);
      await ok(['council', 'vote', failing.id, 'for', '--as', 'bob']);
      const failed = await run(['council', 'vote', failing.id, 'for', '--as', 'carol']);
      expect(failed.stdout).toContain('Execution failed (already_exists)');
      const list = await run(['council', 'proposals']);
      expect(list.stdout).toMatch(/rejected \(tie\)/);
      expect(list.stdout).toMatch(/passed\s+2\/0\/0 of 2\s+failed/);

      const open = (
        await ok<{ proposal: ProposalJson }>([
          'council',
          'propose',
          'promote',
          '--title',
          'Later',
          '--as',
          'bob',
        ])
      ).proposal;
      await refused(['council', 'withdraw', open.id, '--as', 'carol'], 1, 'forbidden');
      const withdrawn = await ok<{ proposal: ProposalJson }>(['council', 'withdraw', open.id, '--as', 'bob']);
      expect(withdrawn.proposal.status).toBe('withdrawn');
    });

    it('election start, nominate, accept, start-voting, vote, complete, list', async () => {
      await ok(['agent', 'register', 'erin']);
      await refused(['election', 'start', '--as', 'carol'], 1, 'forbidden');
      const { election } = await ok<{ election: { id: string; status: string } }>([
        'election',
        'start',
        '--seats',
        '1',
        '--as',
        'bob',
      ]);
      expect(election.status).toBe('nominations');
      await refused(['election', 'nominate', 'erin', '--as', 'dave'], 1, 'not_a_member');
      const nominated = await run(['election', 'nominate', 'erin', '--as', 'carol']);
      expect(nominated.stdout).toContain('The candidate accepts with: gitswarm election accept --as erin');
      const accepted = await ok<{ candidate: { status: string } }>(['election', 'accept', '--as', 'erin']);
      expect(accepted.candidate.status).toBe('accepted');
      await ok(['election', 'nominate', 'dave', '--statement', 'I review a lot', '--as', 'dave']);
      await ok(['election', 'start-voting', '--election', election.id, '--as', 'alice']);
      await refused(['election', 'vote', 'erin', '--as', 'erin'], 1, 'not_a_member');
      const voted = await ok<{ candidate: { vote_count: number } }>([
        'election',
        'vote',
        'erin',
        '--as',
        'carol',
      ]);
      expect(voted.candidate.vote_count).toBe(1);
      await refused(['election', 'vote', 'dave', '--as', 'carol'], 1, 'duplicate_vote');
      const completed = await ok<{
        elected: { agent_name: string }[];
        not_elected: { agent_name: string }[];
      }>(['election', 'complete', '--as', 'bob']);
      expect(completed.elected.map((c) => c.agent_name)).toEqual(['erin']);
      expect(completed.not_elected.map((c) => c.agent_name)).toEqual(['dave']);
      const listed = await run(['election', 'list']);
      expect(listed.stdout).toContain('completed');
      expect(listed.stdout).toMatch(/erin\s+elected\s+1/);
      const council = await ok<{ members: { agent_name: string }[] }>(['council', 'show']);
      expect(council.members.map((m) => m.agent_name)).toContain('erin');
    });

    it('council remove: a member leaves', async () => {
      const left = await ok<{ removed: { agent_name: string }; council: { status: string } }>([
        'council',
        'remove',
        '--as',
        'erin',
      ]);
      expect(left).toMatchObject({ removed: { agent_name: 'erin' }, council: { status: 'active' } });
    });

    it('stage, stage advance (refused without the metrics), stage advance --force', async () => {
      const info = await ok<{
        stage: string;
        metrics: Record<string, unknown>;
        next: { stage: string; eligible: boolean };
      }>(['stage']);
      expect(info).toMatchObject({
        stage: 'seed',
        metrics: { contributors: 0, merged_streams: 0, council_active: true },
        next: { stage: 'growth', eligible: false },
      });
      const text = await run(['stage']);
      expect(text.stdout).toContain(
        'Next: growth, which needs 2 contributors (has 0), 3 merged streams (has 0).',
      );
      await refused(['stage', 'advance', '--as', 'bob'], 1, 'forbidden');
      const notEligible = await refused(['stage', 'advance', '--as', 'alice'], 1, 'not_eligible');
      expect(notEligible.json<{ error: { hint: string } }>().error.hint).toContain(
        'gitswarm stage advance --force',
      );
      await refused(['stage', 'advance', '--force', 'ancient', '--as', 'alice'], 2, 'invalid_input');
      const forced = await ok<{ stage: { from: string; to: string; forced: boolean } }>([
        'stage',
        'advance',
        '--force',
        'mature',
        '--as',
        'alice',
      ]);
      expect(forced.stage).toEqual({ from: 'seed', to: 'mature', forced: true });
      const shown = await run(['stage', 'show']);
      expect(shown.stdout).toContain('Mature is the last stage');
      // Mature: a manual promote needs the council, whether or not it names an agent.
      await refused(['promote'], 1, 'forbidden');
      await refused(['promote', '--as', 'alice'], 1, 'forbidden');
    });
  });
}
