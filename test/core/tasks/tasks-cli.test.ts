/**
 * `gitswarm task …` and `gitswarm budget …` as users see them: exit codes, `--json` documents with
 * the minimum fields of spec/cli.md, refusals as `{error: {code}}`, and short text. Most commands
 * run in-process (runCli, same code path as the binary); one flow runs the real binary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, createTestRepo, type TestRepo } from '../../cli/helpers.js';
import { storeEnv } from '../../cli/in-process.js';
import { requireFreshBuild } from '../../helpers/built.js';
import { DIALECTS, dialectLabel, postgresServerSkipReason, withSkipReason } from '../../helpers/store.js';

/** The minimum `--json` fields of spec/cli.md for the task commands. */
const TASK_FIELDS = ['id', 'number', 'title', 'status', 'priority', 'amount'];
const CLAIM_FIELDS = ['id', 'task_id', 'agent_id', 'status'];

interface TaskJson {
  id: string;
  number: number;
  title: string;
  status: string;
  priority: string;
  amount: number;
  labels: string[];
  claims?: { id: string; agent_name: string; status: string }[];
}

interface ClaimJson {
  id: string;
  task_id: string;
  task_number: number;
  agent_id: string;
  status: string;
}

function expectFields(value: object, wanted: readonly string[]): void {
  expect(wanted.filter((field) => !(field in value))).toEqual([]);
}

for (const dialect of DIALECTS) {
  describe(`${dialectLabel(dialect)}: task and budget commands`, () => {
    let repo: TestRepo;

    async function run(args: string[]): Promise<CliRun> {
      return repo.runHere(args);
    }

    /** Runs with --json, expects `code`, returns the parsed document. */
    async function json<T>(args: string[], code = 0): Promise<T> {
      const result = await run([...args, '--json']);
      expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code, stderr: '' });
      return result.json<T>();
    }

    /** Runs with --json and expects a refusal with `code` and exit `exit`. */
    async function refused(args: string[], code: string, exit: number): Promise<void> {
      const doc = await json<{ error: { code: string; message: string } }>(args, exit);
      expect(doc.error.code).toBe(code);
      expect(doc.error.message).toEqual(expect.any(String));
    }

    beforeAll(async () => {
      repo = createTestRepo({ env: await storeEnv(dialect) });
      for (const args of [
        ['init', '--name', 'tasks-cli'],
        ['agent', 'register', 'owner'],
        ['agent', 'register', 'lead'],
        ['agent', 'register', 'dev'],
        ['agent', 'register', 'maint'],
        ['maintainer', 'add', 'maint', '--as', 'owner'],
      ]) {
        const result = await run(args);
        expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: '' });
      }
    });
    afterAll(() => repo.close());

    it('budget: shows zeros, deposits as an admin, refuses others and bad amounts', async () => {
      const empty = await json<{ budget: Record<string, number> }>(['budget']);
      expect(empty.budget).toMatchObject({ total_credits: 0, available_credits: 0, reserved_credits: 0 });
      const text = await run(['budget']);
      expect(text.stdout).toContain('gitswarm budget deposit N --as <admin>');

      const dep = await json<{ budget: Record<string, number>; transaction: Record<string, unknown> }>([
        'budget',
        'deposit',
        '500',
        '--desc',
        'Seed money',
        '--as',
        'owner',
      ]);
      expect(dep.budget).toMatchObject({ total_credits: 500, available_credits: 500 });
      expect(dep.transaction).toMatchObject({
        type: 'deposit',
        amount: 500,
        balance_after: 500,
        agent_name: 'owner',
      });
      await refused(['budget', 'deposit', '10', '--as', 'maint'], 'forbidden', 1);
      await refused(['budget', 'deposit', 'ten', '--as', 'owner'], 'usage', 2);
      await refused(['budget', 'deposit', '0', '--as', 'owner'], 'invalid_input', 2);
      await refused(['budget', 'deposit', '10'], 'agent_required', 2);
      expect((await json<{ budget: Record<string, number> }>(['budget', 'show'])).budget.total_credits).toBe(
        500,
      );
      const said = await run(['budget', 'deposit', '5', '--as', 'owner']);
      expect(said.stdout).toBe('Deposited 5 credits; 505 available.\n');
    });

    it('task: create, list, show, claim, submit, review with payout; refusals exit with their codes', async () => {
      const created = await json<{ task: TaskJson }>([
        'task',
        'create',
        'Redesign auth',
        '--desc',
        'Use sessions.',
        '--priority',
        'high',
        '--amount',
        '100',
        '--labels',
        'auth,security',
        '--difficulty',
        'hard',
        '--as',
        'lead',
      ]);
      expectFields(created.task, TASK_FIELDS);
      expect(created.task).toMatchObject({
        number: 1,
        title: 'Redesign auth',
        status: 'open',
        priority: 'high',
        amount: 100,
        labels: ['auth', 'security'],
      });
      await refused(['task', 'create', 'Too rich', '--amount', '1001', '--as', 'lead'], 'invalid_input', 2);
      await refused(
        ['task', 'create', 'Too rich', '--amount', '900', '--as', 'lead'],
        'insufficient_budget',
        1,
      );
      await refused(['task', 'create', 'Bad', '--amount', '-3', '--as', 'lead'], 'usage', 2);
      await refused(['task', 'create', 'Bad', '--priority', 'urgent', '--as', 'lead'], 'invalid_input', 2);
      await refused(['task', 'create', 'Nobody'], 'agent_required', 2);
      const second = await run(['task', 'create', 'Fix typo', '--priority', 'critical', '--as', 'lead']);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('Created task #2 Fix typo (critical).');

      const listed = await json<{ tasks: TaskJson[] }>(['task', 'list']);
      expect(listed.tasks.map((t) => [t.number, t.priority])).toEqual([
        [2, 'critical'],
        [1, 'high'],
      ]);
      for (const t of listed.tasks) expectFields(t, TASK_FIELDS);
      expect((await json<{ tasks: TaskJson[] }>(['task', 'list', '--status', 'completed'])).tasks).toEqual(
        [],
      );
      await refused(['task', 'list', '--status', 'done'], 'invalid_input', 2);
      const table = await run(['task', 'list']);
      expect(table.stdout.split('\n')[0]).toMatch(/^TASK\s+PRIORITY\s+STATUS\s+BOUNTY\s+TITLE$/);

      await refused(['task', 'claim', '1', '--as', 'lead'], 'forbidden', 1);
      const claimed = await json<{ claim: ClaimJson }>(['task', 'claim', '1', '--as', 'dev']);
      expectFields(claimed.claim, CLAIM_FIELDS);
      expect(claimed.claim).toMatchObject({ task_id: created.task.id, task_number: 1, status: 'active' });
      await refused(['task', 'claim', '#1', '--as', 'maint'], 'invalid_state', 1);
      await refused(['task', 'claim', '99', '--as', 'dev'], 'task_not_found', 3);

      const shown = await json<{ task: TaskJson }>(['task', 'show', created.task.id]);
      expectFields(shown.task, TASK_FIELDS);
      expect(shown.task).toMatchObject({
        status: 'claimed',
        claims: [{ agent_name: 'dev', status: 'active' }],
      });
      await refused(['task', 'show', '99'], 'task_not_found', 3);

      await refused(['task', 'submit', '1', '--as', 'maint'], 'claim_not_found', 3);
      const submitted = await json<{ claim: ClaimJson }>([
        'task',
        'submit',
        '1',
        '--as',
        'dev',
        '--notes',
        'Done.',
      ]);
      expect(submitted.claim).toMatchObject({ id: claimed.claim.id, status: 'submitted' });
      await refused(['task', 'review', '1', 'approve', '--as', 'dev'], 'self_review', 1);
      await refused(['task', 'review', '1', 'maybe', '--as', 'lead'], 'invalid_input', 2);
      const reviewed = await json<{
        claim: ClaimJson;
        task: TaskJson;
        payout: number;
      }>(['task', 'review', claimed.claim.id, 'approve', '--as', 'lead', '--notes', 'Thanks.']);
      expect(reviewed).toMatchObject({
        claim: { status: 'approved' },
        task: { status: 'completed' },
        payout: 100,
      });
      // A bounty pays credits, never karma (every budget bounty counts as self-funded).
      expect(reviewed).not.toHaveProperty('karma');
      const budget = await json<{ budget: Record<string, number> }>(['budget']);
      expect(budget.budget).toMatchObject({
        total_credits: 505,
        available_credits: 405,
        reserved_credits: 0,
        paid_out_credits: 100,
      });
      const history = await json<{ transactions: { type: string; amount: number; balance_after: number }[] }>(
        ['budget', 'history'],
      );
      expect(history.transactions.map((t) => [t.type, t.amount, t.balance_after])).toEqual([
        ['payout', 100, 405],
        ['bounty_reserve', 100, 405],
        ['deposit', 5, 505],
        ['deposit', 500, 500],
      ]);
      await refused(['budget', 'history', '--limit', 'x'], 'usage', 2);
      const agent = await json<{ agent: { karma: number; total_karma: number } }>(['agent', 'show', 'dev']);
      expect(agent.agent).toMatchObject({ karma: 0, total_karma: 0 });
    });

    it('task: abandon reopens, cancel by a maintainer releases the bounty, cancel by others is refused', async () => {
      const task = await json<{ task: TaskJson }>([
        'task',
        'create',
        'Cache',
        '--amount',
        '40',
        '--as',
        'lead',
      ]);
      const ref = String(task.task.number);
      await json(['task', 'claim', ref, '--as', 'dev']);
      await refused(['task', 'abandon', ref, '--as', 'maint'], 'claim_not_found', 3);
      const abandoned = await json<{ claim: ClaimJson }>(['task', 'abandon', ref, '--as', 'dev']);
      expect(abandoned.claim.status).toBe('abandoned');
      await refused(['task', 'cancel', ref, '--as', 'dev'], 'forbidden', 1);
      const before = await json<{ budget: Record<string, number> }>(['budget']);
      const cancelled = await run(['task', 'cancel', ref, '--as', 'maint']);
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout).toBe(`Cancelled task #${ref}. Released 40 credits to the budget.\n`);
      const after = await json<{ budget: Record<string, number> }>(['budget']);
      expect(after.budget.available_credits).toBe((before.budget.available_credits ?? 0) + 40);
      await refused(['task', 'cancel', ref, '--as', 'maint'], 'invalid_state', 1);
      const expiring = await run([
        'task',
        'create',
        'Old',
        '--expires',
        '2000-01-01T00:00:00Z',
        '--as',
        'lead',
      ]);
      expect(expiring.code).toBe(2);
      expect(expiring.stderr).toContain('is not in the future');
    });
  });
}

// The spawned binary cannot reach PGlite (it lives in this process): PostgreSQL needs a real server, else it is skipped with the reason.
for (const dialect of DIALECTS) {
  const skip = postgresServerSkipReason(dialect);
  describe.skipIf(skip !== null)(
    withSkipReason(`${dialect}: task commands through the real binary`, skip),
    () => {
      let repo: TestRepo;
      beforeAll(async () => {
        requireFreshBuild();
        repo = createTestRepo({ env: dialect === 'postgres' ? await storeEnv('postgres') : {} });
      });
      afterAll(() => repo.close());

      it('creates, claims and lists a task', async () => {
        for (const args of [['init'], ['agent', 'register', 'lead'], ['agent', 'register', 'dev']]) {
          const r = await repo.run(args);
          expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
        }
        const created = await repo.run(['task', 'create', 'Ship it', '--as', 'lead', '--json']);
        expect(created.code).toBe(0);
        expectFields(created.json<{ task: object }>().task, TASK_FIELDS);
        const claim = await repo.run(['task', 'claim', '1', '--as', 'dev']);
        expect({ code: claim.code, stderr: claim.stderr }).toEqual({ code: 0, stderr: '' });
        expect(claim.stdout).toMatch(
          /^dev claimed task #1 \(claim [0-9a-f-]{36}\)\nWork on it with: gitswarm workspace create --task 1 --as dev\n$/,
        );
        const again = await repo.run(['task', 'claim', '1', '--as', 'lead']);
        expect(again.code).toBe(1);
        expect(again.stderr).toMatch(/^error: Agent lead created task #1; it cannot claim it\.\nhint: /);
        const list = await repo.run(['task', 'list', '--json']);
        expect(list.json<{ tasks: TaskJson[] }>().tasks.map((t) => [t.number, t.status])).toEqual([
          [1, 'claimed'],
        ]);
      });
    },
  );
}
