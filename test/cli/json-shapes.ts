/**
 * The `--json` minimum fields of spec/cli.md ("`--json` shapes"), as dotted paths. Tests compare
 * real command output with these; a command may print more, never less.
 */
export const SPEC_JSON_SHAPES = {
  init: [
    'repo.id',
    'repo.name',
    'repo.merge_mode',
    'repo.ownership_model',
    'repo.buffer_branch',
    'repo.promote_target',
  ],
  'agent register': ['agent.id', 'agent.name'],
  'workspace create': [
    'stream.id',
    'stream.name',
    'stream.branch',
    'stream.base_branch',
    'stream.parent_stream_id',
    'worktree',
  ],
  commit: ['commit', 'change_id', 'stream_id', 'merged'],
  'review submit': [
    'review.stream_id',
    'review.reviewer_id',
    'review.verdict',
    'consensus.reached',
    'consensus.approvals',
    'consensus.rejections',
    'consensus.threshold',
    'consensus.ratio',
  ],
  consensus: ['reached', 'reason', 'approvals', 'rejections', 'threshold', 'ratio', 'min_reviews'],
  merge: ['merged', 'merge_commit', 'buffer_head'],
  'merge refused': ['error.code', 'error.message'],
  promote: ['promoted', 'from_commit', 'to_commit'],
  status: ['repo', 'buffer_head', 'main_head', 'streams', 'queue', 'last_stabilization'],
} as const satisfies Record<string, readonly string[]>;

export type SpecCommand = keyof typeof SPEC_JSON_SHAPES;

/** The dotted paths of the command's minimum shape that `value` lacks. */
export function missingSpecFields(command: SpecCommand, value: unknown): string[] {
  return SPEC_JSON_SHAPES[command].filter((path) => {
    let node: unknown = value;
    for (const key of path.split('.')) {
      if (typeof node !== 'object' || node === null || !(key in node)) return true;
      node = (node as Record<string, unknown>)[key];
    }
    return false;
  });
}
