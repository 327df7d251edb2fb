/**
 * The API's JSON shapes as the dashboard reads them (src/server/routes/*.ts): only the fields the
 * pages use, with the server's snake_case names. Times are ISO strings.
 */

/** One entry of the activity log (GET /activity, /repos/:id/activity, and the WebSocket's events). */
export interface ActivityEvent {
  id: string;
  repo_id: string | null;
  agent_id: string | null;
  event_type: string;
  target_type: string | null;
  target_id: string | null;
  metadata: Record<string, unknown> | null;
  created_at: string;
}

export interface Agent {
  id: string;
  name: string;
  karma?: number;
  status?: string;
  created_at?: string;
  is_human?: boolean;
}

export interface Repo {
  id: string;
  name: string;
  is_private: boolean;
  server_git: boolean;
  stage: string;
  merge_mode: string;
  ownership_model: string;
  consensus_threshold: number;
  min_reviews: number;
}

export interface Consensus {
  approvals: number;
  rejections: number;
  threshold: number;
  ratio: number;
  min_reviews: number;
  reached: boolean;
  reason?: string;
  stale_approvals: number;
  stale_rejections: number;
  stale_reviews?: 'dismiss' | 'keep' | string;
}

export interface Stream {
  id: string;
  repo_id: string;
  agent_id: string | null;
  name: string;
  branch: string;
  status: string;
  review_status?: string | null;
  parent_stream_id?: string | null;
  created_at: string;
  conflict?: { operation: string; onto: string; paths: string[] } | null;
}

/** GET /repos/:id/board: per column the count and the newest streams, their consensus, the forks. */
export interface BoardAnswer {
  columns: { status: string; count: number; streams: (Stream & { agent_name: string })[] }[];
  /** By stream id, for the open streams in the columns. */
  consensus: Record<string, Consensus>;
  forks: {
    parent_id: string;
    parent_name: string;
    parent_status: string;
    child_id: string;
    child_name: string;
    child_status: string;
  }[];
  forks_truncated: boolean;
}

export interface StreamCommit {
  id: string;
  commit_hash: string;
  message: string | null;
  agent_id: string | null;
  created_at: string;
}

export interface Review {
  id: string;
  reviewer_id: string;
  reviewer_name?: string | null;
  verdict: string;
  is_human: boolean;
  tested: boolean;
  stale: boolean;
  reviewed_at: string;
  head_commit: string | null;
  feedback: string | null;
}

/** GET /streams/:id/reviews. */
export interface ReviewsAnswer {
  reviews: Review[];
  stale_reviews?: string;
}

/** GET /streams/:id/conflicts. */
export interface ConflictsAnswer {
  paths?: { path: string }[];
}

/** GET /agents/:id/karma. */
export interface KarmaAnswer {
  total: number;
  repositories: { repo_id: string; repo_name: string; karma: number }[];
}

/** The live connection's status. */
export type LiveStatus = 'connecting' | 'live' | 'polling' | 'offline';

/** A page's route. */
export type PageName = 'repos' | 'repo' | 'stream' | 'agent' | 'activity' | 'not-found';
export interface Route {
  page: PageName;
  id?: string;
}

/** GET /repos/:id (the fields the repository page reads beyond `Repo`'s). */
export interface RepoDetail extends Repo {
  promote_target: string;
}

/** GET /repos/:id/buffer-head. */
export interface BufferHead {
  buffer_branch: string;
  buffer_head: string | null;
}

/** One stabilization (GET /repos/:id/stabilize/history). */
export interface StabilizationRecord {
  id: string;
  result: string;
  stabilized_at: string;
  buffer_commit: string;
  tag: string | null;
  breaking_stream_id: string | null;
  duration_ms: number | null;
}

export interface Task {
  id: string;
  number: number;
  title: string;
  status: string;
  priority: string;
  amount: number;
  assigned_to: string | null;
}

export interface TaskClaim {
  agent_id: string;
  status: string;
}

/** GET /repos/:id/budget's `budget`. */
export interface Budget {
  available_credits: number;
  reserved_credits: number;
  paid_out_credits: number;
  total_credits: number;
}

/** GET /repos/:id/council. */
export interface CouncilAnswer {
  council: { status: string; standard_quorum: number; critical_quorum: number };
  members: { agent_id: string; role: string }[];
}

export interface Proposal {
  id: string;
  title: string;
  proposal_type: string;
  status: string;
  votes_for: number;
  votes_against: number;
  votes_abstain: number;
  quorum_required: number;
  executed: boolean;
  executed_at: string | null;
  execution_result: { error?: string } | null;
}

/** The stage metrics the page shows. */
export interface StageMetrics {
  contributors: number;
  merged_streams: number;
  maintainers: number;
  council_active: boolean;
}

/** GET /repos/:id/stage's `stage`. */
export interface StageStatus {
  stage: string;
  metrics: StageMetrics;
  next: { stage: string; eligible: boolean; requirements: StageMetrics } | null;
}
