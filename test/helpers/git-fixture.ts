/**
 * Real git repositories in temp dirs for engine tests: an initial commit on `main`, a fixed
 * identity through the environment (no global git config needed), plumbing helpers that commit
 * to any branch without a checkout, and an operation log over a test store.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, gitOut } from '../../src/engine/git.js';
import { OpLog } from '../../src/engine/oplog.js';
import type { Store } from '../../src/store/index.js';
import { newId } from '../../src/util/ids.js';

// Engine calls run with this process's environment: take away any user identity and global
// config so the tests prove the engine brings its own (for the rest of the worker's files too: none
// of them wants a user's identity).
for (const name of [
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_DIR',
]) {
  delete process.env[name];
}
process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';

export const TEST_IDENTITY = { name: 'Test Agent', email: 'agent@example.test' } as const;

export const TEST_ENV: Record<string, string> = {
  GIT_AUTHOR_NAME: TEST_IDENTITY.name,
  GIT_AUTHOR_EMAIL: TEST_IDENTITY.email,
  GIT_COMMITTER_NAME: TEST_IDENTITY.name,
  GIT_COMMITTER_EMAIL: TEST_IDENTITY.email,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export interface TestRepo {
  /** The main worktree (real path), on `main`. */
  dir: string;
  /** Runs git in `cwd` (default: the repo) with the test identity; returns trimmed stdout. */
  run(args: readonly string[], cwd?: string): Promise<string>;
  /** Like run, but returns the exit code instead of throwing. */
  exitCode(args: readonly string[], cwd?: string): Promise<number>;
  /** The commit a revision names. */
  rev(rev: string): Promise<string>;
  /**
   * Commits file changes (content, or null = delete) on top of `branch` without a checkout and
   * moves the branch (created at `from`, default main, when missing). Returns the new commit.
   */
  commitOn(
    branch: string,
    files: Record<string, string | null>,
    message?: string,
    from?: string,
  ): Promise<string>;
  /** Content of a file at a revision. */
  show(rev: string, path: string): Promise<string>;
  /** Creates `branch` at `at`. */
  branch(name: string, at?: string): Promise<string>;
  /** A fresh directory for a worktree (does not exist yet). */
  tempPath(name: string): string;
  cleanup(): void;
}

/**
 * The first repository of this process, made by git as below; every later one is a copy of it, with
 * one git process instead of a dozen (the suite makes about 500). Its commit is the same in each
 * copy, as it already was for repositories made in the same second. Removed when the process exits.
 */
let template: Promise<TestRepo> | undefined;

/** A new repository with `README.md` and `lines.txt` committed on `main`, the checkout clean. */
export async function makeRepo(): Promise<TestRepo> {
  template ??= initRepo().then((repo) => {
    process.once('exit', repo.cleanup);
    return repo;
  });
  const source = await template;
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-git-')));
  cpSync(source.dir, join(base, 'repo'), { recursive: true });
  const repo = testRepo(base, 1);
  // The copies' files are new to the index (inode, times): git refreshes it, so that even plumbing
  // that trusts the index without looking (diff-index) sees the clean checkout it is.
  await repo.run(['update-index', '-q', '--refresh']);
  return repo;
}

/** A repository made by git: `git init`, then the initial commit checked out. */
async function initRepo(): Promise<TestRepo> {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'gitswarm-git-')));
  await gitOut(['init', '-q', '-b', 'main', join(base, 'repo')], { cwd: base, env: TEST_ENV });
  const repo = testRepo(base, 0);
  // The main worktree stays on main with a clean checkout, as a user's would.
  await repo.commitOn(
    'main',
    { 'README.md': 'hello\n', 'lines.txt': 'one\ntwo\nthree\nfour\nfive\n' },
    'Initial commit\n',
  );
  await repo.run(['reset', '-q', '--hard', 'main']);
  return repo;
}

/** The helpers over the repository at `<base>/repo`, whose commits so far made by `commitOn` number `counter`. */
function testRepo(base: string, counter: number): TestRepo {
  const dir = join(base, 'repo');
  const run = (args: readonly string[], cwd = dir) => gitOut(args, { cwd, env: TEST_ENV });
  const repo: TestRepo = {
    dir,
    run,
    exitCode: async (args, cwd = dir) =>
      (await git(args, { cwd, env: TEST_ENV, okExitCodes: [1, 128] })).exitCode,
    rev: (rev) => run(['rev-parse', '--verify', `${rev}^{commit}`]),
    async commitOn(branch, files, message, from = 'main') {
      counter += 1;
      const n = counter;
      const ref = `refs/heads/${branch}`;
      const existing = await git(['rev-parse', '--verify', '--quiet', ref], { cwd: dir, okExitCodes: [1] });
      const start =
        existing.exitCode === 0
          ? existing
          : await git(['rev-parse', '--verify', '--quiet', `${from}^{commit}`], {
              cwd: dir,
              okExitCodes: [1],
            });
      const parent = start.exitCode === 0 ? start.stdout.trim() : null;
      const index = join(base, `index-${n}`);
      const env = { ...TEST_ENV, GIT_INDEX_FILE: index };
      await gitOut(parent === null ? ['read-tree', '--empty'] : ['read-tree', parent], { cwd: dir, env });
      for (const [path, content] of Object.entries(files)) {
        if (content === null) {
          await gitOut(['update-index', '--force-remove', '--', path], { cwd: dir, env });
        } else {
          const blob = await gitOut(['hash-object', '-w', '--stdin'], { cwd: dir, env, input: content });
          await gitOut(['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], { cwd: dir, env });
        }
      }
      const tree = await gitOut(['write-tree'], { cwd: dir, env });
      rmSync(index, { force: true });
      const commit = await gitOut(
        ['commit-tree', tree, ...(parent === null ? [] : ['-p', parent]), '-F', '-'],
        {
          cwd: dir,
          env,
          input: message ?? `change ${n} on ${branch}\n`,
        },
      );
      await run(['update-ref', ref, commit, existing.exitCode === 0 ? (parent as string) : '0'.repeat(40)]);
      return commit;
    },
    show: (rev, path) => gitOut(['show', `${rev}:${path}`], { cwd: dir, env: TEST_ENV }),
    async branch(name, at = 'main') {
      await run(['branch', name, at]);
      return repo.rev(name);
    },
    tempPath: (name) => join(base, name),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
  return repo;
}

/**
 * `count` file contents (new ones for each `batch`) whose blob ids start with `prefix`, with those
 * ids. git's auto gc estimates the loose objects from one folder, objects/17.
 */
export function blobsStartingWith(
  prefix: string,
  count: number,
  batch = 0,
): { content: string; id: string }[] {
  const found: { content: string; id: string }[] = [];
  for (let i = 0; found.length < count; i++) {
    const content = `object ${batch}.${i}\n`;
    const id = createHash('sha1').update(`blob ${content.length}\0${content}`).digest('hex');
    if (id.startsWith(prefix)) found.push({ content, id });
  }
  return found;
}

/** A clock a test controls: fixed start, one millisecond per reading so rows keep their order. */
export function fixedClock(start = '2026-03-01T12:00:00.000Z'): { now(): Date } {
  let t = Date.parse(start);
  return { now: () => new Date(t++) };
}

/** A repository row (the operation log needs one) and an OpLog over it. */
export async function makeOpLog(store: Store, clock = fixedClock()): Promise<OpLog> {
  const repoId = newId();
  await store.db
    .insertInto('gitswarm_repos')
    .values({ id: repoId, name: `engine-${repoId.slice(0, 8)}` })
    .execute();
  return new OpLog(store, repoId, clock);
}
