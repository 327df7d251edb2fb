/**
 * `gitswarm promote` in a connected clone (spec 3.1 Mode B step 10): the clone picks the commit
 * (the buffer head, or its newest green-tagged commit when the repository has a stabilize
 * command: main never moves past tested code), asks the server (POST /repos/:id/promote/decision
 * runs the promotion rules and wants a recorded green), fast-forwards the promote target on the
 * remote by compare-and-swap, and reports it (POST /repos/:id/promote). A push that loses the
 * race fetches and looks again: someone else's promotion to the same commit or beyond ends it.
 */
import { findLastGreen, GREEN_TAG_PREFIX } from '../engine/green-tags.js';
import { isAncestor } from '../engine/repo.js';
import { GitSwarmError } from '../errors.js';
import type { ConnectedGit } from './git-ops.js';
import type { ServerApi } from './server-api.js';

const MAX_PUSH_ATTEMPTS = 8;

/** The repository settings promotion reads (GET /repos/:id). */
export interface PromoteRepo {
  id: string;
  buffer_branch: string;
  promote_target: string;
  stabilize_command: string | null;
}

export interface ConnectedPromoteInput {
  api: ServerApi;
  git: ConnectedGit;
  repo: PromoteRepo;
  /** `auto`: stabilize's promotion on green (the server counts it as one only where that is set). */
  trigger?: 'manual' | 'auto';
  /** Called before each push (a test makes another clone win the race there). */
  beforePush?: (attempt: number) => Promise<void>;
}

export interface ConnectedPromoteResult {
  promoted: boolean;
  from_commit: string | null;
  to_commit: string;
  target: string;
}

/** Asks, fast-forwards the promote target by compare-and-swap, reports (see the file's comment). */
export async function promoteConnected(input: ConnectedPromoteInput): Promise<ConnectedPromoteResult> {
  const { api, git, repo } = input;
  const target = repo.promote_target;
  await git.fetch([repo.buffer_branch, target], { tags: `${GREEN_TAG_PREFIX}*` });
  const bufferHead = await git.remoteHead(repo.buffer_branch);
  if (!bufferHead) {
    throw new GitSwarmError('not_found', `The remote ${git.remote} has no branch ${repo.buffer_branch}.`);
  }
  const to = repo.stabilize_command?.trim()
    ? ((await findLastGreen(git.root, bufferHead))?.commit ?? bufferHead)
    : bufferHead;
  let from = await git.remoteHead(target);
  let approved = false;
  for (let attempt = 0; attempt < MAX_PUSH_ATTEMPTS; attempt++) {
    if (from === to || (from !== null && (await isAncestor(git.root, to, from)))) {
      return { promoted: false, from_commit: from, to_commit: to, target };
    }
    if (from !== null && !(await isAncestor(git.root, from, to))) {
      throw new GitSwarmError('not_fast_forward', `${target} is not an ancestor of ${to} on ${git.remote}.`, {
        details: { target, from, to },
      });
    }
    if (!approved) {
      await api.post(`/repos/${encodeURIComponent(repo.id)}/promote/decision`, {
        from_commit: from,
        to_commit: to,
        trigger: input.trigger ?? 'manual',
      });
      approved = true;
    }
    await input.beforePush?.(attempt);
    const pushed = await git.pushIfAt(target, to, from);
    // Another clone promoted to the same commit first: its promotion, not this one.
    if (pushed.already) return { promoted: false, from_commit: to, to_commit: to, target };
    if (pushed.ok) {
      await api.post(`/repos/${encodeURIComponent(repo.id)}/promote`, {
        from_commit: from,
        to_commit: to,
        trigger: input.trigger ?? 'manual',
      });
      await git.followLocalBranch(target, from ?? to, to);
      return { promoted: true, from_commit: from, to_commit: to, target };
    }
    await git.fetch([target]);
    from = await git.remoteHead(target);
  }
  throw new GitSwarmError('ref_moved', `${target} kept moving on ${git.remote}; it was not promoted.`);
}
