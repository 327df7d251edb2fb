/** `gitswarm diff STREAM [--stat]`: the stream's changes against the buffer (`git diff buffer...stream`). */
import { getStream } from '../core/streams.js';
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
}

export async function runDiff(opts: DiffOptions, deps: CommandDeps): Promise<DiffResult> {
  const { core, ctx, io } = deps;
  const stream = await getStream(core.store.db, ctx.repo.id, opts.stream);
  const root = ctx.repo.path ?? ctx.root;
  const range = `refs/heads/${ctx.repo.buffer_branch}...refs/heads/${stream.branch}`;
  const color = io.color ? ['--color=always'] : ['--no-color'];
  const [diff, names] = await Promise.all([
    git(['diff', ...color, ...(opts.stat ? ['--stat'] : []), range, '--'], { cwd: root }),
    git(['diff', '--name-only', '-z', range, '--'], { cwd: root }),
  ]);
  return {
    stream_id: stream.id,
    base: ctx.repo.buffer_branch,
    head: stream.branch,
    files: names.stdout.split('\0').filter((f) => f !== ''),
    diff: diff.stdout,
  };
}

export function formatDiff(result: DiffResult): string {
  return result.diff === ''
    ? `Stream ${result.stream_id} has no changes against ${result.base}.`
    : result.diff;
}
