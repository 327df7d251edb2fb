/**
 * Hints for agents calling tools. Core errors carry hints for the CLI ("See the numbers with:
 * gitswarm consensus …"); an agent on MCP acts through tools, and on `/mcp` it has no CLI at all.
 * A refusal shows, in order: the hint it was given, unless it names a CLI command or flag; the tool
 * hint of its code below; else no hint. (HTTP clients get theirs from src/server/http-hints.ts.)
 */
import type { ErrorCode, GitSwarmError } from '../errors.js';
import { speaksCli } from '../server/http-hints.js';

/** The next step in tools for codes whose catalogue hint speaks CLI. */
export const TOOL_HINTS: Partial<Record<ErrorCode, string>> = {
  agent_not_found: 'List the agents with the agent_list tool.',
  stream_not_found: 'See the streams with the status tool (workspace_create makes yours).',
  task_not_found: 'List the tasks with the task_list tool.',
  no_consensus: 'See the numbers with the consensus tool; review_request asks for reviews.',
  not_green: 'Call the stabilize tool first; promote after a green run.',
  dependency_unmerged: 'Merge the stream it depends on first (the merge tool).',
  ref_moved: 'Another agent moved the branch; call the tool again.',
  conflict:
    'Resolve the listed paths: on a server-held repository call stream_update, fix the files with file_write, then commit; in a local worktree edit and commit. Then merge again.',
  nothing_to_commit: 'Write files first (file_write on a server-held repository), then commit.',
  unauthorized: 'Connect with a valid API key (Authorization: Bearer <key>).',
  agent_required: 'Start the MCP server for an agent: gitswarm mcp --as AGENT.',
  not_initialized:
    'A person sets up the repository once with gitswarm init; then start the MCP server again.',
};

/** The hint an agent sees for `error` in a tool result (see the module comment). */
export function toolHintOf(error: GitSwarmError): string | undefined {
  if (error.hint && !speaksCli(error.hint)) return error.hint;
  return TOOL_HINTS[error.code];
}
