/**
 * Set-up shared by the tasks, budget and karma tests: core deps over a test store with a clock the
 * test moves, repositories, agents with access levels, raw stream/review/merge rows, and a
 * snapshot of every table these modules write (to prove a refused action changed nothing).
 */
import { expect } from 'vitest';
import { createLocalEventBus } from '../../../src/core/activity/events.js';
import { registerAgent } from '../../../src/core/agents/agents.js';
import type { CoreDeps } from '../../../src/core/deps.js';
import { grantAccess } from '../../../src/core/governance/access.js';
import { addMaintainer } from '../../../src/core/governance/maintainers.js';
import { createRepo } from '../../../src/core/repos/repos.js';
import { isGitSwarmError } from '../../../src/errors.js';
import type { Agent, Repo, Store, Stream, StreamStatus } from '../../../src/store/index.js';
import { toJson } from '../../../src/store/index.js';
import { newId, newStreamId } from '../../../src/util/ids.js';

/** A clock the test sets; each reading advances one millisecond so rows keep their order. */
export interface TestClock {
  now(): Date;
  set(iso: string): void;
  advance(ms: number): void;
}

export function testClock(start = '2026-03-01T12:00:00.000Z'): TestClock {
  let t = Date.parse(start);
  return {
    now: () => new Date(t++),
    set: (iso) => {
      t = Date.parse(iso);
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

export type TestDeps = CoreDeps & { clock: TestClock };

export function testDeps(store: Store, clock: TestClock = testClock()): TestDeps {
  return { store, clock, events: createLocalEventBus() };
}

let counter = 0;

export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

export interface SeededRepo {
  repo: Repo;
  owner: Agent;
}

/** A repository whose owner (admin) is a fresh agent. */
export async function seedRepo(deps: CoreDeps, settings: Record<string, unknown> = {}): Promise<SeededRepo> {
  const owner = await registerAgent(deps, { name: uniqueName('owner') });
  const repo = await createRepo(deps, { name: uniqueName('repo'), settings, owner });
  return { repo, owner };
}

/** A fresh agent; `maintainer` makes it a maintainer, `access` grants it an explicit level. */
export async function seedAgent(
  deps: CoreDeps,
  seeded: SeededRepo,
  options: { prefix?: string; maintainer?: boolean; access?: 'read' | 'write' | 'maintain' | 'admin' } = {},
): Promise<Agent> {
  const agent = await registerAgent(deps, { name: uniqueName(options.prefix ?? 'agent') });
  if (options.maintainer) {
    await addMaintainer(deps, deps.store.db, { repo: seeded.repo, actor: seeded.owner, agent });
  }
  if (options.access) {
    await grantAccess(deps, deps.store.db, {
      repo: seeded.repo,
      actor: seeded.owner,
      agent,
      level: options.access,
    });
  }
  return agent;
}

/** Inserts a stream row directly (no git); tests of hooks and links only need the record. */
export async function insertStream(
  deps: CoreDeps,
  input: { repo: Repo; agent: Agent; status?: StreamStatus },
): Promise<Stream> {
  const id = newStreamId();
  const now = deps.clock.now().toISOString();
  return deps.store.db
    .insertInto('gitswarm_streams')
    .values({
      id,
      repo_id: input.repo.id,
      agent_id: input.agent.id,
      name: `s-${id}`,
      branch: `stream/${id}`,
      status: input.status ?? 'active',
      metadata: toJson({}),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function insertReview(
  deps: CoreDeps,
  input: { stream: Stream; reviewer: Agent; verdict: 'approve' | 'request_changes' | 'comment' },
): Promise<void> {
  await deps.store.db
    .insertInto('gitswarm_stream_reviews')
    .values({
      id: newId(),
      stream_id: input.stream.id,
      reviewer_id: input.reviewer.id,
      verdict: input.verdict,
      reviewed_at: deps.clock.now().toISOString(),
    })
    .execute();
}

/** Marks a stream merged (status and merge record), as federation does before its hook runs. */
export async function markMerged(deps: CoreDeps, stream: Stream): Promise<Stream> {
  await deps.store.db
    .insertInto('gitswarm_merges')
    .values({
      id: newId(),
      repo_id: stream.repo_id,
      stream_id: stream.id,
      agent_id: stream.agent_id,
      merge_commit: 'a'.repeat(40),
      target_branch: 'buffer',
      merged_at: deps.clock.now().toISOString(),
    })
    .execute();
  return deps.store.db
    .updateTable('gitswarm_streams')
    .set({ status: 'merged' })
    .where('id', '=', stream.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks a merged stream reverted (status and merge record). */
export async function markReverted(deps: CoreDeps, stream: Stream): Promise<Stream> {
  await deps.store.db
    .updateTable('gitswarm_merges')
    .set({ reverted_at: deps.clock.now().toISOString(), revert_commit: 'b'.repeat(40) })
    .where('stream_id', '=', stream.id)
    .execute();
  return deps.store.db
    .updateTable('gitswarm_streams')
    .set({ status: 'reverted' })
    .where('id', '=', stream.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

const WRITTEN_TABLES = [
  'gitswarm_tasks',
  'gitswarm_task_claims',
  'gitswarm_repo_budgets',
  'gitswarm_budget_transactions',
  'gitswarm_review_karma_transactions',
  'gitswarm_repo_karma',
  'gitswarm_reviewer_stats',
  'gitswarm_activity_log',
  'gitswarm_agents',
] as const;

/** Every row of the tables tasks, budget and karma write, in a stable order. */
export async function snapshot(store: Store): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const table of WRITTEN_TABLES) {
    const rows = await store.db.selectFrom(table).selectAll().execute();
    // Rows without an id (gitswarm_repo_karma, keyed by agent and repository) sort by their content.
    const key = (row: Record<string, unknown>) => ('id' in row ? String(row.id) : JSON.stringify(row));
    result[table] = rows.sort((a, b) => key(a).localeCompare(key(b)));
  }
  return result;
}

/**
 * Asserts that `action` throws a GitSwarmError with `code` and that no table it could write
 * changed.
 */
export async function expectRefused(
  store: Store,
  code: string,
  action: () => Promise<unknown>,
): Promise<void> {
  const before = await snapshot(store);
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a refusal with code ${code}`).toBeDefined();
  expect(isGitSwarmError(caught) ? caught.code : caught).toBe(code);
  expect(await snapshot(store)).toEqual(before);
}

/**
 * The budget invariant and the ledger's agreement with the stored balances: replaying the ledger
 * in time order gives the stored balances, and every row's balance_after is the available credits
 * right after it (`inOrder: false` when rows may share a timestamp).
 */
export async function expectLedgerConsistent(
  store: Store,
  repoId: string,
  options: { inOrder?: boolean } = {},
): Promise<void> {
  const budget = await store.db
    .selectFrom('gitswarm_repo_budgets')
    .selectAll()
    .where('repo_id', '=', repoId)
    .executeTakeFirst();
  if (!budget) return;
  const rows = await store.db
    .selectFrom('gitswarm_budget_transactions')
    .selectAll()
    .where('budget_id', '=', budget.id)
    .orderBy('created_at')
    .execute();
  let total = 0;
  let available = 0;
  let reserved = 0;
  let paid = 0;
  for (const row of rows) {
    if (row.type === 'deposit') {
      total += row.amount;
      available += row.amount;
    } else if (row.type === 'bounty_reserve') {
      available -= row.amount;
      reserved += row.amount;
    } else if (row.type === 'bounty_release') {
      available += row.amount;
      reserved -= row.amount;
    } else if (row.type === 'payout') {
      reserved -= row.amount;
      paid += row.amount;
    }
    if (options.inOrder !== false) expect(row.balance_after).toBe(available);
  }
  expect({
    total: budget.total_credits,
    available: budget.available_credits,
    reserved: budget.reserved_credits,
  }).toEqual({ total, available, reserved });
  expect(budget.total_credits).toBe(budget.available_credits + budget.reserved_credits + paid);
  expect(budget.available_credits).toBeGreaterThanOrEqual(0);
  expect(budget.reserved_credits).toBeGreaterThanOrEqual(0);
}
