/**
 * Set-up shared by the streams, consensus, reviews and federation tests: core deps over a test
 * store with a clock the test moves, repositories, agents and raw stream rows.
 */

import { randomBytes } from 'node:crypto';
import { createLocalEventBus } from '../../src/core/activity/events.js';
import { getAgent, registerAgent } from '../../src/core/agents/agents.js';
import type { CoreDeps } from '../../src/core/deps.js';
import { adjustKarma } from '../../src/core/governance/karma.js';
import { addMaintainer } from '../../src/core/governance/maintainers.js';
import { createRepo } from '../../src/core/repos/repos.js';
import type { Agent, Repo, Store, Stream, StreamStatus } from '../../src/store/index.js';
import { toJson } from '../../src/store/index.js';
import { newStreamId } from '../../src/util/ids.js';

/** A clock the test sets; each reading advances one millisecond so rows keep their order. */
export interface TestClock {
  now(): Date;
  set(iso: string): void;
}

export function testClock(start = '2026-03-01T12:00:00.000Z'): TestClock {
  let t = Date.parse(start);
  return {
    now: () => new Date(t++),
    set: (iso) => {
      t = Date.parse(iso);
    },
  };
}

export function testDeps(store: Store, clock: TestClock = testClock()): CoreDeps & { clock: TestClock } {
  return { store, clock, events: createLocalEventBus() };
}

let counter = 0;

/** A unique, valid name for this test run. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

export interface SeededRepo {
  repo: Repo;
  owner: Agent;
}

/** A repository with an owner agent; `path` is its git root when the test uses git. */
export async function seedRepo(
  deps: CoreDeps,
  settings: Record<string, unknown> = {},
  path: string | null = null,
): Promise<SeededRepo> {
  const owner = await registerAgent(deps, { name: uniqueName('owner') });
  const repo = await createRepo(deps, { name: uniqueName('repo'), path, settings, owner });
  return { repo, owner };
}

export interface AgentOptions {
  /** Karma the agent starts with in `karmaIn` (karma is per repository; a ledger row gives it). */
  karma?: number;
  karmaIn?: Repo;
  isHuman?: boolean;
  maintainerOf?: SeededRepo;
}

export async function seedAgent(deps: CoreDeps, prefix: string, options: AgentOptions = {}): Promise<Agent> {
  let agent = await registerAgent(deps, { name: uniqueName(prefix), isHuman: options.isHuman ?? false });
  if (options.karma) {
    if (!options.karmaIn) throw new Error('seedAgent: karma is per repository; give karmaIn');
    await adjustKarma(deps, deps.store.db, {
      agentId: agent.id,
      repoId: options.karmaIn.id,
      amount: options.karma,
      reason: 'test: starting karma',
    });
    agent = await getAgent(deps.store.db, agent.id);
  }
  if (options.maintainerOf) {
    await addMaintainer(deps, deps.store.db, {
      repo: options.maintainerOf.repo,
      actor: options.maintainerOf.owner,
      agent,
    });
  }
  return agent;
}

/** Inserts a stream row directly (for tests of the governance layer without git). */
export async function insertStream(
  deps: CoreDeps,
  repo: Repo,
  agent: Agent,
  fields: { status?: StreamStatus; parentStreamId?: string | null; name?: string } = {},
): Promise<Stream> {
  const id = newStreamId();
  const now = deps.clock.now().toISOString();
  return deps.store.db
    .insertInto('gitswarm_streams')
    .values({
      id,
      repo_id: repo.id,
      agent_id: agent.id,
      name: fields.name ?? `${agent.name}-${id.slice(0, 4)}`,
      branch: `stream/${id}`,
      status: fields.status ?? 'active',
      parent_stream_id: fields.parentStreamId ?? null,
      base_branch: repo.buffer_branch,
      metadata: toJson({}),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A merged stream as the API shows it, without its repository or pull request: a row of an import
 * payload, or a serializer's input. `extra` overrides or adds fields.
 */
export function streamRecord(
  agentId: string,
  extra: Record<string, unknown> = {},
  at = '2026-11-01T10:00:00.000Z',
) {
  const id = randomBytes(6).toString('hex');
  return {
    id,
    agent_id: agentId,
    name: `s-${id}`,
    branch: `stream/${id}`,
    source: 'cli',
    status: 'merged',
    review_status: 'approved',
    parent_stream_id: null,
    base_branch: 'buffer',
    base_commit: null,
    task_id: null,
    conflict: null,
    merge_priority: 0,
    auto_revert_opt_out: false,
    metadata: {},
    created_at: at,
    updated_at: at,
    ...extra,
  };
}
