/**
 * Shared set-up of the council, proposal, election, stage and scheduler tests: a fresh store per
 * dialect, a clock the test moves, a repository with an owner, and agents with karma and merged
 * streams (real rows, as federation writes them).
 */

import { sql } from 'kysely';
import { createLocalEventBus } from '../../../src/core/activity/events.js';
import { registerAgent } from '../../../src/core/agents/agents.js';
import type { CoreDeps } from '../../../src/core/deps.js';
import type { CouncilSettings } from '../../../src/core/governance/council.js';
import { createCouncil, joinCouncil } from '../../../src/core/governance/council.js';
import { adjustKarma } from '../../../src/core/governance/karma.js';
import { createRepo } from '../../../src/core/repos/repos.js';
import type { Agent, Council, Repo, Stream } from '../../../src/store/index.js';
import { newId, newStreamId } from '../../../src/util/ids.js';
import { openTestStore, type TestDialect, type TestStore } from '../../helpers/store.js';

export const START = '2030-01-01T00:00:00.000Z';
export const DAY = 86_400_000;

export interface TestClock {
  now(): Date;
  advance(ms: number): void;
  set(iso: string): void;
}

export function testClock(start = START): TestClock {
  let t = new Date(start).getTime();
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms;
    },
    set: (iso) => {
      t = new Date(iso).getTime();
    },
  };
}

export interface World {
  store: TestStore;
  clock: TestClock;
  deps: CoreDeps;
  repo: Repo;
  owner: Agent;
}

let counter = 0;

/** A unique agent name for this test file. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

export async function openWorld(dialect: TestDialect): Promise<World> {
  const store = await openTestStore(dialect);
  const clock = testClock();
  const deps: CoreDeps = { store, clock, events: createLocalEventBus() };
  const owner = await registerAgent(deps, { name: uniqueName('owner') });
  const repo = await createRepo(deps, { name: uniqueName('repo'), owner });
  return { store, clock, deps, repo, owner };
}

/** Inserts a stream of the agent in the given status (no git behind it). */
export async function insertStream(
  world: World,
  agent: Agent,
  status: Stream['status'] = 'active',
  repo: Repo = world.repo,
): Promise<Stream> {
  const id = newStreamId();
  const now = world.clock.now().toISOString();
  return world.store.db
    .insertInto('gitswarm_streams')
    .values({
      id,
      repo_id: repo.id,
      agent_id: agent.id,
      name: `s-${id}`,
      branch: `stream/${id}`,
      status,
      base_branch: 'buffer',
      metadata: '{}',
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Records a merged stream of the agent, as federation does after a merge. */
export async function insertMergedStream(
  world: World,
  agent: Agent,
  options: { reverted?: boolean; repo?: Repo } = {},
): Promise<Stream> {
  const stream = await insertStream(world, agent, options.reverted ? 'reverted' : 'merged', options.repo);
  const now = world.clock.now().toISOString();
  await world.store.db
    .insertInto('gitswarm_merges')
    .values({
      id: newId(),
      repo_id: stream.repo_id,
      stream_id: stream.id,
      agent_id: agent.id,
      merge_commit: newId().replace(/-/g, '').padEnd(40, '0').slice(0, 40),
      target_branch: 'buffer',
      reverted_at: options.reverted ? now : null,
      merged_at: now,
    })
    .execute();
  return stream;
}

/** Registers an agent with the karma and merged streams it needs. */
export async function makeAgent(
  world: World,
  options: { name?: string; karma?: number; merged?: number } = {},
): Promise<Agent> {
  const agent = await registerAgent(world.deps, { name: options.name ?? uniqueName('agent') });
  const karma = options.karma ?? 100;
  if (karma !== 0)
    await adjustKarma(world.deps, world.store.db, {
      agentId: agent.id,
      repoId: world.repo.id,
      amount: karma,
      reason: 'test: karma earned in the repository',
    });
  for (let i = 0; i < (options.merged ?? 3); i++) await insertMergedStream(world, agent);
  return { ...agent, karma };
}

/** Creates a council and seats `members` eligible agents (the first becomes chair). */
export async function makeCouncil(
  world: World,
  options: { members: number; settings?: Partial<CouncilSettings> },
): Promise<{ council: Council; members: Agent[] }> {
  let council = await createCouncil(world.deps, {
    repo: world.repo,
    actor: world.owner,
    settings: options.settings,
  });
  const members: Agent[] = [];
  for (let i = 0; i < options.members; i++) {
    const agent = await makeAgent(world);
    ({ council } = await joinCouncil(world.deps, { repo: world.repo, agent }));
    members.push(agent);
    world.clock.advance(1000);
  }
  return { council, members };
}

/**
 * The activity entries of an event type in the world's repository, oldest first; of one target when
 * `targetId` is given (entries made at the same clock instant have no order among themselves).
 */
export async function activityOf(world: World, event: string, targetId?: string) {
  let query = world.store.db
    .selectFrom('gitswarm_activity_log')
    .selectAll()
    .where('repo_id', '=', world.repo.id)
    .where('event_type', '=', event);
  if (targetId !== undefined) query = query.where('target_id', '=', targetId);
  return query.orderBy('created_at').orderBy(insertionOrder(world)).execute();
}

/**
 * The physical order rows were written in: entries written at one instant of the test clock tie on
 * `created_at`, and the feed's own tiebreak (the id) is random. Activity rows are never updated, so
 * PostgreSQL's ctid follows insertion as SQLite's rowid does. Tests only.
 */
function insertionOrder(world: World) {
  return world.store.capabilities.label === 'sqlite' ? sql`rowid` : sql`ctid`;
}

/** Expects `promise` to reject with a GitSwarmError of `code`; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.code !== code) throw new Error(`expected error ${code}, got ${e.code ?? 'plain'}: ${e.message}`);
    return e as Error & { code: string };
  }
  throw new Error(`expected error ${code}, but it resolved`);
}
