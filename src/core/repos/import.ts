/**
 * Importing a Mode A repository into a server repository (`gitswarm sync --server URL` on a Mode A
 * clone; spec section 6, DESIGN.md §6.5). The client sends its store in batches, in the order of
 * IMPORT_KINDS; each batch is one transaction under the repository's lock.
 *
 * - **Who**: an admin of the repository (its owner) or a server admin, and then only that agent
 *   until the import is finished. The first batch opens the import, and only on a repository
 *   without history of its own: an import never mixes with other work or another import.
 * - **Ids are kept**: every row keeps its Mode A id, so a batch sent again finds its rows and
 *   changes nothing; a run cut short is resumed by sending everything again (or only what
 *   `knownImportIds` does not list). An id that already belongs to another repository is refused.
 * - **Agents**: each Mode A agent becomes a server agent with its id and a key the client made (it
 *   sends the key's SHA-256 only), except the one marked `self`, which is the importer: rows naming
 *   it name the importer. Rows may name no other agent. Creating agents is registering them: it
 *   needs open registration or a server admin.
 * - **Ledgers**: karma rows must be earned by imported events; budget balances are recomputed
 *   from the imported ledger (import-ledgers.ts).
 * - **Finish** closes the import: reviewer statistics and the stage counts are computed from the
 *   imported reviews and merges, `repo.imported` is recorded, and no batch is accepted any more.
 */

import { type Selectable, sql } from 'kysely';
import { assertValidAgentName, foldAgentName } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';
import { type Agent, type Executor, lockedTransaction, type Repo, toJson } from '../../store/index.js';
import type { ImportsTable } from '../../store/schema.js';
import { isoNow } from '../../util/clock.js';
import { recordActivity } from '../activity/activity.js';
import { getAgentByKeyHash } from '../agents/agents.js';
import type { CoreDeps } from '../deps.js';
import { requireAction } from '../governance/access.js';
import { refreshReviewerStats } from '../governance/reviewer-stats.js';
import { measureStageMetrics } from '../governance/stages.js';
import { type ImportContext, invalidRow, normalizeTimestamps, rowOwners, writeRows } from './import-kinds.js';
import { checkKarmaRows, settleBudget, settleKarma } from './import-ledgers.js';
import type { AgentImportRow, ImportBatch, ImportKind, RepoImportRow } from './import-rows.js';
import { IMPORT_KINDS } from './import-rows.js';
import { parseRepoSettings } from './repo-settings.js';
import { getRepo } from './repos.js';

/** Most agents one import may create (each is a registration). */
export const MAX_IMPORTED_AGENTS = 1000;

export type ImportRecord = Selectable<ImportsTable>;

export interface ImportCaller {
  repoId: string;
  actor: Agent;
  /** A server admin (GITSWARM_ADMINS) may import into any empty repository. */
  serverAdmin: boolean;
}

export interface ImportBatchInput extends ImportCaller {
  batch: ImportBatch;
  /** Whether the import may create agents: the server's registration is open, or a server admin. */
  mayCreateAgents: boolean;
}

export interface ImportBatchResult {
  kind: ImportKind;
  received: number;
  created: number;
  existing: number;
}

async function authorize(deps: CoreDeps, db: Executor, caller: ImportCaller): Promise<Repo> {
  const repo = await getRepo(db, caller.repoId);
  if (!caller.serverAdmin) await requireAction(deps, db, repo, caller.actor, 'settings');
  return repo;
}

async function findImport(db: Executor, repoId: string): Promise<ImportRecord | undefined> {
  return db.selectFrom('gitswarm_imports').selectAll().where('repo_id', '=', repoId).executeTakeFirst();
}

/** Tables whose rows are a repository's own history, and what to call them. */
const HISTORY_TABLES = [
  ['streams', 'gitswarm_streams'],
  ['tasks', 'gitswarm_tasks'],
  ['merges', 'gitswarm_merges'],
  ['access grants', 'gitswarm_repo_access'],
  ['a budget', 'gitswarm_repo_budgets'],
  ['a council', 'gitswarm_repo_councils'],
  ['karma', 'gitswarm_review_karma_transactions'],
  ['stage changes', 'gitswarm_stage_history'],
] as const;

/** What history the repository has of its own (empty when an import may start). */
async function ownHistory(db: Executor, repo: Repo, importerId: string): Promise<string[]> {
  const found: string[] = [];
  for (const [what, table] of HISTORY_TABLES) {
    const { rows } = await sql<{ one: number }>`
      select 1 as one from ${sql.table(table)} where repo_id = ${repo.id} limit 1`.execute(db);
    if (rows.length > 0) found.push(what);
  }
  const others = await db
    .selectFrom('gitswarm_maintainers')
    .select('id')
    .where('repo_id', '=', repo.id)
    .where('agent_id', '!=', importerId)
    .where('role', '!=', 'owner')
    .executeTakeFirst();
  if (others) found.push('maintainers');
  return found;
}

/** The repository's open import by this caller, opening it on a repository without history. */
async function openImport(deps: CoreDeps, db: Executor, repo: Repo, actor: Agent): Promise<ImportRecord> {
  const existing = await findImport(db, repo.id);
  if (existing) {
    if (existing.importer_id !== actor.id) {
      throw new GitSwarmError('import_refused', `Another agent is importing into repository ${repo.name}.`, {
        details: { importer_id: existing.importer_id },
      });
    }
    if (existing.status === 'done') {
      throw new GitSwarmError('import_refused', `The import into repository ${repo.name} is finished.`, {
        hint: 'Nothing to resend: the repository holds the import.',
      });
    }
    return existing;
  }
  const history = await ownHistory(db, repo, actor.id);
  if (history.length > 0) {
    throw new GitSwarmError(
      'import_refused',
      `Repository ${repo.name} already has history of its own (${history.join(', ')}); an import goes into an empty repository.`,
      { details: { found: history } },
    );
  }
  const record: ImportRecord = {
    repo_id: repo.id,
    importer_id: actor.id,
    local_agent_id: null,
    source_repo_id: null,
    status: 'open',
    created_at: isoNow(deps.clock),
    finished_at: null,
  };
  await db.insertInto('gitswarm_imports').values(record).execute();
  return record;
}

async function importedAgentIds(db: Executor, repoId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('gitswarm_import_agents')
    .select('agent_id')
    .where('repo_id', '=', repoId)
    .execute();
  return new Set(rows.map((row) => row.agent_id));
}

function contextFor(db: Executor, repo: Repo, record: ImportRecord, allowed: Set<string>): ImportContext {
  const agent = (id: string, column: string): string => {
    const mapped = id === record.local_agent_id ? record.importer_id : id;
    if (mapped !== record.importer_id && !allowed.has(mapped)) {
      throw new GitSwarmError(
        'invalid_input',
        `Import rows may name only the importer and the agents the import created; ${column} ${id} is neither.`,
        { hint: 'Import the agents first (kind "agents").', details: { column, agent_id: id } },
      );
    }
    return mapped;
  };
  return {
    db,
    repo,
    agent,
    agentOrNull: (id, column) => (id === null ? null : agent(id, column)),
    localAgentId: record.local_agent_id,
    importerId: record.importer_id,
  };
}

async function importRepoRow(db: Executor, repo: Repo, record: ImportRecord, rows: RepoImportRow[]) {
  const [row] = rows;
  if (rows.length !== 1 || !row)
    throw new GitSwarmError('invalid_input', 'A "repo" batch has exactly one row.');
  if (record.source_repo_id !== null && record.source_repo_id !== row.id) {
    throw new GitSwarmError(
      'import_refused',
      `This import is of Mode A repository ${record.source_repo_id}, not ${row.id}.`,
    );
  }
  const { name: _name, ...settings } = row.settings;
  const changes = parseRepoSettings(settings, repo.metadata);
  const buffer = changes.buffer_branch ?? repo.buffer_branch;
  if (buffer === (changes.promote_target ?? repo.promote_target)) {
    throw new GitSwarmError('invalid_input', 'The buffer branch and the promote target must differ.');
  }
  await db
    .updateTable('gitswarm_repos')
    .set({ ...changes, description: row.description, stage: row.stage, buffer_baseline: row.buffer_baseline })
    .where('id', '=', repo.id)
    .execute();
  if (record.source_repo_id === null) {
    await db
      .updateTable('gitswarm_imports')
      .set({ source_repo_id: row.id })
      .where('repo_id', '=', repo.id)
      .execute();
    return { created: 1, existing: 0 };
  }
  return { created: 0, existing: 1 };
}

async function importAgents(
  deps: CoreDeps,
  db: Executor,
  input: {
    repo: Repo;
    record: ImportRecord;
    allowed: Set<string>;
    rows: AgentImportRow[];
    mayCreate: boolean;
  },
) {
  const { repo, record, allowed, rows } = input;
  const written = { created: 0, existing: 0 };
  const now = isoNow(deps.clock);
  let localAgentId = record.local_agent_id;
  for (const row of rows) {
    if (row.self) {
      if (localAgentId !== null && localAgentId !== row.id) {
        throw new GitSwarmError(
          'import_refused',
          `The importer is Mode A agent ${localAgentId} in this import, not ${row.id}.`,
        );
      }
      if (localAgentId === null) {
        localAgentId = row.id;
        await db
          .updateTable('gitswarm_imports')
          .set({ local_agent_id: row.id })
          .where('repo_id', '=', repo.id)
          .execute();
        written.created += 1;
      } else written.existing += 1;
      continue;
    }
    if (row.id === localAgentId) throw invalidRow('agents', row.id, 'this agent is the importer ("self").');
    if (allowed.has(row.id)) {
      written.existing += 1;
      continue;
    }
    const taken = await db
      .selectFrom('gitswarm_agents')
      .select('id')
      .where('id', '=', row.id)
      .executeTakeFirst();
    if (taken)
      throw new GitSwarmError(
        'import_refused',
        `Agent id ${row.id} belongs to another agent on this server.`,
      );
    if (!input.mayCreate) {
      throw new GitSwarmError(
        'forbidden',
        'Importing agents registers them, and this server does not take open registrations.',
        {
          hint: 'Ask a server admin (GITSWARM_ADMINS) to run the import.',
        },
      );
    }
    if (allowed.size >= MAX_IMPORTED_AGENTS) {
      throw new GitSwarmError(
        'invalid_input',
        `One import may create at most ${MAX_IMPORTED_AGENTS} agents.`,
      );
    }
    assertValidAgentName(row.name);
    const folded = foldAgentName(row.name);
    const named = await db
      .selectFrom('gitswarm_agents')
      .select('name')
      .where((eb) => eb.or([eb('name', '=', row.name), eb('name_folded', '=', folded)]))
      .executeTakeFirst();
    if (named) {
      throw new GitSwarmError(
        'import_refused',
        `An agent named ${named.name} already exists on this server.`,
        {
          hint: `Rename the local agent ${row.name} before migrating, or migrate as it (it is then the importer).`,
          details: { name: row.name },
        },
      );
    }
    if (row.api_key_hash === null || (await getAgentByKeyHash(db, row.api_key_hash))) {
      throw invalidRow('agents', row.id, 'a new agent needs the SHA-256 of a new API key.');
    }
    await db
      .insertInto('gitswarm_agents')
      .values({
        id: row.id,
        name: row.name,
        name_folded: folded,
        description: row.description,
        api_key_hash: row.api_key_hash,
        is_human: row.is_human,
        status: row.status,
        avatar_url: row.avatar_url,
        metadata: toJson({}),
        created_at: normalizeTimestamps('agents', row.id, { created_at: row.created_at })
          .created_at as string,
        updated_at: now,
      })
      .execute();
    await db
      .insertInto('gitswarm_import_agents')
      .values({ repo_id: repo.id, agent_id: row.id, created_at: now })
      .execute();
    allowed.add(row.id);
    written.created += 1;
  }
  return written;
}

/** Imports one batch in one transaction; sending it again changes nothing. */
export async function importBatch(deps: CoreDeps, input: ImportBatchInput): Promise<ImportBatchResult> {
  const { batch } = input;
  const written = await lockedTransaction(deps.store, input.repoId, async (trx) => {
    const repo = await authorize(deps, trx, input);
    const record = await openImport(deps, trx, repo, input.actor);
    const allowed = await importedAgentIds(trx, repo.id);
    switch (batch.kind) {
      case 'repo':
        return importRepoRow(trx, repo, record, batch.rows);
      case 'agents':
        return importAgents(deps, trx, {
          repo,
          record,
          allowed,
          rows: batch.rows,
          mayCreate: input.mayCreateAgents,
        });
      case 'karma': {
        const ctx = contextFor(trx, repo, record, allowed);
        await checkKarmaRows(ctx, batch.rows);
        const result = await writeRows(ctx, 'karma', batch.rows);
        const agents = batch.rows.map((row) => ctx.agent(row.agent_id, 'agent_id'));
        await settleKarma(trx, repo, agents, isoNow(deps.clock));
        return result;
      }
      case 'budget_transactions': {
        const result = await writeRows(contextFor(trx, repo, record, allowed), batch.kind, batch.rows);
        await settleBudget(trx, repo, isoNow(deps.clock));
        return result;
      }
      default:
        // TypeScript cannot narrow the union through a generic call; the kind and rows match.
        return writeRows(contextFor(trx, repo, record, allowed), batch.kind, batch.rows as never);
    }
  });
  return { kind: batch.kind, received: batch.rows.length, ...written };
}

/** Of these ids of `kind`, those the repository already holds from this import. */
export async function knownImportIds(
  deps: CoreDeps,
  input: ImportCaller & { kind: ImportKind; ids: string[] },
): Promise<string[]> {
  const db = deps.store.db;
  const repo = await authorize(deps, db, input);
  const record = await findImport(db, repo.id);
  if (!record || record.importer_id !== input.actor.id) return [];
  if (input.kind === 'repo') return input.ids.filter((id) => id === record.source_repo_id);
  if (input.kind === 'agents') {
    const allowed = await importedAgentIds(db, repo.id);
    return input.ids.filter((id) => allowed.has(id) || id === record.local_agent_id);
  }
  const owners = await rowOwners(db, input.kind, input.ids);
  return input.ids.filter((id) => owners.get(id) === repo.id);
}

export interface ImportStatus {
  repo_id: string;
  importer_id: string;
  local_agent_id: string | null;
  source_repo_id: string | null;
  status: 'open' | 'done';
  created_at: string;
  finished_at: string | null;
  agents_created: number;
}

function statusOf(record: ImportRecord, agentsCreated: number): ImportStatus {
  return { ...record, agents_created: agentsCreated };
}

/** The repository's import, or null when none was started (repository admins and server admins). */
export async function importStatus(deps: CoreDeps, caller: ImportCaller): Promise<ImportStatus | null> {
  const db = deps.store.db;
  const repo = await authorize(deps, db, caller);
  const record = await findImport(db, repo.id);
  if (!record) return null;
  return statusOf(record, (await importedAgentIds(db, repo.id)).size);
}

/**
 * Finishes the import: the repository's contributor and merged-stream counts are measured from
 * the imported merges, `repo.imported` is recorded, and no batch is taken any more. Finishing a
 * finished import changes nothing.
 */
export async function finishImport(deps: CoreDeps, caller: ImportCaller): Promise<ImportStatus> {
  return lockedTransaction(deps.store, caller.repoId, async (trx) => {
    const repo = await authorize(deps, trx, caller);
    const found = await findImport(trx, repo.id);
    if (found?.status === 'done' && found.importer_id === caller.actor.id) {
      return statusOf(found, (await importedAgentIds(trx, repo.id)).size);
    }
    const record = await openImport(deps, trx, repo, caller.actor);
    const now = isoNow(deps.clock);
    const reviewers = await trx
      .selectFrom('gitswarm_stream_reviews as r')
      .innerJoin('gitswarm_streams as s', 's.id', 'r.stream_id')
      .select('r.reviewer_id')
      .distinct()
      .where('s.repo_id', '=', repo.id)
      .execute();
    for (const { reviewer_id } of reviewers) {
      await refreshReviewerStats(deps, trx, { repoId: repo.id, agentId: reviewer_id });
    }
    const metrics = await measureStageMetrics(trx, repo.id);
    await trx
      .updateTable('gitswarm_repos')
      .set({ contributor_count: metrics.contributors, patch_count: metrics.merged_streams, updated_at: now })
      .where('id', '=', repo.id)
      .execute();
    await trx
      .updateTable('gitswarm_imports')
      .set({ status: 'done', finished_at: now })
      .where('repo_id', '=', repo.id)
      .execute();
    const agentsCreated = (await importedAgentIds(trx, repo.id)).size;
    await recordActivity(deps, trx, {
      event: 'repo.imported',
      repoId: repo.id,
      agentId: caller.actor.id,
      targetType: 'repo',
      targetId: repo.id,
      metadata: {
        source_repo_id: record.source_repo_id,
        agents_created: agentsCreated,
        merged_streams: metrics.merged_streams,
      },
    });
    return statusOf({ ...record, status: 'done', finished_at: now }, agentsCreated);
  });
}

export { IMPORT_KINDS };
