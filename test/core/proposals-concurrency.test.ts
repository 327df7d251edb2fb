/**
 * Eight council members vote on one proposal from eight OS processes at the same moment: the
 * counts are exact, the proposal resolves once, and its action is executed exactly once.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isMaintainer } from '../../src/core/maintainers.js';
import { createProposal, getProposal, listProposalVotes } from '../../src/core/proposals.js';
import type { Agent } from '../../src/store/index.js';
import { activityOf, makeAgent, makeCouncil, openWorld, type World } from './council-setup.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'test', 'fixtures', 'council-vote-worker.mjs');
const PROCESSES = 8;
const QUORUM = 5;

// PGlite lives inside one process; the PostgreSQL dialect joins in when a real server is there.
const dialects = inject('postgresUrl') ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

interface Worker {
  child: ChildProcessWithoutNullStreams;
  next(): Promise<string>;
}

function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let buffered = '';
  let errors = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString('utf8');
  });
  return {
    child,
    next: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) return resolve(line);
        waiters.push(resolve);
        child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${errors}`)));
      }),
  };
}

for (const dialect of dialects) {
  describe(`${dialect}: concurrent council votes from separate processes`, () => {
    let world: World;
    beforeAll(async () => {
      if (!existsSync(join(ROOT, 'dist', 'src', 'core', 'proposals.js'))) {
        throw new Error(
          'The concurrency test runs the built code: run `npm run build` (npm test does) first.',
        );
      }
      world = await openWorld(dialect);
    });
    afterAll(async () => {
      await world.store.close();
    });

    it(`${PROCESSES} members vote at once: counts exact, resolved and executed once`, async () => {
      const { members } = await makeCouncil(world, {
        members: PROCESSES,
        settings: { min_members: 3, standard_quorum: QUORUM, critical_quorum: QUORUM },
      });
      const candidate: Agent = await makeAgent(world);
      const proposal = await createProposal(world.deps, {
        repo: world.repo,
        proposer: members[0]!,
        type: 'add_maintainer',
        title: 'Make the candidate a maintainer',
        actionData: { agent_id: candidate.id },
      });
      const now = world.clock.now().toISOString();
      const workers = members.map((member) =>
        startWorker([
          world.store.location,
          world.repo.id,
          proposal.id,
          member.id,
          now,
          ...(world.store.schema ? [world.store.schema] : []),
        ]),
      );
      try {
        for (const worker of workers) expect(await worker.next()).toBe('ready');
        for (const worker of workers) worker.child.stdin.write('go\n');
        const outcomes = (await Promise.all(workers.map((w) => w.next()))).map(
          (line) => JSON.parse(line) as { ok: boolean; resolved?: boolean; code?: string },
        );
        const accepted = outcomes.filter((o) => o.ok);
        const refused = outcomes.filter((o) => !o.ok);
        expect(accepted).toHaveLength(QUORUM);
        expect(refused.map((o) => o.code)).toEqual(Array(PROCESSES - QUORUM).fill('invalid_state'));
        expect(accepted.filter((o) => o.resolved)).toHaveLength(1);

        const stored = await getProposal(world.store.db, world.repo, proposal.id);
        expect(stored).toMatchObject({
          status: 'passed',
          votes_for: QUORUM,
          votes_against: 0,
          votes_abstain: 0,
          executed: true,
          execution_result: { ok: true },
        });
        expect(await listProposalVotes(world.store.db, proposal.id)).toHaveLength(QUORUM);
        const cast = await world.store.db
          .selectFrom('gitswarm_council_members')
          .select('votes_cast')
          .where('council_id', '=', proposal.council_id)
          .execute();
        expect(cast.reduce((sum, m) => sum + m.votes_cast, 0)).toBe(QUORUM);
        expect(await isMaintainer(world.store.db, world.repo.id, candidate.id)).toBe(true);
        expect(await activityOf(world, 'maintainer.added')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.passed')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.executed')).toHaveLength(1);
        expect(await activityOf(world, 'proposal.voted')).toHaveLength(QUORUM);
      } finally {
        for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill();
      }
    });
  });
}
