/**
 * The rows a Mode A repository is imported as (core/repos/import.ts): each kind's rows are its table's
 * rows with the Mode A ids kept, less the columns the server fills in (the repository, the council
 * and the budget, which are the importing repository's own). The server's route checks their shape
 * (server/routes/import-schemas.ts); the import checks what they refer to.
 */
import type {
  AccessLevel,
  BudgetTransactionType,
  CandidateStatus,
  ClaimStatus,
  CouncilStatus,
  ElectionStatus,
  MergeMode,
  PromotionTrigger,
  ProposalStatus,
  ProposalType,
  RepoStage,
  ReviewStatus,
  ReviewVerdict,
  StabilizationResult,
  StreamConflict,
  StreamStatus,
  TaskPriority,
  TaskStatus,
  VoteChoice,
} from '../../store/index.js';

/** The kinds, in the order they must be imported (each refers only to kinds before it). */
export const IMPORT_KINDS = [
  'repo',
  'agents',
  'maintainers',
  'access',
  'tasks',
  'streams',
  'commits',
  'reviews',
  'merges',
  'promotions',
  'stabilizations',
  'claims',
  'budget',
  'budget_transactions',
  'council',
  'council_members',
  'proposals',
  'votes',
  'elections',
  'candidates',
  'election_votes',
  'karma',
  'stage_history',
  'activity',
] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

/** Most rows one batch may carry. */
export const MAX_IMPORT_BATCH = 500;

export interface RepoImportRow {
  /** The Mode A repository's id (recorded; the server repository keeps its own). */
  id: string;
  description: string | null;
  /** Settings by their `config set` keys (core/repos/repo-settings.ts); the name stays the server's. */
  settings: Record<string, unknown> & { merge_mode?: MergeMode };
  stage: RepoStage;
  buffer_baseline: string | null;
  created_at: string;
}

export interface AgentImportRow {
  id: string;
  name: string;
  description: string | null;
  is_human: boolean;
  status: 'active' | 'suspended';
  avatar_url: string | null;
  created_at: string;
  /** SHA-256 (hex) of the key the client made and saved for the agent; null for `self`. */
  api_key_hash: string | null;
  /** This Mode A agent is the importer: its rows name the importer's server agent. */
  self: boolean;
}

export interface MaintainerImportRow {
  id: string;
  agent_id: string;
  role: 'owner' | 'maintainer';
  added_by: string | null;
  created_at: string;
}

export interface AccessImportRow {
  id: string;
  agent_id: string;
  access_level: Exclude<AccessLevel, 'none'>;
  granted_by: string | null;
  expires_at: string | null;
  created_at: string;
}

export interface TaskImportRow {
  id: string;
  number: number;
  title: string;
  description: string;
  status: TaskStatus;
  priority: TaskPriority;
  amount: number;
  labels: string[];
  difficulty: string | null;
  created_by: string | null;
  assigned_to: string | null;
  expires_at: string | null;
  completed_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface StreamImportRow {
  id: string;
  agent_id: string;
  name: string;
  branch: string;
  source: 'cli' | 'api' | 'github_pr';
  status: StreamStatus;
  review_status: ReviewStatus | null;
  parent_stream_id: string | null;
  base_branch: string | null;
  base_commit: string | null;
  task_id: string | null;
  conflict: StreamConflict | null;
  merge_priority: number;
  auto_revert_opt_out: boolean;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

export interface CommitImportRow {
  id: string;
  stream_id: string;
  agent_id: string;
  commit_hash: string;
  change_id: string | null;
  message: string | null;
  created_at: string;
}

export interface ReviewImportRow {
  id: string;
  stream_id: string;
  reviewer_id: string;
  review_block_id: string | null;
  verdict: ReviewVerdict;
  feedback: string | null;
  is_human: boolean;
  tested: boolean;
  reviewed_at: string;
  head_commit: string | null;
  diff_fingerprint: string | null;
}

export interface MergeImportRow {
  id: string;
  stream_id: string;
  agent_id: string | null;
  merge_commit: string;
  target_branch: string;
  reverted_at: string | null;
  revert_commit: string | null;
  merged_at: string;
  base_commit: string | null;
  head_commit: string | null;
}

export interface PromotionImportRow {
  id: string;
  from_branch: string;
  to_branch: string;
  from_commit: string | null;
  to_commit: string | null;
  triggered_by: PromotionTrigger | null;
  agent_id: string | null;
  promoted_at: string;
}

export interface StabilizationImportRow {
  id: string;
  result: StabilizationResult;
  tag: string | null;
  buffer_commit: string | null;
  breaking_stream_id: string | null;
  duration_ms: number | null;
  details: Record<string, unknown>;
  stabilized_at: string;
}

export interface ClaimImportRow {
  id: string;
  task_id: string;
  agent_id: string;
  stream_id: string | null;
  status: ClaimStatus;
  submission_notes: string | null;
  submitted_at: string | null;
  reviewed_by: string | null;
  reviewed_at: string | null;
  review_notes: string | null;
  payout_amount: number;
  claimed_at: string;
}

export interface BudgetImportRow {
  id: string;
  max_bounty_per_issue: number;
  created_at: string;
}

/** A ledger row; the balances are recomputed from the whole ledger, never taken from the client. */
export interface BudgetTransactionImportRow {
  id: string;
  amount: number;
  type: BudgetTransactionType;
  balance_after: number;
  description: string | null;
  agent_id: string | null;
  task_id: string | null;
  created_at: string;
}

export interface CouncilImportRow {
  id: string;
  min_karma: number;
  min_contributions: number;
  min_members: number;
  max_members: number;
  standard_quorum: number;
  critical_quorum: number;
  term_limit_months: number;
  election_interval_days: number;
  status: CouncilStatus;
  created_at: string;
  updated_at: string;
}

export interface CouncilMemberImportRow {
  id: string;
  agent_id: string;
  role: 'chair' | 'member';
  votes_cast: number;
  proposals_made: number;
  term_expires_at: string | null;
  joined_at: string;
}

export interface ProposalImportRow {
  id: string;
  title: string;
  description: string | null;
  proposal_type: ProposalType;
  proposed_by: string | null;
  quorum_required: number;
  votes_for: number;
  votes_against: number;
  votes_abstain: number;
  status: ProposalStatus;
  resolution_reason: string | null;
  action_data: Record<string, unknown>;
  executed: boolean;
  executed_at: string | null;
  execution_result: Record<string, unknown> | null;
  expires_at: string | null;
  resolved_at: string | null;
  proposed_at: string;
}

export interface VoteImportRow {
  id: string;
  proposal_id: string;
  agent_id: string;
  vote: VoteChoice;
  comment: string | null;
  voted_at: string;
}

export interface ElectionImportRow {
  id: string;
  election_type: string;
  seats_available: number;
  status: ElectionStatus;
  nominations_end_at: string | null;
  voting_end_at: string | null;
  created_by: string | null;
  created_at: string;
}

export interface CandidateImportRow {
  id: string;
  election_id: string;
  agent_id: string;
  nominated_by: string | null;
  statement: string | null;
  status: CandidateStatus;
  vote_count: number;
  created_at: string;
}

export interface ElectionVoteImportRow {
  id: string;
  election_id: string;
  voter_id: string;
  candidate_id: string;
  voted_at: string;
}

/** A karma ledger row; it must be one the imported events earn (core/governance/karma.ts's reasons). */
export interface KarmaImportRow {
  id: string;
  agent_id: string;
  amount: number;
  reason: string;
  created_at: string;
}

export interface StageHistoryImportRow {
  id: string;
  from_stage: RepoStage | null;
  to_stage: RepoStage;
  contributor_count: number | null;
  patch_count: number | null;
  maintainer_count: number | null;
  metrics_at_transition: Record<string, unknown>;
  transitioned_at: string;
}

export interface ActivityImportRow {
  id: string;
  agent_id: string | null;
  event_type: string;
  target_type: string | null;
  target_id: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
}

/** Each kind's row type. */
export interface ImportRows {
  repo: RepoImportRow;
  agents: AgentImportRow;
  maintainers: MaintainerImportRow;
  access: AccessImportRow;
  tasks: TaskImportRow;
  streams: StreamImportRow;
  commits: CommitImportRow;
  reviews: ReviewImportRow;
  merges: MergeImportRow;
  promotions: PromotionImportRow;
  stabilizations: StabilizationImportRow;
  claims: ClaimImportRow;
  budget: BudgetImportRow;
  budget_transactions: BudgetTransactionImportRow;
  council: CouncilImportRow;
  council_members: CouncilMemberImportRow;
  proposals: ProposalImportRow;
  votes: VoteImportRow;
  elections: ElectionImportRow;
  candidates: CandidateImportRow;
  election_votes: ElectionVoteImportRow;
  karma: KarmaImportRow;
  stage_history: StageHistoryImportRow;
  activity: ActivityImportRow;
}

/** One batch: a kind and up to MAX_IMPORT_BATCH of its rows. */
export type ImportBatch = { [K in ImportKind]: { kind: K; rows: ImportRows[K][] } }[ImportKind];
