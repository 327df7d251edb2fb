/**
 * Mode C: repositories whose git the server holds (`server_git`). `POST /repos {server_git: true}`
 * clones `clone_url` (http(s); a local path or file:// URL only when the operator allows it) or
 * creates a repository with one empty commit on `main`, as a bare repository at
 * `hostedRepoDir(config, repoId)`, creates the buffer branch from the default branch, and records
 * the repository (its `path` is that directory). A failure at any step leaves no row and no
 * directory.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import type { CoreDeps } from '../core/deps.js';
import { createRepo, validateNewRepo } from '../core/repos/repos.js';
import { identityEnv } from '../engine/author.js';
import { git, gitOut } from '../engine/git.js';
import { writeEmptyTree } from '../engine/loose-objects.js';
import { assertValidBranch } from '../engine/names.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';
import type { Agent, Repo } from '../store/index.js';
import { newId } from '../util/ids.js';
import { withCloneLimits } from './clone-limits.js';
import { type HostingConfig, hostedRepoDir, requireDataDir } from './config.js';

export interface CreateServerRepoInput {
  name: string;
  owner: Agent;
  /** Repository settings (merge_mode, buffer_branch, …), validated by the core. */
  settings?: Record<string, unknown>;
  /** Clone this repository; without it the server creates one with an empty commit on `main`. */
  cloneUrl?: string;
  /** The branch to build on and promote to (default: the clone's HEAD branch, or `main`). */
  defaultBranch?: string;
  /** Push the buffer and main there after every merge, revert and promotion. */
  remoteUrl?: string;
}

/** The identity of the server's own commits (the initial empty commit). */
export const SERVER_IDENTITY = { name: 'gitswarm-server', email: 'server@agents.gitswarm.invalid' } as const;

const MAX_URL_LENGTH = 2000;

/**
 * A URL or path git may fetch from or push to: `http://` or `https://`, or (only with
 * `allowLocal`) an absolute path or a `file://` URL. Everything else (ssh, git://, ext::, fd::,
 * transport helpers, option-like values, control characters, credentials-free checks) is refused
 * with 400 `invalid_input`. Returns the value to hand to git.
 */
export function assertGitUrl(field: string, value: string, allowLocal: boolean): string {
  const refuse = (why: string): never => {
    throw new GitSwarmError('invalid_input', `${field} ${why}`, {
      httpHint: allowLocal
        ? 'Give an http(s):// URL, an absolute path or a file:// URL.'
        : 'Give an http(s):// URL (local paths are allowed only when the server runs with --allow-local-clone).',
    });
  };
  if (typeof value !== 'string' || value === '' || value.length > MAX_URL_LENGTH) {
    return refuse(`must be 1 to ${MAX_URL_LENGTH} characters.`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f\s]/.test(value)) return refuse('must not contain spaces or control characters.');
  if (value.startsWith('-')) return refuse('must not start with "-".');
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return refuse('is not a valid URL.');
    }
    if (url.hostname === '') return refuse('has no host.');
    return value;
  }
  if (allowLocal && /^file:\/\//i.test(value)) {
    const path = decodeURIComponent(value.slice('file://'.length));
    if (!isAbsolute(path) || path.includes('\0')) return refuse('must be an absolute file:// URL.');
    return value;
  }
  if (allowLocal && isAbsolute(value) && !value.includes('::')) return value;
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(value))
    return refuse('names a git transport helper, which is refused.');
  if (/^file:/i.test(value) || isAbsolute(value)) {
    return refuse('is a local path; this server does not clone local paths.');
  }
  return refuse('must be an http:// or https:// URL.');
}

/**
 * `-c` options that limit git to the transports `assertGitUrl` allows, also for redirects and
 * anything the remote names (submodules, alternates).
 */
export function transportOptions(allowLocal: boolean): string[] {
  return [
    '-c',
    'protocol.allow=never',
    '-c',
    'protocol.http.allow=always',
    '-c',
    'protocol.https.allow=always',
    '-c',
    `protocol.file.allow=${allowLocal ? 'always' : 'never'}`,
    '-c',
    'http.followRedirects=initial',
    '-c',
    'core.askPass=',
    '-c',
    'credential.helper=',
  ];
}

/** Creates a server-held repository; see the module comment. */
export async function createServerRepo(
  deps: CoreDeps,
  hosting: HostingConfig,
  input: CreateServerRepoInput,
): Promise<Repo> {
  requireDataDir(hosting);
  const cloneUrl =
    input.cloneUrl === undefined
      ? undefined
      : assertGitUrl('clone_url', input.cloneUrl, hosting.allowLocalClone);
  const remoteUrl =
    input.remoteUrl === undefined
      ? undefined
      : assertGitUrl('remote_url', input.remoteUrl, hosting.allowLocalClone);
  const defaultBranch =
    input.defaultBranch === undefined ? undefined : assertValidBranch(input.defaultBranch);
  const settings = { ...input.settings };
  if (defaultBranch !== undefined) {
    if (settings.promote_target !== undefined && settings.promote_target !== defaultBranch) {
      throw new GitSwarmError('invalid_input', 'default_branch and promote_target name different branches.', {
        hint: 'Give one of them.',
      });
    }
    settings.promote_target = defaultBranch;
  }
  // Everything the row needs is validated before any git runs.
  validateNewRepo({ name: input.name, settings });

  const id = newId();
  const dir = hostedRepoDir(hosting, id);
  await mkdir(dirname(dir), { recursive: true });
  try {
    let target: string;
    if (cloneUrl) {
      target = await cloneBare(hosting, cloneUrl, dir, settings.promote_target as string | undefined);
    } else {
      target = (settings.promote_target as string | undefined) ?? 'main';
      await initWithEmptyCommit(dir, target);
    }
    settings.promote_target = target;
    const buffer = (settings.buffer_branch as string | undefined) ?? 'buffer';
    validateNewRepo({ name: input.name, settings });
    const baseline = await ensureBuffer(dir, buffer, target);
    return await createRepo(deps, {
      id,
      name: input.name,
      path: dir,
      settings,
      owner: input.owner,
      serverGit: true,
      remoteUrl: remoteUrl ?? null,
      bufferBaseline: baseline,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `git clone --bare` of `url` into `dir`; returns the branch to promote to. */
async function cloneBare(
  hosting: HostingConfig,
  url: string,
  dir: string,
  wanted: string | undefined,
): Promise<string> {
  try {
    await withCloneLimits(
      dir,
      { maxBytes: hosting.maxCloneBytes, timeoutMs: hosting.cloneTimeoutMs },
      (signal) =>
        git([...transportOptions(hosting.allowLocalClone), 'clone', '--bare', '--quiet', '--', url, dir], {
          cwd: dirname(dir),
          signal,
        }).then(() => {}),
    );
  } catch (error) {
    if (!isGitSwarmError(error, 'git_failed')) throw error;
    const stderr = String(error.details?.git_stderr ?? '').split('\n')[0] ?? '';
    throw new GitSwarmError('invalid_input', `Could not clone clone_url: ${stderr || error.message}`, {
      hint: 'Check that the URL is reachable from the server and readable without credentials in a prompt.',
    });
  }
  // The server fetches nothing from clone_url later: drop the remote (pushes go to remote_url).
  await git(['remote', 'remove', 'origin'], { cwd: dir, okExitCodes: [2] });
  if (wanted !== undefined) {
    if (!(await branchExists(dir, wanted))) {
      throw new GitSwarmError('invalid_input', `The cloned repository has no branch ${wanted}.`, {
        hint: 'Name one of its branches as default_branch.',
      });
    }
    return wanted;
  }
  const head = await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], { cwd: dir, okExitCodes: [1] });
  const branch = head.stdout.trim();
  if (head.exitCode !== 0 || branch === '' || !(await branchExists(dir, branch))) {
    throw new GitSwarmError('invalid_input', 'The cloned repository has no commits on its default branch.', {
      hint: 'Clone a repository with at least one commit, or name a branch as default_branch.',
    });
  }
  return branch;
}

/** A bare repository whose `branch` holds one empty commit. */
async function initWithEmptyCommit(dir: string, branch: string): Promise<void> {
  if (existsSync(dir)) throw new Error(`${dir} exists already`);
  await gitOut(['init', '--bare', '--quiet', `--initial-branch=${branch}`, dir], { cwd: dirname(dir) });
  const tree = await writeEmptyTree(dir);
  const commit = await gitOut(['commit-tree', tree, '-m', 'Initial commit'], {
    cwd: dir,
    env: identityEnv(SERVER_IDENTITY),
  });
  await gitOut(['update-ref', `refs/heads/${branch}`, commit, ''], { cwd: dir });
}

async function branchExists(dir: string, branch: string): Promise<boolean> {
  const result = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], {
    cwd: dir,
    okExitCodes: [1],
  });
  return result.exitCode === 0;
}

/**
 * The buffer branch at the default branch's head, unless the clone has one already; returns the
 * buffer's starting commit (the baseline of bisection). Nothing else knows the repository yet, so
 * the create-only `update-ref` needs no operation log.
 */
async function ensureBuffer(dir: string, buffer: string, target: string): Promise<string> {
  const existing = await git(['rev-parse', '--verify', '--quiet', `refs/heads/${buffer}^{commit}`], {
    cwd: dir,
    okExitCodes: [1],
  });
  if (existing.exitCode === 0) return existing.stdout.trim();
  const head = await gitOut(['rev-parse', '--verify', `refs/heads/${target}^{commit}`], { cwd: dir });
  await gitOut(['update-ref', `refs/heads/${buffer}`, head, ''], { cwd: dir });
  return head;
}
