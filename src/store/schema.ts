/**
 * Table types of the GitSwarm data model (spec section 9), shared by both dialects.
 *
 * Rows leave the store normalised: ids and timestamps are strings (ISO 8601, UTC), booleans are
 * booleans, JSON columns are parsed values and numerics are numbers, whichever dialect served them.
 */
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

/** An ISO 8601 UTC timestamp, written by the application and read back unchanged. */
export type Timestamp = string;
/** A timestamp column the database fills in when the insert leaves it out. */
export type CreatedAt = ColumnType<Timestamp, Timestamp | undefined, Timestamp>;
/** A JSON column: written as a serialised string, read back as the parsed value. */
export type Json<T> = ColumnType<T, string, string>;
/** A JSON column with a database default. */
export type JsonDefault<T> = ColumnType<T, string | undefined, string>;
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export type AccessLevel = 'none' | 'read' | 'write' | 'maintain' | 'admin';
export type MergeMode = 'swarm' | 'review' | 'gated';
export type OwnershipModel = 'solo' | 'guild' | 'open';
export type AgentAccessMode = 'public' | 'karma_threshold' | 'allowlist';
export type RepoStage = 'seed' | 'growth' | 'established' | 'mature';
export type StreamStatus = 'active' | 'in_review' | 'conflicted' | 'merged' | 'abandoned' | 'reverted';
export type ReviewStatus = 'in_review' | 'approved' | 'changes_requested';
export type ReviewVerdict = 'approve' | 'request_changes' | 'comment';
export type TaskStatus = 'open' | 'claimed' | 'submitted' | 'completed' | 'cancelled' | 'expired';
export type TaskPriority = 'critical' | 'high' | 'medium' | 'low';
export type ClaimStatus = 'active' | 'submitted' | 'approved' | 'rejected' | 'abandoned';
export type BudgetTransactionType = 'deposit' | 'withdrawal' | 'bounty_reserve' | 'bounty_release' | 'payout';
export type CouncilStatus = 'forming' | 'active' | 'dissolved';
export type ProposalType =
  | 'add_maintainer'
  | 'remove_maintainer'
  | 'modify_access'
  | 'change_settings'
  | 'merge_stream'
  | 'revert_stream'
  | 'reorder_queue'
  | 'promote';
export type ProposalStatus = 'open' | 'passed' | 'rejected' | 'expired' | 'withdrawn';
export type VoteChoice = 'for' | 'against' | 'abstain';
export type ElectionStatus = 'nominations' | 'voting' | 'completed' | 'cancelled';
export type CandidateStatus = 'nominated' | 'accepted' | 'withdrawn' | 'elected' | 'not_elected';
export type StabilizationResult = 'green' | 'red' | 'flaky' | 'error';
export type PromotionTrigger = 'auto' | 'manual' | 'council' | 'forced';
export type OperationStatus = 'pending' | 'done' | 'rolled_back';
/** Whether verdicts given on code that has since changed still count towards consensus. */
export type StaleReviewsPolicy = 'dismiss' | 'keep';

export interface OrgsTable {
  id: string;
  name: string;
  github_org_name: string | null;
  github_installation_id: number | null;
  owner_id: string | null;
  is_platform_org: Defaulted<boolean>;
  default_agent_access: Defaulted<AgentAccessMode>;
  default_min_karma: Defaulted<number>;
  status: Defaulted<string>;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface AgentsTable {
  id: string;
  name: string;
  /** The name in lowercase, unique: names differing only by case are one name (0006). */
  name_folded: string | null;
  description: string | null;
  api_key_hash: string | null;
  /** The sum of the agent's karma over every repository (gitswarm_repo_karma); shown, no rule reads it. */
  karma: Defaulted<number>;
  is_human: Defaulted<boolean>;
  status: Defaulted<'active' | 'suspended'>;
  avatar_url: string | null;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface ReposTable {
  id: string;
  org_id: string | null;
  name: string;
  description: string | null;
  path: string | null;
  github_repo_id: number | null;
  github_full_name: string | null;
  clone_url: string | null;
  merge_mode: Defaulted<MergeMode>;
  ownership_model: Defaulted<OwnershipModel>;
  consensus_threshold: Defaulted<number>;
  min_reviews: Defaulted<number>;
  human_review_weight: Defaulted<number>;
  agent_access: Defaulted<AgentAccessMode>;
  min_karma: Defaulted<number>;
  is_private: Defaulted<boolean>;
  buffer_branch: Defaulted<string>;
  /** The buffer's starting commit when GitSwarm was set up (`init`); bisection never goes before it. */
  buffer_baseline: string | null;
  promote_target: Defaulted<string>;
  auto_promote_on_green: Defaulted<boolean>;
  auto_revert_on_red: Defaulted<boolean>;
  stabilize_command: string | null;
  stabilize_timeout_seconds: Defaulted<number>;
  stabilize_memory_mb: Defaulted<number>;
  sandbox: Defaulted<'bubblewrap' | 'none'>;
  max_auto_reverts_per_day: Defaulted<number>;
  stale_reviews: Defaulted<StaleReviewsPolicy>;
  stage: Defaulted<RepoStage>;
  contributor_count: Defaulted<number>;
  patch_count: Defaulted<number>;
  status: Defaulted<string>;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
  /** Mode C: the server holds this repository's git (in its data dir, at `path`) (0011). */
  server_git: Defaulted<boolean>;
  /** Mode C: where the server pushes the buffer and main after each change, if anywhere. */
  remote_url: string | null;
  /** How pushing to `remote_url` fares: null without one; 'ok', 'pending' (a push is owed) or 'failing'. */
  upstream_status: 'ok' | 'pending' | 'failing' | null;
  upstream_error: string | null;
  upstream_attempts: Defaulted<number>;
  /** When the next push to the upstream is due after a failure. */
  upstream_next_at: Timestamp | null;
}

export interface RepoAccessTable {
  id: string;
  repo_id: string;
  agent_id: string;
  access_level: Exclude<AccessLevel, 'none'>;
  granted_by: string | null;
  expires_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface MaintainersTable {
  id: string;
  repo_id: string;
  agent_id: string;
  role: Defaulted<'owner' | 'maintainer'>;
  added_by: string | null;
  created_at: CreatedAt;
}

export interface BranchRulesTable {
  id: string;
  repo_id: string;
  branch_pattern: string;
  direct_push: Defaulted<'none' | 'maintainers' | 'all'>;
  required_approvals: Defaulted<number>;
  require_tests_pass: Defaulted<boolean>;
  consensus_threshold: number | null;
  merge_restriction: string | null;
  priority: Defaulted<number>;
  created_at: CreatedAt;
}

/** A recorded conflict: the paths git could not merge and what was being merged. */
export interface StreamConflict {
  operation: 'merge' | 'rebase';
  onto: string;
  paths: string[];
  detected_at: Timestamp;
}

export interface StreamsTable {
  id: string;
  repo_id: string;
  agent_id: string;
  name: string;
  branch: string;
  source: Defaulted<'cli' | 'api' | 'github_pr'>;
  github_pr_number: number | null;
  github_pr_url: string | null;
  status: Defaulted<StreamStatus>;
  review_status: ReviewStatus | null;
  parent_stream_id: string | null;
  base_branch: string | null;
  /** The commit the stream was last built on (buffer head or parent stream head). */
  base_commit: string | null;
  task_id: string | null;
  conflict: Json<StreamConflict | null> | null;
  merge_priority: Defaulted<number>;
  auto_revert_opt_out: Defaulted<boolean>;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface WorktreesTable {
  id: string;
  repo_id: string;
  agent_id: string;
  stream_id: string;
  path: string;
  created_at: CreatedAt;
}

export interface StreamCommitsTable {
  id: string;
  stream_id: string;
  agent_id: string;
  commit_hash: string;
  change_id: string | null;
  message: string | null;
  created_at: CreatedAt;
}

export interface StreamReviewsTable {
  id: string;
  stream_id: string;
  reviewer_id: string;
  review_block_id: string | null;
  verdict: ReviewVerdict;
  feedback: string | null;
  is_human: Defaulted<boolean>;
  tested: Defaulted<boolean>;
  reviewed_at: CreatedAt;
  /** The stream head the verdict was given on; null for reviews from before heads were recorded. */
  head_commit: string | null;
  /** The fingerprint of the stream's diff at that head (engine/patch-id.ts); null when unknown. */
  diff_fingerprint: string | null;
}

/** Cache: the fingerprint of a stream head's diff against its base branch, computed once per head. */
export interface DiffFingerprintsTable {
  repo_id: string;
  base_branch: string;
  head_commit: string;
  fingerprint: string;
  created_at: CreatedAt;
}

export interface MergesTable {
  id: string;
  repo_id: string;
  stream_id: string;
  agent_id: string | null;
  merge_commit: string;
  target_branch: string;
  reverted_at: Timestamp | null;
  revert_commit: string | null;
  merged_at: CreatedAt;
  /** Mode B: the reported merge commit's first parent (the buffer head it was made on). */
  base_commit: string | null;
  /** Mode B: its second parent (the stream head it merged). */
  head_commit: string | null;
}

/** Mode B: the buffer head as last reported by a client (the server holds no clone to ask). */
export interface BufferHeadsTable {
  repo_id: string;
  head_commit: string;
  agent_id: string | null;
  updated_at: string;
}

export interface StabilizationsTable {
  id: string;
  repo_id: string;
  result: StabilizationResult;
  tag: string | null;
  buffer_commit: string | null;
  breaking_stream_id: string | null;
  duration_ms: number | null;
  log_path: string | null;
  details: JsonDefault<Record<string, unknown>>;
  stabilized_at: CreatedAt;
}

export interface PromotionsTable {
  id: string;
  repo_id: string;
  from_branch: string;
  to_branch: string;
  from_commit: string | null;
  to_commit: string | null;
  triggered_by: PromotionTrigger | null;
  agent_id: string | null;
  promoted_at: CreatedAt;
}

export interface TasksTable {
  id: string;
  repo_id: string;
  number: number;
  title: string;
  description: Defaulted<string>;
  status: Defaulted<TaskStatus>;
  priority: Defaulted<TaskPriority>;
  amount: Defaulted<number>;
  labels: JsonDefault<string[]>;
  difficulty: string | null;
  created_by: string | null;
  assigned_to: string | null;
  expires_at: Timestamp | null;
  completed_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface TaskClaimsTable {
  id: string;
  task_id: string;
  agent_id: string;
  stream_id: string | null;
  status: Defaulted<ClaimStatus>;
  submission_notes: string | null;
  submitted_at: Timestamp | null;
  reviewed_by: string | null;
  reviewed_at: Timestamp | null;
  review_notes: string | null;
  payout_amount: Defaulted<number>;
  claimed_at: CreatedAt;
}

export interface RepoBudgetsTable {
  id: string;
  repo_id: string;
  total_credits: Defaulted<number>;
  available_credits: Defaulted<number>;
  reserved_credits: Defaulted<number>;
  max_bounty_per_issue: Defaulted<number>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface BudgetTransactionsTable {
  id: string;
  budget_id: string;
  amount: number;
  type: BudgetTransactionType;
  balance_after: number;
  description: string | null;
  agent_id: string | null;
  task_id: string | null;
  created_at: CreatedAt;
}

export interface RepoCouncilsTable {
  id: string;
  repo_id: string;
  min_karma: Defaulted<number>;
  min_contributions: Defaulted<number>;
  min_members: Defaulted<number>;
  max_members: Defaulted<number>;
  standard_quorum: Defaulted<number>;
  critical_quorum: Defaulted<number>;
  term_limit_months: Defaulted<number>;
  election_interval_days: Defaulted<number>;
  status: Defaulted<CouncilStatus>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface CouncilMembersTable {
  id: string;
  council_id: string;
  agent_id: string;
  role: Defaulted<'chair' | 'member'>;
  votes_cast: Defaulted<number>;
  proposals_made: Defaulted<number>;
  term_expires_at: Timestamp | null;
  joined_at: CreatedAt;
}

export interface CouncilProposalsTable {
  id: string;
  council_id: string;
  title: string;
  description: string | null;
  proposal_type: ProposalType;
  proposed_by: string | null;
  quorum_required: number;
  votes_for: Defaulted<number>;
  votes_against: Defaulted<number>;
  votes_abstain: Defaulted<number>;
  status: Defaulted<ProposalStatus>;
  resolution_reason: string | null;
  action_data: JsonDefault<Record<string, unknown>>;
  executed: Defaulted<boolean>;
  executed_at: Timestamp | null;
  execution_result: Json<Record<string, unknown> | null> | null;
  expires_at: Timestamp | null;
  resolved_at: Timestamp | null;
  proposed_at: CreatedAt;
}

export interface CouncilVotesTable {
  id: string;
  proposal_id: string;
  agent_id: string;
  vote: VoteChoice;
  comment: string | null;
  voted_at: CreatedAt;
}

export interface CouncilElectionsTable {
  id: string;
  council_id: string;
  election_type: Defaulted<string>;
  seats_available: Defaulted<number>;
  status: Defaulted<ElectionStatus>;
  nominations_end_at: Timestamp | null;
  voting_end_at: Timestamp | null;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface ElectionCandidatesTable {
  id: string;
  election_id: string;
  agent_id: string;
  nominated_by: string | null;
  statement: string | null;
  status: Defaulted<CandidateStatus>;
  vote_count: Defaulted<number>;
  created_at: CreatedAt;
}

export interface ElectionVotesTable {
  id: string;
  election_id: string;
  voter_id: string;
  candidate_id: string;
  voted_at: CreatedAt;
}

export interface ActivityLogTable {
  id: string;
  repo_id: string | null;
  agent_id: string | null;
  event_type: string;
  target_type: string | null;
  target_id: string | null;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface StageHistoryTable {
  id: string;
  repo_id: string;
  from_stage: RepoStage | null;
  to_stage: RepoStage;
  contributor_count: number | null;
  patch_count: number | null;
  maintainer_count: number | null;
  metrics_at_transition: JsonDefault<Record<string, unknown>>;
  transitioned_at: CreatedAt;
}

export interface GithubUserMappingsTable {
  id: string;
  github_user_id: number;
  github_username: string;
  agent_id: string | null;
  created_at: CreatedAt;
}

/** A GitHub webhook delivery already handled, by its X-GitHub-Delivery id (0012). */
export interface GithubDeliveriesTable {
  delivery_id: string;
  event: string;
  action: string | null;
  repo_id: string | null;
  /** `handled`, `ignored: <why>` or `failed: <why>`. */
  outcome: string;
  received_at: Timestamp;
}

/** An installation of the GitHub App, kept current by installation events (0012). */
export interface GithubInstallationsTable {
  installation_id: number;
  account_login: string;
  account_type: string | null;
  suspended: Defaulted<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A repository an installation can reach; `full_name` in lowercase (0012). */
export interface GithubInstallationReposTable {
  installation_id: number;
  github_repo_id: number;
  full_name: string;
}

export interface ReviewerStatsTable {
  id: string;
  agent_id: string;
  repo_id: string;
  total_reviews: Defaulted<number>;
  approvals: Defaulted<number>;
  rejections: Defaulted<number>;
  accuracy_score: Defaulted<number>;
  updated_at: CreatedAt;
}

export interface ReviewKarmaTransactionsTable {
  id: string;
  agent_id: string;
  repo_id: string | null;
  amount: number;
  reason: string | null;
  created_at: CreatedAt;
}

/** An agent's karma in one repository: the sum of its ledger rows there (kept with each change). */
export interface RepoKarmaTable {
  agent_id: string;
  repo_id: string;
  karma: Defaulted<number>;
  updated_at: CreatedAt;
}

export interface NotificationPreferencesTable {
  id: string;
  agent_id: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  events: JsonDefault<string[]>;
  enabled: Defaulted<boolean>;
  created_at: CreatedAt;
}

export interface AgentNotificationsTable {
  id: string;
  agent_id: string;
  type: string;
  payload: Json<Record<string, unknown>>;
  read: Defaulted<boolean>;
  delivered: Defaulted<boolean>;
  attempts: Defaulted<number>;
  last_error: string | null;
  /** When the next delivery attempt is due (or, while one runs, when its lease ends); null once done. */
  next_attempt_at: Timestamp | null;
  created_at: CreatedAt;
}

/** A webhook target host's circuit breaker: consecutive failures, and while open, when it closes. */
export interface WebhookCircuitsTable {
  /** `host:port` of the webhook URL, lower case. */
  target: string;
  consecutive_failures: Defaulted<number>;
  open_until: Timestamp | null;
  last_error: string | null;
  updated_at: CreatedAt;
}

/** Write-ahead log of ref moves: the intent is recorded before the ref moves, completion after. */
export interface OperationsTable {
  id: string;
  repo_id: string;
  agent_id: string | null;
  kind: string;
  description: string;
  ref: string;
  old_oid: string | null;
  new_oid: string;
  stream_id: string | null;
  status: Defaulted<OperationStatus>;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  completed_at: Timestamp | null;
}

/** Replay protection for retried writes (HTTP and sync): one row per client key. */
export interface IdempotencyKeysTable {
  key: string;
  agent_id: string;
  request_hash: string;
  status_code: number;
  response: Json<unknown>;
  /** The results of the request's committed transactions, in order, each written in its own (0006). */
  effects: ColumnType<unknown[] | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
}

export type OutboxKind = 'request' | 'push' | 'cas_push';
export type OutboxState = 'pending' | 'failed';

/** Mode B: a write or a branch push a command could not make while the server was down (0009). */
export interface OutboxTable {
  id: string;
  /** Replay order (one sequence for writes and pushes). */
  seq: number;
  kind: OutboxKind;
  server_url: string;
  /** The server repository the entry belongs to. */
  repo_id: string | null;
  /** Whose key sends the write (name or id, as the command had it); null: the default key. */
  agent: string | null;
  /** The command line that queued it, for people (`commit`, `review submit`…). */
  command: string;
  method: string | null;
  path: string | null;
  body: ColumnType<unknown, string | null | undefined, string | null>;
  idempotency_key: string;
  remote: string | null;
  ref: string | null;
  /** A compare-and-swap push's expected remote value (null: the ref must not exist, or no check). */
  old_value: string | null;
  new_value: string | null;
  state: Defaulted<OutboxState>;
  attempts: Defaulted<number>;
  last_error: string | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

/** Mode B: the last answer the server gave for a read (0009). */
export interface RemoteCacheTable {
  key: string;
  payload: Json<unknown>;
  fetched_at: Timestamp;
}

export interface InvitesTable {
  id: string;
  /** SHA-256 (hex) of the invite code; the code itself is shown once. */
  code_hash: string;
  created_by: string | null;
  created_at: string;
  expires_at: string;
  used_by: string | null;
  used_at: string | null;
}

/** A Mode A repository being imported into this server, or imported (core/repos/import.ts, 0010). */
export interface ImportsTable {
  repo_id: string;
  /** The server agent making the import; only it may add to it. */
  importer_id: string;
  /** The Mode A id of the agent the importer was there: rows naming it name the importer here. */
  local_agent_id: string | null;
  /** The Mode A repository's id. */
  source_repo_id: string | null;
  status: Defaulted<'open' | 'done'>;
  created_at: string;
  finished_at: string | null;
}

export type StabilizeRunStatus = 'queued' | 'running' | 'green' | 'red' | 'flaky' | 'error';

/** Mode C: a stabilization the server runs itself, a durable job leased by one instance (0011). */
export interface StabilizeRunsTable {
  id: string;
  repo_id: string;
  requested_by: string | null;
  status: Defaulted<StabilizeRunStatus>;
  buffer_commit: string | null;
  /** The stabilization record the run produced. */
  stabilization_id: string | null;
  tag: string | null;
  breaking_stream_id: string | null;
  reverted: Defaulted<boolean>;
  task_id: string | null;
  /** The last lines of the test output (capped). */
  log_tail: Defaulted<string>;
  error: string | null;
  /** The server instance running it, and until when its claim holds. */
  lease_owner: string | null;
  lease_until: Timestamp | null;
  attempts: Defaulted<number>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** An agent an import created (with its Mode A id): the agents the import's rows may name. */
export interface ImportAgentsTable {
  repo_id: string;
  agent_id: string;
  created_at: string;
}

/** The consensus comment GitSwarm keeps on a linked pull request (0013); null id: being created. */
export interface GithubPrCommentsTable {
  repo_id: string;
  pr_number: number;
  comment_id: number | null;
  updated_at: string;
}

export interface Database {
  gitswarm_orgs: OrgsTable;
  gitswarm_agents: AgentsTable;
  gitswarm_repos: ReposTable;
  gitswarm_repo_access: RepoAccessTable;
  gitswarm_maintainers: MaintainersTable;
  gitswarm_branch_rules: BranchRulesTable;
  gitswarm_streams: StreamsTable;
  gitswarm_worktrees: WorktreesTable;
  gitswarm_stream_commits: StreamCommitsTable;
  gitswarm_stream_reviews: StreamReviewsTable;
  gitswarm_diff_fingerprints: DiffFingerprintsTable;
  gitswarm_merges: MergesTable;
  gitswarm_buffer_heads: BufferHeadsTable;
  gitswarm_stabilizations: StabilizationsTable;
  gitswarm_promotions: PromotionsTable;
  gitswarm_tasks: TasksTable;
  gitswarm_task_claims: TaskClaimsTable;
  gitswarm_repo_budgets: RepoBudgetsTable;
  gitswarm_budget_transactions: BudgetTransactionsTable;
  gitswarm_repo_councils: RepoCouncilsTable;
  gitswarm_council_members: CouncilMembersTable;
  gitswarm_council_proposals: CouncilProposalsTable;
  gitswarm_council_votes: CouncilVotesTable;
  gitswarm_council_elections: CouncilElectionsTable;
  gitswarm_election_candidates: ElectionCandidatesTable;
  gitswarm_election_votes: ElectionVotesTable;
  gitswarm_activity_log: ActivityLogTable;
  gitswarm_stage_history: StageHistoryTable;
  gitswarm_github_user_mappings: GithubUserMappingsTable;
  gitswarm_github_deliveries: GithubDeliveriesTable;
  gitswarm_github_installations: GithubInstallationsTable;
  gitswarm_github_installation_repos: GithubInstallationReposTable;
  gitswarm_reviewer_stats: ReviewerStatsTable;
  gitswarm_review_karma_transactions: ReviewKarmaTransactionsTable;
  gitswarm_repo_karma: RepoKarmaTable;
  gitswarm_notification_preferences: NotificationPreferencesTable;
  gitswarm_agent_notifications: AgentNotificationsTable;
  gitswarm_webhook_circuits: WebhookCircuitsTable;
  gitswarm_operations: OperationsTable;
  gitswarm_idempotency_keys: IdempotencyKeysTable;
  gitswarm_invites: InvitesTable;
  gitswarm_outbox: OutboxTable;
  gitswarm_remote_cache: RemoteCacheTable;
  gitswarm_imports: ImportsTable;
  gitswarm_import_agents: ImportAgentsTable;
  gitswarm_stabilize_runs: StabilizeRunsTable;
  gitswarm_github_pr_comments: GithubPrCommentsTable;
}

export type Agent = Selectable<AgentsTable>;
export type Invite = Selectable<InvitesTable>;
export type Repo = Selectable<ReposTable>;
export type RepoUpdate = Updateable<ReposTable>;
export type Stream = Selectable<StreamsTable>;
export type NewStream = Insertable<StreamsTable>;
export type StreamReview = Selectable<StreamReviewsTable>;
export type Merge = Selectable<MergesTable>;
export type Task = Selectable<TasksTable>;
export type TaskClaim = Selectable<TaskClaimsTable>;
export type RepoBudget = Selectable<RepoBudgetsTable>;
export type BudgetTransaction = Selectable<BudgetTransactionsTable>;
export type Council = Selectable<RepoCouncilsTable>;
export type CouncilMember = Selectable<CouncilMembersTable>;
export type CouncilProposal = Selectable<CouncilProposalsTable>;
export type CouncilElection = Selectable<CouncilElectionsTable>;
export type ElectionCandidate = Selectable<ElectionCandidatesTable>;
export type ActivityEntry = Selectable<ActivityLogTable>;
export type Stabilization = Selectable<StabilizationsTable>;
export type Promotion = Selectable<PromotionsTable>;
export type Operation = Selectable<OperationsTable>;
export type Worktree = Selectable<WorktreesTable>;
export type OutboxEntry = Selectable<OutboxTable>;
export type StabilizeRun = Selectable<StabilizeRunsTable>;
