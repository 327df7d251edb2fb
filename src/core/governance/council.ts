/**
 * The repository council: who may sit on it, how it forms, and when it may decide.
 *
 * Defaults (the schema's, spec section 9): min_karma 50, min_contributions 3, min_members 3,
 * max_members 11, standard_quorum 3, critical_quorum 5, term_limit_months 6,
 * election_interval_days 90.
 *
 * - Eligibility (joining, standing for election): the agent's karma in the repository is at least min_karma and it
 *   authored at least min_contributions merged streams of this repository that were not reverted.
 * - A council is `forming` until it has min_members members, then `active`; only an active council
 *   decides (proposals and proposal votes are refused otherwise). It falls back to `forming` when
 *   members leave or their terms expire.
 * - The first member becomes chair; when the chair leaves, the longest-serving member takes the chair.
 *   The chair may run elections, as may any admin of the repository.
 * - Every member serves term_limit_months from joining or being elected; the scheduler removes
 *   members whose term has expired.
 * - election_interval_days is advisory: `showCouncil` reports when the next regular election is due
 *   (the interval after the last regular election, or after the council's creation). Nothing starts
 *   an election by itself.
 */
import { GitSwarmError } from '../../errors.js';
import {
  type Agent,
  type Council,
  type CouncilMember,
  type Executor,
  lockedTransaction,
  type Repo,
} from '../../store/index.js';
import { isoNow } from '../../util/clock.js';
import { newId } from '../../util/ids.js';
import { recordActivity } from '../activity/activity.js';
import type { CoreDeps } from '../deps.js';
import { requireAction, resolveAccess } from './access.js';
import { repoKarma } from './karma.js';

/** The council settings an admin chooses at creation (and may change later). */
export interface CouncilSettings {
  min_karma: number;
  min_contributions: number;
  min_members: number;
  max_members: number;
  standard_quorum: number;
  critical_quorum: number;
  term_limit_months: number;
  election_interval_days: number;
}

export const COUNCIL_DEFAULTS: Readonly<CouncilSettings> = Object.freeze({
  min_karma: 50,
  min_contributions: 3,
  min_members: 3,
  max_members: 11,
  standard_quorum: 3,
  critical_quorum: 5,
  term_limit_months: 6,
  election_interval_days: 90,
});

const SETTING_RANGES: Record<keyof CouncilSettings, readonly [number, number]> = {
  min_karma: [0, 1e9],
  min_contributions: [0, 1e6],
  min_members: [1, 100],
  max_members: [1, 100],
  standard_quorum: [1, 100],
  critical_quorum: [1, 100],
  term_limit_months: [1, 120],
  election_interval_days: [1, 3650],
};

const MS_PER_DAY = 86_400_000;

/** Returns the ISO time `days` days after `iso`. */
export function addDays(iso: string, days: number): string {
  return new Date(new Date(iso).getTime() + days * MS_PER_DAY).toISOString();
}

/** Returns the ISO time `months` calendar months after `iso` (UTC). */
export function addMonths(iso: string, months: number): string {
  const date = new Date(iso);
  date.setUTCMonth(date.getUTCMonth() + months);
  return date.toISOString();
}

/**
 * Validates council settings over a base (the defaults, or the council's current settings); throws
 * invalid_input naming the first bad key. Values may be numbers or numeric strings (CLI flags).
 */
export function parseCouncilSettings(
  changes: Record<string, unknown>,
  base: CouncilSettings = COUNCIL_DEFAULTS,
): CouncilSettings {
  const settings: CouncilSettings = { ...base };
  for (const [key, raw] of Object.entries(changes)) {
    if (raw === undefined) continue;
    if (!Object.hasOwn(SETTING_RANGES, key)) {
      throw new GitSwarmError('invalid_input', `Unknown council setting ${JSON.stringify(key)}.`, {
        hint: `Council settings: ${Object.keys(SETTING_RANGES).join(', ')}`,
      });
    }
    const name = key as keyof CouncilSettings;
    const [min, max] = SETTING_RANGES[name];
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new GitSwarmError(
        'invalid_input',
        `Invalid value for ${name}: expected an integer from ${min} to ${max}.`,
      );
    }
    settings[name] = value;
  }
  if (settings.min_members > settings.max_members) {
    throw new GitSwarmError('invalid_input', 'min_members may not exceed max_members.');
  }
  if (settings.standard_quorum > settings.critical_quorum) {
    throw new GitSwarmError('invalid_input', 'standard_quorum may not exceed critical_quorum.');
  }
  if (settings.critical_quorum > settings.max_members) {
    throw new GitSwarmError('invalid_input', 'critical_quorum may not exceed max_members.');
  }
  return settings;
}

function settingsOf(council: Council): CouncilSettings {
  const { min_karma, min_contributions, min_members, max_members, standard_quorum, critical_quorum } =
    council;
  const { term_limit_months, election_interval_days } = council;
  return {
    min_karma,
    min_contributions,
    min_members,
    max_members,
    standard_quorum,
    critical_quorum,
    term_limit_months,
    election_interval_days,
  };
}

/** The repository's council, or undefined when it has none. */
export async function findCouncil(db: Executor, repoId: string): Promise<Council | undefined> {
  return db.selectFrom('gitswarm_repo_councils').selectAll().where('repo_id', '=', repoId).executeTakeFirst();
}

/** The repository's council; throws council_not_found when it has none. */
export async function getCouncil(db: Executor, repoId: string): Promise<Council> {
  const council = await findCouncil(db, repoId);
  if (!council) throw new GitSwarmError('council_not_found', 'This repository has no council.');
  return council;
}

/** Throws invalid_state unless the council is active (has at least min_members members). */
export async function requireActiveCouncil(db: Executor, council: Council): Promise<void> {
  if (council.status === 'active') return;
  const members = await countCouncilMembers(db, council.id);
  throw new GitSwarmError(
    'invalid_state',
    `The council is ${council.status} (${members} of ${council.min_members} members); only an active council decides.`,
    {
      hint: 'Eligible agents join with: gitswarm council join --as <agent>',
      details: { status: council.status },
    },
  );
}

export interface CreateCouncilInput {
  repo: Repo;
  /** An admin of the repository. */
  actor: Agent;
  settings?: Partial<Record<keyof CouncilSettings, unknown>>;
}

/** Creates the repository's council (admin+), `forming` until min_members have joined. */
export async function createCouncil(deps: CoreDeps, input: CreateCouncilInput): Promise<Council> {
  const settings = parseCouncilSettings(input.settings ?? {});
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    await requireAction(deps, trx, input.repo, input.actor, 'settings');
    if (await findCouncil(trx, input.repo.id)) {
      throw new GitSwarmError('already_exists', 'This repository already has a council.', {
        hint: 'See it with: gitswarm council show',
      });
    }
    const now = isoNow(deps.clock);
    const council = await trx
      .insertInto('gitswarm_repo_councils')
      .values({
        id: newId(),
        repo_id: input.repo.id,
        ...settings,
        status: 'forming',
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'council.created',
      repoId: input.repo.id,
      agentId: input.actor.id,
      targetType: 'council',
      targetId: council.id,
      metadata: { ...settings },
    });
    return council;
  });
}

export interface UpdateCouncilInput {
  repo: Repo;
  actor: Agent;
  changes: Partial<Record<keyof CouncilSettings, unknown>>;
}

/** Changes council settings (admin+); the status follows a changed min_members at once. */
export async function updateCouncilSettings(deps: CoreDeps, input: UpdateCouncilInput): Promise<Council> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    await requireAction(deps, trx, input.repo, input.actor, 'settings');
    const council = await getCouncil(trx, input.repo.id);
    const settings = parseCouncilSettings(input.changes, settingsOf(council));
    const members = await countCouncilMembers(trx, council.id);
    if (members > settings.max_members) {
      throw new GitSwarmError(
        'invalid_input',
        `The council has ${members} members; max_members may not be lower.`,
      );
    }
    const updated = await trx
      .updateTable('gitswarm_repo_councils')
      .set({ ...settings, updated_at: isoNow(deps.clock) })
      .where('id', '=', council.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordActivity(deps, trx, {
      event: 'council.updated',
      repoId: input.repo.id,
      agentId: input.actor.id,
      targetType: 'council',
      targetId: council.id,
      metadata: { changes: input.changes },
    });
    return syncCouncilStatus(deps, trx, updated, input.actor.id);
  });
}

/** A council member with the agent's name. */
export interface CouncilMemberView {
  agent_id: string;
  agent_name: string;
  role: CouncilMember['role'];
  votes_cast: number;
  proposals_made: number;
  term_expires_at: string | null;
  joined_at: string;
}

/** Lists the council's members, chair first, then by seniority. */
export async function listCouncilMembers(db: Executor, councilId: string): Promise<CouncilMemberView[]> {
  const rows = await db
    .selectFrom('gitswarm_council_members as m')
    .innerJoin('gitswarm_agents as a', 'a.id', 'm.agent_id')
    .select([
      'm.agent_id',
      'a.name as agent_name',
      'm.role',
      'm.votes_cast',
      'm.proposals_made',
      'm.term_expires_at',
      'm.joined_at',
    ])
    .where('m.council_id', '=', councilId)
    .orderBy('m.joined_at')
    .orderBy('m.id')
    .execute();
  return [...rows.filter((r) => r.role === 'chair'), ...rows.filter((r) => r.role !== 'chair')];
}

export async function countCouncilMembers(db: Executor, councilId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_council_members')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('council_id', '=', councilId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The agent's membership, or undefined. */
export async function findCouncilMember(
  db: Executor,
  councilId: string,
  agentId: string,
): Promise<CouncilMember | undefined> {
  return db
    .selectFrom('gitswarm_council_members')
    .selectAll()
    .where('council_id', '=', councilId)
    .where('agent_id', '=', agentId)
    .executeTakeFirst();
}

/** Returns the agent's membership or throws not_a_member. */
export async function requireCouncilMember(
  db: Executor,
  council: Council,
  agent: Agent,
): Promise<CouncilMember> {
  const member = await findCouncilMember(db, council.id, agent.id);
  if (!member) {
    throw new GitSwarmError('not_a_member', `Agent ${agent.name} is not a member of the council.`, {
      hint: 'See the members with: gitswarm council show',
    });
  }
  return member;
}

/** Counts the streams the agent authored in the repository that were merged and not reverted. */
export async function countMergedStreams(db: Executor, repoId: string, agentId: string): Promise<number> {
  const row = await db
    .selectFrom('gitswarm_merges as m')
    .innerJoin('gitswarm_streams as s', 's.id', 'm.stream_id')
    .select((eb) => eb.fn.count<number>('m.stream_id').distinct().as('n'))
    .where('m.repo_id', '=', repoId)
    .where('s.agent_id', '=', agentId)
    .where('m.reverted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Whether an agent may sit on the council, with the numbers behind the answer. */
export interface CouncilEligibility {
  eligible: boolean;
  karma: number;
  min_karma: number;
  contributions: number;
  min_contributions: number;
  /** Sentences naming each unmet requirement. */
  missing: string[];
}

export async function checkCouncilEligibility(
  db: Executor,
  council: Council,
  agent: Agent,
): Promise<CouncilEligibility> {
  const contributions = await countMergedStreams(db, council.repo_id, agent.id);
  // Karma earned in this repository: a total over repositories the agent controls could be farmed.
  const karma = await repoKarma(db, council.repo_id, agent.id);
  const missing: string[] = [];
  if (karma < council.min_karma) missing.push(`karma ${karma} here is below ${council.min_karma}`);
  if (contributions < council.min_contributions) {
    missing.push(`${contributions} merged streams, ${council.min_contributions} needed`);
  }
  return {
    eligible: missing.length === 0,
    karma,
    min_karma: council.min_karma,
    contributions,
    min_contributions: council.min_contributions,
    missing,
  };
}

/** Throws not_eligible (with the numbers in details) unless the agent may sit on the council. */
export async function assertCouncilEligible(db: Executor, council: Council, agent: Agent): Promise<void> {
  const eligibility = await checkCouncilEligibility(db, council, agent);
  if (!eligibility.eligible) {
    throw new GitSwarmError(
      'not_eligible',
      `Agent ${agent.name} is not eligible for the council: ${eligibility.missing.join('; ')}.`,
      { details: { eligibility } },
    );
  }
}

/** Whether the agent chairs the council. */
export async function isCouncilChair(db: Executor, council: Council, agentId: string): Promise<boolean> {
  const member = await findCouncilMember(db, council.id, agentId);
  return member?.role === 'chair';
}

/** Throws forbidden unless the agent is an admin of the repository or chairs its council. */
export async function requireAdminOrChair(
  deps: CoreDeps,
  db: Executor,
  input: { repo: Repo; council: Council; actor: Agent; what: string },
): Promise<void> {
  if (await isCouncilChair(db, input.council, input.actor.id)) return;
  const access = await resolveAccess(deps, db, input.repo, input.actor);
  if (access.level === 'admin') return;
  throw new GitSwarmError('forbidden', `Only an admin or the council chair may ${input.what}.`, {
    details: { actual: access.level },
  });
}

/**
 * Brings the council's status in line with its size: `forming` → `active` at min_members,
 * `active` → `forming` below it. Records council.activated / council.deactivated.
 */
export async function syncCouncilStatus(
  deps: CoreDeps,
  db: Executor,
  council: Council,
  actorId: string | null,
): Promise<Council> {
  if (council.status === 'dissolved') return council;
  const members = await countCouncilMembers(db, council.id);
  const status = members >= council.min_members ? 'active' : 'forming';
  if (status === council.status) return council;
  const updated = await db
    .updateTable('gitswarm_repo_councils')
    .set({ status, updated_at: isoNow(deps.clock) })
    .where('id', '=', council.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: status === 'active' ? 'council.activated' : 'council.deactivated',
    repoId: council.repo_id,
    agentId: actorId,
    targetType: 'council',
    targetId: council.id,
    metadata: { members, min_members: council.min_members },
  });
  return updated;
}

export interface SeatMemberInput {
  council: Council;
  agent: Agent;
  /** Who seated them (the joining agent itself, or null when an election seats them). */
  actorId: string | null;
  via: 'join' | 'election';
}

/**
 * Adds a member in the caller's transaction: term_limit_months from now, chair when the council
 * has none; then updates the council's status. Callers check eligibility and free seats.
 */
export async function seatCouncilMember(
  deps: CoreDeps,
  db: Executor,
  input: SeatMemberInput,
): Promise<{ member: CouncilMember; council: Council }> {
  const now = isoNow(deps.clock);
  const chair = await db
    .selectFrom('gitswarm_council_members')
    .select('id')
    .where('council_id', '=', input.council.id)
    .where('role', '=', 'chair')
    .executeTakeFirst();
  const member = await db
    .insertInto('gitswarm_council_members')
    .values({
      id: newId(),
      council_id: input.council.id,
      agent_id: input.agent.id,
      role: chair ? 'member' : 'chair',
      term_expires_at: addMonths(now, input.council.term_limit_months),
      joined_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await recordActivity(deps, db, {
    event: 'council.member_joined',
    repoId: input.council.repo_id,
    agentId: input.actorId,
    targetType: 'agent',
    targetId: input.agent.id,
    metadata: {
      agent: input.agent.name,
      role: member.role,
      via: input.via,
      term_expires_at: member.term_expires_at,
    },
  });
  const council = await syncCouncilStatus(deps, db, input.council, input.actorId);
  return { member, council };
}

export interface UnseatMemberInput {
  council: Council;
  member: CouncilMember;
  agentName: string;
  actorId: string | null;
  reason: 'left' | 'removed' | 'term_expired';
}

/**
 * Removes a member in the caller's transaction; the longest-serving remaining member takes the
 * chair when the chair leaves; then updates the council's status.
 */
export async function unseatCouncilMember(
  deps: CoreDeps,
  db: Executor,
  input: UnseatMemberInput,
): Promise<Council> {
  await db.deleteFrom('gitswarm_council_members').where('id', '=', input.member.id).execute();
  // Whatever the caller's copy of the row says: a council without a chair gets one.
  let newChair: string | undefined;
  const chair = await db
    .selectFrom('gitswarm_council_members')
    .select('id')
    .where('council_id', '=', input.council.id)
    .where('role', '=', 'chair')
    .executeTakeFirst();
  if (!chair) {
    const next = await db
      .selectFrom('gitswarm_council_members')
      .select(['id', 'agent_id'])
      .where('council_id', '=', input.council.id)
      .orderBy('joined_at')
      .orderBy('id')
      .executeTakeFirst();
    if (next) {
      await db
        .updateTable('gitswarm_council_members')
        .set({ role: 'chair' })
        .where('id', '=', next.id)
        .execute();
      newChair = next.agent_id;
    }
  }
  await recordActivity(deps, db, {
    event: 'council.member_removed',
    repoId: input.council.repo_id,
    agentId: input.actorId,
    targetType: 'agent',
    targetId: input.member.agent_id,
    metadata: {
      agent: input.agentName,
      reason: input.reason,
      ...(newChair ? { new_chair_id: newChair } : {}),
    },
  });
  return syncCouncilStatus(deps, db, input.council, input.actorId);
}

export interface JoinCouncilInput {
  repo: Repo;
  agent: Agent;
}

/** Joins the council: the agent must be eligible and the council not full. */
export async function joinCouncil(
  deps: CoreDeps,
  input: JoinCouncilInput,
): Promise<{ member: CouncilMember; council: Council }> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    if (council.status === 'dissolved') {
      throw new GitSwarmError('invalid_state', 'The council is dissolved.');
    }
    if (await findCouncilMember(trx, council.id, input.agent.id)) {
      throw new GitSwarmError(
        'already_exists',
        `Agent ${input.agent.name} is already a member of the council.`,
      );
    }
    const members = await countCouncilMembers(trx, council.id);
    if (members >= council.max_members) {
      throw new GitSwarmError(
        'invalid_state',
        `The council is full (${members} of ${council.max_members} members).`,
        {
          hint: 'Seats open when terms expire; an admin can raise max_members.',
        },
      );
    }
    await assertCouncilEligible(trx, council, input.agent);
    return seatCouncilMember(deps, trx, {
      council,
      agent: input.agent,
      actorId: input.agent.id,
      via: 'join',
    });
  });
}

export interface RemoveCouncilMemberInput {
  repo: Repo;
  /** The member itself (leaving) or an admin. */
  actor: Agent;
  agent: Agent;
}

/** Removes a member: the member itself may leave, an admin may remove anyone. */
export async function removeCouncilMember(deps: CoreDeps, input: RemoveCouncilMemberInput): Promise<Council> {
  return lockedTransaction(deps.store, input.repo.id, async (trx) => {
    const council = await getCouncil(trx, input.repo.id);
    const self = input.actor.id === input.agent.id;
    if (!self) await requireAction(deps, trx, input.repo, input.actor, 'settings');
    const member = await requireCouncilMember(trx, council, input.agent);
    return unseatCouncilMember(deps, trx, {
      council,
      member,
      agentName: input.agent.name,
      actorId: input.actor.id,
      reason: self ? 'left' : 'removed',
    });
  });
}

/** What `council show` prints. */
export interface CouncilView {
  council: Council;
  members: CouncilMemberView[];
  /** When the next regular election is due (election_interval_days after the last one). */
  next_election_due_at: string;
}

export async function showCouncil(db: Executor, repo: Repo): Promise<CouncilView> {
  const council = await getCouncil(db, repo.id);
  const members = await listCouncilMembers(db, council.id);
  const last = await db
    .selectFrom('gitswarm_council_elections')
    .select('created_at')
    .where('council_id', '=', council.id)
    .where('election_type', '=', 'regular')
    .where('status', '!=', 'cancelled')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  return {
    council,
    members,
    next_election_due_at: addDays(last?.created_at ?? council.created_at, council.election_interval_days),
  };
}
