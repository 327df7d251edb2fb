/**
 * Set-up for tests that join governance and git: a real repository (main and buffer at the
 * initial commit) with its repository row, and the steps of an agent's day in a few calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { CoreDeps } from '../../src/core/deps.js';
import { commitWorkspace, createWorkspace } from '../../src/core/federation.js';
import { submitForReview, submitReview } from '../../src/core/streams/reviews.js';
import type { Agent, Stream } from '../../src/store/index.js';
import { makeRepo, type TestRepo } from './git-fixture.js';
import { openTestStore, type TestDialect, type TestStore } from './store.js';
import { type SeededRepo, seedAgent, seedRepo, testDeps } from './streams-fixture.js';

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

/** One describe block's store and the git repositories its tests seed. */
export interface GitStoreFixture {
  /** The block's store, open from its `beforeAll` on. */
  readonly store: TestStore;
  /** Removes `seeded`'s git repository after the current test; returns it. */
  keep<T extends SeededGitRepo>(seeded: T): T;
  /** Fresh deps on the block's store and a kept git repository with these settings. */
  seed(
    settings?: Record<string, unknown>,
  ): Promise<{ deps: ReturnType<typeof testDeps>; seeded: SeededGitRepo }>;
  /** `seed`, plus an agent named `coder`. */
  seedWithCoder(settings?: Record<string, unknown>): Promise<{
    deps: ReturnType<typeof testDeps>;
    seeded: SeededGitRepo;
    repo: SeededGitRepo['repo'];
    git: TestRepo;
    coder: Agent;
  }>;
}

/**
 * Registers the hooks of a describe block that opens one store of `dialect` and removes the git
 * repositories of each test after it. Call it inside `describe`.
 */
export function useGitStore(dialect: TestDialect): GitStoreFixture {
  let store: TestStore | undefined;
  const repos: SeededGitRepo[] = [];
  beforeAll(async () => {
    store = await openTestStore(dialect);
  });
  afterEach(() => {
    for (const seeded of repos.splice(0)) seeded.git.cleanup();
  });
  afterAll(async () => {
    await store?.close();
  });
  const fixture: GitStoreFixture = {
    get store() {
      if (!store) throw new Error('The store opens in beforeAll: use it inside a test.');
      return store;
    },
    keep(seeded) {
      repos.push(seeded);
      return seeded;
    },
    async seed(settings = {}) {
      const deps = testDeps(fixture.store);
      return { deps, seeded: fixture.keep(await seedGitRepo(deps, settings)) };
    },
    async seedWithCoder(settings = {}) {
      const { deps, seeded } = await fixture.seed(settings);
      const coder = await seedAgent(deps, 'coder');
      return { deps, seeded, repo: seeded.repo, git: seeded.git, coder };
    },
  };
  return fixture;
}
