/**
 * Set-up for tests that join governance and git: a real repository (main and buffer at the
 * initial commit) with its repository row, and the steps of an agent's day in a few calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CoreDeps } from '../../src/core/deps.js';
import { commitWorkspace, createWorkspace } from '../../src/core/federation.js';
import { submitForReview, submitReview } from '../../src/core/reviews.js';
import type { Agent, Stream } from '../../src/store/index.js';
import { makeRepo, type TestRepo } from './git-fixture.js';
import { type SeededRepo, seedAgent, seedRepo } from './streams-fixture.js';

export interface SeededGitRepo extends SeededRepo {
  git: TestRepo;
  /** A maintainer who approves streams. */
  maintainer: Agent;
}

/** A real git repository (main and buffer at the initial commit) and its repository row. */
export async function seedGitRepo(
  deps: CoreDeps,
  settings: Record<string, unknown> = {},
): Promise<SeededGitRepo> {
  const git = await makeRepo();
  await git.branch('buffer');
  const seeded = await seedRepo(deps, settings, git.dir);
  const maintainer = await seedAgent(deps, 'maint', { maintainerOf: seeded });
  return { ...seeded, git, maintainer };
}

/** Writes files (paths relative to the worktree) without committing them. */
export function writeFiles(worktree: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const full = join(worktree, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/** `git status --porcelain` of a worktree ('' when clean). */
export function worktreeStatus(git: TestRepo, worktree: string): Promise<string> {
  return git.run(['status', '--porcelain'], worktree);
}

export interface WorkOptions {
  dependsOn?: string;
  name?: string;
  message?: string;
}

/** Creates the agent's workspace, writes the files and commits them; returns the stream and worktree. */
export async function workOn(
  deps: CoreDeps,
  seeded: SeededGitRepo,
  agent: Agent,
  files: Record<string, string>,
  options: WorkOptions = {},
): Promise<{ stream: Stream; worktree: string; commit: string }> {
  const { stream, worktree } = await createWorkspace(deps, {
    repo: seeded.repo,
    agent,
    ...(options.dependsOn ? { dependsOn: options.dependsOn } : {}),
    ...(options.name ? { name: options.name } : {}),
  });
  writeFiles(worktree, files);
  const committed = await commitWorkspace(deps, {
    repo: seeded.repo,
    agent,
    message: options.message ?? 'Work',
  });
  return { stream, worktree, commit: committed.commit };
}

/** Submits the stream for review (by its author) and has the maintainer approve it. */
export async function approve(
  deps: CoreDeps,
  seeded: SeededGitRepo,
  stream: Stream,
  author: Agent,
): Promise<void> {
  await submitForReview(deps, { repo: seeded.repo, stream, actor: author });
  await submitReview(deps, { repo: seeded.repo, stream, reviewer: seeded.maintainer, verdict: 'approve' });
}
