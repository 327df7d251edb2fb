/**
 * Reads of a linked repository on GitHub on an agent's behalf (spec section 5, "GitHub
 * Integration"): file contents, trees and commits, as the App's installation, through the client's
 * ETag cache. Input is checked before it reaches GitHub (paths stay relative and inside the
 * repository; refs are plain names), and GitHub's answers map to GitSwarm's error codes.
 */
import { GitSwarmError } from '../errors.js';
import type { Repo } from '../store/index.js';
import { type GitHubClient, GitHubRequestError, type GitHubResponse } from './client.js';

/** The client, or 503 `github_not_configured` when the server has no GitHub App. */
export function requireGitHub(client: GitHubClient | null): GitHubClient {
  if (!client) {
    throw new GitSwarmError('github_not_configured', 'This server has no GitHub App configured.');
  }
  return client;
}

/** The repository's `owner/name`, or 409 `github_not_linked`. */
export function requireLinked(repo: Pick<Repo, 'name' | 'github_full_name'>): string {
  if (!repo.github_full_name) {
    throw new GitSwarmError(
      'github_not_linked',
      `Repository ${repo.name} is not linked to a GitHub repository.`,
    );
  }
  return repo.github_full_name;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A path inside the repository: relative, `/`-separated, no `.` or `..` segment, no empty segment,
 * no backslash or control character. The empty path is the root.
 */
export function checkRepoPath(path: string): string {
  const bad = (why: string) =>
    new GitSwarmError('invalid_path', `The path ${JSON.stringify(path)} ${why}.`, {
      hint: 'Give a path relative to the repository root, like src/index.ts.',
    });
  if (path.length > 1000) throw bad('is too long');
  if (CONTROL.test(path)) throw bad('contains a control character');
  if (path.includes('\\')) throw bad('contains a backslash');
  if (path.startsWith('/')) throw bad('is absolute');
  if (path === '') return path;
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw bad('has an empty, "." or ".." segment');
  }
  return path;
}

/** A branch, tag or commit name as GitHub takes it in a URL: no control characters, no `..`. */
export function checkRef(ref: string): string {
  if (
    ref.length === 0 ||
    ref.length > 255 ||
    CONTROL.test(ref) ||
    ref.includes('..') ||
    ref.startsWith('-') ||
    ref.startsWith('/') ||
    /[\s~^:?*[\\]/.test(ref)
  ) {
    throw new GitSwarmError('invalid_input', `${JSON.stringify(ref)} is not a branch, tag or commit name.`);
  }
  return ref;
}

/** GitHub's failure as GitSwarm's: 404 stays 404, a rate limit is 429, the rest 502 `github_failed`. */
export function toGitSwarmError(error: unknown, what: string): GitSwarmError {
  if (error instanceof GitSwarmError) return error;
  if (error instanceof GitHubRequestError) {
    if (error.status === 404) return new GitSwarmError('not_found', `GitHub has no ${what}.`);
    if (error.rateLimited) {
      return new GitSwarmError(
        'rate_limited',
        `GitHub's rate limit for this App is used up; try again later.`,
      );
    }
    return new GitSwarmError(
      'github_failed',
      `GitHub answered ${error.status} for ${what}: ${error.message}`,
    );
  }
  return new GitSwarmError('github_failed', `GitHub could not be reached for ${what}.`);
}

async function read<T>(what: string, request: () => Promise<GitHubResponse<T>>): Promise<GitHubResponse<T>> {
  try {
    return await request();
  } catch (error) {
    throw toGitSwarmError(error, what);
  }
}

/** The contents of a file or directory (GitHub's answer: base64 content for a file, a list for a directory). */
export function readContents(
  client: GitHubClient,
  fullName: string,
  input: { path: string; ref?: string },
): Promise<GitHubResponse> {
  const path = checkRepoPath(input.path);
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return read(`path ${path || '/'} in ${fullName}`, () =>
    client.getConditional(fullName, `GET /repos/{owner}/{repo}/contents/${encoded}`, {
      ...(input.ref ? { ref: checkRef(input.ref) } : {}),
    }),
  );
}

/** The tree at a ref (a branch, tag, commit or tree SHA), all of it when `recursive`. */
export function readTree(
  client: GitHubClient,
  fullName: string,
  input: { ref: string; recursive?: boolean },
): Promise<GitHubResponse> {
  const ref = checkRef(input.ref);
  return read(`tree ${ref} in ${fullName}`, () =>
    client.getConditional(fullName, 'GET /repos/{owner}/{repo}/git/trees/{tree_sha}', {
      tree_sha: ref,
      ...(input.recursive ? { recursive: '1' } : {}),
    }),
  );
}

/** Commits, newest first, from a ref (default: GitHub's default branch), optionally touching a path. */
export function listCommits(
  client: GitHubClient,
  fullName: string,
  input: { ref?: string; path?: string; perPage?: number; page?: number },
): Promise<GitHubResponse> {
  return read(`commits in ${fullName}`, () =>
    client.getConditional(fullName, 'GET /repos/{owner}/{repo}/commits', {
      ...(input.ref ? { sha: checkRef(input.ref) } : {}),
      ...(input.path ? { path: checkRepoPath(input.path) } : {}),
      ...(input.perPage ? { per_page: input.perPage } : {}),
      ...(input.page ? { page: input.page } : {}),
    }),
  );
}
