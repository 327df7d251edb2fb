/** `gitswarm diff STREAM [--stat]`: the stream's changes against the buffer (`git diff buffer...stream`). */
import { getStream } from '../core/streams/streams.js';
import { git } from '../engine/git.js';
import type { CommandDeps } from './context.js';

export interface DiffOptions {
  stream: string;
  stat?: boolean;
}

export interface DiffResult {
  stream_id: string;
  base: string;
  head: string;
  files: string[];
  diff: string;
  /** Connected, when the server did not answer and the stream is as last read. */
  stale?: true;
}

export async function runDiff(opts: DiffOptions, deps: CommandDeps): Promise<DiffResult> {
  const { ctx, io } = deps;
  const root = ctx.repo.path ?? ctx.root;
  // Connected, the stream may live on another clone: the server names it, the remote brings it.
  const { stream, bufferBranch, baseRef, headRef, stale } = deps.remote
    ? await (await import('../remote/commands/review.js')).runDiffRefsRemote(opts.stream, {
        ...deps,
        remote: deps.remote,
      })
    : await localDiffRefs(opts.stream, deps);
  const range = `${baseRef}...${headRef}`;
  const color = io.color ? ['--color=always'] : ['--no-color'];
  const [diff, names] = await Promise.all([
    git(['diff', ...color, ...(opts.stat ? ['--stat'] : []), range, '--'], { cwd: root }),
    git(['diff', '--name-only', '-z', range, '--'], { cwd: root }),
  ]);
  return {
    stream_id: stream.id,
    base: bufferBranch,
    head: stream.branch,
    files: names.stdout.split('\0').filter((f) => f !== ''),
    diff: diff.stdout,
    ...(stale ? { stale } : {}),
  };
}

async function localDiffRefs(streamRef: string, deps: CommandDeps) {
  const { core, ctx } = deps;
  const stream = await getStream(core.store.db, ctx.repo.id, streamRef);
  const bufferBranch = ctx.repo.buffer_branch;
  return {
    stale: undefined,
    stream,
    bufferBranch,
    baseRef: `refs/heads/${bufferBranch}`,
    headRef: `refs/heads/${stream.branch}`,
  };
}

export function formatDiff(result: DiffResult): string {
  return result.diff === ''
    ? `Stream ${result.stream_id} has no changes against ${result.base}.`
    : result.diff;
}
