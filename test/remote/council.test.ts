/**
 * `council` and `election` on a connected clone: the same command lines as in Mode A (proposals
 * named by an id prefix, elections by none: the open one) give the same exit codes and `--json`
 * shapes, and a passed proposal executes on the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../cli/helpers.js';
import { DIALECTS, dialectLabel } from '../helpers/store.js';
import { ModeBWorld, startTestServer, type TestClone, type TestServer } from './helpers.js';
import { shapeOf } from './shapes.js';

type Side = TestClone | TestRepo;
/** A command line, or one built from what the side printed before (its proposal id). */
type Step = readonly string[] | ((memory: Record<string, string>) => readonly string[]);

const CREATE = ['council', 'create', '--min-karma', '0', '--min-contributions', '0', '--min-members', '2'];

const SCRIPT: readonly Step[] = [
  ['council', 'show'],
  ['council', 'create', '--min-members', 'x', '--as', 'alice'],
  ['council', 'create', '--as', 'bob'],
  [...CREATE, '--standard-quorum', '2', '--critical-quorum', '2', '--as', 'alice'],
  ['council', 'join', '--as', 'alice'],
  ['council', 'join', '--as', 'bob'],
  ['council', 'show'],
  [
    'council',
    'propose',
    'change_settings',
    '--title',
    'Two reviews',
    '--data',
    '{"min_reviews":2}',
    '--as',
    'alice',
  ],
  ['council', 'proposals'],
  (m) => ['council', 'vote', m.proposal!.slice(0, 8), 'for', '--as', 'alice'],
  (m) => ['council', 'vote', m.proposal!.slice(0, 8), 'for', '--as', 'bob'],
  ['council', 'proposals', '--status', 'passed'],
  ['council', 'proposals', '--status', 'nope'],
  ['council', 'propose', 'promote', '--title', 'Ship it', '--as', 'alice'],
  (m) => ['council', 'withdraw', m.proposal!.slice(0, 8), '--as', 'alice'],
  ['election', 'start', '--seats', '1', '--as', 'alice'],
  ['election', 'nominate', 'carol', '--as', 'alice'],
  ['election', 'accept', '--as', 'carol'],
  ['election', 'start-voting', '--as', 'alice'],
  ['election', 'vote', 'carol', '--as', 'bob'],
  ['election', 'complete', '--as', 'alice'],
  ['election', 'list'],
  ['council', 'remove', 'carol', '--as', 'alice'],
  ['council', 'remove', '--as', 'bob'],
  ['council', 'vote', 'ffffffff', 'for', '--as', 'alice'],
];

async function play(side: Side): Promise<{ code: number; json: Record<string, unknown>; line: string }[]> {
  const memory: Record<string, string> = {};
  const results = [];
  for (const step of SCRIPT) {
    const line = typeof step === 'function' ? step(memory) : step;
    const run = await side.run([...line, '--json']);
    const json = JSON.parse(run.stdout) as Record<string, unknown>;
    const proposal = json.proposal as { id?: string } | undefined;
    if (line[1] === 'propose' && proposal?.id) memory.proposal = proposal.id;
    results.push({ code: run.code, json, line: line.join(' ') });
  }
  return results;
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)} server: council and elections connected`, () => {
    let server: TestServer;
    let world: ModeBWorld;
    let clone: TestClone;
    let local: TestRepo;
    let repoId: string;

    beforeAll(async () => {
      server = await startTestServer(dialect);
      world = new ModeBWorld();
      clone = world.clone();
      local = createTestRepo({ inProcess: true });
      for (const side of [clone, local] as Side[]) {
        expect((await side.run(['init', ...(side === clone ? ['--server', server.url] : [])])).code).toBe(0);
        for (const name of ['alice', 'bob', 'carol']) {
          expect((await side.run(['agent', 'register', name])).code).toBe(0);
        }
      }
      repoId = JSON.parse((await clone.run(['init', '--json'])).stdout).server.repo_id;
    });
    afterAll(async () => {
      local?.close();
      world?.close();
      await server?.close();
    });

    it('gives Mode A’s exit codes and shapes, step by step', async () => {
      const connected = await play(clone);
      const alone = await play(local);
      for (const [i, a] of connected.entries()) {
        const b = alone[i]!;
        expect(a.code, `${a.line}: ${JSON.stringify(a.json)}`).toBe(b.code);
        if (b.code !== 0) {
          expect((a.json.error as { code: string }).code, a.line).toBe(
            (b.json.error as { code: string }).code,
          );
        } else {
          expect(shapeOf(a.json), a.line).toEqual(shapeOf(b.json));
        }
      }
      // The passed proposal ran on the server; carol was elected there.
      const repo = (await (await fetch(`${server.url}/api/v1/repos/${repoId}`)).json()) as {
        repo: { min_reviews: number };
      };
      expect(repo.repo.min_reviews).toBe(2);
      const elections = connected.find((step) => step.line === 'election list')?.json.elections as {
        status: string;
        candidates: { agent_name: string; status: string }[];
      }[];
      expect(elections[0]?.status).toBe('completed');
      expect(elections[0]?.candidates).toEqual([
        expect.objectContaining({ agent_name: 'carol', status: 'elected' }),
      ]);
    });
  });
}
