/**
 * What a server without the git objects can still know about a commit a client reports: given the
 * commit's raw object (`git cat-file commit <id>`), its id is the hash of that text, so the parents
 * and tree read from it are the commit's own (as far as SHA-1 or SHA-256 holds). The tree's
 * content cannot be checked without the objects; the parents tie the commit to history the server
 * has recorded.
 */
import { createHash } from 'node:crypto';
import { isObjectId } from '../../engine/names.js';
import { GitSwarmError } from '../../errors.js';

/** A commit object larger than this is refused (a commit message may be 20,000 characters). */
export const MAX_COMMIT_OBJECT_LENGTH = 100_000;

export interface VerifiedCommit {
  id: string;
  tree: string;
  parents: string[];
}

/** The object id git gives `raw` as a commit: SHA-1 for 40-digit ids, SHA-256 for 64-digit ones. */
export function commitObjectId(raw: Buffer, algorithm: 'sha1' | 'sha256'): string {
  return createHash(algorithm).update(`commit ${raw.length}\0`).update(raw).digest('hex');
}

/**
 * Checks that `raw` is the commit object whose id is `id` and returns its tree and parents.
 * Throws invalid_input when it is not (a made-up id, an edited object, no tree header).
 */
export function verifyCommitObject(id: string, raw: string): VerifiedCommit {
  if (!isObjectId(id)) {
    throw new GitSwarmError('invalid_input', 'A commit id is 40 or 64 lowercase hex digits.');
  }
  if (raw.length === 0 || raw.length > MAX_COMMIT_OBJECT_LENGTH) {
    throw new GitSwarmError(
      'invalid_input',
      `A commit object is 1-${MAX_COMMIT_OBJECT_LENGTH} characters (the output of git cat-file commit).`,
    );
  }
  const bytes = Buffer.from(raw, 'utf8');
  if (commitObjectId(bytes, id.length === 40 ? 'sha1' : 'sha256') !== id) {
    throw new GitSwarmError('invalid_input', `The commit object given is not commit ${id}.`, {
      hint: `Send the exact output of: git cat-file commit ${id}`,
      details: { commit: id },
    });
  }
  // Headers end at the first empty line; tree first, then the parents in order.
  const headerEnd = raw.indexOf('\n\n');
  const headers = (headerEnd === -1 ? raw : raw.slice(0, headerEnd)).split('\n');
  const value = (line: string, key: string) =>
    line.startsWith(`${key} `) ? line.slice(key.length + 1) : null;
  const tree = headers[0] === undefined ? null : value(headers[0], 'tree');
  const parents: string[] = [];
  for (const line of headers.slice(1)) {
    const parent = value(line, 'parent');
    if (parent === null) break;
    parents.push(parent);
  }
  if (tree === null || !isObjectId(tree) || parents.some((p) => !isObjectId(p) || p.length !== id.length)) {
    throw new GitSwarmError('invalid_input', `Commit ${id}'s object has no well-formed tree and parents.`);
  }
  return { id, tree, parents };
}
