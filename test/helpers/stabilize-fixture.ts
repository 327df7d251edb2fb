/**
 * Set-up for stabilization tests: a swarm-mode repository whose buffer carries a small real test
 * script (`check.sh`: fails when any *.txt file contains BROKEN), and agents that commit to it.
 */
import type { CoreDeps } from '../../src/core/deps.js';
import { commitWorkspace, createWorkspace, findWorkspace } from '../../src/core/federation.js';
import type { Agent } from '../../src/store/index.js';
import { type SeededGitRepo, seedGitRepo, writeFiles } from './federation-fixture.js';

export const CHECK_SCRIPT = `#!/bin/sh
# The fixture's test suite: every *.txt file must be free of the word BROKEN.
for f in *.txt; do
  [ -e "$f" ] || continue
  if grep -q BROKEN "$f"; then
    echo "FAIL: $f is broken"
    exit 1
  fi
  echo "ok: $f"
done
echo "all good"
`;

export const CHECK_COMMAND = 'sh check.sh';

/** A swarm-mode repository with check.sh on the buffer and the stabilize command set. */
export async function seedStabilizeRepo(
  deps: CoreDeps,
  settings: Record<string, unknown> = {},
): Promise<SeededGitRepo> {
  const seeded = await seedGitRepo(deps, {
    merge_mode: 'swarm',
    stabilize_command: CHECK_COMMAND,
    ...settings,
  });
  await seeded.git.commitOn('buffer', { 'check.sh': CHECK_SCRIPT }, 'Add the test suite\n', 'buffer');
  return seeded;
}

/**
 * Commits files as the agent (creating its workspace on first use); in swarm mode the commit
 * merges to the buffer at once. Returns the stream id and the buffer head after the merge.
 */
export async function swarmCommit(
  deps: CoreDeps,
  seeded: SeededGitRepo,
  agent: Agent,
  files: Record<string, string>,
  message = 'Work',
): Promise<{ streamId: string; bufferHead: string; commit: string }> {
  const existing = await findWorkspace(deps.store.db, seeded.repo.id, agent.id);
  const worktree = existing
    ? existing.path
    : (await createWorkspace(deps, { repo: seeded.repo, agent })).worktree;
  writeFiles(worktree, files);
  const result = await commitWorkspace(deps, { repo: seeded.repo, agent, message });
  if (!result.merged || !result.buffer_head) throw new Error('expected the swarm commit to merge');
  return { streamId: result.stream_id, bufferHead: result.buffer_head, commit: result.commit };
}
