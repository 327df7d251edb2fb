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
} from './buffer-promotion.js';
export { type RecoveredOperation, recoverOperations } from './recovery.js';
export { type CascadeOutcome, cascadeDependents } from './stream-cascade.js';
export {
  type MergeStreamInput,
  type MergeStreamResult,
  type MergeTrigger,
  mergeStream,
} from './stream-merge.js';
export { type RevertStreamInput, type RevertStreamResult, revertStream } from './stream-revert.js';
export {
  type ReopenWorkspaceInput,
  type ReopenWorkspaceResult,
  reopenWorkspace,
} from './workspace-reopen.js';
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
} from './workspaces.js';
