/**
 * `gitswarm commit -m MSG`: stages everything in the acting agent's worktree and commits it with
 * a Change-Id; dependent streams are rebased, and in swarm mode the stream merges into the buffer.
 */
import { commitWorkspace } from '../core/streams/workspaces.js';
import { GitSwarmError } from '../errors.js';
import { type CommandDeps, requireActor } from './context.js';
import { type Style, shortOid } from './output.js';

export interface CommitOptions {
  message?: string;
}

export interface CommitCommandResult {
  commit: string;
  change_id: string;
  stream_id: string;
  merged: boolean;
  buffer_head?: string;
  cascade: unknown[];
}

export async function runCommit(opts: CommitOptions, deps: CommandDeps): Promise<CommitCommandResult> {
  if (opts.message === undefined || opts.message.trim() === '') {
    throw new GitSwarmError('usage', 'A commit needs a message.', {
      hint: 'Run: gitswarm commit -m "what changed"',
    });
  }
  if (deps.remote) {
    const m = await import('../remote/commands/workspace.js');
    return m.runCommitRemote({ message: opts.message }, { ...deps, remote: deps.remote });
  }
  const agent = await requireActor(deps);
  const result = await commitWorkspace(deps.core, { repo: deps.ctx.repo, agent, message: opts.message });
  return { ...result, cascade: result.cascade ?? [] };
}

export function formatCommit(result: CommitCommandResult, style: Style): string {
  const lines = [
    `Committed ${style.bold(shortOid(result.commit))} on stream ${result.stream_id} (Change-Id ${result.change_id})`,
  ];
  if (result.merged) lines.push(`Merged into the buffer: ${shortOid(result.buffer_head)}`);
  if (result.cascade.length > 0)
    lines.push(`Updated ${result.cascade.length} dependent stream${result.cascade.length === 1 ? '' : 's'}.`);
  return lines.join('\n');
}
