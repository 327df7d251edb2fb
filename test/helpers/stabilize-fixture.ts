/**
 * Set-up for stabilization tests: a swarm-mode repository whose buffer carries a small real test
 * script (`check.sh`: fails when any *.txt file contains BROKEN), and agents that commit to it;
 * and a small npm project whose tests need a real package from the registry.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** The file in a repository's git dir that lets its held runs go on ({@link HELD_CHECK_COMMAND}). */
const RELEASE_FILE = 'gitswarm-test-release';

/**
 * check.sh once the test has released the repository's runs (or after 20 s): a run a test can
 * catch midway, however slow the machine, and that ends at once when let go. The git dir is shown
 * read-only inside the sandbox, so the command sees the file appear.
 */
export const HELD_CHECK_COMMAND = `i=0; until [ -e "$(git rev-parse --git-common-dir)/${RELEASE_FILE}" ] || [ $i -ge 400 ]; do sleep 0.05; i=$((i+1)); done; ${CHECK_COMMAND}`;

/** Lets the held runs of the repository checked out at `repoDir` go on. */
export function releaseHeldRuns(repoDir: string): void {
  writeFileSync(join(repoDir, '.git', RELEASE_FILE), '');
}

/** A swarm-mode repository with check.sh on the buffer and the stabilize command set. */
export async function seedStabilizeRepo(
  deps: CoreDeps,
  settings: Record<string, unknown> = {},
): Promise<SeededGitRepo> {
  const seeded = await seedGitRepo(deps, {
    merge_mode: 'swarm',
    stabilize_command: CHECK_COMMAND,
    // One run at a time unless a test asks for more: run counts and order do not depend on the cores.
    stabilize_parallelism: 1,
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

/** A real package with a bin (`semver`) and no dependencies of its own. */
export const NPM_PACKAGE = 'semver@7.6.3';

/**
 * The npm project's test: runs the package's bin (found only through node_modules/.bin), requires
 * it, and writes a cache file into node_modules, as `eslint --cache` does.
 */
export const NPM_TEST_SCRIPT = `const fs = require('node:fs');
const semver = require('semver');
if (!semver.valid('1.2.3')) process.exit(1);
fs.mkdirSync('node_modules/.cache/fixture', { recursive: true });
fs.writeFileSync('node_modules/.cache/fixture/run-marker', String(process.pid));
console.log('CACHE WRITTEN');
`;

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: 'fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
  GIT_COMMITTER_NAME: 'fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    env: { ...process.env, ...GIT_IDENTITY },
    encoding: 'utf8',
  }).trim();
}

/**
 * Installs {@link NPM_PACKAGE} from the registry once, into a folder of its own
 * (`npm install --no-save --no-package-lock`); returns that folder's `node_modules`.
 */
export function installNpmPackageOnce(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gitswarm-npm-install-'));
  writeFileSync(join(dir, 'package.json'), '{"name":"install","private":true}\n');
  execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', NPM_PACKAGE], {
    cwd: dir,
    stdio: 'pipe',
  });
  return join(dir, 'node_modules');
}

/**
 * A git repository under `parent` whose `npm test` needs the package: package.json, the test
 * script, `node_modules/` ignored and installed (copied from `nodeModules`). Returns its path and
 * the committed head.
 */
export function seedNpmProject(parent: string, nodeModules: string): { repo: string; commit: string } {
  const repo = join(parent, 'npm-project');
  mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(
    join(repo, 'package.json'),
    `${JSON.stringify({ name: 'fixture', private: true, scripts: { test: 'semver 1.2.3 && node test.js' } }, null, 2)}\n`,
  );
  writeFileSync(join(repo, 'test.js'), NPM_TEST_SCRIPT);
  writeFileSync(join(repo, '.gitignore'), 'node_modules/\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'npm project');
  cpSync(nodeModules, join(repo, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  return { repo, commit: git(repo, 'rev-parse', 'HEAD') };
}
