/**
 * The whole data model of spec section 9, plus the engine's operation log, worktrees
 * and replay keys, created alike on SQLite and PostgreSQL.
 */
import { type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely, sql } from 'kysely';
import type { DialectCapabilities } from '../dialect.js';

type Table = CreateTableBuilder<string, string>;
type Column = (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;

export function initialMigration(caps: DialectCapabilities) {
  const t = caps.columnTypes;
  const d = caps.defaults;
  const raw = (s: string) => sql.raw(s);
  const uuid = raw(t.uuid);
  const streamId = raw('varchar(36)');

  /** Column helpers: each adds one column of a kind, with the dialect's type and default. */
  const c = {
    id: (tb: Table, name = 'id') => tb.addColumn(name, uuid, (col) => col.primaryKey()),
    ref: (tb: Table, name: string, table: string, extra: Column = (x) => x) =>
      tb.addColumn(name, uuid, (col) => extra(col.references(`${table}.id`))),
    streamRef: (tb: Table, name: string, extra: Column = (x) => x) =>
      tb.addColumn(name, streamId, (col) => extra(col.references('gitswarm_streams.id'))),
    text: (tb: Table, name: string, extra: Column = (x) => x) => tb.addColumn(name, 'text', extra),
    str: (tb: Table, name: string, size: number, extra: Column = (x) => x) =>
      tb.addColumn(name, raw(`varchar(${size})`), extra),
    int: (tb: Table, name: string, dflt?: number, extra: Column = (x) => x) =>
      tb.addColumn(name, 'integer', (col) => extra(dflt === undefined ? col : col.notNull().defaultTo(dflt))),
    big: (tb: Table, name: string) => tb.addColumn(name, raw(t.bigint)),
    bool: (tb: Table, name: string, dflt: boolean) =>
      tb.addColumn(name, raw(t.boolean), (col) => col.notNull().defaultTo(raw(dflt ? d.true : d.false))),
    dec: (tb: Table, name: string, dflt: number | null) =>
      tb.addColumn(name, raw(t.decimal), (col) => (dflt === null ? col : col.notNull().defaultTo(dflt))),
    json: (tb: Table, name: string, dflt: 'object' | 'array' | null) =>
      tb.addColumn(name, raw(t.json), (col) =>
        dflt === null ? col : col.notNull().defaultTo(raw(dflt === 'object' ? d.emptyObject : d.emptyArray)),
      ),
    ts: (tb: Table, name: string) => tb.addColumn(name, raw(t.timestamp)),
    now: (tb: Table, name: string) =>
      tb.addColumn(name, raw(t.timestamp), (col) => col.notNull().defaultTo(raw(d.now))),
    state: (tb: Table, name: string, size: number, dflt: string) =>
      tb.addColumn(name, raw(`varchar(${size})`), (col) => col.notNull().defaultTo(dflt)),
  };
  const nn: Column = (col) => col.notNull();
  const cascade: Column = (col) => col.onDelete('cascade');
  const pipe = (tb: Table, ...steps: ((tb: Table) => Table)[]) => steps.reduce((acc, step) => step(acc), tb);

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const table = (name: string) => db.schema.createTable(name);
      const index = (name: string, tableName: string, columns: string[], unique = false) => {
        const builder = db.schema.createIndex(name).on(tableName).columns(columns);
        return (unique ? builder.unique() : builder).execute();
      };

      await pipe(
        c.id(table('gitswarm_agents')),
        (tb) => c.str(tb, 'name', 100, (col) => col.notNull().unique()),
        (tb) => c.text(tb, 'description'),
        (tb) => c.str(tb, 'api_key_hash', 64, (col) => col.unique()),
        (tb) => c.int(tb, 'karma', 0),
        (tb) => c.bool(tb, 'is_human', false),
        (tb) => c.state(tb, 'status', 20, 'active'),
        (tb) => c.text(tb, 'avatar_url'),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_orgs')),
        (tb) => c.str(tb, 'name', 100, (col) => col.notNull().unique()),
        (tb) => c.str(tb, 'github_org_name', 100),
        (tb) => c.big(tb, 'github_installation_id'),
        (tb) => c.ref(tb, 'owner_id', 'gitswarm_agents'),
        (tb) => c.bool(tb, 'is_platform_org', false),
        (tb) => c.state(tb, 'default_agent_access', 20, 'public'),
        (tb) => c.int(tb, 'default_min_karma', 0),
        (tb) => c.state(tb, 'status', 20, 'active'),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_repos')),
        (tb) => c.ref(tb, 'org_id', 'gitswarm_orgs'),
        (tb) => c.str(tb, 'name', 255, nn),
        (tb) => c.text(tb, 'description'),
        (tb) => c.text(tb, 'path'),
        (tb) => c.big(tb, 'github_repo_id'),
        (tb) => c.str(tb, 'github_full_name', 255),
        (tb) => c.text(tb, 'clone_url'),
        (tb) => c.state(tb, 'merge_mode', 20, 'review'),
        (tb) => c.state(tb, 'ownership_model', 20, 'guild'),
        (tb) => c.dec(tb, 'consensus_threshold', 0.66),
        (tb) => c.int(tb, 'min_reviews', 1),
        (tb) => c.dec(tb, 'human_review_weight', 1.5),
        (tb) => c.state(tb, 'agent_access', 20, 'public'),
        (tb) => c.int(tb, 'min_karma', 0),
        (tb) => c.bool(tb, 'is_private', false),
        (tb) => c.state(tb, 'buffer_branch', 100, 'buffer'),
        (tb) => c.state(tb, 'promote_target', 100, 'main'),
        (tb) => c.bool(tb, 'auto_promote_on_green', false),
        (tb) => c.bool(tb, 'auto_revert_on_red', true),
        (tb) => c.text(tb, 'stabilize_command'),
        (tb) => c.int(tb, 'stabilize_timeout_seconds', 600),
        (tb) => c.int(tb, 'stabilize_memory_mb', 2048),
        (tb) => c.state(tb, 'sandbox', 20, 'bubblewrap'),
        (tb) => c.int(tb, 'max_auto_reverts_per_day', 4),
        (tb) => c.state(tb, 'stage', 20, 'seed'),
        (tb) => c.int(tb, 'contributor_count', 0),
        (tb) => c.int(tb, 'patch_count', 0),
        (tb) => c.state(tb, 'status', 20, 'active'),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_repo_access')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'access_level', 20, nn),
        (tb) => c.ref(tb, 'granted_by', 'gitswarm_agents'),
        (tb) => c.ts(tb, 'expires_at'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_repo_access_repo_agent', ['repo_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_maintainers')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.state(tb, 'role', 20, 'maintainer'),
        (tb) => c.ref(tb, 'added_by', 'gitswarm_agents'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_maintainers_repo_agent', ['repo_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_branch_rules')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.str(tb, 'branch_pattern', 255, nn),
        (tb) => c.state(tb, 'direct_push', 20, 'none'),
        (tb) => c.int(tb, 'required_approvals', 1),
        (tb) => c.bool(tb, 'require_tests_pass', false),
        (tb) => c.dec(tb, 'consensus_threshold', null),
        (tb) => c.str(tb, 'merge_restriction', 20),
        (tb) => c.int(tb, 'priority', 0),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        table('gitswarm_streams').addColumn('id', streamId, (col) => col.primaryKey()),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'name', 255, nn),
        (tb) => c.str(tb, 'branch', 255, nn),
        (tb) => c.state(tb, 'source', 20, 'cli'),
        (tb) => c.int(tb, 'github_pr_number'),
        (tb) => c.text(tb, 'github_pr_url'),
        (tb) => c.state(tb, 'status', 20, 'active'),
        (tb) => c.str(tb, 'review_status', 20),
        (tb) => tb.addColumn('parent_stream_id', streamId),
        (tb) => c.str(tb, 'base_branch', 100),
        (tb) => c.str(tb, 'base_commit', 64),
        (tb) => tb.addColumn('task_id', uuid),
        (tb) => c.json(tb, 'conflict', null),
        (tb) => c.int(tb, 'merge_priority', 0),
        (tb) => c.bool(tb, 'auto_revert_opt_out', false),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();
      await index('gitswarm_streams_repo_status', 'gitswarm_streams', ['repo_id', 'status']);
      await index('gitswarm_streams_repo_name', 'gitswarm_streams', ['repo_id', 'name']);
      await index('gitswarm_streams_parent', 'gitswarm_streams', ['parent_stream_id']);

      await pipe(
        c.id(table('gitswarm_worktrees')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.streamRef(tb, 'stream_id', nn),
        (tb) => c.text(tb, 'path', nn),
        (tb) => c.now(tb, 'created_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_worktrees_repo_agent', ['repo_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_stream_commits')),
        (tb) => c.streamRef(tb, 'stream_id', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'commit_hash', 64, nn),
        (tb) => c.str(tb, 'change_id', 50),
        (tb) => c.text(tb, 'message'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();
      await index('gitswarm_stream_commits_stream', 'gitswarm_stream_commits', ['stream_id']);

      await pipe(
        c.id(table('gitswarm_stream_reviews')),
        (tb) => c.streamRef(tb, 'stream_id', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'reviewer_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'review_block_id', 36),
        (tb) => c.str(tb, 'verdict', 20, nn),
        (tb) => c.text(tb, 'feedback'),
        (tb) => c.bool(tb, 'is_human', false),
        (tb) => c.bool(tb, 'tested', false),
        (tb) => c.now(tb, 'reviewed_at'),
        (tb) =>
          tb.addUniqueConstraint('gitswarm_stream_reviews_stream_reviewer', ['stream_id', 'reviewer_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_merges')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.streamRef(tb, 'stream_id', nn),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.str(tb, 'merge_commit', 64, nn),
        (tb) => c.str(tb, 'target_branch', 100, nn),
        (tb) => c.ts(tb, 'reverted_at'),
        (tb) => c.str(tb, 'revert_commit', 64),
        (tb) => c.now(tb, 'merged_at'),
      ).execute();
      await index('gitswarm_merges_repo', 'gitswarm_merges', ['repo_id', 'merged_at']);
      await index('gitswarm_merges_commit', 'gitswarm_merges', ['merge_commit']);

      await pipe(
        c.id(table('gitswarm_stabilizations')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.str(tb, 'result', 10, nn),
        (tb) => c.str(tb, 'tag', 255),
        (tb) => c.str(tb, 'buffer_commit', 64),
        (tb) => tb.addColumn('breaking_stream_id', streamId),
        (tb) => c.int(tb, 'duration_ms'),
        (tb) => c.text(tb, 'log_path'),
        (tb) => c.json(tb, 'details', 'object'),
        (tb) => c.now(tb, 'stabilized_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_promotions')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.str(tb, 'from_branch', 100, nn),
        (tb) => c.str(tb, 'to_branch', 100, nn),
        (tb) => c.str(tb, 'from_commit', 64),
        (tb) => c.str(tb, 'to_commit', 64),
        (tb) => c.str(tb, 'triggered_by', 20),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.now(tb, 'promoted_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_tasks')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.int(tb, 'number', undefined, nn),
        (tb) => c.str(tb, 'title', 500, nn),
        (tb) => c.text(tb, 'description', (col) => col.notNull().defaultTo('')),
        (tb) => c.state(tb, 'status', 20, 'open'),
        (tb) => c.state(tb, 'priority', 20, 'medium'),
        (tb) => c.int(tb, 'amount', 0),
        (tb) => c.json(tb, 'labels', 'array'),
        (tb) => c.str(tb, 'difficulty', 20),
        (tb) => c.ref(tb, 'created_by', 'gitswarm_agents'),
        (tb) => c.ref(tb, 'assigned_to', 'gitswarm_agents'),
        (tb) => c.ts(tb, 'expires_at'),
        (tb) => c.ts(tb, 'completed_at'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_tasks_repo_number', ['repo_id', 'number']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_task_claims')),
        (tb) => c.ref(tb, 'task_id', 'gitswarm_tasks', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.streamRef(tb, 'stream_id'),
        (tb) => c.state(tb, 'status', 20, 'active'),
        (tb) => c.text(tb, 'submission_notes'),
        (tb) => c.ts(tb, 'submitted_at'),
        (tb) => c.ref(tb, 'reviewed_by', 'gitswarm_agents'),
        (tb) => c.ts(tb, 'reviewed_at'),
        (tb) => c.text(tb, 'review_notes'),
        (tb) => c.int(tb, 'payout_amount', 0),
        (tb) => c.now(tb, 'claimed_at'),
      ).execute();
      await index('gitswarm_task_claims_task', 'gitswarm_task_claims', ['task_id', 'status']);

      await pipe(
        c.id(table('gitswarm_repo_budgets')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().unique().onDelete('cascade')),
        (tb) => c.int(tb, 'total_credits', 0),
        (tb) => c.int(tb, 'available_credits', 0),
        (tb) => c.int(tb, 'reserved_credits', 0),
        (tb) => c.int(tb, 'max_bounty_per_issue', 1000),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_budget_transactions')),
        (tb) => c.ref(tb, 'budget_id', 'gitswarm_repo_budgets', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.int(tb, 'amount', undefined, nn),
        (tb) => c.str(tb, 'type', 20, nn),
        (tb) => c.int(tb, 'balance_after', undefined, nn),
        (tb) => c.text(tb, 'description'),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.ref(tb, 'task_id', 'gitswarm_tasks'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_repo_councils')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().unique().onDelete('cascade')),
        (tb) => c.int(tb, 'min_karma', 50),
        (tb) => c.int(tb, 'min_contributions', 3),
        (tb) => c.int(tb, 'min_members', 3),
        (tb) => c.int(tb, 'max_members', 11),
        (tb) => c.int(tb, 'standard_quorum', 3),
        (tb) => c.int(tb, 'critical_quorum', 5),
        (tb) => c.int(tb, 'term_limit_months', 6),
        (tb) => c.int(tb, 'election_interval_days', 90),
        (tb) => c.state(tb, 'status', 20, 'forming'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.now(tb, 'updated_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_council_members')),
        (tb) => c.ref(tb, 'council_id', 'gitswarm_repo_councils', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.state(tb, 'role', 20, 'member'),
        (tb) => c.int(tb, 'votes_cast', 0),
        (tb) => c.int(tb, 'proposals_made', 0),
        (tb) => c.ts(tb, 'term_expires_at'),
        (tb) => c.now(tb, 'joined_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_council_members_council_agent', ['council_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_council_proposals')),
        (tb) => c.ref(tb, 'council_id', 'gitswarm_repo_councils', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.str(tb, 'title', 500, nn),
        (tb) => c.text(tb, 'description'),
        (tb) => c.str(tb, 'proposal_type', 30, nn),
        (tb) => c.ref(tb, 'proposed_by', 'gitswarm_agents'),
        (tb) => c.int(tb, 'quorum_required', undefined, nn),
        (tb) => c.int(tb, 'votes_for', 0),
        (tb) => c.int(tb, 'votes_against', 0),
        (tb) => c.int(tb, 'votes_abstain', 0),
        (tb) => c.state(tb, 'status', 20, 'open'),
        (tb) => c.str(tb, 'resolution_reason', 50),
        (tb) => c.json(tb, 'action_data', 'object'),
        (tb) => c.bool(tb, 'executed', false),
        (tb) => c.ts(tb, 'executed_at'),
        (tb) => c.json(tb, 'execution_result', null),
        (tb) => c.ts(tb, 'expires_at'),
        (tb) => c.ts(tb, 'resolved_at'),
        (tb) => c.now(tb, 'proposed_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_council_votes')),
        (tb) =>
          c.ref(tb, 'proposal_id', 'gitswarm_council_proposals', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'vote', 10, nn),
        (tb) => c.text(tb, 'comment'),
        (tb) => c.now(tb, 'voted_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_council_votes_proposal_agent', ['proposal_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_council_elections')),
        (tb) => c.ref(tb, 'council_id', 'gitswarm_repo_councils', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.state(tb, 'election_type', 20, 'regular'),
        (tb) => c.int(tb, 'seats_available', 1),
        (tb) => c.state(tb, 'status', 20, 'nominations'),
        (tb) => c.ts(tb, 'nominations_end_at'),
        (tb) => c.ts(tb, 'voting_end_at'),
        (tb) => c.ref(tb, 'created_by', 'gitswarm_agents'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_election_candidates')),
        (tb) =>
          c.ref(tb, 'election_id', 'gitswarm_council_elections', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.ref(tb, 'nominated_by', 'gitswarm_agents'),
        (tb) => c.text(tb, 'statement'),
        (tb) => c.state(tb, 'status', 20, 'nominated'),
        (tb) => c.int(tb, 'vote_count', 0),
        (tb) => c.now(tb, 'created_at'),
        (tb) =>
          tb.addUniqueConstraint('gitswarm_election_candidates_election_agent', ['election_id', 'agent_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_election_votes')),
        (tb) =>
          c.ref(tb, 'election_id', 'gitswarm_council_elections', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'voter_id', 'gitswarm_agents', nn),
        (tb) => c.ref(tb, 'candidate_id', 'gitswarm_election_candidates', nn),
        (tb) => c.now(tb, 'voted_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_election_votes_election_voter', ['election_id', 'voter_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_activity_log')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', cascade),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.str(tb, 'event_type', 50, nn),
        (tb) => c.str(tb, 'target_type', 30),
        (tb) => c.str(tb, 'target_id', 255),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();
      await index('gitswarm_activity_log_repo_created', 'gitswarm_activity_log', ['repo_id', 'created_at']);

      await pipe(
        c.id(table('gitswarm_stage_history')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.str(tb, 'from_stage', 20),
        (tb) => c.str(tb, 'to_stage', 20, nn),
        (tb) => c.int(tb, 'contributor_count'),
        (tb) => c.int(tb, 'patch_count'),
        (tb) => c.int(tb, 'maintainer_count'),
        (tb) => c.json(tb, 'metrics_at_transition', 'object'),
        (tb) => c.now(tb, 'transitioned_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_github_user_mappings')),
        (tb) => tb.addColumn('github_user_id', raw(t.bigint), (col) => col.notNull().unique()),
        (tb) => c.str(tb, 'github_username', 100, nn),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_reviewer_stats')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.int(tb, 'total_reviews', 0),
        (tb) => c.int(tb, 'approvals', 0),
        (tb) => c.int(tb, 'rejections', 0),
        (tb) => c.dec(tb, 'accuracy_score', 0.5),
        (tb) => c.now(tb, 'updated_at'),
        (tb) => tb.addUniqueConstraint('gitswarm_reviewer_stats_agent_repo', ['agent_id', 'repo_id']),
      ).execute();

      await pipe(
        c.id(table('gitswarm_review_karma_transactions')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', cascade),
        (tb) => c.int(tb, 'amount', undefined, nn),
        (tb) => c.str(tb, 'reason', 255),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_notification_preferences')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', (col) => col.notNull().unique()),
        (tb) => c.text(tb, 'webhook_url'),
        (tb) => c.text(tb, 'webhook_secret'),
        (tb) => c.json(tb, 'events', 'array'),
        (tb) => c.bool(tb, 'enabled', true),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_agent_notifications')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'type', 50, nn),
        (tb) => c.json(tb, 'payload', null),
        (tb) => c.bool(tb, 'read', false),
        (tb) => c.bool(tb, 'delivered', false),
        (tb) => c.int(tb, 'attempts', 0),
        (tb) => c.text(tb, 'last_error'),
        (tb) => c.now(tb, 'created_at'),
      ).execute();

      await pipe(
        c.id(table('gitswarm_operations')),
        (tb) => c.ref(tb, 'repo_id', 'gitswarm_repos', (col) => col.notNull().onDelete('cascade')),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents'),
        (tb) => c.str(tb, 'kind', 30, nn),
        (tb) => c.text(tb, 'description', nn),
        (tb) => c.str(tb, 'ref', 255, nn),
        (tb) => c.str(tb, 'old_oid', 64),
        (tb) => c.str(tb, 'new_oid', 64, nn),
        (tb) => tb.addColumn('stream_id', streamId),
        (tb) => c.state(tb, 'status', 20, 'pending'),
        (tb) => c.json(tb, 'metadata', 'object'),
        (tb) => c.now(tb, 'created_at'),
        (tb) => c.ts(tb, 'completed_at'),
      ).execute();
      await index('gitswarm_operations_repo_status', 'gitswarm_operations', ['repo_id', 'status']);

      await pipe(
        table('gitswarm_idempotency_keys').addColumn('key', raw('varchar(200)'), (col) => col.primaryKey()),
        (tb) => c.ref(tb, 'agent_id', 'gitswarm_agents', nn),
        (tb) => c.str(tb, 'request_hash', 64, nn),
        (tb) => c.int(tb, 'status_code', undefined, nn),
        (tb) => c.json(tb, 'response', null),
        (tb) => c.now(tb, 'created_at'),
      ).execute();
    },
  };
}
