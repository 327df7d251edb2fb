/**
 * Federation: where governance (core) and git mechanics (engine) meet. The CLI, the server and
 * the MCP server call these; each lives in its own file and is re-exported here.
 */
export {
  assertPromotable,
  type PromoteBufferInput,
  type PromoteBufferResult,
  type PromotionCheck,
  promoteBuffer,
} from './stabilization/buffer-promotion.js';
export { type RecoveredOperation, recoverOperations } from './streams/recovery.js';
export { type CascadeOutcome, cascadeDependents } from './streams/stream-cascade.js';
export {
  type MergeStreamInput,
  type MergeStreamResult,
  type MergeTrigger,
  mergeStream,
} from './streams/stream-merge.js';
export { type RevertStreamInput, type RevertStreamResult, revertStream } from './streams/stream-revert.js';
export {
  type ReopenWorkspaceInput,
  type ReopenWorkspaceResult,
  reopenWorkspace,
} from './streams/workspace-reopen.js';
export {
  type CommitWorkspaceInput,
  type CommitWorkspaceResult,
  type CreateWorkspaceInput,
  type CreateWorkspaceResult,
  commitWorkspace,
  createWorkspace,
  type DestroyWorkspaceInput,
  type DestroyWorkspaceResult,
  destroyWorkspace,
  findWorkspace,
  getWorkspace,
  type ListedWorkspace,
  listWorkspaces,
} from './streams/workspaces.js';
