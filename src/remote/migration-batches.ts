/**
 * A Mode A store read as import batches (core/repos/import-rows.ts), in the order the server takes them:
 * every row with its Mode A id, only the columns an import row has, split into batches small
 * enough for one request each. Agents come with no key and no `self` mark: migrate.ts adds both.
 */
import type { ImportBatch, ImportKind, ImportRows } from '../core/repos/import-rows.js';
import { IMPORT_KINDS, MAX_IMPORT_BATCH } from '../core/repos/import-rows.js';
import { REPO_SETTINGS, type RepoSettingKey, repoSetting } from '../core/repos/repo-settings.js';
import type { Executor, Repo } from '../store/index.js';

/** Most rows per batch by default. */
export const DEFAULT_BATCH_ROWS = 200;
/** Most bytes of JSON per batch (the server takes up to 8 MiB on its import route). */
export const MAX_BATCH_BYTES = 2 * 1024 * 1024;

/** Agent rows as read: migrate.ts adds the key hash and the `self` mark. */
export type LocalAgentRow = Omit<ImportRows['agents'], 'api_key_hash' | 'self'>;
type ReadRows = Omit<ImportRows, 'agents'> & { agents: LocalAgentRow };
type Row = Record<string, unknown>;

function pick<K extends keyof ReadRows>(
  row: Row,
  keys: readonly (keyof ReadRows[K] & string)[],
): ReadRows[K] {
  return Object.fromEntries(keys.map((key) => [key, row[key] ?? null])) as ReadRows[K];
}

const FIELDS: { [K in Exclude<ImportKind, 'repo'>]: readonly (keyof ReadRows[K] & string)[] } = {
  agents: ['id', 'name', 'description', 'is_human', 'status', 'avatar_url', 'created_at'],
  maintainers: ['id', 'agent_id', 'role', 'added_by', 'created_at'],
  access: ['id', 'agent_id', 'access_level', 'granted_by', 'expires_at', 'created_at'],
  tasks: [
    'id',
    'number',
    'title',
    'description',
    'status',
    'priority',
    'amount',
    'labels',
    'difficulty',
    'created_by',
    'assigned_to',
    'expires_at',
    'completed_at',
    'created_at',
    'updated_at',
  ],
  streams: [
    'id',
    'agent_id',
    'name',
    'branch',
    'source',
    'status',
    'review_status',
    'parent_stream_id',
    'base_branch',
    'base_commit',
    'task_id',
    'conflict',
    'merge_priority',
    'auto_revert_opt_out',
    'metadata',
    'created_at',
    'updated_at',
  ],
  commits: ['id', 'stream_id', 'agent_id', 'commit_hash', 'change_id', 'message', 'created_at'],
  reviews: [
    'id',
    'stream_id',
    'reviewer_id',
    'review_block_id',
    'verdict',
    'feedback',
    'is_human',
    'tested',
    'reviewed_at',
    'head_commit',
    'diff_fingerprint',
  ],
  merges: [
    'id',
    'stream_id',
    'agent_id',
    'merge_commit',
    'target_branch',
    'reverted_at',
    'revert_commit',
    'merged_at',
    'base_commit',
    'head_commit',
  ],
  promotions: [
    'id',
    'from_branch',
    'to_branch',
    'from_commit',
    'to_commit',
    'triggered_by',
    'agent_id',
    'promoted_at',
  ],
  stabilizations: [
    'id',
    'result',
    'tag',
    'buffer_commit',
    'breaking_stream_id',
    'duration_ms',
    'details',
    'stabilized_at',
  ],
  claims: [
    'id',
    'task_id',
    'agent_id',
    'stream_id',
    'status',
    'submission_notes',
    'submitted_at',
    'reviewed_by',
    'reviewed_at',
    'review_notes',
    'payout_amount',
    'claimed_at',
  ],
  budget: ['id', 'max_bounty_per_issue', 'created_at'],
  budget_transactions: [
    'id',
    'amount',
    'type',
    'balance_after',
    'description',
    'agent_id',
    'task_id',
    'created_at',
  ],
  council: [
    'id',
    'min_karma',
    'min_contributions',
    'min_members',
    'max_members',
    'standard_quorum',
    'critical_quorum',
    'term_limit_months',
    'election_interval_days',
    'status',
    'created_at',
    'updated_at',
  ],
  council_members: ['id', 'agent_id', 'role', 'votes_cast', 'proposals_made', 'term_expires_at', 'joined_at'],
  proposals: [
    'id',
    'title',
    'description',
    'proposal_type',
    'proposed_by',
    'quorum_required',
    'votes_for',
    'votes_against',
    'votes_abstain',
    'status',
    'resolution_reason',
    'action_data',
    'executed',
    'executed_at',
    'execution_result',
    'expires_at',
    'resolved_at',
    'proposed_at',
  ],
  votes: ['id', 'proposal_id', 'agent_id', 'vote', 'comment', 'voted_at'],
  elections: [
    'id',
    'election_type',
    'seats_available',
    'status',
    'nominations_end_at',
    'voting_end_at',
    'created_by',
    'created_at',
  ],
  candidates: [
    'id',
    'election_id',
    'agent_id',
    'nominated_by',
    'statement',
    'status',
    'vote_count',
    'created_at',
  ],
  election_votes: ['id', 'election_id', 'voter_id', 'candidate_id', 'voted_at'],
  karma: ['id', 'agent_id', 'amount', 'reason', 'created_at'],
  stage_history: [
    'id',
    'from_stage',
    'to_stage',
    'contributor_count',
    'patch_count',
    'maintainer_count',
    'metrics_at_transition',
    'transitioned_at',
  ],
  activity: ['id', 'agent_id', 'event_type', 'target_type', 'target_id', 'metadata', 'created_at'],
};

/** The repository row: its settings by `config set` key (the server keeps its own name). */
export function repoImportRow(repo: Repo): ImportRows['repo'] {
  const settings: Record<string, unknown> = {};
  for (const key of Object.keys(REPO_SETTINGS) as RepoSettingKey[]) {
    if (key !== 'name') settings[key] = repoSetting(repo, key);
  }
  return {
    id: repo.id,
    description: repo.description,
    settings,
    stage: repo.stage,
    buffer_baseline: repo.buffer_baseline,
    created_at: repo.created_at,
  };
}

/** Streams with each parent before its children (a parent may be younger after a re-parent). */
function parentsFirst(streams: Row[]): Row[] {
  const byId = new Map(streams.map((stream) => [stream.id as string, stream]));
  const ordered: Row[] = [];
  const placed = new Set<string>();
  const place = (stream: Row, depth: number) => {
    const id = stream.id as string;
    if (placed.has(id) || depth > streams.length) return;
    const parent = byId.get(stream.parent_stream_id as string);
    if (parent) place(parent, depth + 1);
    placed.add(id);
    ordered.push(stream);
  };
  for (const stream of streams) place(stream, 0);
  return ordered;
}

/** Every row of the repository's store, kind by kind, in import order. */
export async function readLocalRows(
  db: Executor,
  repo: Repo,
): Promise<{ [K in ImportKind]: K extends 'agents' ? LocalAgentRow[] : ImportRows[K][] }> {
  const r = repo.id;
  const streamIds = db.selectFrom('gitswarm_streams').select('id').where('repo_id', '=', r);
  const taskIds = db.selectFrom('gitswarm_tasks').select('id').where('repo_id', '=', r);
  const council = db.selectFrom('gitswarm_repo_councils').select('id').where('repo_id', '=', r);
  const proposalIds = db
    .selectFrom('gitswarm_council_proposals')
    .select('id')
    .where('council_id', 'in', council);
  const electionIds = db
    .selectFrom('gitswarm_council_elections')
    .select('id')
    .where('council_id', 'in', council);
  const budget = db.selectFrom('gitswarm_repo_budgets').select('id').where('repo_id', '=', r);
  const rows = <K extends Exclude<ImportKind, 'repo'>>(kind: K, found: Row[]) =>
    found.map((row) => pick<K>(row, FIELDS[kind]));

  return {
    repo: [repoImportRow(repo)],
    agents: rows(
      'agents',
      await db.selectFrom('gitswarm_agents').selectAll().orderBy('created_at').orderBy('id').execute(),
    ),
    maintainers: rows(
      'maintainers',
      await db
        .selectFrom('gitswarm_maintainers')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('created_at')
        .execute(),
    ),
    access: rows(
      'access',
      await db
        .selectFrom('gitswarm_repo_access')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('created_at')
        .execute(),
    ),
    tasks: rows(
      'tasks',
      await db.selectFrom('gitswarm_tasks').selectAll().where('repo_id', '=', r).orderBy('number').execute(),
    ),
    streams: rows(
      'streams',
      parentsFirst(
        await db
          .selectFrom('gitswarm_streams')
          .selectAll()
          .where('repo_id', '=', r)
          .orderBy('created_at')
          .orderBy('id')
          .execute(),
      ),
    ),
    commits: rows(
      'commits',
      await db
        .selectFrom('gitswarm_stream_commits')
        .selectAll()
        .where('stream_id', 'in', streamIds)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    ),
    reviews: rows(
      'reviews',
      await db
        .selectFrom('gitswarm_stream_reviews')
        .selectAll()
        .where('stream_id', 'in', streamIds)
        .orderBy('reviewed_at')
        .orderBy('id')
        .execute(),
    ),
    merges: rows(
      'merges',
      await db
        .selectFrom('gitswarm_merges')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('merged_at')
        .orderBy('id')
        .execute(),
    ),
    promotions: rows(
      'promotions',
      await db
        .selectFrom('gitswarm_promotions')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('promoted_at')
        .execute(),
    ),
    stabilizations: rows(
      'stabilizations',
      await db
        .selectFrom('gitswarm_stabilizations')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('stabilized_at')
        .execute(),
    ),
    claims: rows(
      'claims',
      await db
        .selectFrom('gitswarm_task_claims')
        .selectAll()
        .where('task_id', 'in', taskIds)
        .orderBy('claimed_at')
        .execute(),
    ),
    budget: rows(
      'budget',
      await db.selectFrom('gitswarm_repo_budgets').selectAll().where('repo_id', '=', r).execute(),
    ),
    budget_transactions: rows(
      'budget_transactions',
      await db
        .selectFrom('gitswarm_budget_transactions')
        .selectAll()
        .where('budget_id', 'in', budget)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    ),
    council: rows(
      'council',
      await db.selectFrom('gitswarm_repo_councils').selectAll().where('repo_id', '=', r).execute(),
    ),
    council_members: rows(
      'council_members',
      await db
        .selectFrom('gitswarm_council_members')
        .selectAll()
        .where('council_id', 'in', council)
        .execute(),
    ),
    proposals: rows(
      'proposals',
      await db
        .selectFrom('gitswarm_council_proposals')
        .selectAll()
        .where('council_id', 'in', council)
        .execute(),
    ),
    votes: rows(
      'votes',
      await db
        .selectFrom('gitswarm_council_votes')
        .selectAll()
        .where('proposal_id', 'in', proposalIds)
        .execute(),
    ),
    elections: rows(
      'elections',
      await db
        .selectFrom('gitswarm_council_elections')
        .selectAll()
        .where('council_id', 'in', council)
        .execute(),
    ),
    candidates: rows(
      'candidates',
      await db
        .selectFrom('gitswarm_election_candidates')
        .selectAll()
        .where('election_id', 'in', electionIds)
        .execute(),
    ),
    election_votes: rows(
      'election_votes',
      await db
        .selectFrom('gitswarm_election_votes')
        .selectAll()
        .where('election_id', 'in', electionIds)
        .execute(),
    ),
    karma: rows(
      'karma',
      await db
        .selectFrom('gitswarm_review_karma_transactions')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    ),
    stage_history: rows(
      'stage_history',
      await db
        .selectFrom('gitswarm_stage_history')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('transitioned_at')
        .execute(),
    ),
    activity: rows(
      'activity',
      await db
        .selectFrom('gitswarm_activity_log')
        .selectAll()
        .where('repo_id', '=', r)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    ),
  };
}

/** Splits one kind's rows into batches of at most `maxRows` rows and about MAX_BATCH_BYTES. */
export function toBatches<K extends ImportKind>(
  kind: K,
  rows: readonly ImportRows[K][],
  maxRows = DEFAULT_BATCH_ROWS,
): ImportBatch[] {
  const limit = Math.max(1, Math.min(maxRows, MAX_IMPORT_BATCH));
  const batches: ImportBatch[] = [];
  let current: ImportRows[K][] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = Buffer.byteLength(JSON.stringify(row));
    if (current.length > 0 && (current.length >= limit || bytes + size > MAX_BATCH_BYTES)) {
      batches.push({ kind, rows: current } as ImportBatch);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) batches.push({ kind, rows: current } as ImportBatch);
  return batches;
}

export { IMPORT_KINDS };
