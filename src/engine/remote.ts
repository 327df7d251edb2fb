/**
 * The shared git remote of Mode B (default `origin`): fetch, push, and the compare-and-swap push
 * that moves a shared ref (the buffer, main) only from an expected old value. Pure git, no
 * governance. A push refused because the remote moved is a typed result, never an exception:
 * callers fetch, recompute and retry. Every other failure (no such remote, unreachable, a hook
 * refusing) throws `git_failed` with git's reason.
 */
import { GitSwarmError } from '../errors.js';
import { git, WITHOUT_HOOKS } from './git.js';
import { assertValidBranch, assertValidName, assertValidRef, isObjectId } from './names.js';
import { isAncestor, readLooseRefs, readRef, readRepoConfig } from './repo.js';
import { streamBranch } from './stream-branches.js';
import { worktreeOfBranch } from './worktree-list.js';

/** The remote a Mode B clone shares its branches through, unless configured otherwise. */
export const DEFAULT_REMOTE = 'origin';

export interface RemoteOptions {
  /** A configured remote's name (default `origin`); never a URL or path given by a user. */
  remote?: string;
}

/** What a compare-and-swap push expects the remote ref to be: an object id, or `absent` (create). */
export type ExpectedRemote = string | 'absent';

export type PushOutcome =
  /** The remote ref now points at `oid` (moved by this push). */
  | { status: 'pushed'; ref: string; oid: string }
  /** The remote ref already pointed at `oid`; nothing changed. */
  | { status: 'up_to_date'; ref: string; oid: string }
  /**
   * Refused, remote unchanged by this push. `remote_moved`: the ref is not at the expected value;
   * `non_fast_forward`: a plain push whose new commit does not contain the remote one. `remoteOid`
   * is the remote ref's value read after the refusal (null = absent).
   */
  | {
      status: 'rejected';
      ref: string;
      reason: 'remote_moved' | 'non_fast_forward';
      remoteOid: string | null;
    };

export type DeleteOutcome =
  | { status: 'deleted'; ref: string }
  | { status: 'rejected'; ref: string; reason: 'remote_moved'; remoteOid: string | null };

/** Checks a remote name: one simple name (an option-looking or URL-shaped value is refused). */
export function assertRemoteName(remote: string): string {
  return assertValidName('remote', remote);
}

function remoteOf(options: RemoteOptions | undefined): string {
  return assertRemoteName(options?.remote ?? DEFAULT_REMOTE);
}

/**
 * Whether this clone has a remote of that name configured. Every push and fetch asks first (git
 * would take an unknown name for a path), so the repository's own config is read without git
 * when it names the remote; git answers every other case (global config, includes, odd layouts).
 */
export async function hasRemote(repoDir: string, options?: RemoteOptions): Promise<boolean> {
  const remote = remoteOf(options);
  if (configNamesRemote(readRepoConfig(repoDir), remote)) return true;
  const result = await git(['remote', 'get-url', '--', remote], { cwd: repoDir, okExitCodes: [2, 128] });
  return result.exitCode === 0;
}

/**
 * Whether a git config text has a `[remote "<remote>"]` section with a `url`. Only a yes is
 * trusted (the name is a simple one: assertRemoteName); anything unusual reads as no.
 */
export function configNamesRemote(config: string | null, remote: string): boolean {
  if (config === null) return false;
  let inSection = false;
  for (const line of config.split('\n')) {
    const header = /^\s*\[([^\]]*)\]/.exec(line);
    if (header) inSection = /^remote\s+"([^"\\]*)"$/i.exec(header[1]?.trim() ?? '')?.[1] === remote;
    else if (inSection && /^\s*url\s*=\s*\S/i.test(line)) return true;
  }
  return false;
}

async function requireRemote(repoDir: string, options: RemoteOptions | undefined): Promise<string> {
  const remote = remoteOf(options);
  if (!(await hasRemote(repoDir, { remote }))) {
    throw new GitSwarmError('git_failed', `This clone has no git remote named "${remote}".`, {
      hint: `Add it with: git remote add ${remote} <url>, or name another remote in .gitswarm/config.json.`,
      details: { remote },
    });
  }
  return remote;
}

/** Rewrites git's failure to reach a remote into a message that names it. */
function unreachable(remote: string, error: unknown): never {
  if (error instanceof GitSwarmError && error.code === 'git_failed') {
    const stderr = String(error.details?.git_stderr ?? '');
    const reason =
      stderr.split('\n').find((line) => line.startsWith('fatal:')) ?? stderr.split('\n')[0] ?? '';
    throw new GitSwarmError('git_failed', `Could not reach git remote "${remote}": ${reason.trim()}`, {
      hint: `Check the remote's URL with: git remote get-url ${remote}`,
      details: error.details,
      cause: error,
    });
  }
  throw error;
}

/** The remote-tracking ref a remote ref is fetched into (`refs/heads/x` → `refs/remotes/origin/x`; tags as themselves). */
export function trackingRef(ref: string, options?: RemoteOptions): string {
  assertValidRef(ref);
  const remote = remoteOf(options);
  if (ref.startsWith('refs/heads/')) return `refs/remotes/${remote}/${ref.slice('refs/heads/'.length)}`;
  if (ref.startsWith('refs/tags/')) return ref;
  throw new GitSwarmError('invalid_name', `Only branches and tags are fetched from a remote, not ${ref}.`);
}

/** The current values of full refs on the remote (one round trip; absent refs map to null). */
export async function readRemoteRefs(
  repoDir: string,
  refs: readonly string[],
  options?: RemoteOptions,
): Promise<Map<string, string | null>> {
  for (const ref of refs) assertValidRef(ref); // before anything runs
  return lsRemote(repoDir, await requireRemote(repoDir, options), refs);
}

/** readRemoteRefs for a remote already checked (requireRemote) and refs the caller checked. */
async function lsRemote(
  repoDir: string,
  remote: string,
  refs: readonly string[],
): Promise<Map<string, string | null>> {
  const found = new Map<string, string | null>(refs.map((ref) => [ref, null]));
  if (refs.length === 0) return found;
  const result = await git(['ls-remote', '--refs', remote, '--', ...refs], { cwd: repoDir }).catch((error) =>
    unreachable(remote, error),
  );
  for (const line of result.stdout.split('\n')) {
    const [oid, ref] = line.split('\t');
    if (oid !== undefined && ref !== undefined && found.has(ref) && isObjectId(oid)) found.set(ref, oid);
  }
  return found;
}

/**
 * Fetches full refs (`refs/heads/…`, `refs/tags/…`) from the remote into their tracking refs
 * (see trackingRef), forced, so they mirror the remote. Returns each ref's value on the remote;
 * a ref the remote does not have maps to null and its tracking ref is left as it was.
 */
export async function fetchRefs(
  repoDir: string,
  refs: readonly string[],
  options?: RemoteOptions,
): Promise<Map<string, string | null>> {
  for (const ref of refs) assertValidRef(ref); // before anything runs
  const remote = await requireRemote(repoDir, options);
  const values = await lsRemote(repoDir, remote, refs);
  const stale: string[] = [];
  for (const ref of refs) {
    const value = values.get(ref);
    if (value === null || value === undefined) continue;
    // Already there (a push of this clone moved the tracking ref, or an earlier fetch): no fetch.
    const tracked = await readLooseRefs(repoDir, [trackingRef(ref, { remote })]);
    if (tracked?.[0] !== value) stale.push(ref);
  }
  if (stale.length > 0) {
    const refspecs = stale.map((ref) => `+${ref}:${trackingRef(ref, { remote })}`);
    await fetchWithLockRetries(repoDir, remote, refspecs);
  }
  return values;
}

/** git's refusal to update a tracking ref another git process in this clone holds locked. */
const REF_LOCKED = /cannot lock ref|Unable to create '[^']*\.lock'|unable to update local ref/i;
const FETCH_ATTEMPTS = 6;

/**
 * Several agents of one clone fetch at once (each command is a process): git locks each tracking
 * ref while it updates it, and the loser fails with "cannot lock ref". The winner wrote the same
 * or a newer value; fetching again after a short pause is all it takes.
 */
async function fetchWithLockRetries(
  repoDir: string,
  remote: string,
  refspecs: readonly string[],
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await git(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', remote, '--', ...refspecs], {
        cwd: repoDir,
      });
      return;
    } catch (error) {
      const stderr = error instanceof GitSwarmError ? String(error.details?.git_stderr ?? error.message) : '';
      if (attempt >= FETCH_ATTEMPTS || !REF_LOCKED.test(stderr)) {
        return unreachable(remote, error);
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 40));
    }
  }
}

/** Fetches one branch (by name) into `refs/remotes/<remote>/<branch>`; its remote value, or null when absent. */
export async function fetchBranch(
  repoDir: string,
  branch: string,
  options?: RemoteOptions,
): Promise<string | null> {
  assertValidBranch(branch);
  const ref = `refs/heads/${branch}`;
  return (await fetchRefs(repoDir, [ref], options)).get(ref) ?? null;
}

/**
 * Fetches a GitHub pull request's head as GitHub publishes it (`refs/pull/<number>/head`, which a
 * PR from a fork has though its branch lives elsewhere) into `refs/remotes/<remote>/pull/<number>/head`;
 * its value on the remote, or null when the remote has no such ref. The number is checked, so
 * the ref is always well formed.
 */
export async function fetchPullRequestHead(
  repoDir: string,
  number: number,
  options?: RemoteOptions,
): Promise<string | null> {
  if (!Number.isSafeInteger(number) || number <= 0) {
    throw new GitSwarmError('invalid_input', `Not a pull request number: ${String(number)}.`);
  }
  const ref = assertValidRef(`refs/pull/${number}/head`);
  const remote = await requireRemote(repoDir, options);
  const value = (await lsRemote(repoDir, remote, [ref])).get(ref) ?? null;
  if (value !== null) {
    await fetchWithLockRetries(repoDir, remote, [`+${ref}:refs/remotes/${remote}/pull/${number}/head`]);
  }
  return value;
}

export interface StreamBranchFetch {
  /** `stream/<id>`. */
  branch: string;
  /** The local branch after the call (null = it exists neither here nor on the remote). */
  local: string | null;
  /** The branch on the remote (null = not pushed there). */
  remote: string | null;
  /** The local branch was created from the remote one. */
  created: boolean;
  /** The local branch was fast-forwarded to the remote one. */
  fastForwarded: boolean;
}

/**
 * Brings a stream's branch from the remote on demand (a stream created or advanced on another
 * clone): fetches it, creates the local `stream/<id>` when missing, and fast-forwards it when it
 * is strictly behind and no worktree has it checked out. A local branch that is ahead or has
 * diverged is left as it is (this clone owns those commits).
 */
export async function fetchStreamBranch(
  repoDir: string,
  streamId: string,
  options?: RemoteOptions,
): Promise<StreamBranchFetch> {
  assertValidName('stream', streamId);
  const branch = streamBranch(streamId);
  const ref = `refs/heads/${branch}`;
  const remoteOid = await fetchBranch(repoDir, branch, options);
  const localOid = await readRef(repoDir, ref);
  const outcome: StreamBranchFetch = {
    branch,
    local: localOid,
    remote: remoteOid,
    created: false,
    fastForwarded: false,
  };
  if (remoteOid === null || remoteOid === localOid) return outcome;
  if (localOid === null) {
    // Create-only: a concurrent creation makes update-ref fail rather than overwrite.
    const created = await git(['update-ref', ref, remoteOid, '0'.repeat(remoteOid.length)], {
      cwd: repoDir,
      okExitCodes: [1, 128],
    });
    if (created.exitCode === 0) return { ...outcome, local: remoteOid, created: true };
    return { ...outcome, local: await readRef(repoDir, ref) };
  }
  if (
    (await isAncestor(repoDir, localOid, remoteOid)) &&
    (await worktreeOfBranch(repoDir, branch)) === null
  ) {
    const moved = await git(['update-ref', ref, remoteOid, localOid], {
      cwd: repoDir,
      okExitCodes: [1, 128],
    });
    if (moved.exitCode === 0) return { ...outcome, local: remoteOid, fastForwarded: true };
    return { ...outcome, local: await readRef(repoDir, ref) };
  }
  return outcome;
}

/** Reads one `git push --porcelain` status line for `ref`: its flag and its summary text. */
function porcelainStatus(stdout: string, ref: string): { flag: string; summary: string } | null {
  for (const line of stdout.split('\n')) {
    const [flag, refs, summary] = line.split('\t');
    if (flag === undefined || refs === undefined || summary === undefined) continue;
    if (refs.endsWith(`:${ref}`)) return { flag, summary };
  }
  return null;
}

interface PushRequest {
  ref: string;
  /** Null = delete the remote ref. */
  oid: string | null;
  /** Undefined = a plain (fast-forward only) push. */
  expected?: ExpectedRemote;
}

async function push(
  repoDir: string,
  request: PushRequest,
  options: RemoteOptions | undefined,
): Promise<PushOutcome | DeleteOutcome> {
  const { ref, oid, expected } = request;
  assertValidRef(ref);
  for (const value of [oid, expected]) {
    if (value !== null && value !== undefined && value !== 'absent' && !isObjectId(value)) {
      throw new GitSwarmError('invalid_input', `Not an object id: ${JSON.stringify(value)}.`);
    }
  }
  const remote = await requireRemote(repoDir, options);
  const lease =
    expected === undefined ? [] : [`--force-with-lease=${ref}:${expected === 'absent' ? '' : expected}`];
  const result = await git(
    [...WITHOUT_HOOKS, 'push', '--porcelain', '--atomic', ...lease, remote, '--', `${oid ?? ''}:${ref}`],
    {
      cwd: repoDir,
      okExitCodes: [1],
    },
  ).catch((error) => unreachable(remote, error));
  const status = porcelainStatus(result.stdout, ref);
  if (result.exitCode === 0 && (status !== null || oid === null)) {
    if (oid === null) return { status: 'deleted', ref };
    return { status: status?.flag === '=' ? 'up_to_date' : 'pushed', ref, oid };
  }
  // Refused: read what the remote holds now to tell "it moved" from any other refusal.
  const remoteOid = (await lsRemote(repoDir, remote, [ref])).get(ref) ?? null;
  if (remoteOid === oid)
    return oid === null ? { status: 'deleted', ref } : { status: 'up_to_date', ref, oid };
  const summary = status?.summary ?? '';
  if (expected !== undefined) {
    const expectedOid = expected === 'absent' ? null : expected;
    if (remoteOid !== expectedOid) return { status: 'rejected', ref, reason: 'remote_moved', remoteOid };
  } else if (/non-fast-forward|fetch first/.test(summary)) {
    return { status: 'rejected', ref, reason: 'non_fast_forward', remoteOid };
  }
  const reason = summary || result.stderr.trim().split('\n')[0] || `exit ${result.exitCode}`;
  throw new GitSwarmError('git_failed', `git push to "${remote}" refused ${ref}: ${reason}`, {
    details: { remote, ref, git_stdout: result.stdout.trim(), git_stderr: result.stderr.trim() },
  });
}

/**
 * Compare-and-swap delete: removes `ref` on the remote only if it currently is `expected` (e.g.
 * taking back a branch this clone just pushed when the server refused the record). `deleted`
 * also when it was already gone; `rejected`/`remote_moved` when it points elsewhere.
 */
export function casDelete(
  repoDir: string,
  request: { ref: string; expected: string },
  options?: RemoteOptions,
): Promise<DeleteOutcome> {
  if (!isObjectId(request.expected)) {
    throw new GitSwarmError('invalid_input', `Not an object id: ${JSON.stringify(request.expected)}.`);
  }
  return push(
    repoDir,
    { ref: request.ref, oid: null, expected: request.expected },
    options,
  ) as Promise<DeleteOutcome>;
}

/**
 * Compare-and-swap push: moves `ref` on the remote to `oid` only if it currently is `expected`
 * (`absent` = only if it does not exist). The remote checks the old value under its ref lock, so
 * two clones racing cannot both win; the loser gets `rejected`/`remote_moved` and the remote is
 * untouched. Any forward or backward move is allowed (a revert, a reset) — the lease is the guard.
 */
export function casPush(
  repoDir: string,
  request: { ref: string; oid: string; expected: ExpectedRemote },
  options?: RemoteOptions,
): Promise<PushOutcome> {
  return push(repoDir, request, options) as Promise<PushOutcome>;
}

/**
 * Pushes the local branch `branch` to the same name on the remote. Without `expected`, only a
 * fast-forward is accepted (else `rejected`/`non_fast_forward`); with it, a compare-and-swap push.
 */
export async function pushBranch(
  repoDir: string,
  branch: string,
  options?: RemoteOptions & { expected?: ExpectedRemote },
): Promise<PushOutcome> {
  assertValidBranch(branch);
  const ref = `refs/heads/${branch}`;
  const oid = await readRef(repoDir, ref);
  if (oid === null) throw new GitSwarmError('not_found', `Branch ${branch} does not exist in this clone.`);
  const request: PushRequest =
    options?.expected === undefined ? { ref, oid } : { ref, oid, expected: options.expected };
  return push(repoDir, request, options) as Promise<PushOutcome>;
}

/**
 * Creates a local branch at a commit, create-only (`already_exists` when it exists). Mode B's
 * stream branches: the record lives on the server, so no local operation log is involved.
 */
export async function createLocalBranch(repoDir: string, branch: string, at: string): Promise<void> {
  assertValidBranch(branch);
  if (!isObjectId(at)) throw new GitSwarmError('invalid_input', `Not an object id: ${JSON.stringify(at)}.`);
  const created = await git(['update-ref', `refs/heads/${branch}`, at, '0'.repeat(at.length)], {
    cwd: repoDir,
    okExitCodes: [1, 128],
  });
  if (created.exitCode !== 0) throw new GitSwarmError('already_exists', `Branch ${branch} already exists.`);
}

/** Deletes a local branch only if it is at `expected` (undoing a createLocalBranch); true when deleted. */
export async function deleteLocalBranch(repoDir: string, branch: string, expected: string): Promise<boolean> {
  assertValidBranch(branch);
  if (!isObjectId(expected)) {
    throw new GitSwarmError('invalid_input', `Not an object id: ${JSON.stringify(expected)}.`);
  }
  const deleted = await git(['update-ref', '-d', `refs/heads/${branch}`, expected], {
    cwd: repoDir,
    okExitCodes: [1, 128],
  });
  return deleted.exitCode === 0;
}
