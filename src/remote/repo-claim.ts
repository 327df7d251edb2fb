/**
 * Which clone creates the server repository. Without `--repo`, the first `agent register` (or
 * `agent login`) of a connected clone creates it; two clones of one remote registering at once
 * must not create two. The shared git remote is the lock: a create-only push of a claim ref,
 * `refs/gitswarm/server-repos/<key>` (`key`: a hash of the server URL), which the remote checks
 * under its ref lock, so of two clones exactly one gets it. The winner creates the repository
 * and records its id in the claim (a compare-and-swap update of the ref to a commit whose message
 * names it); the others wait for that and join it, as a later clone without `--repo` does.
 *
 * Only who may push to the remote writes a claim: the people who share the code. A claim naming a
 * repository the server does not have (deleted, or another server at that URL) or a pending claim
 * older than CLAIM_STALE_MS (its clone died) is taken over by compare-and-swap. A remote that
 * refuses the ref altogether (a hook) leaves the repository created without a claim, as before.
 */
import { createHash, randomBytes } from 'node:crypto';
import { git } from '../engine/git.js';
import { hasCommit, readCommitText, writeCommitObject, writeEmptyTree } from '../engine/loose-objects.js';
import { identLine, writeCommits } from '../engine/objects.js';
import { casPush, readRemoteRefs } from '../engine/remote.js';
import { GitSwarmError, isGitSwarmError } from '../errors.js';

/** A pending claim older than this was left by a clone that died before creating the repository. */
export const CLAIM_STALE_MS = 2 * 60_000;
/** How long a clone that lost the claim waits for the winner to name the repository. */
const WAIT_MS = 30_000;

export interface RepoClaimInput {
  root: string;
  remote: string;
  serverUrl: string;
  /** Creates the server repository (this clone won the claim); its id. */
  create(): Promise<string>;
  /** Whether the server has the repository a claim names. */
  exists(repoId: string): Promise<boolean>;
  pause?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The claim ref of a server on the remote. */
export function claimRef(serverUrl: string): string {
  const key = createHash('sha256').update(serverUrl.replace(/\/+$/, '')).digest('hex').slice(0, 24);
  return `refs/gitswarm/server-repos/${key}`;
}

/** The input, and the empty tree every claim commit has (written once per claim). */
interface ClaimContext extends RepoClaimInput {
  emptyTree(): Promise<string>;
}

interface Claim {
  oid: string;
  repoId: string | null;
  /** When the claim commit was written (ms). */
  at: number;
}

/**
 * The server repository of this remote: the one its claim names, else one this clone creates
 * under the claim. `created` says which.
 */
export async function claimServerRepo(claimInput: RepoClaimInput): Promise<{ id: string; created: boolean }> {
  let tree: Promise<string> | undefined;
  const input: ClaimContext = { ...claimInput, emptyTree: () => (tree ??= writeEmptyTree(claimInput.root)) };
  const ref = claimRef(input.serverUrl);
  const pause = input.pause ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = input.now ?? Date.now;
  const deadline = now() + WAIT_MS;
  for (;;) {
    const claim = await readClaim(input, ref);
    if (claim?.repoId && (await input.exists(claim.repoId))) return { id: claim.repoId, created: false };
    const takeOver = claim !== null && (claim.repoId !== null || now() - claim.at > CLAIM_STALE_MS);
    if (claim === null || takeOver) {
      const nonce = randomBytes(8).toString('hex');
      const pending = await claimCommit(input, null, nonce, claim?.oid ?? null);
      let pushed: Awaited<ReturnType<typeof casPush>>;
      try {
        pushed = await casPush(
          input.root,
          { ref, oid: pending, expected: claim?.oid ?? 'absent' },
          { remote: input.remote },
        );
      } catch (error) {
        // The remote refuses the ref itself (a hook, a host that takes branches only): no lock.
        if (!isGitSwarmError(error, 'git_failed')) throw error;
        return { id: await input.create(), created: true };
      }
      if (pushed.status !== 'rejected') return createUnderClaim(input, ref, pending, nonce);
      // Another clone claimed it first: wait for the repository it creates.
    }
    if (now() > deadline) {
      throw new GitSwarmError(
        'invalid_state',
        `Another clone is creating the server repository (the claim ${ref} on "${input.remote}" names none yet).`,
        {
          hint: `Try again in a moment, or join it by id: gitswarm init --server ${input.serverUrl} --repo ID. A claim left by a clone that died is taken over after ${CLAIM_STALE_MS / 60_000} minutes, or remove it: git push ${input.remote} --delete ${ref}`,
          details: { claim: ref },
        },
      );
    }
    await pause(100 + Math.random() * 150);
  }
}

/** This clone holds the claim: create the repository, then name it in the claim. */
async function createUnderClaim(
  input: ClaimContext,
  ref: string,
  pending: string,
  nonce: string,
): Promise<{ id: string; created: boolean }> {
  let id: string;
  try {
    id = await input.create();
  } catch (error) {
    // Nothing created: release the claim (a stale one at once), so another clone or a retry creates it.
    await casPush(
      input.root,
      { ref, oid: await emptyClaim(input, pending), expected: pending },
      { remote: input.remote },
    ).catch(() => {});
    throw error;
  }
  const named = await claimCommit(input, id, nonce, pending);
  // Nobody else moves a claim younger than CLAIM_STALE_MS: a rejection here means one did.
  await casPush(input.root, { ref, oid: named, expected: pending }, { remote: input.remote });
  return { id, created: true };
}

/** A claim that names nothing, so its deletion can be compare-and-swapped. */
async function emptyClaim(input: ClaimContext, parent: string): Promise<string> {
  return claimCommit(input, null, 'released', parent, 0);
}

/** The claim commit: an empty tree, the server and repository in its message. */
async function claimCommit(
  input: ClaimContext,
  repoId: string | null,
  nonce: string,
  parent: string | null,
  at = Math.floor((input.now ?? Date.now)() / 1000),
): Promise<string> {
  const commit = {
    tree: await input.emptyTree(),
    parents: parent !== null && (await hasCommit(input.root, parent)) ? [parent] : [],
    message: `gitswarm server repository\n\nServer: ${input.serverUrl}\nRepo: ${repoId ?? 'pending'}\nClaim: ${nonce}\n`,
  };
  const written = await writeCommitObject(
    input.root,
    { ...commit, author: CLAIM_IDENT, committer: CLAIM_IDENT },
    new Date(at * 1000),
  );
  if (written !== null) return written;
  const ident = identLine(CLAIM_IDENT.name, CLAIM_IDENT.email, at);
  const [oid] = await writeCommits(input.root, [{ ...commit, author: ident, committer: ident }]);
  return oid as string;
}

const CLAIM_IDENT = { name: 'gitswarm', email: 'gitswarm@localhost' };

/** The claim on the remote (fetched), or null when there is none. */
async function readClaim(input: ClaimContext, ref: string): Promise<Claim | null> {
  const oid = (await readRemoteRefs(input.root, [ref], { remote: input.remote })).get(ref) ?? null;
  if (oid === null) return null;
  if (!(await hasCommit(input.root, oid))) {
    await git(
      ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', input.remote, '--', `+${ref}:${ref}`],
      {
        cwd: input.root,
      },
    );
  }
  const object = await readCommitText(input.root, oid);
  const repo = /^Repo: (\S+)$/m.exec(object)?.[1];
  const time = /^committer .* (\d+) [+-]\d{4}$/m.exec(object)?.[1];
  return {
    oid,
    repoId: repo === undefined || repo === 'pending' ? null : repo,
    at: Number(time ?? 0) * 1000,
  };
}
