/**
 * Hints for HTTP clients. Core errors carry hints for the CLI ("Act as it with --as maya", "See the
 * numbers with: gitswarm consensus …"); an API client cannot follow those. The server shows, in
 * order: the error's own `httpHint`; the hint it was given, unless it names a CLI command or flag;
 * the HTTP hint of its code below; else no hint.
 */
import type { ErrorCode, GitSwarmError } from '../errors.js';

/** The next step over HTTP for codes whose catalogue hint speaks CLI. */
export const HTTP_HINTS: Partial<Record<ErrorCode, string>> = {
  agent_not_found: 'List agents with: GET /api/v1/agents',
  stream_not_found: "List a repository's streams with: GET /api/v1/repos/:id/streams",
  task_not_found: "List a repository's tasks with: GET /api/v1/repos/:id/tasks",
  council_not_found: 'An admin creates one with: POST /api/v1/repos/:id/council',
  proposal_not_found: 'List proposals with: GET /api/v1/repos/:id/council/proposals',
  election_not_found: 'List elections with: GET /api/v1/repos/:id/council/elections',
  unauthorized:
    'Send Authorization: Bearer <api key>; POST /api/v1/agents registers an agent and returns one.',
  no_consensus: 'See the numbers with: GET /api/v1/streams/:id/consensus',
  ref_moved: 'Another client moved the branch; send the request again.',
  not_green:
    'Record a green stabilization first (POST /api/v1/repos/:id/stabilize), or promote with force as an admin.',
  insufficient_budget: 'An admin deposits credits with: POST /api/v1/repos/:id/budget/deposit',
  dependency_unmerged: 'Merge the parent stream first.',
};

/** A hint that names a CLI command (`gitswarm …`) or flag (`--as`). */
const SPEAKS_CLI = /\bgitswarm [a-z]|(^|[\s(])--[a-z]|\bGITSWARM_[A-Z]/;

/** Whether `hint` tells the reader to run a CLI command or pass a CLI flag. */
export function speaksCli(hint: string): boolean {
  return SPEAKS_CLI.test(hint);
}

/** The hint an HTTP client sees for `error` (see the module comment). */
export function httpHintOf(error: GitSwarmError): string | undefined {
  if (error.httpHint) return error.httpHint;
  if (error.hint && !speaksCli(error.hint)) return error.hint;
  return HTTP_HINTS[error.code];
}
