/** `gitswarm consensus STREAM`: whether the stream may merge, with the numbers behind it. */
import { evaluateConsensus } from '../core/streams/consensus.js';
import { getStream } from '../core/streams/streams.js';
import type { CommandDeps } from './context.js';
import type { Style } from './output.js';
import { type ConsensusView, describeConsensus, toConsensusView } from './review.js';

export interface ConsensusOptions {
  stream: string;
}

export type ConsensusCommandResult = ConsensusView & {
  stream_id: string;
  model: string;
  /** Connected, when the server did not answer and this is the consensus as last read. */
  stale?: true;
};

export async function runConsensus(
  opts: ConsensusOptions,
  deps: CommandDeps,
): Promise<ConsensusCommandResult> {
  const { core, ctx } = deps;
  if (deps.remote) {
    const m = await import('../remote/commands/review.js');
    const { stream, consensus, stale } = await m.runConsensusRemote(opts.stream, {
      ...deps,
      remote: deps.remote,
    });
    return {
      stream_id: stream.id,
      model: consensus.model,
      ...toConsensusView(consensus),
      ...(stale ? { stale } : {}),
    };
  }
  const stream = await getStream(core.store.db, ctx.repo.id, opts.stream);
  const consensus = await evaluateConsensus(core, core.store.db, ctx.repo, stream);
  return { stream_id: stream.id, model: consensus.model, ...toConsensusView(consensus) };
}

export function formatConsensus(result: ConsensusCommandResult, style: Style): string {
  return `Stream ${result.stream_id}: ${describeConsensus(result, style)}`;
}
