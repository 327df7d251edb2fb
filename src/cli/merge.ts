/**
 * `gitswarm merge STREAM`: checks consensus and dependencies, then merges the stream into the
 * buffer (no-ff). A refusal (no_consensus, conflict with its paths, dependency_unmerged,
 * forbidden) is an error with exit 1.
 */
import { mergeStream } from '../core/streams/stream-merge.js';
import { getStream } from '../core/streams/streams.js';
import { type CommandDeps, requireActor } from './context.js';
import { type Style, shortOid } from './output.js';

export interface MergeOptions {
  stream: string;
}

export interface MergeCommandResult {
  merged: true;
  stream_id: string;
  merge_commit: string;
  buffer_head: string;
  cascade: unknown[];
  /** Connected: how many buffer pushes lost the race and were merged again on the new head. */
  push_retries?: number;
}

export async function runMerge(opts: MergeOptions, deps: CommandDeps): Promise<MergeCommandResult> {
  if (deps.remote) {
    const m = await import('../remote/commands/merge.js');
    return m.runMergeRemote(opts, { ...deps, remote: deps.remote });
  }
  const { core, ctx } = deps;
  const actor = await requireActor(deps);
  const stream = await getStream(core.store.db, ctx.repo.id, opts.stream);
  const result = await mergeStream(core, { repo: ctx.repo, stream, actor, trigger: 'agent' });
  return {
    merged: true,
    stream_id: stream.id,
    merge_commit: result.merge_commit,
    buffer_head: result.buffer_head,
    cascade: result.cascade ?? [],
  };
}

export function formatMerge(result: MergeCommandResult, style: Style): string {
  return `Merged stream ${result.stream_id} into the buffer: ${style.bold(shortOid(result.merge_commit))}`;
}
