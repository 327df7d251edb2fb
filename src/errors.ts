/**
 * The one catalogue of user-reachable errors. Each code is declared once with its HTTP status,
 * CLI exit code and default hint; `docs/errors.md` lists them all (a test keeps the two in sync).
 * Programmer errors and impossible states stay plain `Error`.
 */

/** CLI exit codes (spec/cli.md): 1 refused or failed, 2 bad usage or input, 3 not initialized or not found, 4 server unreachable. */
export type ExitCode = 1 | 2 | 3 | 4;

interface ErrorSpec {
  readonly status: number;
  readonly exit: ExitCode;
  readonly hint?: string;
}

export const ERROR_CATALOGUE = {
  // Bad usage and invalid input.
  usage: { status: 400, exit: 2 },
  invalid_input: { status: 400, exit: 2 },
  invalid_cursor: { status: 400, exit: 2, hint: 'Pass next_cursor from the previous page unchanged.' },
  invalid_name: {
    status: 400,
    exit: 2,
    hint: 'Use letters, digits, ".", "_" and "-"; start with a letter or digit.',
  },
  invalid_path: { status: 400, exit: 2 },
  payload_too_large: { status: 413, exit: 2 },
  uri_too_long: { status: 414, exit: 2, hint: 'Send long values in a JSON body, not in the URL.' },
  headers_too_large: { status: 431, exit: 2, hint: 'Send fewer or shorter headers.' },
  // Not set up, not found.
  not_a_git_repo: {
    status: 404,
    exit: 3,
    hint: 'Run gitswarm inside a git repository, or create one with: git init',
  },
  not_initialized: { status: 404, exit: 3, hint: 'Run: gitswarm init' },
  repo_not_found: { status: 404, exit: 3 },
  agent_not_found: { status: 404, exit: 3, hint: 'List agents with: gitswarm agent list' },
  stream_not_found: { status: 404, exit: 3, hint: 'List streams with: gitswarm workspace list' },
  task_not_found: { status: 404, exit: 3, hint: 'List tasks with: gitswarm task list' },
  claim_not_found: { status: 404, exit: 3 },
  council_not_found: { status: 404, exit: 3, hint: 'Create one with: gitswarm council create --as <admin>' },
  proposal_not_found: { status: 404, exit: 3, hint: 'List proposals with: gitswarm council proposals' },
  election_not_found: { status: 404, exit: 3, hint: 'List elections with: gitswarm election list' },
  not_found: { status: 404, exit: 3 },
  // Identity and permission.
  unauthorized: { status: 401, exit: 1, hint: 'Pass an API key: --api-key or GITSWARM_API_KEY.' },
  agent_required: { status: 400, exit: 2, hint: 'Name the acting agent with --as AGENT or GITSWARM_AGENT.' },
  forbidden: { status: 403, exit: 1 },
  invalid_signature: {
    status: 401,
    exit: 1,
    hint: 'Sign the raw body with the webhook secret (X-Hub-Signature-256: sha256=<hex HMAC-SHA256>).',
  },
  self_review: { status: 403, exit: 1, hint: 'Ask another agent to review the stream.' },
  agent_suspended: {
    status: 403,
    exit: 1,
    hint: 'An admin reinstates it: gitswarm agent reinstate AGENT, or on a server POST /api/v1/agents/:id/reinstate.',
  },
  registration_closed: {
    status: 403,
    exit: 1,
    hint: 'Ask a server admin for an invite code and register with it.',
  },
  // Refusals of state.
  already_exists: { status: 409, exit: 1 },
  invalid_state: { status: 409, exit: 1 },
  nothing_to_commit: { status: 409, exit: 1, hint: 'Change files in the worktree first, then commit.' },
  worktree_limit: {
    status: 409,
    exit: 1,
    hint: 'Merge or abandon a stream of this repository first (or raise the cap: gitswarm serve --max-worktrees N).',
  },
  empty_stream: { status: 409, exit: 1, hint: 'Commit to the stream before merging it.' },
  no_consensus: { status: 409, exit: 1, hint: 'See the numbers with: gitswarm consensus <stream>' },
  conflict: { status: 409, exit: 1 },
  dependency_unmerged: { status: 409, exit: 1 },
  ref_moved: { status: 409, exit: 1, hint: 'Another process moved the branch; run the command again.' },
  not_fast_forward: { status: 409, exit: 1 },
  worktree_dirty: { status: 409, exit: 1, hint: 'Commit or discard the changes in the worktree first.' },
  not_green: {
    status: 409,
    exit: 1,
    hint: 'Run gitswarm stabilize first, or promote with --force as an admin.',
  },
  stabilization_red: { status: 409, exit: 1 },
  commit_mismatch: {
    status: 409,
    exit: 1,
    hint: 'Merge the approved stream head onto the buffer head the server knows, then report that merge.',
  },
  unknown_commit: {
    status: 409,
    exit: 1,
    hint: 'Name the buffer head the server knows (a reported merge or revert).',
  },
  patch_rejected: {
    status: 409,
    exit: 1,
    hint: 'Read the files again and make the patch against them; nothing was changed.',
  },
  precondition_failed: {
    status: 412,
    exit: 1,
    hint: 'Read the file again for its current blob id (ETag), then retry with that in If-Match.',
  },
  stabilization_error: { status: 422, exit: 1 },
  sandbox_unavailable: { status: 503, exit: 1 },
  lock_timeout: {
    status: 503,
    exit: 1,
    hint: 'Another command has held this repository for minutes; run the command again once it is done.',
  },
  insufficient_budget: {
    status: 409,
    exit: 1,
    hint: 'Deposit credits with: gitswarm budget deposit N --as <admin>',
  },
  not_eligible: { status: 403, exit: 1 },
  not_a_member: { status: 403, exit: 1 },
  wrong_phase: { status: 409, exit: 1 },
  duplicate_vote: { status: 409, exit: 1 },
  import_refused: {
    status: 409,
    exit: 1,
    hint: 'Import into a new, empty repository you own on the server.',
  },
  expired: { status: 409, exit: 1 },
  rate_limited: { status: 429, exit: 1 },
  idempotency_key_reused: {
    status: 409,
    exit: 1,
    hint: 'Send a new Idempotency-Key for a different request.',
  },
  unsupported_media_type: { status: 415, exit: 2, hint: 'Send JSON with Content-Type: application/json.' },
  // Environment.
  internal_error: { status: 500, exit: 1 },
  git_failed: { status: 500, exit: 1 },
  server_unreachable: {
    status: 503,
    exit: 4,
    hint: 'Check that the server runs and its URL (--server, GITSWARM_SERVER or .gitswarm/config.json), then run the command again.',
  },
  github_not_configured: {
    status: 503,
    exit: 1,
    hint: 'The operator sets GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE), and GITHUB_WEBHOOK_SECRET for webhooks (docs/github.md), and restarts the server.',
  },
  github_not_linked: {
    status: 409,
    exit: 1,
    hint: 'Link the repository to GitHub: PATCH /api/v1/repos/:id {"github_full_name": "owner/name"}.',
  },
  github_failed: { status: 502, exit: 1, hint: 'Try again later; the server log has what GitHub answered.' },
  server_incompatible: {
    status: 502,
    exit: 1,
    hint: 'Check the server URL; upgrade gitswarm here or on the server so both speak the same API version.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface GitSwarmErrorOptions {
  /** The next step, naming a real command; defaults to the catalogue's hint. */
  hint?: string;
  /**
   * The next step for an HTTP client, when `hint` names CLI commands or flags (the server never
   * shows those; see src/server/http-hints.ts).
   */
  httpHint?: string;
  /** Machine-readable facts (paths, ids, numbers) carried into `--json` and HTTP bodies. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** An error a user can reach, with a stable code. */
export class GitSwarmError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly httpHint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: GitSwarmErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GitSwarmError';
    this.code = code;
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    this.hint = options.hint ?? spec.hint;
    this.httpHint = options.httpHint;
    this.details = options.details;
  }

  get status(): number {
    return (ERROR_CATALOGUE[this.code] as ErrorSpec).status;
  }

  get exitCode(): ExitCode {
    return (ERROR_CATALOGUE[this.code] as ErrorSpec).exit;
  }

  /** The `{error: {...}}` document of `--json` output and HTTP error bodies. */
  toJSON(): { error: { code: ErrorCode; message: string; hint?: string } & Record<string, unknown> } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.hint ? { hint: this.hint } : {}),
        ...(this.details ?? {}),
      },
    };
  }
}

export function isGitSwarmError(error: unknown, code?: ErrorCode): error is GitSwarmError {
  return error instanceof GitSwarmError && (code === undefined || error.code === code);
}
