/**
 * How each kind of imported row (core/repos/import-rows.ts) is checked and written: which repository an
 * id already belongs to, which agents and rows it may refer to, and the values it is stored with.
 * Every reference must point into the repository being imported (its own streams, tasks, council),
 * and every agent must be the importer or one the import created: a batch can neither reach into
 * another repository nor put words in the mouth of an agent it does not own.
 */
import { type Kysely, sql } from 'kysely';
import { assertValidBranch } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Executor, type Repo, toJson } from '../../store/index.js';
import { EVENT_NAMES } from '../activity/event-names.js';
import type { ImportKind, ImportRows } from './import-rows.js';

/** What a batch is written in: its transaction, repository and the agents its rows may name. */
export interface ImportContext {
  db: Executor;
  repo: Repo;
  /** The server agent for a Mode A agent id the import may name; invalid_input otherwise. */
  agent(id: string, column: string): string;
  agentOrNull(id: string | null, column: string): string | null;
  /** Mode A id of the importer's local agent, whose mentions in JSON are rewritten too. */
  localAgentId: string | null;
  importerId: string;
}

/** A row's stored values (JSON columns serialised). */
type Values = Record<string, unknown>;
type RowKind = Exclude<ImportKind, 'repo' | 'agents'>;

interface KindSpec<K extends RowKind> {
  table: string;
  /** FROM clause (the kind's table as `x`) and the expression giving a row's repository. */
  owner: { from: string; repo: string };
  prepare(ctx: ImportContext, row: ImportRows[K]): Promise<Values>;
}

export function invalidRow(kind: string, id: string, message: string): GitSwarmError {
  return new GitSwarmError('invalid_input', `Import ${kind} row ${id}: ${message}`, {
    details: { kind, id },
  });
}

/** The repository each of these ids of `kind` belongs to (ids unknown to the server are absent). */
export async function rowOwners(db: Executor, kind: RowKind, ids: readonly string[]) {
  const owners = new Map<string, string | null>();
  if (ids.length === 0) return owners;
  const { from, repo } = SPECS[kind].owner;
  const { rows } = await sql<{ id: string; repo_id: string | null }>`
    select x.id as id, ${sql.raw(repo)} as repo_id from ${sql.raw(from)}
    where x.id in (${sql.join([...ids])})`.execute(db);
  for (const row of rows) owners.set(row.id, row.repo_id);
  return owners;
}

/** Fails unless `id` is a row of `kind` in the repository being imported. */
async function requireOwn(
  ctx: ImportContext,
  kind: RowKind,
  id: string,
  from: { kind: string; id: string; column: string },
): Promise<void> {
  const owner = (await rowOwners(ctx.db, kind, [id])).get(id);
  if (owner !== ctx.repo.id) {
    throw invalidRow(
      from.kind,
      from.id,
      `${from.column} ${id} is not one of this import's ${kind}; import it first.`,
    );
  }
}

async function requireOwnOrNull(
  ctx: ImportContext,
  kind: RowKind,
  id: string | null,
  from: { kind: string; id: string; column: string },
): Promise<string | null> {
  if (id !== null) await requireOwn(ctx, kind, id, from);
  return id;
}

async function budgetId(ctx: ImportContext, rowId: string): Promise<string> {
  const budget = await ctx.db
    .selectFrom('gitswarm_repo_budgets')
    .select('id')
    .where('repo_id', '=', ctx.repo.id)
    .executeTakeFirst();
  if (!budget) throw invalidRow('budget_transactions', rowId, 'the budget is not imported yet.');
  return budget.id;
}

async function councilId(ctx: ImportContext, kind: string, rowId: string): Promise<string> {
  const council = await ctx.db
    .selectFrom('gitswarm_repo_councils')
    .select('id')
    .where('repo_id', '=', ctx.repo.id)
    .executeTakeFirst();
  if (!council) throw invalidRow(kind, rowId, 'the council is not imported yet.');
  return council.id;
}

/** A proposal's action names agents by id: the importer's local id becomes its server id. */
function mapActionData(ctx: ImportContext, data: Record<string, unknown>): Record<string, unknown> {
  if (ctx.localAgentId === null) return data;
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [key, value === ctx.localAgentId ? ctx.importerId : value]),
  );
}

const EVENT_NAME_SET: ReadonlySet<string> = new Set(EVENT_NAMES);

/**
 * Timestamp columns (`…_at`) stored as the store writes them (ISO 8601, UTC, milliseconds), so
 * imported rows sort with the server's own; a value that is no date is refused.
 */
export function normalizeTimestamps(kind: string, id: string, values: Values): Values {
  for (const [column, value] of Object.entries(values)) {
    if (!column.endsWith('_at') || typeof value !== 'string') continue;
    const time = Date.parse(value);
    if (Number.isNaN(time)) throw invalidRow(kind, id, `${column} ${JSON.stringify(value)} is not a date.`);
    values[column] = new Date(time).toISOString();
  }
  return values;
}

/** Branch names other clones will hand to git: the same rules as a branch given by a user. */
function branchOrNull(kind: string, id: string, value: string | null): string | null {
  if (value === null) return null;
  try {
    return assertValidBranch(value);
  } catch {
    throw invalidRow(kind, id, `${JSON.stringify(value)} is not a valid branch name.`);
  }
}

const direct = (table: string) => ({ from: `${table} x`, repo: 'x.repo_id' });
const viaStream = (table: string) => ({
  from: `${table} x join gitswarm_streams p on p.id = x.stream_id`,
  repo: 'p.repo_id',
});
const viaCouncil = (table: string) => ({
  from: `${table} x join gitswarm_repo_councils c on c.id = x.council_id`,
  repo: 'c.repo_id',
});
const viaElection = (table: string) => ({
  from: `${table} x join gitswarm_council_elections e on e.id = x.election_id
    join gitswarm_repo_councils c on c.id = e.council_id`,
  repo: 'c.repo_id',
});

const SPECS: { [K in RowKind]: KindSpec<K> } = {
  maintainers: {
    table: 'gitswarm_maintainers',
    owner: direct('gitswarm_maintainers'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      agent_id: ctx.agent(row.agent_id, 'agent_id'),
      added_by: ctx.agentOrNull(row.added_by, 'added_by'),
    }),
  },
  access: {
    table: 'gitswarm_repo_access',
    owner: direct('gitswarm_repo_access'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      agent_id: ctx.agent(row.agent_id, 'agent_id'),
      granted_by: ctx.agentOrNull(row.granted_by, 'granted_by'),
    }),
  },
  tasks: {
    table: 'gitswarm_tasks',
    owner: direct('gitswarm_tasks'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      labels: toJson(row.labels),
      created_by: ctx.agentOrNull(row.created_by, 'created_by'),
      assigned_to: ctx.agentOrNull(row.assigned_to, 'assigned_to'),
    }),
  },
  streams: {
    table: 'gitswarm_streams',
    owner: direct('gitswarm_streams'),
    prepare: async (ctx, row) => {
      const at = { kind: 'streams', id: row.id };
      return {
        ...row,
        repo_id: ctx.repo.id,
        branch: branchOrNull('streams', row.id, row.branch),
        base_branch: branchOrNull('streams', row.id, row.base_branch),
        agent_id: ctx.agent(row.agent_id, 'agent_id'),
        parent_stream_id: await requireOwnOrNull(ctx, 'streams', row.parent_stream_id, {
          ...at,
          column: 'parent_stream_id',
        }),
        task_id: await requireOwnOrNull(ctx, 'tasks', row.task_id, { ...at, column: 'task_id' }),
        conflict: row.conflict === null ? null : toJson(row.conflict),
        metadata: toJson(row.metadata),
      };
    },
  },
  commits: {
    table: 'gitswarm_stream_commits',
    owner: viaStream('gitswarm_stream_commits'),
    prepare: async (ctx, row) => {
      await requireOwn(ctx, 'streams', row.stream_id, { kind: 'commits', id: row.id, column: 'stream_id' });
      return { ...row, agent_id: ctx.agent(row.agent_id, 'agent_id') };
    },
  },
  reviews: {
    table: 'gitswarm_stream_reviews',
    owner: viaStream('gitswarm_stream_reviews'),
    prepare: async (ctx, row) => {
      await requireOwn(ctx, 'streams', row.stream_id, { kind: 'reviews', id: row.id, column: 'stream_id' });
      return { ...row, reviewer_id: ctx.agent(row.reviewer_id, 'reviewer_id') };
    },
  },
  merges: {
    table: 'gitswarm_merges',
    owner: direct('gitswarm_merges'),
    prepare: async (ctx, row) => {
      await requireOwn(ctx, 'streams', row.stream_id, { kind: 'merges', id: row.id, column: 'stream_id' });
      return {
        ...row,
        repo_id: ctx.repo.id,
        target_branch: branchOrNull('merges', row.id, row.target_branch),
        agent_id: ctx.agentOrNull(row.agent_id, 'agent_id'),
      };
    },
  },
  promotions: {
    table: 'gitswarm_promotions',
    owner: direct('gitswarm_promotions'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      from_branch: branchOrNull('promotions', row.id, row.from_branch),
      to_branch: branchOrNull('promotions', row.id, row.to_branch),
      agent_id: ctx.agentOrNull(row.agent_id, 'agent_id'),
    }),
  },
  stabilizations: {
    table: 'gitswarm_stabilizations',
    owner: direct('gitswarm_stabilizations'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      breaking_stream_id: await requireOwnOrNull(ctx, 'streams', row.breaking_stream_id, {
        kind: 'stabilizations',
        id: row.id,
        column: 'breaking_stream_id',
      }),
      // The run's log stays on the machine that ran it.
      log_path: null,
      details: toJson(row.details),
    }),
  },
  claims: {
    table: 'gitswarm_task_claims',
    owner: {
      from: 'gitswarm_task_claims x join gitswarm_tasks p on p.id = x.task_id',
      repo: 'p.repo_id',
    },
    prepare: async (ctx, row) => {
      const at = { kind: 'claims', id: row.id };
      await requireOwn(ctx, 'tasks', row.task_id, { ...at, column: 'task_id' });
      return {
        ...row,
        agent_id: ctx.agent(row.agent_id, 'agent_id'),
        stream_id: await requireOwnOrNull(ctx, 'streams', row.stream_id, { ...at, column: 'stream_id' }),
        reviewed_by: ctx.agentOrNull(row.reviewed_by, 'reviewed_by'),
      };
    },
  },
  budget: {
    table: 'gitswarm_repo_budgets',
    owner: direct('gitswarm_repo_budgets'),
    // Balances start at zero: the ledger's import sets them (import-ledgers.ts).
    prepare: async (ctx, row) => ({ ...row, repo_id: ctx.repo.id, updated_at: row.created_at }),
  },
  budget_transactions: {
    table: 'gitswarm_budget_transactions',
    owner: {
      from: 'gitswarm_budget_transactions x join gitswarm_repo_budgets b on b.id = x.budget_id',
      repo: 'b.repo_id',
    },
    prepare: async (ctx, row) => ({
      ...row,
      budget_id: await budgetId(ctx, row.id),
      agent_id: ctx.agentOrNull(row.agent_id, 'agent_id'),
      task_id: await requireOwnOrNull(ctx, 'tasks', row.task_id, {
        kind: 'budget_transactions',
        id: row.id,
        column: 'task_id',
      }),
    }),
  },
  council: {
    table: 'gitswarm_repo_councils',
    owner: direct('gitswarm_repo_councils'),
    prepare: async (ctx, row) => ({ ...row, repo_id: ctx.repo.id }),
  },
  council_members: {
    table: 'gitswarm_council_members',
    owner: viaCouncil('gitswarm_council_members'),
    prepare: async (ctx, row) => ({
      ...row,
      council_id: await councilId(ctx, 'council_members', row.id),
      agent_id: ctx.agent(row.agent_id, 'agent_id'),
    }),
  },
  proposals: {
    table: 'gitswarm_council_proposals',
    owner: viaCouncil('gitswarm_council_proposals'),
    prepare: async (ctx, row) => ({
      ...row,
      council_id: await councilId(ctx, 'proposals', row.id),
      proposed_by: ctx.agentOrNull(row.proposed_by, 'proposed_by'),
      action_data: toJson(mapActionData(ctx, row.action_data)),
      execution_result: row.execution_result === null ? null : toJson(row.execution_result),
    }),
  },
  votes: {
    table: 'gitswarm_council_votes',
    owner: {
      from: `gitswarm_council_votes x join gitswarm_council_proposals p on p.id = x.proposal_id
        join gitswarm_repo_councils c on c.id = p.council_id`,
      repo: 'c.repo_id',
    },
    prepare: async (ctx, row) => {
      await requireOwn(ctx, 'proposals', row.proposal_id, {
        kind: 'votes',
        id: row.id,
        column: 'proposal_id',
      });
      return { ...row, agent_id: ctx.agent(row.agent_id, 'agent_id') };
    },
  },
  elections: {
    table: 'gitswarm_council_elections',
    owner: viaCouncil('gitswarm_council_elections'),
    prepare: async (ctx, row) => ({
      ...row,
      council_id: await councilId(ctx, 'elections', row.id),
      created_by: ctx.agentOrNull(row.created_by, 'created_by'),
    }),
  },
  candidates: {
    table: 'gitswarm_election_candidates',
    owner: viaElection('gitswarm_election_candidates'),
    prepare: async (ctx, row) => {
      await requireOwn(ctx, 'elections', row.election_id, {
        kind: 'candidates',
        id: row.id,
        column: 'election_id',
      });
      return {
        ...row,
        agent_id: ctx.agent(row.agent_id, 'agent_id'),
        nominated_by: ctx.agentOrNull(row.nominated_by, 'nominated_by'),
      };
    },
  },
  election_votes: {
    table: 'gitswarm_election_votes',
    owner: viaElection('gitswarm_election_votes'),
    prepare: async (ctx, row) => {
      const candidate = await ctx.db
        .selectFrom('gitswarm_election_candidates')
        .select('election_id')
        .where('id', '=', row.candidate_id)
        .executeTakeFirst();
      await requireOwn(ctx, 'elections', row.election_id, {
        kind: 'election_votes',
        id: row.id,
        column: 'election_id',
      });
      if (candidate?.election_id !== row.election_id) {
        throw invalidRow(
          'election_votes',
          row.id,
          `candidate ${row.candidate_id} does not stand in this election.`,
        );
      }
      return { ...row, voter_id: ctx.agent(row.voter_id, 'voter_id') };
    },
  },
  karma: {
    table: 'gitswarm_review_karma_transactions',
    owner: direct('gitswarm_review_karma_transactions'),
    // The reason is checked against the imported events by import-ledgers.ts before this runs.
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      agent_id: ctx.agent(row.agent_id, 'agent_id'),
    }),
  },
  stage_history: {
    table: 'gitswarm_stage_history',
    owner: direct('gitswarm_stage_history'),
    prepare: async (ctx, row) => ({
      ...row,
      repo_id: ctx.repo.id,
      metrics_at_transition: toJson(row.metrics_at_transition),
    }),
  },
  activity: {
    table: 'gitswarm_activity_log',
    owner: direct('gitswarm_activity_log'),
    prepare: async (ctx, row) => {
      if (!EVENT_NAME_SET.has(row.event_type)) {
        throw invalidRow('activity', row.id, `unknown event ${JSON.stringify(row.event_type)}.`);
      }
      return {
        ...row,
        repo_id: ctx.repo.id,
        agent_id: ctx.agentOrNull(row.agent_id, 'agent_id'),
        metadata: toJson(row.metadata),
      };
    },
  },
};

export interface RowsWritten {
  created: number;
  existing: number;
}

/**
 * Writes the rows of one kind that the repository does not have yet; rows it has (same id, or the
 * same natural key such as one review per reviewer) are left as they are. An id that belongs to
 * another repository is refused.
 */
export async function writeRows<K extends RowKind>(
  ctx: ImportContext,
  kind: K,
  rows: readonly ImportRows[K][],
): Promise<RowsWritten> {
  const spec = SPECS[kind] as KindSpec<K>;
  const owners = await rowOwners(
    ctx.db,
    kind,
    rows.map((row) => row.id),
  );
  const written: RowsWritten = { created: 0, existing: 0 };
  // Dynamic table names: the values are checked by the row schemas and prepare().
  const db = ctx.db as unknown as Kysely<Record<string, Values>>;
  for (const row of rows) {
    if (owners.has(row.id)) {
      if (owners.get(row.id) !== ctx.repo.id) {
        throw new GitSwarmError('import_refused', `The ${kind} id ${row.id} belongs to another repository.`, {
          details: { kind, id: row.id },
        });
      }
      written.existing += 1;
      continue;
    }
    const values = normalizeTimestamps(kind, row.id, await spec.prepare(ctx, row));
    const result = await db
      .insertInto(spec.table)
      .values(values)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0) > 0) written.created += 1;
    else written.existing += 1;
  }
  return written;
}
