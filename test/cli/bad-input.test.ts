/**
 * Bad input through the real binary: each case is a one-line error saying what to do, the
 * documented exit code, and no state changed (refs, worktrees, database rows, files).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { type CliRun, createTempDir, createTestRepo, type TestRepo } from './helpers.js';

/** Row counts of the tables a command could change. */
async function dbState(repo: TestRepo): Promise<Record<string, number>> {
  const store = await openStore(join(repo.dir, '.gitswarm', 'federation.db'));
  try {
    const tables = [
      'gitswarm_agents',
      'gitswarm_repos',
      'gitswarm_streams',
      'gitswarm_worktrees',
      'gitswarm_stream_commits',
      'gitswarm_stream_reviews',
      'gitswarm_merges',
      'gitswarm_maintainers',
      'gitswarm_activity_log',
    ] as const;
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const row = await store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      counts[table] = Number(row.n);
    }
    return counts;
  } finally {
    await store.close();
  }
}

/** Expects a refusal: the exit code, one `error:` line (and optionally a `hint:` line) on stderr, nothing on stdout. */
function expectRefusal(run: CliRun, code: number, pattern: RegExp): void {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: '' });
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines.slice(1).every((line) => line.startsWith('hint: ') || line.startsWith('  '))).toBe(true);
}

describe('outside a repository and before init', () => {
  const outside = createTempDir();
  let bare: TestRepo;
  let empty: TestRepo;
  beforeAll(() => {
    bare = createTestRepo();
    empty = createTestRepo({ commit: false });
  });
  afterAll(() => {
    outside.close();
    bare.close();
    empty.close();
  });

  it('outside a git repository: exit 3 not_a_git_repo, nothing created', async () => {
    const run = await bare.run(['status'], { cwd: outside.dir });
    expectRefusal(run, 3, /Not inside a git repository: /);
    expect(run.stderr).toContain('hint: Run gitswarm inside a git repository, or create one with: git init');
    const init = await bare.run(['init', '--json'], { cwd: outside.dir });
    expect(init.code).toBe(3);
    expect(init.json<{ error: { code: string } }>().error.code).toBe('not_a_git_repo');
    expect(existsSync(join(outside.dir, '.gitswarm'))).toBe(false);
  });

  it('before init: exit 3 with the hint gitswarm init, no .gitswarm created', async () => {
    const before = bare.gitState();
    for (const args of [['status'], ['agent', 'register', 'alice'], ['merge', 'x', '--as', 'alice']]) {
      const run = await bare.run(args);
      expectRefusal(run, 3, /GitSwarm is not set up in /);
      expect(run.stderr).toContain('hint: Run: gitswarm init');
    }
    expect(existsSync(join(bare.dir, '.gitswarm'))).toBe(false);
    expect(bare.gitState()).toBe(before);
  });

  it('init in a repository without commits: exit 1, nothing written', async () => {
    const run = await empty.run(['init']);
    expectRefusal(run, 1, /has no commits yet\./);
    expect(run.stderr).toContain('hint: Make a first commit');
    expect(existsSync(join(empty.dir, '.gitswarm'))).toBe(false);
    expect(empty.git(['for-each-ref'])).toBe('');
  });

  it('init with hostile or invalid values: exit 2, nothing written', async () => {
    const before = bare.gitState();
    const cases: [string[], RegExp][] = [
      [['--name', '--upload-pack=x'], /Invalid repository name "--upload-pack=x"\./],
      [['--name', '../x'], /Invalid repository name "\.\.\/x"\./],
      [['--name', 'two words'], /Invalid repository name "two words"\./],
      [['--name', 'a\u0001b'], /Invalid repository name "a\\u0001b"\./],
      [['--buffer', '-x'], /Invalid branch name "-x"\./],
      [['--buffer', 'main'], /The buffer branch and the promote target are both main\./],
      [['--main', 'no-such-branch'], /Branch no-such-branch does not exist/],
      [['--mode', 'chaos'], /Invalid value for merge_mode/],
      [['--threshold', '7'], /Invalid value for consensus_threshold/],
    ];
    for (const [flags, pattern] of cases) {
      expectRefusal(await bare.run(['init', ...flags]), 2, pattern);
    }
    expect(existsSync(join(bare.dir, '.gitswarm'))).toBe(false);
    expect(bare.gitState()).toBe(before);
  });
});

describe('refusals in an initialized repository', () => {
  let repo: TestRepo;
  let streamId: string;
  let worktree: string;

  beforeAll(async () => {
    repo = createTestRepo();
    expect((await repo.run(['init', '--model', 'guild'])).code).toBe(0);
    for (const name of ['owner', 'alice']) expect((await repo.run(['agent', 'register', name])).code).toBe(0);
    const created = await repo.run(['workspace', 'create', '--as', 'alice', '--name', 'feature', '--json']);
    expect(created.code).toBe(0);
    ({
      stream: { id: streamId },
      worktree,
    } = created.json<{ stream: { id: string }; worktree: string }>());
    repo.write('feature.txt', 'feature\n', worktree);
    expect((await repo.run(['commit', '-m', 'Add feature', '--as', 'alice'])).code).toBe(0);
  });
  afterAll(() => repo.close());

  /** Runs a command that must be refused and checks that neither git nor the database changed. */
  async function refused(args: string[], code: number, pattern: RegExp): Promise<CliRun> {
    const git = repo.gitState();
    const db = await dbState(repo);
    const run = await repo.run(args);
    expectRefusal(run, code, pattern);
    expect(repo.gitState()).toBe(git);
    expect(await dbState(repo)).toEqual(db);
    return run;
  }

  it('hostile agent names: exit 2', async () => {
    await refused(['agent', 'register', '../x'], 2, /Invalid agent name "\.\.\/x"\./);
    await refused(['agent', 'register', 'two words'], 2, /Invalid agent name "two words"\./);
    await refused(['agent', 'register', 'bell\u0007'], 2, /Invalid agent name "bell\\u0007"\./);
    await refused(
      ['agent', 'register', '--', '--upload-pack=x'],
      2,
      /Invalid agent name "--upload-pack=x"\./,
    );
  });

  it('a hostile stream name: exit 2, no branch, no worktree', async () => {
    await refused(
      ['workspace', 'create', '--as', 'owner', '--name', '../../escape'],
      2,
      /Invalid stream name/,
    );
    await refused(
      ['workspace', 'create', '--as', 'owner', '--name', '--upload-pack=x'],
      2,
      /Invalid stream name/,
    );
  });

  it('an unknown agent: exit 3 with the hint to list agents', async () => {
    const run = await refused(['workspace', 'create', '--as', 'ghost'], 3, /No agent named "ghost"\./);
    expect(run.stderr).toContain('hint: List agents with: gitswarm agent list');
    await refused(['maintainer', 'add', 'ghost', '--as', 'owner'], 3, /No agent named "ghost"\./);
  });

  it('an unknown stream: exit 3 with the hint to list streams', async () => {
    const run = await refused(['merge', 'no-such-stream', '--as', 'alice'], 3, /No stream "no-such-stream"/);
    expect(run.stderr).toContain('hint: List streams with: gitswarm workspace list');
    await refused(['review', 'submit', 'stream/000000000000', 'approve', '--as', 'owner'], 3, /No stream/);
    await refused(['consensus', 'nope'], 3, /No stream "nope"/);
  });

  it('no acting agent: exit 2 naming --as', async () => {
    const run = await refused(['commit', '-m', 'x'], 2, /This command needs an acting agent\./);
    expect(run.stderr).toContain('hint: Name the acting agent with --as AGENT or GITSWARM_AGENT.');
  });

  it('commit with nothing to commit: exit 1', async () => {
    const run = await refused(['commit', '-m', 'again', '--as', 'alice'], 1, /Nothing to commit in /);
    expect(run.stderr).toContain('hint: Change files in the worktree first, then commit.');
  });

  it('merge without consensus: exit 1 no_consensus, the buffer does not move', async () => {
    const run = await refused(['merge', streamId, '--as', 'alice'], 1, /has no consensus/);
    expect(run.stderr).toContain(`gitswarm consensus ${streamId}`);
    const before = repo.gitState();
    const json = await repo.run(['merge', streamId, '--as', 'alice', '--json']);
    expect(json.code).toBe(1);
    expect(json.json<{ error: { code: string } }>().error.code).toBe('no_consensus');
    expect(repo.gitState()).toBe(before);
  });

  it('self-review: exit 1 self_review', async () => {
    const run = await refused(
      ['review', 'submit', streamId, 'approve', '--as', 'alice'],
      1,
      /cannot review it\./,
    );
    expect(run.stderr).toContain('hint: Ask another agent to review the stream.');
  });

  it('an unknown verdict and an unknown setting: exit 2', async () => {
    await refused(['review', 'submit', streamId, 'lgtm', '--as', 'owner'], 2, /Unknown verdict "lgtm"\./);
    await refused(['config', 'colour', 'blue', '--as', 'owner'], 2, /Unknown setting "colour"\./);
  });

  it('stabilize_parallelism not an integer from 1 to 64: exit 2 naming the range; 3 is taken', async () => {
    for (const value of ['x', '0', '65', '2.5']) {
      await refused(
        ['config', 'stabilize_parallelism', value, '--as', 'owner'],
        2,
        /Invalid value for stabilize_parallelism: expected an integer from 1 to 64\./,
      );
    }
    const set = await repo.run(['config', 'stabilize_parallelism', '3', '--as', 'owner', '--json']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.json()).toMatchObject({ key: 'stabilize_parallelism', value: 3, changed: true });
  });

  it('a setting changed by a non-admin: exit 1 forbidden', async () => {
    await refused(
      ['config', 'merge_mode', 'swarm', '--as', 'alice'],
      1,
      /has write access; this needs admin\./,
    );
  });
});
