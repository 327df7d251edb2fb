/**
 * The commit statuses GitSwarm sets on GitHub: `gitswarm/consensus` on a linked pull request's head
 * (pending with the numbers, success once consensus is reached or the stream merged, failure once
 * its merge is reverted, error when it is abandoned) and
 * `gitswarm/stabilize` on buffer commits (from the stabilization's result). The numbers are the core
 * consensus result's (src/core/streams/consensus.ts), never recomputed here.
 */
import type { ConsensusResult } from '../core/streams/consensus.js';
import type { StabilizationResult, Stream } from '../store/index.js';
import type { GitHubClient } from './client.js';

export const CONSENSUS_CONTEXT = 'gitswarm/consensus';
export const STABILIZE_CONTEXT = 'gitswarm/stabilize';

export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface CommitStatus {
  state: CommitState;
  context: string;
  /** At most 140 characters (GitHub's limit). */
  description: string;
  target_url?: string;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The numbers of a consensus result in one line: approvals, change requests, ratio vs threshold. */
export function consensusNumbers(consensus: ConsensusResult): string {
  const parts = [
    plural(consensus.approvals, 'approval'),
    `${consensus.rejections} changes requested`,
    `${consensus.model === 'open' ? 'weight' : 'ratio'} ${consensus.ratio.toFixed(2)} / ${consensus.threshold.toFixed(2)}`,
  ];
  if (consensus.required_approvals > 0) parts.push(`${consensus.required_approvals} approvals required`);
  return parts.join(', ');
}

/** The `gitswarm/consensus` status for a stream in its state with this consensus. */
export function consensusStatus(stream: Pick<Stream, 'status'>, consensus: ConsensusResult): CommitStatus {
  const numbers = consensusNumbers(consensus);
  const [state, lead]: [CommitState, string] =
    stream.status === 'merged'
      ? ['success', 'Merged into the buffer']
      : stream.status === 'reverted'
        ? ['failure', 'Merge reverted']
        : stream.status === 'abandoned'
          ? ['error', 'Stream abandoned']
          : consensus.reached
            ? ['success', 'Consensus reached']
            : ['pending', `Waiting for consensus (${consensus.reason.replaceAll('_', ' ')})`];
  return { state, context: CONSENSUS_CONTEXT, description: truncate(`${lead}: ${numbers}`) };
}

/** The `gitswarm/stabilize` status for a stabilization result. */
export function stabilizeStatus(result: StabilizationResult, tag: string | null): CommitStatus {
  const [state, text]: [CommitState, string] =
    result === 'green'
      ? ['success', 'Stabilization green']
      : result === 'flaky'
        ? ['success', 'Stabilization green on retry (flaky)']
        : result === 'red'
          ? ['failure', 'Stabilization red']
          : ['error', 'Stabilization could not run'];
  return { state, context: STABILIZE_CONTEXT, description: truncate(tag ? `${text} (${tag})` : text) };
}

function truncate(text: string): string {
  return text.length <= 140 ? text : `${text.slice(0, 139)}…`;
}

/** Sets a status on a commit of `owner/name`. */
export async function setCommitStatus(
  client: GitHubClient,
  fullName: string,
  sha: string,
  status: CommitStatus,
): Promise<void> {
  await client.repoRequest(fullName, 'POST /repos/{owner}/{repo}/statuses/{sha}', { sha, ...status });
}
